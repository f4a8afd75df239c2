package proxywasm

import (
	"errors"
	"testing"

	"github.com/wasmgate/wasmgate/sdk/go/internal/abi"
)

func TestStatusErr(t *testing.T) {
	tests := []struct {
		st   abi.Status
		want error
	}{
		{abi.StatusOK, nil},
		{abi.StatusNotFound, ErrNotFound},
		{abi.StatusBadArgument, ErrBadArgument},
		{abi.StatusSerialization, ErrSerialization},
		{abi.StatusParseFailure, ErrParseFailure},
		{abi.StatusEmpty, ErrEmpty},
		{abi.StatusCASMismatch, ErrCASMismatch},
		{abi.StatusInternalFailure, ErrInternalFailure},
		{abi.StatusUnimplemented, ErrUnimplemented},
		{99, StatusError(99)},
	}
	for _, tt := range tests {
		if got := statusErr(tt.st); !errors.Is(got, tt.want) {
			t.Errorf("statusErr(%d) = %v, want %v", tt.st, got, tt.want)
		}
	}
	if StatusError(99).Error() != "proxywasm: host status 99" {
		t.Errorf("Error() = %q", StatusError(99).Error())
	}
}

// stubHost answers the calls of the hot-path filter without allocating, so
// that allocations measured are the SDK's own.
type stubHost struct {
	abi.Host // nil: other calls panic
	calls    int
	token    uint32
}

func (h *stubHost) SetEffectiveContext(uint32) abi.Status { h.calls++; return abi.StatusOK }
func (h *stubHost) Log(uint32, string) abi.Status         { return abi.StatusOK }
func (h *stubHost) GetMapValue(abi.MapType, string) (string, abi.Status) {
	return "agent", abi.StatusOK
}
func (h *stubHost) AddMapValue(abi.MapType, string, string) abi.Status     { return abi.StatusOK }
func (h *stubHost) ReplaceMapValue(abi.MapType, string, string) abi.Status { return abi.StatusOK }

var stubBody = []byte("body")

func (h *stubHost) GetBuffer(abi.BufferType, int, int, bool) ([]byte, abi.Status) {
	return stubBody, abi.StatusOK
}
func (h *stubHost) GetProperty([]byte) ([]byte, abi.Status) { return stubBody, abi.StatusOK }
func (h *stubHost) HTTPCall(string, []byte, []byte, []byte, uint32) (uint32, abi.Status) {
	h.token++
	return h.token, abi.StatusOK
}

type hotRoot struct{ DefaultRootContext }

func (hotRoot) NewHTTPContext(s Stream) HTTPContext { return &hotFilter{s: s} }

type hotFilter struct {
	DefaultHTTPContext
	s     Stream
	agent string
}

func (f *hotFilter) OnRequestHeaders(int, bool) Action {
	f.agent, _ = f.s.RequestHeaders().Get("user-agent")
	return Continue
}

func (f *hotFilter) OnRequestBody(size int, _ bool) Action {
	if _, err := f.s.RequestBody().Peek(0, size); err != nil {
		return Pause
	}
	return Continue
}

func (f *hotFilter) OnResponseHeaders(int, bool) Action {
	_ = f.s.ResponseHeaders().Add("x-agent", f.agent)
	_ = f.s.ResponseHeaders().Set("x-filter", "hot")
	_, _ = f.s.Property("request", "path")
	return Continue
}

func installStub(t testing.TB) (*stubHost, abi.Guest) {
	h := &stubHost{}
	prev := abi.SetHost(h)
	prevGuest := abi.CurrentGuest()
	t.Cleanup(func() { abi.SetHost(prev); abi.SetGuest(prevGuest) })
	SetRootContext(func(uint32) RootContext { return hotRoot{} })
	g := abi.CurrentGuest()
	g.OnContextCreate(1, 0)
	return h, g
}

func TestHotPathAllocations(t *testing.T) {
	h, g := installStub(t)
	g.OnContextCreate(2, 1)
	callbacks := testing.AllocsPerRun(200, func() {
		g.OnRequestHeaders(2, 3, false)
		g.OnRequestBody(2, 4, true)
		g.OnResponseHeaders(2, 2, true)
	})
	if callbacks != 0 {
		t.Errorf("callbacks on a live stream: %v allocations, want 0", callbacks)
	}
	if h.calls != 0 {
		t.Errorf("%d proxy_set_effective_context calls inside the stream's own callbacks", h.calls)
	}
	id := uint32(3)
	stream := testing.AllocsPerRun(200, func() {
		g.OnContextCreate(id, 1)
		g.OnRequestHeaders(id, 3, true)
		g.OnResponseHeaders(id, 2, true)
		g.OnDone(id)
		g.OnLog(id)
		g.OnDelete(id)
		id++
	})
	if stream > 1 { // the filter's own struct
		t.Errorf("whole stream: %v allocations, want <= 1", stream)
	}
}

func BenchmarkStream(b *testing.B) {
	_, g := installStub(b)
	b.ReportAllocs()
	for i := range b.N {
		id := uint32(i + 2)
		g.OnContextCreate(id, 1)
		g.OnRequestHeaders(id, 3, true)
		g.OnResponseHeaders(id, 2, true)
		g.OnDone(id)
		g.OnLog(id)
		g.OnDelete(id)
	}
}

// TestHTTPCallResponseToCallerContext covers hosts that deliver
// proxy_on_http_call_response on the calling stream's context instead of
// the root context.
func TestHTTPCallResponseToCallerContext(t *testing.T) {
	_, g := installStub(t)
	g.OnContextCreate(2, 1)
	g.OnRequestHeaders(2, 0, true) // make 2 the current context
	got := 0
	token, err := DispatchHTTPCall("u", [][2]string{{":method", "GET"}}, nil, 0,
		func(r HTTPCallResponse) { got = r.NumHeaders })
	if err != nil {
		t.Fatal(err)
	}
	g.OnHTTPCallResponse(2, token, 5, 0, 0)
	if got != 5 {
		t.Fatalf("callback not run (NumHeaders %d)", got)
	}
	// Delivered on the root context, as Envoy does.
	token, _ = DispatchHTTPCall("u", nil, nil, 0, func(r HTTPCallResponse) { got = r.NumHeaders })
	g.OnHTTPCallResponse(1, token, 7, 0, 0)
	if got != 7 {
		t.Fatalf("callback not run (NumHeaders %d)", got)
	}
	// Unknown tokens are ignored.
	g.OnHTTPCallResponse(1, 999, 1, 0, 0)
}

// TestStreamTable checks the context table against a map under sequential
// ids (the usual case), colliding ids (which force growth) and deletes.
func TestStreamTable(t *testing.T) {
	for _, tc := range []struct {
		name string
		ids  func(i int) uint32
	}{
		{"sequential", func(i int) uint32 { return uint32(i + 1) }},
		{"colliding", func(i int) uint32 { return uint32(i+1) * 64 }},
		{"sparse", func(i int) uint32 { return uint32(i*7919+1) & 0xffffff }},
		{"high bits only", func(i int) uint32 { return uint32(i+1) << 20 }}, // overflow map
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tab streamTable
			want := map[uint32]uint32{}
			for i := range 500 {
				id := tc.ids(i)
				if id == 0 {
					continue
				}
				tab.put(id, streamEntry{root: id + 1})
				want[id] = id + 1
				if i%3 == 0 { // delete an older one now and then
					old := tc.ids(i / 2)
					if got := tab.del(old); got != (want[old] != 0) {
						t.Fatalf("del(%d) = %v", old, got)
					}
					delete(want, old)
				}
			}
			if tab.n != len(want) {
				t.Fatalf("n = %d, want %d", tab.n, len(want))
			}
			if len(tab.slots) > maxSlots {
				t.Fatalf("%d slots, more than %d", len(tab.slots), maxSlots)
			}
			for id, root := range want {
				if e, ok := tab.get(id); !ok || e.root != root {
					t.Fatalf("get(%d) = %v %v, want root %d", id, e, ok, root)
				}
			}
			if _, ok := tab.get(0xfffffff); ok {
				t.Fatal("found an id never put")
			}
			if tab.del(0xfffffff) {
				t.Fatal("deleted an id never put")
			}
		})
	}
}
