package routing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Config is the plugin configuration of builtin:routing, a JSON document.
// conf builds it from the HCL route blocks (conf.Config.RoutingJSON); the
// schema is documented in filters/README.md. Unknown fields are rejected.
type Config struct {
	// DefaultUpstream receives requests no route matches; without one they
	// get 404.
	DefaultUpstream string `json:"default_upstream,omitempty"`
	// Routes in file order.
	Routes []RouteConfig `json:"routes"`
}

// RouteConfig is one route: when any of its Match entries matches, its
// action runs. Exactly one of To, Redirect and Respond is set.
type RouteConfig struct {
	// Name is set as the property wasmgate.route; unique.
	Name string `json:"name"`
	// Match entries are ORed; none matches every request.
	Match []MatchConfig `json:"match,omitempty"`

	// To forwards to one upstream, or splits by weight across several.
	To []Destination `json:"to,omitempty"`
	// Redirect answers with a redirect.
	Redirect *RedirectConfig `json:"redirect,omitempty"`
	// Respond answers directly.
	Respond *RespondConfig `json:"respond,omitempty"`

	// Rewrite changes the forwarded request (To only).
	Rewrite *RewriteConfig `json:"rewrite,omitempty"`
	// Mirror asks the gateway to copy a share of requests (To only).
	Mirror *MirrorConfig `json:"mirror,omitempty"`
	// Timeout overrides the upstream's response timeout, a Go duration
	// (To only); set as the property wasmgate.timeout.
	Timeout string `json:"timeout,omitempty"`
	// RetryAttempts overrides the upstream's retry attempts, 0..5 (To
	// only); set as the property wasmgate.retry_attempts.
	RetryAttempts *int `json:"retry_attempts,omitempty"`
}

// MatchConfig is one set of conditions, all of which must hold.
type MatchConfig struct {
	// Hosts are exact names or "*.example.com" wildcards (one or more
	// labels before the suffix); any of them. Ports and case are ignored.
	Hosts []string `json:"hosts,omitempty"`
	// At most one of Path (exact), PathPrefix (segment-aware) and
	// PathRegex (RE2, unanchored unless written with ^ and $) applies to
	// the path without its query string.
	Path       string `json:"path,omitempty"`
	PathPrefix string `json:"path_prefix,omitempty"`
	PathRegex  string `json:"path_regex,omitempty"`
	// Methods are upper-case; any of them.
	Methods []string `json:"methods,omitempty"`
	// Headers and Query must all match.
	Headers []ValueMatch `json:"headers,omitempty"`
	Query   []ValueMatch `json:"query,omitempty"`
}

// ValueMatch tests one header or query parameter: exactly one of Exact,
// Regex and Present.
type ValueMatch struct {
	Name    string  `json:"name"`
	Exact   *string `json:"exact,omitempty"`
	Regex   string  `json:"regex,omitempty"`
	Present *bool   `json:"present,omitempty"`
}

// Destination is an upstream and its weight (default 1; 0 receives
// nothing).
type Destination struct {
	Upstream string `json:"upstream"`
	Weight   *int   `json:"weight,omitempty"`
}

// RedirectConfig builds the Location of a redirect from the request,
// replacing what is set.
type RedirectConfig struct {
	Scheme string `json:"scheme,omitempty"`
	Host   string `json:"host,omitempty"`
	Port   int    `json:"port,omitempty"`
	// Path replaces the whole path; Prefix replaces the matched
	// path_prefix. At most one.
	Path       string `json:"path,omitempty"`
	Prefix     string `json:"prefix,omitempty"`
	StripQuery bool   `json:"strip_query,omitempty"`
	// Status is 301, 302 (default), 303, 307 or 308.
	Status int `json:"status,omitempty"`
}

// RespondConfig is a direct response.
type RespondConfig struct {
	Status  int               `json:"status"`
	Body    string            `json:"body,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
}

// RewriteConfig rewrites the forwarded request. At most one of Path and
// PathPrefix.
type RewriteConfig struct {
	Path       string `json:"path,omitempty"`
	PathPrefix string `json:"path_prefix,omitempty"`
	Host       string `json:"host,omitempty"`
}

// MirrorConfig mirrors Percent (0..100) of the requests to Upstream.
type MirrorConfig struct {
	Upstream string `json:"upstream"`
	Percent  int    `json:"percent"`
}

// Path match kinds, in precedence order.
const (
	pathExact = iota
	pathPrefix
	pathRegex
	pathAny
)

// table is a compiled Config: the route entries in precedence order,
// bucketed by host.
type table struct {
	defaultUpstream string
	exact           map[string][]*entry // by lower-case host
	wildcard        []*entry            // longest suffix first
	anyHost         []*entry
	// needMethod tells whether a match tests the method; a request's
	// :method is not read otherwise (each header read is a host call).
	needMethod bool
}

// entry is one (route, match, host) combination.
type entry struct {
	route  *route
	m      *matcher
	suffix string // wildcard hosts: ".example.com"
	order  int
}

// matcher is a compiled MatchConfig.
type matcher struct {
	pathKind int
	path     string // exact path, or prefix without trailing '/' ("" for "/")
	re       *regexp.Regexp
	methods  []string
	headers  []valueMatcher
	query    []valueMatcher
}

type valueMatcher struct {
	name    string
	exact   string
	re      *regexp.Regexp
	kind    int // valueExact, valueRegex, valuePresent, valueAbsent
	decoded bool
}

const (
	valueExact = iota
	valueRegex
	valuePresent
	valueAbsent
)

// route is a compiled RouteConfig with its per-instance state.
type route struct {
	name string

	// forward
	upstreams []string
	weights   []int
	current   []int // smooth weighted round robin state
	total     int

	redirect *RedirectConfig
	respond  *RespondConfig
	headers  [][2]string // respond headers, sorted

	rewritePath, rewritePrefix, rewriteHost string
	hasRewritePrefix                        bool

	mirror     string
	mirrorPct  int
	mirrorAcc  int
	timeout    string // canonical duration, "" for none
	retry      string // decimal, "" for none
	prefixNeed bool   // prefix rewrite or redirect: matches are prefixes
}

// parseConfig decodes and compiles a configuration.
func parseConfig(data []byte) (*table, error) {
	var cfg Config
	if len(bytes.TrimSpace(data)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			return nil, fmt.Errorf("routing: configuration: %w", err)
		}
	}
	return compile(&cfg)
}

func compile(cfg *Config) (*table, error) {
	t := &table{defaultUpstream: cfg.DefaultUpstream, exact: map[string][]*entry{}}
	names := map[string]bool{}
	order := 0
	for i := range cfg.Routes {
		rc := &cfg.Routes[i]
		r, err := compileRoute(rc)
		if err != nil {
			return nil, fmt.Errorf("routing: route %q: %w", rc.Name, err)
		}
		if names[rc.Name] {
			return nil, fmt.Errorf("routing: route %q: duplicate name", rc.Name)
		}
		names[rc.Name] = true
		matches := rc.Match
		if len(matches) == 0 {
			matches = []MatchConfig{{}}
		}
		for j := range matches {
			m, err := compileMatch(&matches[j])
			if err != nil {
				return nil, fmt.Errorf("routing: route %q: match %d: %w", rc.Name, j+1, err)
			}
			t.needMethod = t.needMethod || len(m.methods) > 0
			if r.prefixNeed && m.pathKind != pathPrefix {
				return nil, fmt.Errorf("routing: route %q: match %d: a prefix rewrite or redirect needs path_prefix in every match", rc.Name, j+1)
			}
			if len(matches[j].Hosts) == 0 {
				t.anyHost = append(t.anyHost, &entry{route: r, m: m, order: order})
				order++
				continue
			}
			for _, h := range matches[j].Hosts {
				h = strings.ToLower(h)
				e := &entry{route: r, m: m, order: order}
				order++
				switch {
				case strings.HasPrefix(h, "*."):
					if len(h) < 3 || strings.Contains(h[1:], "*") {
						return nil, fmt.Errorf("invalid wildcard host %q", h)
					}
					e.suffix = h[1:]
					t.wildcard = append(t.wildcard, e)
				case h == "" || strings.Contains(h, "*"):
					return nil, fmt.Errorf("invalid host %q: use a name or *.suffix", h)
				default:
					t.exact[h] = append(t.exact[h], e)
				}
			}
		}
	}
	for _, es := range t.exact {
		sortEntries(es, false)
	}
	sortEntries(t.wildcard, true)
	sortEntries(t.anyHost, false)
	return t, nil
}

// sortEntries orders entries by precedence: (longest wildcard suffix),
// exact path, prefix (longest first), regex, no path; then file order.
func sortEntries(es []*entry, bySuffix bool) {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if bySuffix && len(a.suffix) != len(b.suffix) {
			return len(a.suffix) > len(b.suffix)
		}
		if a.m.pathKind != b.m.pathKind {
			return a.m.pathKind < b.m.pathKind
		}
		if a.m.pathKind == pathPrefix && len(a.m.path) != len(b.m.path) {
			return len(a.m.path) > len(b.m.path)
		}
		return a.order < b.order
	})
}

func compileMatch(mc *MatchConfig) (*matcher, error) {
	m := &matcher{pathKind: pathAny}
	n := 0
	if mc.Path != "" {
		n++
		if mc.Path[0] != '/' {
			return nil, fmt.Errorf("path %q must start with /", mc.Path)
		}
		m.pathKind, m.path = pathExact, mc.Path
	}
	if mc.PathPrefix != "" {
		n++
		if mc.PathPrefix[0] != '/' {
			return nil, fmt.Errorf("path_prefix %q must start with /", mc.PathPrefix)
		}
		m.pathKind, m.path = pathPrefix, strings.TrimRight(mc.PathPrefix, "/")
	}
	if mc.PathRegex != "" {
		n++
		re, err := regexp.Compile(mc.PathRegex)
		if err != nil {
			return nil, fmt.Errorf("path_regex: %w", err)
		}
		m.pathKind, m.re = pathRegex, re
	}
	if n > 1 {
		return nil, errors.New("at most one of path, path_prefix and path_regex")
	}
	for _, meth := range mc.Methods {
		if meth == "" || strings.ToUpper(meth) != meth {
			return nil, fmt.Errorf("method %q must be upper-case", meth)
		}
		m.methods = append(m.methods, meth)
	}
	var err error
	if m.headers, err = compileValues("header", mc.Headers, true); err != nil {
		return nil, err
	}
	if m.query, err = compileValues("query parameter", mc.Query, false); err != nil {
		return nil, err
	}
	return m, nil
}

func compileValues(what string, vs []ValueMatch, lower bool) ([]valueMatcher, error) {
	var out []valueMatcher
	for _, v := range vs {
		if v.Name == "" {
			return nil, fmt.Errorf("%s without a name", what)
		}
		vm := valueMatcher{name: v.Name}
		if lower {
			vm.name = strings.ToLower(v.Name)
		}
		n := 0
		if v.Exact != nil {
			n++
			vm.kind, vm.exact = valueExact, *v.Exact
		}
		if v.Regex != "" {
			n++
			re, err := regexp.Compile(v.Regex)
			if err != nil {
				return nil, fmt.Errorf("%s %q: regex: %w", what, v.Name, err)
			}
			vm.kind, vm.re = valueRegex, re
		}
		if v.Present != nil {
			n++
			vm.kind = valuePresent
			if !*v.Present {
				vm.kind = valueAbsent
			}
		}
		if n != 1 {
			return nil, fmt.Errorf("%s %q: set exactly one of exact, regex and present", what, v.Name)
		}
		out = append(out, vm)
	}
	return out, nil
}

func compileRoute(rc *RouteConfig) (*route, error) {
	if rc.Name == "" {
		return nil, errors.New("a route needs a name")
	}
	r := &route{name: rc.Name}
	actions := 0
	if len(rc.To) > 0 {
		actions++
		for _, d := range rc.To {
			if d.Upstream == "" {
				return nil, errors.New("a destination needs an upstream")
			}
			w := 1
			if d.Weight != nil {
				w = *d.Weight
			}
			if w < 0 {
				return nil, fmt.Errorf("upstream %q: negative weight", d.Upstream)
			}
			r.upstreams = append(r.upstreams, d.Upstream)
			r.weights = append(r.weights, w)
			r.total += w
		}
		r.current = make([]int, len(r.weights))
	}
	if rd := rc.Redirect; rd != nil {
		actions++
		switch rd.Status {
		case 0:
			rd.Status = 302
		case 301, 302, 303, 307, 308:
		default:
			return nil, fmt.Errorf("redirect status %d: use 301, 302, 303, 307 or 308", rd.Status)
		}
		if rd.Scheme != "" && rd.Scheme != "http" && rd.Scheme != "https" {
			return nil, fmt.Errorf("redirect scheme %q: use http or https", rd.Scheme)
		}
		if rd.Port < 0 || rd.Port > 65535 {
			return nil, fmt.Errorf("redirect port %d out of range", rd.Port)
		}
		if rd.Path != "" && rd.Prefix != "" {
			return nil, errors.New("redirect: at most one of path and prefix")
		}
		r.prefixNeed = rd.Prefix != ""
		r.redirect = rd
	}
	if rp := rc.Respond; rp != nil {
		actions++
		if rp.Status < 200 || rp.Status > 599 {
			return nil, fmt.Errorf("respond status %d: use 200..599", rp.Status)
		}
		r.respond = rp
		for k, v := range rp.Headers {
			r.headers = append(r.headers, [2]string{strings.ToLower(k), v})
		}
		sort.Slice(r.headers, func(i, j int) bool { return r.headers[i][0] < r.headers[j][0] })
	}
	if actions != 1 {
		return nil, errors.New("set exactly one of to, redirect and respond")
	}
	forwardOnly := func(what string) error {
		return fmt.Errorf("%s applies only to routes that forward (to)", what)
	}
	if rw := rc.Rewrite; rw != nil {
		if len(rc.To) == 0 {
			return nil, forwardOnly("rewrite")
		}
		if rw.Path != "" && rw.PathPrefix != "" {
			return nil, errors.New("rewrite: at most one of path and path_prefix")
		}
		if rw.Path != "" && rw.Path[0] != '/' || rw.PathPrefix != "" && rw.PathPrefix[0] != '/' {
			return nil, errors.New("rewrite: paths must start with /")
		}
		r.rewritePath, r.rewritePrefix, r.rewriteHost = rw.Path, rw.PathPrefix, rw.Host
		r.hasRewritePrefix = rw.PathPrefix != ""
		r.prefixNeed = r.prefixNeed || r.hasRewritePrefix
	}
	if mi := rc.Mirror; mi != nil {
		if len(rc.To) == 0 {
			return nil, forwardOnly("mirror")
		}
		if mi.Upstream == "" || mi.Percent < 0 || mi.Percent > 100 {
			return nil, errors.New("mirror needs an upstream and a percent in 0..100")
		}
		r.mirror, r.mirrorPct = mi.Upstream, mi.Percent
	}
	if rc.Timeout != "" {
		if len(rc.To) == 0 {
			return nil, forwardOnly("timeout")
		}
		d, err := time.ParseDuration(rc.Timeout)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("timeout %q is not a positive duration", rc.Timeout)
		}
		r.timeout = d.String()
	}
	if rc.RetryAttempts != nil {
		if len(rc.To) == 0 {
			return nil, forwardOnly("retry_attempts")
		}
		if *rc.RetryAttempts < 0 || *rc.RetryAttempts > 5 {
			return nil, fmt.Errorf("retry_attempts %d: use 0..5", *rc.RetryAttempts)
		}
		r.retry = strconv.Itoa(*rc.RetryAttempts)
	}
	return r, nil
}
