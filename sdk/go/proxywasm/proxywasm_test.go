package proxywasm_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/wasmgate/wasmgate/sdk/go/proxywasm"
	"github.com/wasmgate/wasmgate/sdk/go/proxywasm/proxywasmtest"
)

// testRoot is a configurable root context for the tests.
type testRoot struct {
	proxywasm.DefaultRootContext
	vmConfig, config []byte
	accept           bool
	newHTTP          func(s proxywasm.Stream) proxywasm.HTTPContext
	onTick           func()
	onQueue          func(q proxywasm.Queue)
	done             bool
}

func (r *testRoot) OnVMStart(c []byte) bool   { r.vmConfig = c; return true }
func (r *testRoot) OnConfigure(c []byte) bool { r.config = c; return r.accept }
func (r *testRoot) OnDone() bool              { return r.done }

func (r *testRoot) OnTick() {
	if r.onTick != nil {
		r.onTick()
	}
}

func (r *testRoot) OnQueueReady(q proxywasm.Queue) {
	if r.onQueue != nil {
		r.onQueue(q)
	}
}

func (r *testRoot) NewHTTPContext(s proxywasm.Stream) proxywasm.HTTPContext {
	if r.newHTTP == nil {
		return nil
	}
	return r.newHTTP(s)
}

// funcHTTP is an HTTPContext made of optional functions.
type funcHTTP struct {
	proxywasm.DefaultHTTPContext
	reqHeaders  func(n int, eos bool) proxywasm.Action
	reqBody     func(size int, eos bool) proxywasm.Action
	respHeaders func(n int, eos bool) proxywasm.Action
	respBody    func(size int, eos bool) proxywasm.Action
	reqTrailers func(n int) proxywasm.Action
	log         func()
}

func (f *funcHTTP) OnRequestHeaders(n int, eos bool) proxywasm.Action {
	if f.reqHeaders == nil {
		return proxywasm.Continue
	}
	return f.reqHeaders(n, eos)
}

func (f *funcHTTP) OnRequestBody(n int, eos bool) proxywasm.Action {
	if f.reqBody == nil {
		return proxywasm.Continue
	}
	return f.reqBody(n, eos)
}

func (f *funcHTTP) OnRequestTrailers(n int) proxywasm.Action {
	if f.reqTrailers == nil {
		return proxywasm.Continue
	}
	return f.reqTrailers(n)
}

func (f *funcHTTP) OnResponseHeaders(n int, eos bool) proxywasm.Action {
	if f.respHeaders == nil {
		return proxywasm.Continue
	}
	return f.respHeaders(n, eos)
}

func (f *funcHTTP) OnResponseBody(n int, eos bool) proxywasm.Action {
	if f.respBody == nil {
		return proxywasm.Continue
	}
	return f.respBody(n, eos)
}

func (f *funcHTTP) OnLog() {
	if f.log != nil {
		f.log()
	}
}

// start installs a fake host around root and starts it.
func start(t *testing.T, root *testRoot, opts proxywasmtest.Options) *proxywasmtest.Host {
	t.Helper()
	root.accept = true
	h := proxywasmtest.New(t, func(uint32) proxywasm.RootContext { return root }, opts)
	if !h.Start() {
		t.Fatal("Start() = false")
	}
	return h
}

// withStream starts a host whose every stream uses the HTTPContext made by mk.
func withStream(t *testing.T, mk func(s proxywasm.Stream) *funcHTTP) (*proxywasmtest.Host, *proxywasmtest.Stream) {
	t.Helper()
	root := &testRoot{newHTTP: func(s proxywasm.Stream) proxywasm.HTTPContext { return mk(s) }}
	h := start(t, root, proxywasmtest.Options{})
	return h, h.NewStream()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestLifecycle(t *testing.T) {
	tests := []struct {
		name      string
		accept    bool
		done      bool
		wantStart bool
	}{
		{"accepted", true, true, true},
		{"rejected", false, true, false},
		{"async done", true, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := &testRoot{accept: tt.accept, done: tt.done}
			h := proxywasmtest.New(t, func(uint32) proxywasm.RootContext { return root },
				proxywasmtest.Options{VMConfig: []byte("vm"), PluginConfig: []byte(`{"a":1}`)})
			if got := h.Start(); got != tt.wantStart {
				t.Fatalf("Start() = %v, want %v", got, tt.wantStart)
			}
			if string(root.vmConfig) != "vm" || string(root.config) != `{"a":1}` {
				t.Fatalf("configs = %q, %q", root.vmConfig, root.config)
			}
			if got := h.Shutdown(); got != tt.done {
				t.Fatalf("Shutdown() = %v, want %v", got, tt.done)
			}
			if !tt.done {
				must(t, proxywasm.Done())
				if !h.DoneCalled() {
					t.Fatal("proxy_done not seen")
				}
			}
		})
	}
}

func TestEmptyConfigIsNil(t *testing.T) {
	root := &testRoot{}
	start(t, root, proxywasmtest.Options{})
	if root.config != nil || root.vmConfig != nil {
		t.Fatalf("configs = %q, %q; want nil", root.config, root.vmConfig)
	}
}

func TestNilRootAndHTTPContextPassThrough(t *testing.T) {
	h := proxywasmtest.New(t, func(uint32) proxywasm.RootContext { return nil }, proxywasmtest.Options{PluginConfig: []byte("x")})
	if !h.Start() {
		t.Fatal("default root rejected the configuration")
	}
	s := h.NewStream()
	steps := []func() proxywasm.Action{
		func() proxywasm.Action { return s.CallOnRequestHeaders([][2]string{{":path", "/"}}, false) },
		func() proxywasm.Action { return s.CallOnRequestBody([]byte("b"), false) },
		func() proxywasm.Action { return s.CallOnRequestTrailers(nil) },
		func() proxywasm.Action { return s.CallOnResponseHeaders(nil, false) },
		func() proxywasm.Action { return s.CallOnResponseBody([]byte("b"), true) },
		func() proxywasm.Action { return s.CallOnResponseTrailers(nil) },
	}
	for i, step := range steps {
		if got := step(); got != proxywasm.Continue {
			t.Fatalf("step %d: action %d", i, got)
		}
	}
	s.Complete()
}

func TestHeaderMaps(t *testing.T) {
	type mapOf func(s proxywasm.Stream) proxywasm.HeaderMap
	kinds := []struct {
		name    string
		of      mapOf
		drive   func(s *proxywasmtest.Stream, pairs [][2]string)
		inspect func(s *proxywasmtest.Stream) [][2]string
	}{
		{"request headers", proxywasm.Stream.RequestHeaders,
			func(s *proxywasmtest.Stream, p [][2]string) { s.CallOnRequestHeaders(p, false) },
			(*proxywasmtest.Stream).RequestHeaders},
		{"request trailers", proxywasm.Stream.RequestTrailers,
			func(s *proxywasmtest.Stream, p [][2]string) { s.CallOnRequestTrailers(p) },
			(*proxywasmtest.Stream).RequestTrailers},
		{"response headers", proxywasm.Stream.ResponseHeaders,
			func(s *proxywasmtest.Stream, p [][2]string) { s.CallOnResponseHeaders(p, false) },
			(*proxywasmtest.Stream).ResponseHeaders},
		{"response trailers", proxywasm.Stream.ResponseTrailers,
			func(s *proxywasmtest.Stream, p [][2]string) { s.CallOnResponseTrailers(p) },
			(*proxywasmtest.Stream).ResponseTrailers},
	}
	ops := []struct {
		name string
		op   func(t *testing.T, m proxywasm.HeaderMap)
		want [][2]string
	}{
		{"get", func(t *testing.T, m proxywasm.HeaderMap) {
			if v, ok := m.Get("A"); !ok || v != "1" {
				t.Errorf("Get(A) = %q, %v", v, ok)
			}
			if v, ok := m.Get("missing"); ok {
				t.Errorf("Get(missing) = %q, true", v)
			}
		}, [][2]string{{"a", "1"}, {"b", "2"}, {"a", "3"}}},
		{"all", func(t *testing.T, m proxywasm.HeaderMap) {
			all, err := m.All()
			must(t, err)
			if want := [][2]string{{"a", "1"}, {"b", "2"}, {"a", "3"}}; !slices.Equal(all, want) {
				t.Errorf("All() = %v, want %v", all, want)
			}
		}, [][2]string{{"a", "1"}, {"b", "2"}, {"a", "3"}}},
		{"set replaces all", func(t *testing.T, m proxywasm.HeaderMap) { must(t, m.Set("a", "x")) },
			[][2]string{{"a", "x"}, {"b", "2"}}},
		{"set adds", func(t *testing.T, m proxywasm.HeaderMap) { must(t, m.Set("c", "x")) },
			[][2]string{{"a", "1"}, {"b", "2"}, {"a", "3"}, {"c", "x"}}},
		{"add", func(t *testing.T, m proxywasm.HeaderMap) { must(t, m.Add("b", "4")) },
			[][2]string{{"a", "1"}, {"b", "2"}, {"a", "3"}, {"b", "4"}}},
		{"remove", func(t *testing.T, m proxywasm.HeaderMap) { must(t, m.Remove("a")) },
			[][2]string{{"b", "2"}}},
		{"set all", func(t *testing.T, m proxywasm.HeaderMap) {
			must(t, m.SetAll([][2]string{{"z", ""}, {"y", "v"}}))
		}, [][2]string{{"z", ""}, {"y", "v"}}},
	}
	for _, k := range kinds {
		for _, op := range ops {
			t.Run(k.name+"/"+op.name, func(t *testing.T) {
				var st proxywasm.Stream
				_, s := withStream(t, func(s proxywasm.Stream) *funcHTTP { st = s; return &funcHTTP{} })
				k.drive(s, [][2]string{{"a", "1"}, {"b", "2"}, {"a", "3"}})
				op.op(t, k.of(st))
				if got := k.inspect(s); !slices.Equal(got, op.want) {
					t.Fatalf("map = %v, want %v", got, op.want)
				}
			})
		}
	}
}

func TestBodies(t *testing.T) {
	tests := []struct {
		name string
		op   func(b proxywasm.Body) error
		want string
	}{
		{"replace", func(b proxywasm.Body) error { return b.Replace([]byte("new")) }, "new"},
		{"append", func(b proxywasm.Body) error { return b.Append([]byte("!")) }, "hello world!"},
		{"prepend", func(b proxywasm.Body) error { return b.Prepend([]byte(">")) }, ">hello world"},
		{"set range", func(b proxywasm.Body) error { return b.Set(0, 5, []byte("HELLO")) }, "HELLO world"},
		{"set range insert", func(b proxywasm.Body) error { return b.Set(5, 0, []byte(",")) }, "hello, world"},
		{"bytes range", func(b proxywasm.Body) error {
			got, err := b.Bytes(6, 3)
			if err == nil && string(got) != "wor" {
				return errors.New("Bytes(6, 3) = " + string(got))
			}
			return err
		}, "hello world"},
	}
	for _, dir := range []string{"request", "response"} {
		for _, tt := range tests {
			t.Run(dir+"/"+tt.name, func(t *testing.T) {
				var errOp error
				body := func(s proxywasm.Stream) proxywasm.Body {
					if dir == "request" {
						return s.RequestBody()
					}
					return s.ResponseBody()
				}
				_, s := withStream(t, func(st proxywasm.Stream) *funcHTTP {
					f := func(size int, eos bool) proxywasm.Action {
						if size != len("hello world") {
							errOp = errors.New("wrong body size")
						} else {
							errOp = tt.op(body(st))
						}
						return proxywasm.Continue
					}
					return &funcHTTP{reqBody: f, respBody: f}
				})
				var got []byte
				if dir == "request" {
					s.CallOnRequestBody([]byte("hello world"), true)
					got = s.RequestBody()
				} else {
					s.CallOnResponseBody([]byte("hello world"), true)
					got = s.ResponseBody()
				}
				must(t, errOp)
				if string(got) != tt.want {
					t.Fatalf("body = %q, want %q", got, tt.want)
				}
			})
		}
	}
}

func TestBodyBufferingAndPeek(t *testing.T) {
	var sizes []int
	var peeked, kept []byte
	_, s := withStream(t, func(st proxywasm.Stream) *funcHTTP {
		return &funcHTTP{reqBody: func(size int, eos bool) proxywasm.Action {
			sizes = append(sizes, size)
			if !eos {
				return proxywasm.Pause // buffer until the end
			}
			p, err := st.RequestBody().Peek(0, size)
			must(t, err)
			peeked = p
			b, err := st.RequestBody().Bytes(0, size)
			must(t, err)
			kept = b
			if _, err := st.RequestBody().Peek(3, 3); err != nil { // reuses the buffer
				t.Error(err)
			}
			return proxywasm.Continue
		}}
	})
	for i, chunk := range []string{"ab", "cd", "ef"} {
		s.CallOnRequestBody([]byte(chunk), i == 2)
	}
	if !slices.Equal(sizes, []int{2, 4, 6}) {
		t.Fatalf("sizes = %v", sizes)
	}
	if string(kept) != "abcdef" {
		t.Fatalf("Bytes = %q", kept)
	}
	if !bytes.Equal(peeked, []byte("defdef")) {
		t.Fatalf("Peek result after the next Peek = %q, want the reused buffer \"defdef\"", peeked)
	}
}

func TestLocalResponse(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    []byte
		headers [][2]string
	}{
		{"with headers", 403, []byte("no"), [][2]string{{"content-type", "text/plain"}, {"x-a", "1"}}},
		{"empty", 204, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, s := withStream(t, func(st proxywasm.Stream) *funcHTTP {
				return &funcHTTP{reqHeaders: func(int, bool) proxywasm.Action {
					must(t, st.SendLocalResponse(tt.status, tt.body, tt.headers))
					return proxywasm.Pause
				}}
			})
			if got := s.CallOnRequestHeaders(nil, true); got != proxywasm.Pause {
				t.Fatalf("action = %d", got)
			}
			lr, ok := s.LocalResponse()
			if !ok || lr.Status != tt.status || !bytes.Equal(lr.Body, tt.body) || lr.GRPCStatus != -1 ||
				!slices.Equal(lr.Headers, append([][2]string{}, tt.headers...)) {
				t.Fatalf("local response = %+v, %v", lr, ok)
			}
		})
	}
}

func TestProperties(t *testing.T) {
	root := &testRoot{}
	var st proxywasm.Stream
	root.newHTTP = func(s proxywasm.Stream) proxywasm.HTTPContext { st = s; return nil }
	h := start(t, root, proxywasmtest.Options{Properties: map[string]string{"plugin_name": "p1"}})

	v, err := proxywasm.Property("plugin_name")
	if err != nil || string(v) != "p1" {
		t.Fatalf("root Property(plugin_name) = %q, %v", v, err)
	}
	if _, err := proxywasm.Property("nope"); !errors.Is(err, proxywasm.ErrNotFound) {
		t.Fatalf("missing property err = %v", err)
	}

	s := h.NewStream()
	s.CallOnRequestHeaders([][2]string{{":path", "/x"}, {":method", "GET"}}, true)
	s.SetProperty("source.address", "10.0.0.1:5000")
	tests := []struct {
		path []string
		want string
	}{
		{[]string{"request", "path"}, "/x"},
		{[]string{"request", "method"}, "GET"},
		{[]string{"source", "address"}, "10.0.0.1:5000"},
		{[]string{"plugin_name"}, "p1"},
	}
	for _, tt := range tests {
		got, err := st.Property(tt.path...)
		if err != nil || string(got) != tt.want {
			t.Errorf("Property(%v) = %q, %v; want %q", tt.path, got, err, tt.want)
		}
	}

	must(t, st.SetAttribute(proxywasm.AttributeUpstream, "api"))
	if v, ok := s.Property("wasmgate.upstream"); !ok || v != "api" {
		t.Fatalf("host sees wasmgate.upstream = %q, %v", v, ok)
	}
	s.SetProperty("wasmgate.consumer", "alice")
	if got, err := st.Attribute(proxywasm.AttributeConsumer); err != nil || got != "alice" {
		t.Fatalf("Attribute(consumer) = %q, %v", got, err)
	}
	if _, err := st.Attribute(proxywasm.AttributeRoute); !errors.Is(err, proxywasm.ErrNotFound) {
		t.Fatalf("Attribute(route) err = %v", err)
	}
	must(t, st.SetProperty([]string{"a", "b"}, []byte("c")))
	if v, _ := s.Property("a.b"); v != "c" {
		t.Fatalf("a.b = %q", v)
	}
}

func TestHTTPCall(t *testing.T) {
	tests := []struct {
		name       string
		respond    func(c *proxywasmtest.HTTPCall)
		wantStatus int
		wantBody   string
		wantLocal  int // local response status; 0 when the request continued
	}{
		{"ok", func(c *proxywasmtest.HTTPCall) {
			c.Respond([][2]string{{":status", "200"}, {"x-user", "alice"}}, []byte("granted"), nil)
		}, 200, "granted", 0},
		{"denied", func(c *proxywasmtest.HTTPCall) {
			c.Respond([][2]string{{":status", "401"}}, nil, nil)
		}, 401, "", 403},
		{"failed", (*proxywasmtest.HTTPCall).Fail, 0, "", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotStatus int
			var gotBody, gotUser string
			h, s := withStream(t, func(st proxywasm.Stream) *funcHTTP {
				return &funcHTTP{reqHeaders: func(int, bool) proxywasm.Action {
					_, err := proxywasm.DispatchHTTPCall("auth",
						[][2]string{{":method", "GET"}, {":path", "/check"}, {":authority", "auth"}},
						[]byte("q"), 2*time.Second, func(r proxywasm.HTTPCallResponse) {
							gotStatus = r.Status()
							b, _ := r.Body().Bytes(0, r.BodySize)
							gotBody = string(b)
							gotUser, _ = r.Headers().Get("x-user")
							if gotStatus != 200 {
								must(t, st.SendLocalResponse(403, nil, nil))
								return
							}
							must(t, st.RequestHeaders().Set("x-user", gotUser))
							must(t, st.ContinueRequest())
						})
					must(t, err)
					return proxywasm.Pause
				}}
			})
			if got := s.CallOnRequestHeaders([][2]string{{":path", "/"}}, true); got != proxywasm.Pause {
				t.Fatalf("action = %d", got)
			}
			calls := h.HTTPCalls()
			if len(calls) != 1 {
				t.Fatalf("%d calls", len(calls))
			}
			c := calls[0]
			if c.Upstream != "auth" || string(c.Body) != "q" || c.Timeout != 2*time.Second || c.Caller != s.ID() {
				t.Fatalf("call = %+v", c)
			}
			if v, _ := c.Header(":path"); v != "/check" {
				t.Fatalf(":path = %q", v)
			}
			tt.respond(c)
			if gotStatus != tt.wantStatus || gotBody != tt.wantBody {
				t.Fatalf("callback saw status %d body %q", gotStatus, gotBody)
			}
			lr, ok := s.LocalResponse()
			if tt.wantLocal != 0 {
				if !ok || lr.Status != tt.wantLocal {
					t.Fatalf("local response = %+v, %v", lr, ok)
				}
				return
			}
			if s.Continued(proxywasmtest.Request) != 1 {
				t.Fatal("request not resumed")
			}
			if v, _ := s.RequestHeader("x-user"); v != "alice" {
				t.Fatalf("x-user = %q", v)
			}
			if len(h.HTTPCalls()) != 0 {
				t.Fatal("call still pending")
			}
		})
	}
}

func TestHTTPCallAfterStreamEndedIsDropped(t *testing.T) {
	called := false
	h, s := withStream(t, func(proxywasm.Stream) *funcHTTP {
		return &funcHTTP{reqHeaders: func(int, bool) proxywasm.Action {
			_, err := proxywasm.DispatchHTTPCall("u", [][2]string{{":method", "GET"}, {":path", "/"}, {":authority", "a"}},
				nil, time.Second, func(proxywasm.HTTPCallResponse) { called = true })
			must(t, err)
			return proxywasm.Pause
		}}
	})
	s.CallOnRequestHeaders(nil, true)
	s.Complete()
	h.HTTPCalls()[0].Fail()
	if called {
		t.Fatal("callback ran for a deleted stream")
	}
}

func TestHTTPCallBadHeaders(t *testing.T) {
	start(t, &testRoot{}, proxywasmtest.Options{})
	_, err := proxywasm.DispatchHTTPCall("u", [][2]string{{":method", "GET"}}, nil, time.Second, nil)
	if !errors.Is(err, proxywasm.ErrBadArgument) {
		t.Fatalf("err = %v", err)
	}
}

func TestTickResumesPausedStream(t *testing.T) {
	var paused []proxywasm.Stream
	root := &testRoot{}
	root.newHTTP = func(s proxywasm.Stream) proxywasm.HTTPContext {
		return &funcHTTP{reqHeaders: func(int, bool) proxywasm.Action {
			paused = append(paused, s)
			return proxywasm.Pause
		}}
	}
	root.onTick = func() {
		for _, s := range paused {
			must(t, s.RequestHeaders().Add("x-released", "1"))
			must(t, s.ContinueRequest())
		}
		paused = nil
	}
	h := start(t, root, proxywasmtest.Options{})
	if h.Tick() {
		t.Fatal("ticked without a period")
	}
	must(t, proxywasm.SetTickPeriod(1500*time.Millisecond))
	if h.TickPeriod() != 1500*time.Millisecond {
		t.Fatalf("period = %v", h.TickPeriod())
	}
	s1, s2 := h.NewStream(), h.NewStream()
	s1.CallOnRequestHeaders(nil, true)
	s2.CallOnRequestHeaders(nil, true)
	if !h.Tick() {
		t.Fatal("no tick")
	}
	for _, s := range []*proxywasmtest.Stream{s1, s2} {
		if v, _ := s.RequestHeader("x-released"); v != "1" || s.Continued(proxywasmtest.Request) != 1 {
			t.Fatalf("stream %d not released: %v", s.ID(), s.RequestHeaders())
		}
	}
	// A stale handle fails instead of touching another stream.
	s1.Complete()
	stale := proxywasm.Stream{}
	if err := stale.ContinueRequest(); err == nil {
		t.Fatal("ContinueRequest on unknown stream succeeded")
	}
}

func TestStreamControl(t *testing.T) {
	tests := []struct {
		name      string
		op        func(s proxywasm.Stream) error
		continued [2]int
		closed    [2]int
	}{
		{"continue request", proxywasm.Stream.ContinueRequest, [2]int{1, 0}, [2]int{}},
		{"continue response", proxywasm.Stream.ContinueResponse, [2]int{0, 1}, [2]int{}},
		{"close request", proxywasm.Stream.CloseRequest, [2]int{}, [2]int{1, 0}},
		{"close response", proxywasm.Stream.CloseResponse, [2]int{}, [2]int{0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, s := withStream(t, func(st proxywasm.Stream) *funcHTTP {
				return &funcHTTP{reqHeaders: func(int, bool) proxywasm.Action {
					must(t, tt.op(st))
					return proxywasm.Continue
				}}
			})
			s.CallOnRequestHeaders(nil, true)
			for d := range 2 {
				dir := proxywasmtest.Direction(d)
				if s.Continued(dir) != tt.continued[d] || s.Closed(dir) != tt.closed[d] {
					t.Fatalf("dir %d: continued %d closed %d", d, s.Continued(dir), s.Closed(dir))
				}
			}
		})
	}
}

func TestOnLog(t *testing.T) {
	logged := 0
	var status string
	_, s := withStream(t, func(st proxywasm.Stream) *funcHTTP {
		return &funcHTTP{log: func() {
			logged++
			b, _ := st.Property("response", "code")
			status = string(b)
		}}
	})
	s.CallOnRequestHeaders(nil, true)
	s.CallOnResponseHeaders([][2]string{{":status", "204"}}, true)
	s.Complete()
	s.Complete()
	if logged != 1 || status != "204" {
		t.Fatalf("OnLog ran %d times, status %q", logged, status)
	}
}

func TestSharedData(t *testing.T) {
	h := start(t, &testRoot{}, proxywasmtest.Options{})
	if _, _, err := proxywasm.SharedData("k"); !errors.Is(err, proxywasm.ErrNotFound) {
		t.Fatalf("missing key err = %v", err)
	}
	must(t, proxywasm.SetSharedData("k", []byte("v1"), 0))
	v, cas, err := proxywasm.SharedData("k")
	if err != nil || string(v) != "v1" || cas == 0 {
		t.Fatalf("SharedData = %q, %d, %v", v, cas, err)
	}
	h.SetSharedData("k", []byte("other")) // a concurrent writer
	if err := proxywasm.SetSharedData("k", []byte("v2"), cas); !errors.Is(err, proxywasm.ErrCASMismatch) {
		t.Fatalf("stale CAS err = %v", err)
	}
	_, cas, _ = proxywasm.SharedData("k")
	must(t, proxywasm.SetSharedData("k", []byte("v2"), cas))
	if v, _, _ := h.SharedData("k"); string(v) != "v2" {
		t.Fatalf("host sees %q", v)
	}
}

func TestQueues(t *testing.T) {
	var got []string
	root := &testRoot{}
	root.onQueue = func(q proxywasm.Queue) {
		for {
			b, err := q.Dequeue()
			if errors.Is(err, proxywasm.ErrEmpty) {
				return
			}
			must(t, err)
			got = append(got, string(b))
		}
	}
	h := start(t, root, proxywasmtest.Options{VMID: "vm1"})
	q, err := proxywasm.RegisterQueue("jobs")
	must(t, err)
	if r, err := proxywasm.ResolveQueue("vm1", "jobs"); err != nil || r != q {
		t.Fatalf("ResolveQueue = %d, %v; want %d", r, err, q)
	}
	if _, err := proxywasm.ResolveQueue("vm2", "jobs"); !errors.Is(err, proxywasm.ErrNotFound) {
		t.Fatalf("ResolveQueue(other vm) err = %v", err)
	}
	must(t, q.Enqueue([]byte("a")))
	must(t, q.Enqueue([]byte("b")))
	if n := h.DeliverQueueReady(); n != 1 {
		t.Fatalf("delivered %d", n)
	}
	h.Enqueue(q, []byte("c"))
	if !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("got %v", got)
	}
	if hq, ok := h.Queue("jobs"); !ok || hq != q {
		t.Fatalf("host queue = %d, %v", hq, ok)
	}
}

func TestMetrics(t *testing.T) {
	h := start(t, &testRoot{}, proxywasmtest.Options{})
	c, err := proxywasm.DefineCounter("requests")
	must(t, err)
	g, err := proxywasm.DefineGauge("inflight")
	must(t, err)
	hist, err := proxywasm.DefineHistogram("latency_ms")
	must(t, err)
	again, err := proxywasm.DefineCounter("requests")
	if err != nil || again != c {
		t.Fatalf("redefine = %v, %v", again, err)
	}
	if _, err := proxywasm.DefineGauge("requests"); err == nil {
		t.Fatal("redefining a counter as a gauge succeeded")
	}
	must(t, c.Increment(2))
	must(t, c.Increment(3))
	must(t, g.Set(10))
	must(t, g.Add(-4))
	must(t, hist.Record(7))
	must(t, hist.Record(9))
	tests := []struct {
		name  string
		value func() (uint64, error)
		want  uint64
	}{
		{"counter", c.Value, 5},
		{"gauge", g.Value, 6},
	}
	for _, tt := range tests {
		if v, err := tt.value(); err != nil || v != tt.want {
			t.Errorf("%s = %d, %v; want %d", tt.name, v, err, tt.want)
		}
	}
	if v, ok := h.Metric("requests"); !ok || v != 5 {
		t.Errorf("host counter = %d", v)
	}
	if got := h.HistogramValues("latency_ms"); !slices.Equal(got, []uint64{7, 9}) {
		t.Errorf("histogram = %v", got)
	}
}

func TestLogging(t *testing.T) {
	h := start(t, &testRoot{}, proxywasmtest.Options{})
	logs := []struct {
		fn    func(string)
		level proxywasm.LogLevel
		name  string
	}{
		{proxywasm.LogTrace, proxywasm.LevelTrace, "trace"},
		{proxywasm.LogDebug, proxywasm.LevelDebug, "debug"},
		{proxywasm.LogInfo, proxywasm.LevelInfo, "info"},
		{proxywasm.LogWarn, proxywasm.LevelWarn, "warn"},
		{proxywasm.LogError, proxywasm.LevelError, "error"},
		{proxywasm.LogCritical, proxywasm.LevelCritical, "critical"},
	}
	for _, l := range logs {
		l.fn("msg " + l.name)
		if got := h.LogMessages(l.level); !slices.Equal(got, []string{"msg " + l.name}) {
			t.Errorf("%s: %v", l.name, got)
		}
		if l.level.String() != l.name {
			t.Errorf("String() = %q", l.level.String())
		}
	}
	if len(h.Logs()) != len(logs) {
		t.Fatalf("%d logs", len(h.Logs()))
	}
}

func TestForeignFunction(t *testing.T) {
	h := start(t, &testRoot{}, proxywasmtest.Options{})
	h.RegisterForeignFunction("echo", func(p []byte) ([]byte, error) { return append(p, '!'), nil })
	if out, err := proxywasm.CallForeignFunction("echo", []byte("hi")); err != nil || string(out) != "hi!" {
		t.Fatalf("echo = %q, %v", out, err)
	}
	if _, err := proxywasm.CallForeignFunction("nope", nil); !errors.Is(err, proxywasm.ErrNotFound) {
		t.Fatalf("unknown err = %v", err)
	}
}

// declaringRoot declares the callbacks its contexts act on.
type declaringRoot struct {
	proxywasm.DefaultRootContext
	declare proxywasm.HTTPCallback
	calls   *[]string
}

func (r *declaringRoot) HTTPCallbacks() proxywasm.HTTPCallback { return r.declare }

func (r *declaringRoot) NewHTTPContext(proxywasm.Stream) proxywasm.HTTPContext {
	return &recordingContext{calls: r.calls}
}

// recordingContext records which of its callbacks ran.
type recordingContext struct {
	proxywasm.DefaultHTTPContext
	calls *[]string
}

func (c *recordingContext) OnRequestHeaders(int, bool) proxywasm.Action {
	*c.calls = append(*c.calls, "request_headers")
	return proxywasm.Continue
}

func (c *recordingContext) OnResponseHeaders(int, bool) proxywasm.Action {
	*c.calls = append(*c.calls, "response_headers")
	return proxywasm.Continue
}

func (c *recordingContext) OnLog()    { *c.calls = append(*c.calls, "log") }
func (c *recordingContext) OnDelete() { *c.calls = append(*c.calls, "delete") }

// TestHTTPCallbackDeclaration: a root context's declaration reaches the host
// as the wasmgate.http_callbacks property once it is configured, a host
// that honours it (the fake one does, like wasmgate) skips the other
// callbacks, and OnDelete always comes last.
func TestHTTPCallbackDeclaration(t *testing.T) {
	for _, tc := range []struct {
		declare  proxywasm.HTTPCallback
		property string
		calls    []string
	}{
		{proxywasm.CallRequestHeaders, "request_headers", []string{"request_headers", "delete"}},
		{proxywasm.CallResponseHeaders | proxywasm.CallLog, "response_headers,log", []string{"response_headers", "log", "delete"}},
		{proxywasm.CallRequestHeaders | proxywasm.CallRequestBody | proxywasm.CallRequestTrailers |
			proxywasm.CallResponseHeaders | proxywasm.CallResponseBody | proxywasm.CallResponseTrailers | proxywasm.CallLog,
			"request_headers,request_body,request_trailers,response_headers,response_body,response_trailers,log",
			[]string{"request_headers", "response_headers", "log", "delete"}},
		{0, "", []string{"delete"}},
	} {
		t.Run(tc.property, func(t *testing.T) {
			var calls []string
			h := proxywasmtest.New(t, func(uint32) proxywasm.RootContext {
				return &declaringRoot{declare: tc.declare, calls: &calls}
			}, proxywasmtest.Options{})
			if !h.Start() {
				t.Fatal("start failed")
			}
			if got, ok := h.Property("wasmgate.http_callbacks"); !ok || got != tc.property {
				t.Fatalf("wasmgate.http_callbacks = %q, %v; want %q", got, ok, tc.property)
			}
			s := h.NewStream()
			s.CallOnRequestHeaders([][2]string{{":method", "GET"}}, true)
			s.CallOnResponseHeaders([][2]string{{":status", "200"}}, true)
			s.Complete()
			if !slices.Equal(calls, tc.calls) {
				t.Fatalf("callbacks %v, want %v", calls, tc.calls)
			}
		})
	}
}
