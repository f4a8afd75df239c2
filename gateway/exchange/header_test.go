package exchange

import (
	"reflect"
	"testing"
)

func fields(h *Header) [][2]string {
	var out [][2]string
	h.Range(func(k, v []byte) bool {
		out = append(out, [2]string{string(k), string(v)})
		return true
	})
	return out
}

func TestHeader(t *testing.T) {
	tests := []struct {
		name string
		ops  func(h *Header)
		want [][2]string
	}{
		{"add keeps order and lower-cases", func(h *Header) { h.Add("X-A", "1"); h.Add("x-b", "2"); h.Add("X-A", "3") },
			[][2]string{{"x-a", "1"}, {"x-b", "2"}, {"x-a", "3"}}},
		{"set replaces all, in place of the first", func(h *Header) { h.Add("x-a", "1"); h.Add("x-b", "2"); h.Add("X-A", "3"); h.Set("X-a", "9") },
			[][2]string{{"x-a", "9"}, {"x-b", "2"}}},
		{"set adds when absent", func(h *Header) { h.Set("X-New", "v") }, [][2]string{{"x-new", "v"}}},
		{"del is case-insensitive and removes all", func(h *Header) { h.Add("a", "1"); h.Add("B", "2"); h.Add("A", "3"); h.Del("a") },
			[][2]string{{"b", "2"}}},
		{"reuse after delete", func(h *Header) { h.Add("a", "1"); h.Del("a"); h.Add("c", "3") }, [][2]string{{"c", "3"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Header
			tt.ops(&h)
			if got := fields(&h); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			if !h.Modified() {
				t.Fatal("changes must mark the header modified")
			}
		})
	}
}

func TestHeaderLookup(t *testing.T) {
	var h Header
	h.Add("Content-Type", "text/plain")
	h.Add("X-Multi", "a")
	h.Add("x-multi", "b")
	h.ClearModified()
	if v, ok := h.Get("content-TYPE"); !ok || v != "text/plain" {
		t.Fatalf("Get: %q %v", v, ok)
	}
	if string(h.Peek("X-MULTI")) != "a" || !h.Has("x-multi") || h.Has("nope") {
		t.Fatal("Peek/Has")
	}
	var all []string
	h.Values("x-multi", func(v []byte) bool { all = append(all, string(v)); return true })
	if !reflect.DeepEqual(all, []string{"a", "b"}) {
		t.Fatalf("Values %v", all)
	}
	if h.Modified() {
		t.Fatal("reads must not mark the header modified")
	}
	h.Del("absent")
	if h.Modified() {
		t.Fatal("deleting an absent name is not a change")
	}
}

func TestHeaderReuseAllocatesNothing(t *testing.T) {
	var h Header
	fill := func() {
		h.Reset()
		h.Add("Host", "example.com")
		h.Add("User-Agent", "bench")
		h.Set("X-Forwarded-For", "127.0.0.1")
		h.Del("user-agent")
		_ = h.Peek("host")
	}
	fill()
	if n := testing.AllocsPerRun(100, fill); n != 0 {
		t.Fatalf("%v allocs per reuse, want 0", n)
	}
}

func TestExchangePool(t *testing.T) {
	var p Pool
	x := p.Acquire()
	x.Request.SetPath("/a?b=c")
	x.Upstream = "u"
	x.SetAttr("k", []byte("v"))
	x.SendLocal(403, []byte("no"))
	if string(x.Request.PathOnly()) != "/a" || string(x.Request.Query()) != "b=c" {
		t.Fatal("path/query split")
	}
	if v, ok := x.Attr("k"); !ok || string(v) != "v" {
		t.Fatal("attr")
	}
	p.Release(x)
	y := p.Acquire()
	if y.Upstream != "" || y.IsLocal() || len(y.Request.Path) != 0 || y.Response.Status != 0 {
		t.Fatal("a released exchange must come back empty")
	}
	if _, ok := y.Attr("k"); ok {
		t.Fatal("attrs must reset")
	}
}

func BenchmarkHeader(b *testing.B) {
	var h Header
	b.ReportAllocs()
	for b.Loop() {
		h.Reset()
		h.Add("host", "example.com")
		h.Add("user-agent", "bench")
		h.Add("accept", "*/*")
		h.Set("x-forwarded-for", "127.0.0.1")
		_ = h.Peek("Accept")
		h.Del("user-agent")
	}
}

// TestSetAttrCopiesKey: a caller may pass a key that views memory it
// reuses (a WASM guest's); a later write there must not change the key.
func TestSetAttrCopiesKey(t *testing.T) {
	var x Exchange
	buf := []byte("timeout")
	x.SetAttr(unsafeString(buf), []byte("300ms"))
	copy(buf, "retry_a") // the caller reuses its memory
	if v, ok := x.Attr("timeout"); !ok || string(v) != "300ms" {
		t.Fatalf("attr under a reused key buffer: %q %v", v, ok)
	}
}

// TestSetAttrReusesSlots: on a pooled exchange, setting the same attributes
// request after request allocates nothing.
func TestSetAttrReusesSlots(t *testing.T) {
	var x Exchange
	set := func() {
		x.Reset()
		x.SetAttr("route", []byte("api"))
		x.SetAttr("timeout", []byte("2s"))
	}
	set()
	if n := testing.AllocsPerRun(100, set); n != 0 {
		t.Fatalf("%v allocs per request, want 0", n)
	}
	if v, _ := x.Attr("timeout"); string(v) != "2s" {
		t.Fatalf("attr %q", v)
	}
}
