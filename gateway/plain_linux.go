//go:build linux

package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/wasmgate/wasmgate/gateway/balancer"
	"github.com/wasmgate/wasmgate/gateway/exchange"
	"github.com/wasmgate/wasmgate/gateway/internal/h1"
	"github.com/wasmgate/wasmgate/gateway/upstream"
)

// The plain path: on a plain HTTP/1.1 listener whose config has no chain,
// requests without a body are proxied by event loops on epoll instead of
// a goroutine per connection. A loop reads a request, writes it to a pooled
// upstream connection and copies the response back, reading a socket only
// when epoll said it has data. That saves the reads that find nothing
// (EAGAIN) and the goroutine switches of the general path: about a sixth
// of its CPU per request (see hack/README.md).
//
// Whatever the plain path does not do exactly as the general path does, it
// hands over: the connection, with the bytes read from it, goes to the
// fasthttp server, which serves it from then on as if it had accepted it.
// That covers requests with a body, upgrades, malformed or unusual heads, a
// config with a chain, no eligible endpoint, and a try that failed before
// its response began (connect failure, an idle connection the endpoint
// closed): the general path then retries or answers 502/503 by its rules.
// The plain path itself answers only 504 (response timeout) and 502 (an
// invalid response, or a reset after the request was sent on a new
// connection), as the general path would.

// plainBufSize is the read buffer of a connection while it is in use.
const plainBufSize = 16 << 10

// plainMaxPending is how much response data may wait for a slow client
// before the loop stops reading the upstream.
const plainMaxPending = 256 << 10

// plainTick is how often a loop checks deadlines.
const plainTick = 250 * time.Millisecond

// plainServer runs the plain path's loops of one listener.
type plainServer struct {
	l        *h1Listener
	lnfd     int // the loops' duplicate of the listening socket
	loops    []*plainLoop
	stopping atomic.Bool
	wg       sync.WaitGroup

	// handedOff counts the connections the loops gave to the general
	// path (each loop counts the requests it forwarded). For tests and
	// debugging.
	handedOff atomic.Int64
}

// plainSupported reports whether this platform has the plain path.
const plainSupported = true

// newPlainServer starts one loop per usable CPU on the listener's socket.
func newPlainServer(l *h1Listener) (*plainServer, error) {
	tl, ok := l.ln.(*net.TCPListener)
	if !ok {
		return nil, errors.New("plain path: not a TCP listener")
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return nil, err
	}
	// The loops poll their own duplicate of the socket, so that closing
	// the listener cannot leave them polling a number the kernel has
	// given to another socket.
	lnfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) {
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_DUPFD_CLOEXEC, 0)
		if e != 0 {
			derr = os.NewSyscallError("fcntl", e)
			return
		}
		lnfd = int(r)
	}); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	s := &plainServer{l: l, lnfd: lnfd}
	for i := range runtime.GOMAXPROCS(0) {
		p, err := newPlainLoop(s, l.stats.loopShard(i))
		if err != nil {
			s.closeLoops()
			return nil, err
		}
		s.loops = append(s.loops, p)
	}
	return s, nil
}

func (s *plainServer) closeLoops() {
	for _, p := range s.loops {
		p.closeEpoll()
	}
	_ = syscall.Close(s.lnfd)
}

// serve runs the loops until shutdown has drained them.
func (s *plainServer) serve() {
	for _, p := range s.loops {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			p.run()
		}()
	}
	s.wg.Wait()
	_ = syscall.Close(s.lnfd)
}

// shutdown stops accepting, lets requests in flight finish (their
// responses say Connection: close), closes idle connections, and returns
// when the loops are done or ctx ends (then it closes everything).
func (s *plainServer) shutdown(ctx context.Context) error {
	s.stopping.Store(true)
	// Stop polling the socket now, not at the loops' next tick: when a
	// reload replaces the listener, the new one accepts from the same socket.
	for _, p := range s.loops {
		_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, s.lnfd, nil)
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, p := range s.loops {
			p.force.Store(true)
		}
		<-done
		return ctx.Err()
	}
}

// plainLoop is one event loop: an epoll set of its sockets, polled without
// blocking while there is work. Only the loop's goroutine touches its
// connections.
//
// To sleep, the loop adds that set to a second epoll set (arms it), which
// is registered with Go's poller, and parks there. It takes the set out
// again (disarms) once it finds work without parking. The sockets' set is
// not nested in Go's poller all the time because a nested set costs every
// sender: each segment that makes a socket readable then runs the readiness
// callbacks of both sets, in the sender's system call (on loopback, the
// backend's and the client's CPU), and that showed up as 1.8 % more of
// the load CPU's time per request than nginx in hack/bench.sh.
type plainLoop struct {
	s      *plainServer
	epfd   int      // the sockets' epoll set
	parkfd int      // the set the loop parks on; holds epfd while armed
	armed  bool     // epfd is in parkfd
	ep     *os.File // parkfd, registered with Go's poller
	rc     syscall.RawConn
	events [128]syscall.EpollEvent
	fds    []plainFD
	pools  map[*balancer.Endpoint]*plainPool
	bufs   [][]byte // free read buffers
	now    time.Time
	sec    int64
	date   []byte
	local  fasthttp.Response // scratch for the loop's own error answers
	force  atomic.Bool
	// served counts the requests the loop forwarded, for tests and
	// debugging: per loop, so that no cache line is written by every CPU
	// per request.
	served atomic.Int64
	// stat is the loop's own shard of the listener's metrics.
	stat   *statShard
	closed bool // the listening socket is no longer polled
	paused bool // accepting paused until the next tick (out of fds)
	// wait polls the epoll set for rc.Read and leaves the count in nready;
	// made once, since a closure made per call escapes and allocates.
	wait   func(uintptr) bool
	nready int
	// logLine and logXFF are scratch for access log lines.
	logLine []byte
	logXFF  []byte
}

// plainFD is what an fd in the loop's table is.
type plainFD struct {
	c *plainClient
	u *plainUp
}

// plainClient is a client connection on a loop.
type plainClient struct {
	fd       int
	src      netip.AddrPort
	in       []byte // read buffer; nil while idle
	inLen    int
	req      h1.Request
	out      []byte // response bytes not yet written
	outOff   int
	up       *plainUp // the upstream connection serving the request
	done     bool     // the response is complete (out may still drain)
	close    bool     // close after the response
	readable bool     // epoll said readable and the socket was not drained
	hup      bool     // epoll reported a hangup: reads go on until EOF
	deadline time.Time
	dirty    bool // something was written: an abort must not answer
	// logTo is the state whose access log records the request in
	// flight; nil when logging is off. start is when its head was read
	// (for the metrics and the log).
	logTo *listenerState
	start time.Time
}

// plainUp is an upstream connection on a loop.
type plainUp struct {
	fd       int
	pool     *plainPool
	c        *plainClient // the request it serves; nil while idle
	in       []byte
	inLen    int
	resp     h1.Response
	req      []byte // the request head to send
	reqOff   int
	phase    upPhase
	reused   bool
	readable bool
	hup      bool  // epoll reported a hangup: reads go on until EOF
	reading  bool  // upRead is running (clientWrite must not re-enter it)
	remain   int64 // Length framing: body bytes still to come
	chunks   h1.ChunkScanner
	keep     bool // may be reused after this response
	deadline time.Time
	ka       time.Duration // the endpoint's Keep-Alive timeout, 0 if none
}

type upPhase uint8

const (
	upIdle upPhase = iota
	upConnecting
	upSending
	upHead
	upBody
)

// plainPool is a loop's connections to one endpoint.
type plainPool struct {
	up   *upstream.Upstream
	ep   *balancer.Endpoint
	sa   syscall.Sockaddr
	af   int
	idle []*plainUp
	open int
}

func newPlainLoop(s *plainServer, stat *statShard) (*plainLoop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := pollListener(epfd, s.lnfd); err != nil {
		_ = syscall.Close(epfd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	parkfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		_ = syscall.Close(epfd)
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := syscall.SetNonblock(parkfd, true); err != nil {
		_ = syscall.Close(epfd)
		_ = syscall.Close(parkfd)
		return nil, err
	}
	f := os.NewFile(uintptr(parkfd), "epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		_ = syscall.Close(epfd)
		_ = f.Close()
		return nil, err
	}
	p := &plainLoop{
		s: s, epfd: epfd, parkfd: parkfd, ep: f, rc: rc, stat: stat,
		pools: make(map[*balancer.Endpoint]*plainPool),
	}
	p.wait = func(uintptr) bool {
		n, err := syscall.EpollWait(p.epfd, p.events[:], 0)
		if err != nil {
			n = 0
		}
		p.nready = n
		return n > 0
	}
	return p, nil
}

// run is the loop.
func (p *plainLoop) run() {
	defer p.closeAll()
	nextTick := time.Now().Add(plainTick)
	_ = p.ep.SetReadDeadline(nextTick)
	for {
		n, err := p.poll()
		p.setNow()
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			p.s.l.gw.log.Error("plain path: poll failed", "listener", p.s.l.name, "err", err)
			return
		}
		for i := range n {
			p.dispatch(&p.events[i])
		}
		if !p.now.Before(nextTick) {
			if p.tick() {
				return
			}
			nextTick = p.now.Add(plainTick)
			_ = p.ep.SetReadDeadline(nextTick)
		}
	}
}

// poll returns the number of events in p.events: at once when some are
// ready, else after parking until some are or the tick deadline passes.
func (p *plainLoop) poll() (int, error) {
	if p.wait(0) {
		if p.armed {
			// Busy again: stop making every readable socket wake the
			// park set too.
			if err := syscall.EpollCtl(p.parkfd, syscall.EPOLL_CTL_DEL, p.epfd, nil); err != nil {
				return 0, os.NewSyscallError("epoll_ctl", err)
			}
			p.armed = false
		}
		return p.nready, nil
	}
	if !p.armed {
		// Adding a set that has events ready makes parkfd ready at
		// once, so nothing that arrived since the poll above is missed.
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(p.epfd)}
		if err := syscall.EpollCtl(p.parkfd, syscall.EPOLL_CTL_ADD, p.epfd, &ev); err != nil {
			return 0, os.NewSyscallError("epoll_ctl", err)
		}
		p.armed = true
	}
	p.nready = 0
	err := p.rc.Read(p.wait)
	return p.nready, err
}

// closeEpoll closes both epoll sets.
func (p *plainLoop) closeEpoll() {
	_ = syscall.Close(p.epfd)
	_ = p.ep.Close()
}

// after is now+d, or never for d <= 0 (no limit).
func (p *plainLoop) after(d time.Duration) time.Time {
	if d <= 0 {
		return p.now.Add(100 * 365 * 24 * time.Hour)
	}
	return p.now.Add(d)
}

func (p *plainLoop) setNow() {
	p.now = time.Now()
	if s := p.now.Unix(); s != p.sec {
		p.sec = s
		p.date = p.now.UTC().AppendFormat(p.date[:0], http.TimeFormat)
	}
}

func (p *plainLoop) dispatch(ev *syscall.EpollEvent) {
	fd := int(ev.Fd)
	if fd == p.s.lnfd {
		p.accept()
		return
	}
	if fd >= len(p.fds) {
		return
	}
	e := p.fds[fd]
	const readEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLHUP | syscall.EPOLLERR
	// The events are edge-triggered: a hangup reported with data comes
	// only once, so a short read must not be taken as drained after it.
	const hupEvents = syscall.EPOLLRDHUP | syscall.EPOLLHUP | syscall.EPOLLERR
	hup := ev.Events&hupEvents != 0
	switch {
	case e.c != nil:
		c := e.c
		if ev.Events&syscall.EPOLLOUT != 0 && c.outOff < len(c.out) {
			p.clientWrite(c)
			if p.fds[fd].c != c {
				return
			}
		}
		if ev.Events&readEvents != 0 {
			c.readable = true
			c.hup = c.hup || hup
			if u := c.up; u != nil && u.phase != upBody && ev.Events&(syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
				// The client reset the connection before its response
				// began (a half-close is only EPOLLRDHUP and still gets
				// its answer): nginx's 499, and the try is dropped.
				p.record(c, u.pool, statusClientClosed, 0)
				p.abort(u)
				return
			}
			if c.up == nil && c.outOff == len(c.out) {
				p.clientRead(c)
			}
		}
	case e.u != nil:
		u := e.u
		if ev.Events&readEvents != 0 {
			u.readable = true
			u.hup = u.hup || hup
		}
		switch u.phase {
		case upIdle:
			if u.readable {
				// An idle connection the endpoint closed (or that speaks
				// out of turn): drop it.
				p.closeUp(u)
			}
		case upConnecting:
			p.connected(u)
		case upSending:
			if ev.Events&syscall.EPOLLOUT != 0 {
				p.upSend(u)
			} else if ev.Events&(syscall.EPOLLERR|syscall.EPOLLHUP) != 0 {
				p.upFailed(u, upstream.TryReset)
			}
		case upHead, upBody:
			if u.readable {
				p.upRead(u)
			}
		}
	}
}

// accept takes the new connections.
func (p *plainLoop) accept() {
	for {
		nfd, sa, err := syscall.Accept4(p.s.lnfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		switch err {
		case nil:
		case syscall.ECONNABORTED, syscall.EINTR:
			continue
		case syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM:
			// Out of descriptors or memory: the socket's level-triggered
			// event would come back at once, so stop polling it until the
			// next tick.
			if syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, p.s.lnfd, nil) == nil {
				p.paused = true
			}
			return
		default:
			return // EAGAIN
		}
		_ = syscall.SetsockoptInt(nfd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		c := &plainClient{fd: nfd, src: sockaddrAddrPort(sa)}
		if !p.register(nfd) {
			_ = syscall.Close(nfd)
			continue
		}
		p.setFD(nfd, plainFD{c: c})
		p.stat.accepted.Add(1)
		c.deadline = p.after(p.s.l.limits.IdleTimeout)
		// The state is checked per request too; this spares a config
		// with a chain the wait for a first request.
		if st := p.s.l.state.Load(); st == nil || st.plain == nil {
			p.handOff(c)
		}
	}
}

// pollListener adds the listening socket to a loop's epoll set.
// EPOLLEXCLUSIVE wakes one loop per new connection, not all of them.
func pollListener(epfd, lnfd int) error {
	const epollExclusive = 1 << 28 // EPOLLEXCLUSIVE, not in package syscall
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | epollExclusive, Fd: int32(lnfd)}
	return syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, lnfd, &ev)
}

func (p *plainLoop) register(fd int) bool {
	const events = syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP | syscall.EPOLLET&0xffffffff
	ev := syscall.EpollEvent{Events: uint32(events), Fd: int32(fd)}
	return syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev) == nil
}

func (p *plainLoop) setFD(fd int, e plainFD) {
	for fd >= len(p.fds) {
		p.fds = append(p.fds, make([]plainFD, max(64, len(p.fds)))...)
	}
	p.fds[fd] = e
}

func (p *plainLoop) getBuf() []byte {
	if n := len(p.bufs); n > 0 {
		b := p.bufs[n-1]
		p.bufs = p.bufs[:n-1]
		return b
	}
	return make([]byte, plainBufSize)
}

func (p *plainLoop) putBuf(b []byte) {
	if len(p.bufs) < 256 {
		p.bufs = append(p.bufs, b)
	}
}

// clientRead reads what the client sent and acts on it.
func (p *plainLoop) clientRead(c *plainClient) {
	if c.in == nil {
		c.in = p.getBuf()
	}
	if c.inLen == len(c.in) {
		p.handOff(c) // a head larger than the buffer: fasthttp answers 431
		return
	}
	n, err := sysRead(c.fd, c.in[c.inLen:])
	switch {
	case err == syscall.EAGAIN:
		c.readable = false
		p.idleClient(c)
		return
	case err != nil || n == 0:
		p.closeClient(c)
		return
	}
	p.stat.bytesIn.Add(uint64(n))
	// A short read drained the socket: epoll reports the next data (but
	// not again a hangup it reported).
	c.readable = c.inLen+n == len(c.in) || c.hup
	if c.inLen == 0 {
		c.deadline = p.after(p.s.l.limits.ReadHeaderTimeout)
	}
	c.inLen += n
	p.clientProcess(c)
}

// idleClient returns an idle connection's buffer and arms its idle timeout.
func (p *plainLoop) idleClient(c *plainClient) {
	if c.inLen == 0 && c.in != nil {
		p.putBuf(c.in)
		c.in = nil
		c.deadline = p.after(p.s.l.limits.IdleTimeout)
	}
}

// clientProcess starts the request at the start of the buffer, if whole.
func (p *plainLoop) clientProcess(c *plainClient) {
	switch h1.ParseRequest(c.in[:c.inLen], &c.req) {
	case h1.Incomplete:
		if c.readable {
			p.clientRead(c)
		}
		return
	case h1.HandOff:
		p.handOff(c)
		return
	}
	if int64(c.req.Len) > p.s.l.limits.MaxHeaderSize {
		p.handOff(c) // fasthttp answers 431
		return
	}
	st := p.s.l.state.Load()
	if st == nil || st.plain == nil {
		p.handOff(c)
		return
	}
	up := st.plain
	ep := up.Pick(balancer.Hint{Key: balancer.HashAddr(c.src.Addr())})
	if ep == nil {
		p.handOff(c) // 503 by the general path's rules
		return
	}
	pool := p.pool(up, ep)
	if pool == nil {
		p.handOff(c)
		return
	}
	u := p.acquire(pool)
	if u == nil {
		p.handOff(c) // connection limit or connect failure
		return
	}
	ep.Acquire()
	p.served.Add(1)
	c.logTo, c.start = nil, p.now
	if st.accessLog != nil {
		c.logTo = st
	}
	c.up, u.c = u, c
	c.done, c.dirty = false, false
	c.close = c.req.Close || p.s.stopping.Load()
	u.req = h1.AppendUpstream(u.req[:0], c.in[:c.req.Len], &c.req, c.src.Addr(), st.scheme, viaFor(exchange.HTTP11))
	u.reqOff = 0
	u.deadline = p.after(up.ResponseTimeout())
	if u.phase == upConnecting {
		// The request goes when the connection is up; a connect that
		// hangs is handed over after the connect timeout.
		if ct := up.ConnectTimeout(); ct > 0 && ct < up.ResponseTimeout() {
			u.deadline = p.after(ct)
		}
		return
	}
	u.phase = upSending
	p.upSend(u)
}

// pool returns the loop's pool for ep, or nil when the endpoint's address
// is not an IP address.
func (p *plainLoop) pool(up *upstream.Upstream, ep *balancer.Endpoint) *plainPool {
	if pl := p.pools[ep]; pl != nil {
		return pl
	}
	ap, err := netip.ParseAddrPort(ep.Address())
	if err != nil {
		return nil
	}
	pl := &plainPool{up: up, ep: ep}
	a := ap.Addr().Unmap()
	if a.Is4() {
		pl.af, pl.sa = syscall.AF_INET, &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}
	} else {
		pl.af, pl.sa = syscall.AF_INET6, &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
	}
	p.pools[ep] = pl
	return pl
}

// acquire returns an idle connection of pool or a new one (connecting), or
// nil when the limit is reached or the connect failed at once.
func (p *plainLoop) acquire(pl *plainPool) *plainUp {
	for n := len(pl.idle); n > 0; n = len(pl.idle) {
		u := pl.idle[n-1]
		pl.idle = pl.idle[:n-1]
		if u.readable {
			p.closeUp(u)
			continue
		}
		u.reused = true
		return u
	}
	if pl.open >= pl.up.MaxConnections() {
		return nil
	}
	fd, err := syscall.Socket(pl.af, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	err = syscall.Connect(fd, pl.sa)
	if err != nil && err != syscall.EINPROGRESS {
		_ = syscall.Close(fd)
		return nil
	}
	if !p.register(fd) {
		_ = syscall.Close(fd)
		return nil
	}
	u := &plainUp{fd: fd, pool: pl, phase: upConnecting}
	p.setFD(fd, plainFD{u: u})
	pl.open++
	return u
}

// connected finishes a non-blocking connect.
func (p *plainLoop) connected(u *plainUp) {
	soerr, err := syscall.GetsockoptInt(u.fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
	if err != nil || soerr != 0 {
		p.upFailed(u, upstream.TryReset)
		return
	}
	if u.c == nil {
		return
	}
	u.deadline = p.after(u.pool.up.ResponseTimeout())
	u.phase = upSending
	u.readable = false
	p.upSend(u)
}

// upSend writes the request head.
func (p *plainLoop) upSend(u *plainUp) {
	for u.reqOff < len(u.req) {
		n, err := sysWrite(u.fd, u.req[u.reqOff:])
		if err == syscall.EAGAIN {
			return
		}
		if err != nil {
			p.upFailed(u, upstream.TryReset)
			return
		}
		u.reqOff += n
	}
	u.phase = upHead
	if u.readable {
		p.upRead(u)
	}
}

// upFailed ends a try that got no response head. Before the request could
// have been processed (connect failure, or a reused connection that the
// endpoint had closed) the general path takes the request over and retries
// by its rules; otherwise the client gets its 502 or 504 here.
func (p *plainLoop) upFailed(u *plainUp, how upstream.TryFailure) {
	c := u.c
	pl := u.pool
	timeout := how == upstream.TryTimeout
	neverSent := u.phase == upConnecting || u.reused && u.inLen == 0 && !timeout
	p.closeUp(u)
	if c == nil {
		return
	}
	pl.ep.Release()
	c.up = nil
	if neverSent {
		p.handOff(c)
		return
	}
	pl.up.ObserveFailure(pl.ep, how)
	if c.dirty {
		p.closeClient(c) // the response had begun: cut it off
		return
	}
	status, reason := 502, "upstream reset"
	if timeout {
		status, reason = 504, "upstream timeout"
	} else if u.phase == upBody || u.inLen > 0 {
		reason = "invalid upstream response"
	}
	p.localResponse(c, pl, status, reason)
}

// record counts c's response in the metrics and writes its access log
// line, if its listener logs: at the response head, as the general path
// does. sent is the body length, -1 when not known up front.
func (p *plainLoop) record(c *plainClient, pl *plainPool, status int, sent int64) {
	p.stat.response(status, p.now.Sub(c.start))
	st := c.logTo
	if st == nil {
		return
	}
	c.logTo = nil
	head := c.in[:c.req.Len] // not yet consumed: both callers log before
	p.logXFF = h1.AppendForwardedFor(p.logXFF[:0], c.req.ForwardedFor(head), c.src.Addr())
	reqLength := int64(-1)
	if c.req.HasContentLength() {
		reqLength = 0 // the plain path takes no other length
	}
	rec := accessRecord{
		listener:  st.name,
		client:    c.src,
		method:    c.req.Method(head),
		scheme:    st.scheme,
		host:      c.req.Host(head),
		uri:       c.req.Target(head),
		protocol:  "HTTP/1.1",
		status:    status,
		reqLength: reqLength,
		bytesSent: sent,
		start:     c.start,
		upstream:  pl.up.Name(),
		endpoint:  pl.ep.Address(),
		tries:     1,
		userAgent: c.req.Field(head, "User-Agent"),
		referer:   c.req.Field(head, "Referer"),
		xff:       p.logXFF,
	}
	p.logLine = rec.append(p.logLine[:0], p.now)
	st.accessLog.write(p.logLine)
}

// localResponse answers with a gateway-generated error, as writeLocal does.
func (p *plainLoop) localResponse(c *plainClient, pl *plainPool, status int, reason string) {
	// The general path's writer, so both paths answer byte for byte alike.
	r := &p.local
	writeLocal(r, status, reason)
	r.Header.SetContentLength(len(r.Body()))
	if c.close {
		r.SetConnectionClose()
	}
	c.out = append(r.Header.AppendBytes(c.out[:0]), r.Body()...)
	c.outOff = 0
	c.done = true
	p.record(c, pl, status, int64(len(r.Body())))
	p.consumeRequest(c)
	p.clientWrite(c)
}

// upRead reads from the upstream and passes the response on.
func (p *plainLoop) upRead(u *plainUp) {
	if u.reading {
		return // called back from clientWrite: the outer call goes on
	}
	u.reading = true
	defer func() { u.reading = false }()
	c := u.c
	for u.readable {
		if len(c.out)-c.outOff >= plainMaxPending {
			return // the client is slow: resume when it has drained
		}
		if u.in == nil {
			u.in = p.getBuf()
		}
		if u.inLen == len(u.in) {
			p.upFailed(u, upstream.TryInvalid) // a head larger than the buffer
			return
		}
		n, err := sysRead(u.fd, u.in[u.inLen:])
		if err == syscall.EAGAIN {
			u.readable = false
			return
		}
		if err != nil || n == 0 {
			p.upEOF(u)
			return
		}
		u.readable = u.inLen+n == len(u.in) || u.hup
		u.inLen += n
		u.deadline = p.after(u.pool.up.ResponseTimeout())
		if !p.upProcess(u) {
			return
		}
	}
}

// upEOF handles the upstream closing (or resetting) its side.
func (p *plainLoop) upEOF(u *plainUp) {
	if u.phase == upBody && u.resp.Framing == h1.UntilClose {
		u.keep = false
		p.upDone(u)
		return
	}
	p.upFailed(u, upstream.TryReset)
}

// upProcess handles the bytes in u.in; false means u is gone.
func (p *plainLoop) upProcess(u *plainUp) bool {
	c := u.c
	if u.phase == upHead {
		for {
			switch h1.ParseResponse(u.in[:u.inLen], c.req.Head, &u.resp) {
			case h1.Incomplete:
				return true
			case h1.HandOff:
				p.upFailed(u, upstream.TryInvalid)
				return false
			}
			if u.resp.Status >= 200 {
				break
			}
			if u.resp.Status == 101 {
				p.upFailed(u, upstream.TryInvalid) // not asked for
				return false
			}
			// An interim response: not forwarded on HTTP/1.1 (as the
			// general path does).
			rest := copy(u.in, u.in[u.resp.Len:u.inLen])
			u.inLen = rest
		}
		pl := u.pool
		pl.up.ObserveResponse(pl.ep, u.resp.Status)
		u.keep = !u.resp.Close
		if u.resp.KeepAlive != nil {
			u.ka = upstream.KeepAliveTimeout(u.resp.KeepAlive)
		}
		if u.resp.Framing == h1.UntilClose || p.s.stopping.Load() {
			c.close = true
		}
		c.out = h1.AppendClient(c.out[:0], u.in[:u.resp.Len], &u.resp, p.date, c.close)
		c.outOff = 0
		p.record(c, pl, u.resp.Status, u.resp.BodyLength())
		u.remain = u.resp.ContentLength
		u.chunks = h1.ChunkScanner{}
		u.phase = upBody
		body := u.in[u.resp.Len:u.inLen]
		u.inLen = 0
		return p.upBody(u, body)
	}
	body := u.in[:u.inLen]
	u.inLen = 0
	return p.upBody(u, body)
}

// upBody passes response body bytes on; false means u is gone.
func (p *plainLoop) upBody(u *plainUp, b []byte) bool {
	c := u.c
	end := false
	switch u.resp.Framing {
	case h1.NoBody:
		end = true
		if len(b) > 0 {
			u.keep = false
		}
		b = nil
	case h1.Length:
		if int64(len(b)) > u.remain {
			b = b[:u.remain]
			u.keep = false
		}
		u.remain -= int64(len(b))
		end = u.remain == 0
	case h1.Chunked:
		n, done, ok := u.chunks.Scan(b)
		if !ok {
			p.abort(u)
			return false
		}
		if n < len(b) {
			u.keep = false
		}
		b, end = b[:n], done
	}
	c.out = append(c.out, b...)
	if end {
		p.upDone(u)
		return false
	}
	p.clientWrite(c)
	return p.fds[u.fd].u == u && u.c == c
}

// abort ends an exchange whose response cannot be completed.
func (p *plainLoop) abort(u *plainUp) {
	c := u.c
	pl := u.pool
	p.closeUp(u)
	pl.ep.Release()
	c.up = nil
	p.closeClient(c)
}

// dropClient closes c, and the try it has in flight if any.
func (p *plainLoop) dropClient(c *plainClient) {
	if c.up != nil {
		p.abort(c.up)
		return
	}
	p.closeClient(c)
}

// dropUp closes u, and the client whose request it carries if any.
func (p *plainLoop) dropUp(u *plainUp) {
	if u.c != nil {
		p.abort(u)
		return
	}
	p.closeUp(u)
}

// upDone ends the exchange after the last response byte was passed on.
func (p *plainLoop) upDone(u *plainUp) {
	c := u.c
	pl := u.pool
	pl.ep.Release()
	c.up, u.c = nil, nil
	c.done = true
	if u.keep && u.inLen == 0 && !u.readable && !p.s.stopping.Load() {
		u.phase = upIdle
		u.reused = false
		if u.in != nil {
			p.putBuf(u.in)
			u.in = nil
		}
		idle := pl.up.IdleTimeout()
		if u.ka > 0 && u.ka < idle {
			idle = u.ka
		}
		u.deadline = p.after(idle)
		pl.idle = append(pl.idle, u)
	} else {
		p.closeUp(u)
	}
	p.consumeRequest(c)
	p.clientWrite(c)
}

// consumeRequest drops the served request from the client's buffer,
// keeping any pipelined bytes after it.
func (p *plainLoop) consumeRequest(c *plainClient) {
	rest := copy(c.in, c.in[c.req.Len:c.inLen])
	c.inLen = rest
	c.req.Len = 0
}

// clientWrite writes pending response bytes; when the response is complete
// and written, the connection goes on to its next request.
func (p *plainLoop) clientWrite(c *plainClient) {
	for c.outOff < len(c.out) {
		n, err := sysWrite(c.fd, c.out[c.outOff:])
		if err == syscall.EAGAIN {
			return
		}
		if err != nil {
			p.dropClient(c)
			return
		}
		c.dirty = true
		c.outOff += n
		p.stat.bytesOut.Add(uint64(n))
	}
	c.out, c.outOff = c.out[:0], 0
	if cap(c.out) > plainMaxPending {
		c.out = nil
	}
	if u := c.up; u != nil {
		// Drained: take more of the response.
		if u.readable && u.phase == upBody {
			p.upRead(u)
		}
		return
	}
	if !c.done {
		return
	}
	c.done = false
	if c.close {
		p.closeClient(c)
		return
	}
	// The next request's deadline: set here for pipelined bytes, else by
	// clientRead (a head begun) or idleClient (the idle timeout).
	if c.inLen > 0 {
		c.deadline = p.after(p.s.l.limits.ReadHeaderTimeout)
		p.clientProcess(c)
		return
	}
	if c.readable {
		p.clientRead(c)
		return
	}
	p.idleClient(c)
}

// handOff gives the client connection, with what was read from it, to the
// general path.
func (p *plainLoop) handOff(c *plainClient) {
	p.s.handedOff.Add(1)
	pre := append([]byte(nil), c.in[:c.inLen]...)
	fd := c.fd
	p.forget(c)
	_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
	f := os.NewFile(uintptr(fd), "")
	nc, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		p.stat.closed.Add(1)
		return
	}
	// The general path counts the connection's bytes and close from here.
	conn := net.Conn(countConn(nc, p.s.l.stats.shared()))
	if len(pre) > 0 {
		conn = &prefixConn{Conn: conn, pre: pre}
	}
	go p.s.l.h1conns.push(newLFGuard(conn))
}

// forget drops the client from the loop without closing its socket.
func (p *plainLoop) forget(c *plainClient) {
	if c.in != nil {
		p.putBuf(c.in)
		c.in = nil
	}
	p.fds[c.fd] = plainFD{}
}

func (p *plainLoop) closeClient(c *plainClient) {
	if p.fds[c.fd].c != c {
		return
	}
	fd := c.fd
	p.forget(c)
	_ = syscall.Close(fd)
	p.stat.closed.Add(1)
}

func (p *plainLoop) closeUp(u *plainUp) {
	if p.fds[u.fd].u != u {
		return
	}
	if u.in != nil {
		p.putBuf(u.in)
		u.in = nil
	}
	if u.phase == upIdle {
		pl := u.pool
		for i, x := range pl.idle {
			if x == u {
				pl.idle = append(pl.idle[:i], pl.idle[i+1:]...)
				break
			}
		}
	}
	p.fds[u.fd] = plainFD{}
	u.pool.open--
	_ = syscall.Close(u.fd)
}

// tick enforces deadlines and drives shutdown; true means the loop is done.
func (p *plainLoop) tick() bool {
	stopping := p.s.stopping.Load()
	if stopping && !p.closed {
		_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, p.s.lnfd, nil)
		p.closed = true
	}
	if p.paused && !p.closed && pollListener(p.epfd, p.s.lnfd) == nil {
		p.paused = false
	}
	force := p.force.Load()
	st := p.s.l.state.Load()
	for fd := range p.fds {
		e := p.fds[fd]
		switch {
		case e.c != nil:
			c := e.c
			idle := c.up == nil && c.outOff == len(c.out)
			if force || idle && (stopping || p.now.After(c.deadline)) {
				p.dropClient(c)
			}
		case e.u != nil:
			u := e.u
			switch {
			case force:
				p.dropUp(u)
			case u.phase == upIdle:
				if stopping || p.now.After(u.deadline) || st == nil || st.plain != u.pool.up {
					p.closeUp(u)
				}
			case p.now.After(u.deadline):
				if u.phase == upBody {
					p.abort(u)
				} else {
					p.upFailed(u, upstream.TryTimeout)
				}
			}
		}
	}
	if st != nil {
		for ep, pl := range p.pools {
			if pl.up != st.plain && pl.open == 0 {
				delete(p.pools, ep)
			}
		}
	}
	if !stopping {
		return false
	}
	for _, e := range p.fds {
		if e != (plainFD{}) {
			return false // a connection is still open
		}
	}
	return true
}

// closeAll closes what is left when the loop ends.
func (p *plainLoop) closeAll() {
	for fd := range p.fds {
		if c := p.fds[fd].c; c != nil {
			p.dropClient(c)
		} else if u := p.fds[fd].u; u != nil {
			p.dropUp(u)
		}
	}
	p.closeEpoll()
}

func sockaddrAddrPort(sa syscall.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *syscall.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	}
	return netip.AddrPort{}
}

// sysRead and sysWrite are read(2) and write(2) on non-blocking sockets,
// without the scheduler bookkeeping of syscall.Read: they never block.
func sysRead(fd int, b []byte) (int, error) {
	r, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

func sysWrite(fd int, b []byte) (int, error) {
	r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
