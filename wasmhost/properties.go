package wasmhost

import (
	"encoding/binary"
	"strconv"
	"strings"
	"unsafe"

	"github.com/wasmgate/wasmgate/wasmhost/internal/abi"
)

// Properties the host answers itself (Envoy attribute names):
//
//	plugin_name, plugin_root_id, plugin_vm_id     from PluginConfig
//	request.path, request.url_path, request.query,
//	request.method, request.host, request.scheme,
//	request.id (x-request-id), request.useragent, request.referer
//	                                              from the request header map
//	request.headers, response.headers             serialized pairs
//	request.headers.<name>, response.headers.<name>  one value
//	response.code                                 8-byte little-endian int
//
// Everything else (request.protocol, source.address, source.port,
// destination.address, connection.mtls, and the wasmgate.* names) is asked
// from Stream.Property, and proxy_set_property goes to Stream.SetProperty
// (except a root context setting HTTPCallbacksProperty).

// splitPath splits a NUL-separated property path into in.path, as views of
// raw (valid during the host call only).
func (in *instance) splitPath(raw string) []string {
	path := in.path[:0]
	for len(path) < cap(path)-1 {
		i := strings.IndexByte(raw, 0)
		if i < 0 {
			break
		}
		path = append(path, raw[:i])
		raw = raw[i+1:]
	}
	return append(path, raw)
}

func hGetProperty(in *instance, s []uint64) abi.Status {
	raw, ok := in.str(s[0], s[1])
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	if !in.writable(s[2], 4) || !in.writable(s[3], 4) {
		return abi.StatusInvalidMemoryAccess
	}
	path := in.splitPath(raw)
	if len(path) == 1 {
		switch path[0] {
		case "plugin_name":
			return in.retString(s[2], s[3], in.p.cfg.Name)
		case "plugin_root_id":
			return in.retString(s[2], s[3], in.p.cfg.RootID)
		case "plugin_vm_id":
			return in.retString(s[2], s[3], in.p.cfg.VMID)
		}
	}
	c := in.current
	if !c.accessible() {
		return abi.StatusNotFound
	}
	if v, st, handled := in.streamProperty(c.stream, path); handled {
		if st != abi.StatusOK {
			return st
		}
		return in.retString(s[2], s[3], v)
	}
	v, found := c.stream.Property(path)
	if !found {
		return abi.StatusNotFound
	}
	return in.retBytes(s[2], s[3], v)
}

// streamProperty answers the properties derived from header maps.
func (in *instance) streamProperty(st Stream, path []string) (string, abi.Status, bool) {
	if len(path) < 2 || (path[0] != "request" && path[0] != "response") {
		return "", 0, false
	}
	t := RequestHeaders
	if path[0] == "response" {
		t = ResponseHeaders
	}
	get := func(name string) (string, abi.Status, bool) {
		m := st.HeaderMap(t)
		if m == nil {
			return "", abi.StatusNotFound, true
		}
		v, ok := m.Get(name)
		if !ok {
			return "", abi.StatusNotFound, true
		}
		return v, abi.StatusOK, true
	}
	if path[1] == "headers" || path[1] == "trailers" {
		if path[1] == "trailers" {
			t++ // RequestTrailers / ResponseTrailers
		}
		m := st.HeaderMap(t)
		switch {
		case m == nil:
			return "", abi.StatusNotFound, true
		case len(path) == 2:
			b := in.serialize(m)
			return unsafe.String(unsafe.SliceData(b), len(b)), abi.StatusOK, true
		case len(path) == 3:
			v, ok := m.Get(in.lower(path[2]))
			if !ok {
				return "", abi.StatusNotFound, true
			}
			return v, abi.StatusOK, true
		}
		return "", abi.StatusNotFound, true
	}
	if len(path) != 2 {
		return "", 0, false
	}
	if t == ResponseHeaders {
		if path[1] != "code" {
			return "", 0, false
		}
		v, st, _ := get(":status")
		if st != abi.StatusOK {
			return "", st, true
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return "", abi.StatusNotFound, true
		}
		in.scratch = binary.LittleEndian.AppendUint64(in.scratch[:0], uint64(n))
		return unsafe.String(&in.scratch[0], 8), abi.StatusOK, true
	}
	switch path[1] {
	case "path":
		return get(":path")
	case "method":
		return get(":method")
	case "host":
		return get(":authority")
	case "scheme":
		return get(":scheme")
	case "useragent":
		return get("user-agent")
	case "referer":
		return get("referer")
	case "id":
		if v, st, _ := get("x-request-id"); st == abi.StatusOK {
			return v, st, true
		}
		return "", 0, false
	case "url_path", "query":
		v, st, _ := get(":path")
		if st != abi.StatusOK {
			return "", st, true
		}
		p, q, _ := strings.Cut(v, "?")
		if path[1] == "query" {
			return q, abi.StatusOK, true
		}
		return p, abi.StatusOK, true
	}
	return "", 0, false
}

func hSetProperty(in *instance, s []uint64) abi.Status {
	raw, ok := in.str(s[0], s[1])
	value, ok2 := in.bytes(s[2], s[3])
	if !ok || !ok2 {
		return abi.StatusInvalidMemoryAccess
	}
	c := in.current
	if c == nil && raw == httpCallbacksPath {
		// The root context declares the HTTP callbacks its contexts act
		// on (a wasmgate extension; see HTTPCallbacksProperty).
		mask, ok := parseHTTPCallbacks(string(value))
		if !ok {
			return abi.StatusBadArgument
		}
		in.skip = ^mask & skippable
		return abi.StatusOK
	}
	if !c.accessible() {
		return abi.StatusNotFound
	}
	if err := c.stream.SetProperty(in.splitPath(raw), value); err != nil {
		in.p.log.Debug("set_property refused", "error", err)
		return abi.StatusNotFound
	}
	return abi.StatusOK
}

// HTTPCallbacksProperty is the property path ("wasmgate.http_callbacks")
// through which a filter's root context may declare, as a comma-separated
// list, the HTTP callbacks its contexts act on: request_headers,
// request_body, request_trailers, response_headers, response_body,
// response_trailers and log (which stands for proxy_on_done and
// proxy_on_log). The host then skips the others for every HTTP context of
// that instance. An empty list means none of them. A declared context's
// proxy_on_context_create comes with its first callback (never, if none
// does), and when the list leaves out log its proxy_on_delete waits for
// the instance's next entry (a new context, a root callback, shutdown; at
// most 16 wait), since nothing the filter can see happens at the end of
// such a stream: each entry into a Go guest costs more in cold caches than
// the call itself. Without a declaration every
// callback is made, as the ABI says; other hosts treat the property as an
// ordinary one, so a filter that declares it runs unchanged there. A
// callback into a Go guest costs a few hundred nanoseconds even when it
// does nothing, and most filters act on one or two of the seven.
const HTTPCallbacksProperty = "wasmgate.http_callbacks"

// httpCallbacksPath is HTTPCallbacksProperty as a serialized path.
const httpCallbacksPath = "wasmgate\x00http_callbacks"

// skippable are the callbacks a declaration can leave out.
const skippable = 1<<cbRequestHeaders | 1<<cbRequestBody | 1<<cbRequestTrailers |
	1<<cbResponseHeaders | 1<<cbResponseBody | 1<<cbResponseTrailers | 1<<cbDone | 1<<cbLog

// parseHTTPCallbacks reads a declaration into the set of callbacks to make.
func parseHTTPCallbacks(v string) (uint32, bool) {
	var mask uint32
next:
	for name := range strings.SplitSeq(v, ",") {
		switch name = strings.TrimSpace(name); name {
		case "":
			continue
		case "log":
			mask |= 1<<cbDone | 1<<cbLog
			continue
		}
		// The HTTP callbacks go by their export's name without proxy_on_.
		for cb := cbRequestHeaders; cb <= cbResponseTrailers; cb++ {
			if "proxy_on_"+name == callbackName(cb) {
				mask |= 1 << cb
				continue next
			}
		}
		return 0, false
	}
	return mask, true
}
