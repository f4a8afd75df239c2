package conformance

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// warmStartTimeout bounds the warm gateway's first start, which compiles
// the built-in filters (several seconds on a small machine).
const warmStartTimeout = 90 * time.Second

// reloadTimeout bounds one SIGHUP reload of the warm gateway.
const reloadTimeout = 30 * time.Second

// warmBaseConfig is what the warm gateway starts with: a chain with every
// built-in filter, so that their compilation happens once, up front.
const warmBaseConfig = `listener "warm" {
  address = %q
  chain   = "warm"
}
chain "warm" {
  filter "routing" {
    module = "builtin:routing"
  }
  filter "auth" {
    module = "builtin:auth"
    config = { type = "key", keys = { warm = "warm-key" } }
  }
  filter "headers" {
    module = "builtin:headers"
    config = { response = { set = { "x-warm" = "1" } } }
  }
}
`

// warmGateway is one gateway process shared by the cells whose configs
// have WASM filters: each such cell writes its config to the same file and
// sends SIGHUP, and the gateway keeps its compiled modules across reloads.
// Every cell still gets fresh listener ports and fresh backends, so the
// previous cell's listeners and upstream pools are gone once the reload is
// done.
type warmGateway struct {
	dir  string
	file string
	proc *gatewayProc
	log  *logWatch
	// failed is a start failure; later cells report it without retrying
	// (a binary without the built-in filters fails the same way each time).
	failed error
}

// warmGateway returns the running warm gateway, starting it if needed (or
// again, if a previous cell's config made it exit).
func (r *runner) warmGateway(ctx context.Context) (*warmGateway, error) {
	if r.warm != nil && r.warm.failed != nil {
		return nil, r.warm.failed
	}
	if r.warm != nil && r.warm.proc.exited() == "" {
		return r.warm, nil
	}
	w := &warmGateway{dir: filepath.Join(r.work, "warm")}
	w.file = filepath.Join(w.dir, "gateway.hcl")
	r.warm = w
	if err := os.MkdirAll(w.dir, 0o700); err != nil {
		return nil, fmt.Errorf("warm gateway: %w", err)
	}
	for attempt := 1; ; attempt++ {
		addr, err := freePort()
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(w.file, fmt.Appendf(nil, warmBaseConfig, addr), 0o600); err != nil {
			return nil, fmt.Errorf("warm gateway: %w", err)
		}
		proc, err := r.startGatewayWithin(ctx, w.file, map[string]string{"warm": addr}, "info", warmStartTimeout)
		if errors.Is(err, errBindRace) && attempt < 3 {
			continue
		}
		if err != nil {
			var se *startError
			if errors.As(err, &se) {
				err = &startError{err: fmt.Errorf("the warm gateway (for configs with WASM filters) did not start: %w", se.err), output: se.output}
			}
			if ctx.Err() == nil {
				w.failed = err
			} else {
				r.warm = nil
			}
			return nil, err
		}
		w.proc, w.log = proc, proc.out.(*logWatch)
		return w, nil
	}
}

// apply loads a cell's config: the case folder's files and the config go
// into the warm directory, then SIGHUP, then it waits for the gateway to
// log that the configuration was reloaded or rejected.
func (w *warmGateway) apply(ctx context.Context, c *Case, fsys fs.FS, text string) (*warmCell, error) {
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		return nil, fmt.Errorf("warm gateway: %w", err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(w.dir, e.Name())); err != nil {
			return nil, fmt.Errorf("warm gateway: %w", err)
		}
	}
	if c.dir != "" {
		if err := copyCaseDir(fsys, c.dir, w.dir); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(w.file, []byte(text), 0o600); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cell := &warmCell{w: w, off: w.log.size()}
	if err := w.proc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		return nil, &startError{err: fmt.Errorf("warm gateway: SIGHUP: %w", err), output: cell.output()}
	}
	deadline := time.Now().Add(reloadTimeout)
	for {
		out := cell.output()
		switch {
		case strings.Contains(out, `msg="configuration reloaded"`):
			return cell, nil
		case strings.Contains(out, `msg="reload rejected`):
			if strings.Contains(out, "address already in use") {
				return nil, errBindRace
			}
			return nil, &startError{err: fmt.Errorf("the gateway rejected the config%s", firstError(out)), output: out}
		case w.proc.exited() != "":
			return nil, &startError{err: fmt.Errorf("the warm gateway exited while loading the config (%s)%s", w.proc.exited(), firstError(out)), output: out}
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case time.Now().After(deadline):
			return nil, &startError{err: fmt.Errorf("the warm gateway did not load the config within %s", reloadTimeout), output: out}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// warmCell is the warm gateway as one cell sees it: its output since the
// cell's reload.
type warmCell struct {
	w   *warmGateway
	off int64
}

func (c *warmCell) exited() string { return c.w.proc.exited() }
func (c *warmCell) output() string { return c.w.log.since(c.off) }

func (r *runner) stopWarm() {
	if r.warm != nil && r.warm.proc != nil {
		r.warm.proc.stop()
	}
}

// logSink collects a gateway's output.
type logSink interface {
	Write(p []byte) (int, error)
	String() string
}

// logWatch keeps the last max bytes (at least) of a long-running
// gateway's output and knows how much was written in all; safe for
// concurrent use.
type logWatch struct {
	mu    sync.Mutex
	buf   []byte
	base  int64 // bytes dropped from the front
	max   int
	total int64
}

func (l *logWatch) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	l.total += int64(len(p))
	if len(l.buf) > 2*l.max {
		drop := len(l.buf) - l.max
		l.buf = append(l.buf[:0], l.buf[drop:]...)
		l.base += int64(drop)
	}
	return len(p), nil
}

func (l *logWatch) size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// since returns what was written after offset off (as much as is kept).
func (l *logWatch) since(off int64) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	start := max(off-l.base, 0)
	if start > int64(len(l.buf)) {
		return ""
	}
	return string(l.buf[start:])
}

func (l *logWatch) String() string { return l.since(0) }
