package wasmhost_test

import (
	"errors"
	"strings"
	"sync"

	"github.com/wasmgate/wasmgate/wasmhost"
)

// headers is a simple HeaderMap for tests.
type headers [][2]string

func (h *headers) Get(name string) (string, bool) {
	for _, kv := range *h {
		if strings.EqualFold(kv[0], name) {
			return kv[1], true
		}
	}
	return "", false
}
func (h *headers) Len() int { return len(*h) }
func (h *headers) Range(fn func(string, string) bool) {
	for _, kv := range *h {
		if !fn(kv[0], kv[1]) {
			return
		}
	}
}
func (h *headers) Add(name, value string) {
	*h = append(*h, [2]string{strings.Clone(name), strings.Clone(value)}) // the host passes views
}
func (h *headers) Set(name, value string) { h.Del(name); h.Add(name, value) }
func (h *headers) Del(name string) {
	out := (*h)[:0]
	for _, kv := range *h {
		if !strings.EqualFold(kv[0], name) {
			out = append(out, kv)
		}
	}
	*h = out
}

// stream is a Stream for tests. mu only protects what tests read from other
// goroutines; the host never calls it concurrently.
type stream struct {
	mu       sync.Mutex
	maps     [4]*headers
	bodies   [2][]byte
	props    map[string]string
	setProps map[string]string
	local    *wasmhost.LocalResponse
}

func newStream(kv ...string) *stream {
	s := &stream{props: map[string]string{}, setProps: map[string]string{}}
	h := headers{{":method", "GET"}, {":path", "/foo?x=1"}, {":authority", "example.com"}, {":scheme", "https"}}
	for i := 0; i+1 < len(kv); i += 2 {
		h = append(h, [2]string{kv[i], kv[i+1]})
	}
	s.maps[wasmhost.RequestHeaders] = &h
	return s
}

func (s *stream) respond(kv ...string) {
	h := headers{{":status", "200"}}
	for i := 0; i+1 < len(kv); i += 2 {
		h = append(h, [2]string{kv[i], kv[i+1]})
	}
	s.maps[wasmhost.ResponseHeaders] = &h
}

func (s *stream) HeaderMap(t wasmhost.MapType) wasmhost.HeaderMap {
	if m := s.maps[t]; m != nil {
		return m
	}
	return nil
}
func (s *stream) Body(k wasmhost.BodyKind) []byte { return s.bodies[k] }
func (s *stream) SetBody(k wasmhost.BodyKind, b []byte) error {
	if len(b) > 1<<20 {
		return errors.New("too big")
	}
	s.bodies[k] = b
	return nil
}
func (s *stream) Property(path []string) ([]byte, bool) {
	v, ok := s.props[strings.Join(path, ".")]
	return []byte(v), ok
}
func (s *stream) SetProperty(path []string, v []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setProps[strings.Join(path, ".")] = string(v)
	return nil
}
func (s *stream) SendLocalResponse(r wasmhost.LocalResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.local = &r
}

func (s *stream) req(name string) string {
	v, _ := s.maps[wasmhost.RequestHeaders].Get(name)
	return v
}

func (s *stream) resp(name string) string {
	v, _ := s.maps[wasmhost.ResponseHeaders].Get(name)
	return v
}
