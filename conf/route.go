package conf

import (
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Route is a top-level route block: when a request matches, the routing
// filter (builtin:routing) forwards it to an upstream (or splits it by
// weight), redirects it, or answers it directly. Routes become the routing
// filter's configuration through [Config.RoutingJSON].
//
//	route "v1" {
//	  listeners = ["public"]                 # optional; default: every listener
//	  match {                                # several match blocks are ORed; none matches everything
//	    host        = "api.example.com"      # or a list; "*.example.com" wildcards
//	    path_prefix = "/v1"                  # or path (exact) or path_regex (RE2)
//	    method      = ["GET", "POST"]        # or one string
//	    header "x-env" { exact = "canary" }  # or regex = "...", present = true|false
//	    query  "debug" { present = true }    # or exact, regex
//	  }
//	  to = { api = 90, api_canary = 10 }     # split by weight (0 allowed), also as a block
//	                                         # to { api = 90 }; or one upstream: upstream = "api"
//	  rewrite { path_prefix = "/" }          # or path = "/x"; host = "backend.internal"
//	  mirror  { upstream = "shadow"  percent = 10 }
//	  timeout = "5s"                         # overrides the upstream's timeout
//	  retry_attempts = 2                     # overrides the upstream's retry attempts
//	}
//
// Instead of forwarding, a route may redirect { scheme, host, port, path |
// prefix, strip_query, status = 301|302|303|307|308 } or respond { status,
// body, headers }.
type Route struct {
	// Name is the block label; the routing filter sets it as the property
	// wasmgate.route.
	Name string
	// Listeners limits the route to these listeners; empty means all.
	Listeners []string
	// Matches are the match blocks, ORed; none matches every request.
	Matches []RouteMatch

	// To are the upstreams a forwarding route sends to, with weights, in
	// declaration order. Exactly one of To, Redirect and Respond is set.
	To []RouteDestination
	// Redirect answers with a redirect.
	Redirect *RouteRedirect
	// Respond answers directly.
	Respond *RouteRespond

	// Rewrite changes the forwarded request; nil for none.
	Rewrite *RouteRewrite
	// Mirror copies a share of the requests to another upstream; nil for
	// none.
	Mirror *RouteMirror
	// Timeout overrides the upstream's response timeout; 0 for none.
	Timeout time.Duration
	// RetryAttempts overrides the upstream's retry attempts (0..5); -1
	// for none.
	RetryAttempts int

	// DeclRange is the block header, `route "NAME"`.
	DeclRange hcl.Range
}

// RouteMatch is a match block: all of its conditions must hold.
type RouteMatch struct {
	// Hosts are exact names or "*.suffix" wildcards, lower-case; any.
	Hosts []string
	// Path, PathPrefix and PathRegex: at most one is set.
	Path, PathPrefix, PathRegex string
	// Methods are upper-case; any.
	Methods []string
	// Headers and Query are header and query blocks, all of which must
	// match.
	Headers, Query []ValueMatch
}

// Value match kinds, the values of [ValueMatch.Kind].
const (
	MatchExact   = "exact"
	MatchRegex   = "regex"
	MatchPresent = "present"
	MatchAbsent  = "absent" // present = false
)

// ValueMatch is a header or query block of a match.
type ValueMatch struct {
	// Name is the header (lower-case) or query parameter name.
	Name string
	// Kind is MatchExact, MatchRegex, MatchPresent or MatchAbsent.
	Kind string
	// Value is the exact value or the regular expression.
	Value string
}

// RouteDestination is one upstream of a forwarding route.
type RouteDestination struct {
	// Upstream names an upstream block.
	Upstream string
	// Weight is 0..10000; 1 for upstream = "NAME".
	Weight int
}

// RouteRedirect is a redirect block. Empty fields keep the request's value.
type RouteRedirect struct {
	Scheme string // "http" or "https"
	Host   string
	Port   int // 0 for the request's
	// Path replaces the path; Prefix replaces the matched path_prefix.
	Path, Prefix string
	StripQuery   bool
	// Status is 301, 302 (the default), 303, 307 or 308.
	Status int
}

// RouteRespond is a respond block.
type RouteRespond struct {
	Status  int
	Body    string
	Headers map[string]string
}

// RouteRewrite is a rewrite block: Path replaces the path, PathPrefix the
// matched path_prefix (at most one), Host the host.
type RouteRewrite struct {
	Path, PathPrefix, Host string
}

// RouteMirror is a mirror block.
type RouteMirror struct {
	Upstream string
	Percent  int // 0..100
}

// Route returns the route with the given name, or nil if none.
func (c *Config) Route(name string) *Route {
	for _, r := range c.Routes {
		if r.Name == name {
			return r
		}
	}
	return nil
}

func routeSchema() *hcl.BodySchema {
	return &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "listeners"},
			{Name: "upstream"},
			{Name: "to"}, // to = { api = 90 }, or the to block
			{Name: "timeout"},
			{Name: "retry_attempts"},
		},
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "match"},
			{Type: "to"},
			{Type: "redirect"},
			{Type: "respond"},
			{Type: "rewrite"},
			{Type: "mirror"},
		},
	}
}

func matchSchema() *hcl.BodySchema {
	return &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "host"},
			{Name: "path"},
			{Name: "path_prefix"},
			{Name: "path_regex"},
			{Name: "method"},
		},
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "header", LabelNames: []string{"name"}},
			{Type: "query", LabelNames: []string{"name"}},
		},
	}
}

func valueMatchSchema() *hcl.BodySchema {
	return &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "exact"}, {Name: "regex"}, {Name: "present"}}}
}

func redirectSchema() *hcl.BodySchema {
	return &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "scheme"}, {Name: "host"}, {Name: "port"}, {Name: "path"}, {Name: "prefix"},
		{Name: "strip_query"}, {Name: "status"},
	}}
}

func respondSchema() *hcl.BodySchema {
	return &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "status", Required: true}, {Name: "body"}, {Name: "headers"},
	}}
}

func rewriteSchema() *hcl.BodySchema {
	return &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "path"}, {Name: "path_prefix"}, {Name: "host"}}}
}

func mirrorSchema() *hcl.BodySchema {
	return &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "upstream", Required: true}, {Name: "percent", Required: true},
	}}
}

func redirectStatuses() []int { return []int{301, 302, 303, 307, 308} }

// maxRouteWeight bounds the weights of a split.
const maxRouteWeight = 10000

func (d *decoder) decodeRoute(s *source, b *hcl.Block) {
	r := &Route{Name: b.Labels[0], RetryAttempts: -1, DeclRange: b.DefRange}
	if d.routes == nil {
		d.routes = map[string]hcl.Range{}
	}
	first := d.declare(d.routes, "route", b)
	a, blocks := d.content(s, b.Body, routeSchema())

	vals, ranges, _ := a.strs("listeners")
	for i, l := range vals {
		r.Listeners = append(r.Listeners, l)
		d.refs = append(d.refs, reference{kind: "listener", name: l, rng: ranges[i]})
	}

	var forward []hcl.Range // where the route forwards (upstream, to)
	var up string
	if rng, ok := a.str("upstream", &up); ok {
		forward = append(forward, rng)
		r.To = append(r.To, RouteDestination{Upstream: up, Weight: 1})
		d.refs = append(d.refs, reference{kind: "upstream", name: up, rng: rng})
	}
	if attr := a.m["to"]; attr != nil {
		forward = append(forward, attr.Expr.Range())
		r.To = append(r.To, d.decodeToAttr(s, attr)...)
	}
	a.duration("timeout", &r.Timeout)
	a.intRange("retry_attempts", 0, 5, &r.RetryAttempts)

	seen := map[string]hcl.Range{}
	once := func(blk *hcl.Block) bool {
		if prev, dup := seen[blk.Type]; dup {
			d.errorf(blk.DefRange, "Duplicate "+blk.Type+" block",
				"A route has at most one %s block; the first is at %s.", blk.Type, prev)
			return false
		}
		seen[blk.Type] = blk.DefRange
		return true
	}
	var prefixNeeded *hcl.Range // a prefix rewrite or redirect
	var actions []string
	for _, blk := range blocks {
		switch blk.Type {
		case "match":
			r.Matches = append(r.Matches, d.decodeMatch(s, blk))
		case "to":
			if once(blk) {
				forward = append(forward, blk.DefRange)
				r.To = append(r.To, d.decodeTo(s, blk)...)
			}
		case "redirect":
			if once(blk) {
				actions = append(actions, "redirect")
				r.Redirect = d.decodeRedirect(s, blk, &prefixNeeded)
			}
		case "respond":
			if once(blk) {
				actions = append(actions, "respond")
				r.Respond = d.decodeRespond(s, blk)
			}
		case "rewrite":
			if once(blk) {
				r.Rewrite = d.decodeRewrite(s, blk, &prefixNeeded)
			}
		case "mirror":
			if once(blk) {
				r.Mirror = d.decodeMirror(s, blk)
			}
		}
	}
	if len(forward) > 1 {
		d.errorf(forward[1], "Conflicting route destinations",
			"The route %q sets its upstreams more than once: use upstream = \"NAME\" for one upstream, or to (a block or an object) to split by weight.", r.Name)
	}
	if len(forward) > 0 {
		actions = append([]string{"forward"}, actions...)
	}
	switch {
	case len(actions) == 0:
		d.errorf(b.DefRange, "Route without action",
			"The route %q does nothing: set upstream = \"NAME\", a to block, a redirect block or a respond block.", r.Name)
	case len(actions) > 1:
		d.errorf(b.DefRange, "Conflicting route actions",
			"The route %q has several actions (%s): a route forwards (upstream or to), redirects or responds.", r.Name, strings.Join(actions, ", "))
	case actions[0] != "forward":
		for _, what := range []string{"rewrite", "mirror"} {
			if rng, ok := seen[what]; ok {
				d.errorf(rng, "Route does not forward",
					"A %s block applies only to a route that forwards (upstream or to); the route %q uses %s.", what, r.Name, actions[0])
			}
		}
		for _, what := range []string{"timeout", "retry_attempts"} {
			if attr := a.m[what]; attr != nil {
				d.errorf(attr.Expr.Range(), "Route does not forward",
					"%s applies only to a route that forwards (upstream or to); the route %q uses %s.", what, r.Name, actions[0])
			}
		}
	}
	if prefixNeeded != nil {
		ok := len(r.Matches) > 0
		for _, m := range r.Matches {
			ok = ok && m.PathPrefix != ""
		}
		if !ok {
			d.errorf(*prefixNeeded, "Prefix replacement without path_prefix",
				"A prefix replacement replaces the matched path_prefix: every match block of the route %q needs a path_prefix.", r.Name)
		}
	}
	if first {
		d.cfg.Routes = append(d.cfg.Routes, r)
	}
}

func (d *decoder) decodeMatch(s *source, b *hcl.Block) RouteMatch {
	var m RouteMatch
	a, blocks := d.content(s, b.Body, matchSchema())
	hosts, ranges := d.strOrList(a, "host")
	for i, h := range hosts {
		h = strings.ToLower(h)
		name := strings.TrimPrefix(h, "*.")
		if strings.Contains(name, "*") || !validDNSName(name) && !isIPLiteral(strings.Trim(name, "[]")) {
			d.errorf(ranges[i], "Invalid host",
				"%q is not a host name: use a name such as \"api.example.com\" or a wildcard such as \"*.example.com\".", hosts[i])
			continue
		}
		m.Hosts = append(m.Hosts, h)
	}
	var set []string
	for _, p := range []struct {
		name string
		dst  *string
	}{{"path", &m.Path}, {"path_prefix", &m.PathPrefix}, {"path_regex", &m.PathRegex}} {
		rng, ok := a.str(p.name, p.dst)
		if !ok {
			continue
		}
		set = append(set, p.name)
		switch {
		case len(set) > 1:
			d.errorf(rng, "Conflicting path conditions",
				"A match block has at most one of path, path_prefix and path_regex; it already has %s.", set[0])
			*p.dst = ""
		case p.name == "path_regex":
			d.checkRegex(rng, *p.dst)
		case !strings.HasPrefix(*p.dst, "/"):
			d.errorf(rng, "Invalid path", "The %s %q must start with \"/\".", p.name, *p.dst)
		}
	}
	methods, ranges := d.strOrList(a, "method")
	for i, meth := range methods {
		if meth == "" || strings.ToUpper(meth) != meth || strings.ContainsAny(meth, " \t/()<>@,;:\\\"[]?={}") {
			d.errorf(ranges[i], "Invalid method", "%q is not an HTTP method: write it in upper case, for example \"GET\".", meth)
			continue
		}
		m.Methods = append(m.Methods, meth)
	}
	for _, blk := range blocks {
		v := d.decodeValueMatch(s, blk)
		if blk.Type == "header" {
			v.Name = strings.ToLower(v.Name)
			m.Headers = append(m.Headers, v)
		} else {
			m.Query = append(m.Query, v)
		}
	}
	return m
}

func (d *decoder) decodeValueMatch(s *source, b *hcl.Block) ValueMatch {
	v := ValueMatch{Name: b.Labels[0]}
	if v.Name == "" {
		d.errorf(b.LabelRanges[0], "Empty name", "A %s block needs the name of the %s to match.", b.Type, b.Type)
	}
	a, _ := d.content(s, b.Body, valueMatchSchema())
	n := 0
	if _, ok := a.str("exact", &v.Value); ok {
		n++
		v.Kind = MatchExact
	}
	var re string
	if rng, ok := a.str("regex", &re); ok {
		n++
		v.Kind, v.Value = MatchRegex, re
		d.checkRegex(rng, re)
	}
	if attr := a.m["present"]; attr != nil {
		present := true
		a.boolean("present", &present)
		n++
		v.Kind = MatchPresent
		if !present {
			v.Kind = MatchAbsent
		}
	}
	if n != 1 {
		d.errorf(b.DefRange, "Invalid "+b.Type+" condition",
			"A %s block sets exactly one of exact, regex and present.", b.Type)
	}
	return v
}

// weightEntry is one "upstream = weight" of a to block or object.
type weightEntry struct {
	name    string
	nameRng hcl.Range
	expr    hcl.Expression
	whole   hcl.Range // the entry, for ordering
}

// decodeTo decodes a to block: one attribute per upstream, its weight.
func (d *decoder) decodeTo(s *source, b *hcl.Block) []RouteDestination {
	attrs, diags := b.Body.JustAttributes()
	d.diags = append(d.diags, diags...)
	var list []weightEntry
	for _, at := range attrs {
		list = append(list, weightEntry{name: at.Name, nameRng: at.NameRange, expr: at.Expr, whole: at.Range})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].whole.Start.Byte < list[j].whole.Start.Byte })
	if len(list) == 0 && !diags.HasErrors() {
		d.errorf(b.DefRange, "Empty to block",
			"A to block lists upstreams and their weights, for example: to { api = 90  api_canary = 10 }")
	}
	return d.weights(s, list)
}

// decodeToAttr decodes to = { api = 90, "api.v2" = 10 }, in source order.
func (d *decoder) decodeToAttr(s *source, attr *hcl.Attribute) []RouteDestination {
	pairs, diags := hcl.ExprMap(attr.Expr)
	if diags.HasErrors() {
		d.errorf(attr.Expr.Range(), "Invalid to",
			"to is an object of upstream names and weights, for example: to = { api = 90, api_canary = 10 }")
		return nil
	}
	var list []weightEntry
	for _, p := range pairs {
		k, kd := p.Key.Value(s.ctx)
		d.diags = append(d.diags, kd...)
		if kd.HasErrors() {
			continue
		}
		if k.IsNull() || !k.Type().Equals(cty.String) {
			d.errorf(p.Key.Range(), "Invalid to", "The keys of to are upstream names.")
			continue
		}
		list = append(list, weightEntry{name: k.AsString(), nameRng: p.Key.Range(), expr: p.Value})
	}
	if len(list) == 0 {
		d.errorf(attr.Expr.Range(), "Empty to",
			"to lists upstreams and their weights, for example: to = { api = 90, api_canary = 10 }")
	}
	return d.weights(s, list)
}

// weights evaluates the weights of a split.
func (d *decoder) weights(s *source, list []weightEntry) []RouteDestination {
	var out []RouteDestination
	for _, e := range list {
		val, vd := e.expr.Value(s.ctx)
		d.diags = append(d.diags, vd...)
		if vd.HasErrors() {
			continue
		}
		if !val.IsNull() && val.IsWhollyKnown() {
			if cv, err := convert.Convert(val, cty.Number); err == nil {
				val = cv
			}
		}
		if val.IsNull() || !val.IsWhollyKnown() || !val.Type().Equals(cty.Number) || !val.AsBigFloat().IsInt() {
			d.errorf(e.expr.Range(), "Invalid weight",
				"The weight of the upstream %q must be a whole number from 0 to %d.", e.name, maxRouteWeight)
			continue
		}
		w, _ := val.AsBigFloat().Int64()
		if w < 0 || w > maxRouteWeight {
			d.errorf(e.expr.Range(), "Invalid weight",
				"The weight of the upstream %q must be a whole number from 0 to %d; got %d.", e.name, maxRouteWeight, w)
			continue
		}
		d.refs = append(d.refs, reference{kind: "upstream", name: e.name, rng: e.nameRng})
		out = append(out, RouteDestination{Upstream: e.name, Weight: int(w)})
	}
	return out
}

func (d *decoder) decodeRedirect(s *source, b *hcl.Block, prefixNeeded **hcl.Range) *RouteRedirect {
	rd := &RouteRedirect{Status: 302}
	a, _ := d.content(s, b.Body, redirectSchema())
	a.oneOf("scheme", "redirect scheme", []string{"http", "https"}, &rd.Scheme)
	a.str("host", &rd.Host)
	a.intRange("port", 1, 65535, &rd.Port)
	pathRng, hasPath := a.str("path", &rd.Path)
	if hasPath && !strings.HasPrefix(rd.Path, "/") {
		d.errorf(pathRng, "Invalid path", "The redirect path %q must start with \"/\".", rd.Path)
	}
	if rng, ok := a.str("prefix", &rd.Prefix); ok {
		switch {
		case hasPath:
			d.errorf(rng, "Conflicting redirect paths", "A redirect sets path or prefix, not both.")
		case !strings.HasPrefix(rd.Prefix, "/"):
			d.errorf(rng, "Invalid path", "The redirect prefix %q must start with \"/\".", rd.Prefix)
		default:
			*prefixNeeded = &rng
		}
	}
	a.boolean("strip_query", &rd.StripQuery)
	if attr := a.m["status"]; attr != nil {
		st := 0
		a.intRange("status", 0, 999, &st)
		if st != 0 {
			ok := false
			for _, v := range redirectStatuses() {
				ok = ok || v == st
			}
			if !ok {
				d.errorf(attr.Expr.Range(), "Invalid redirect status",
					"%d is not a redirect status. Use 301, 302 (the default), 303, 307 or 308.", st)
			} else {
				rd.Status = st
			}
		}
	}
	return rd
}

func (d *decoder) decodeRespond(s *source, b *hcl.Block) *RouteRespond {
	rp := &RouteRespond{Status: 200}
	a, _ := d.content(s, b.Body, respondSchema())
	a.intRange("status", 200, 599, &rp.Status)
	a.str("body", &rp.Body)
	if val, attr, ok := a.value("headers", cty.Map(cty.String)); ok {
		rp.Headers = map[string]string{}
		for k, v := range val.AsValueMap() {
			if v.IsNull() || !validHeaderName(k) {
				d.errorf(attr.Expr.Range(), "Invalid header", "%q is not a valid header name with a value.", k)
				continue
			}
			rp.Headers[strings.ToLower(k)] = v.AsString()
		}
	}
	return rp
}

func (d *decoder) decodeRewrite(s *source, b *hcl.Block, prefixNeeded **hcl.Range) *RouteRewrite {
	rw := &RouteRewrite{}
	a, _ := d.content(s, b.Body, rewriteSchema())
	pathRng, hasPath := a.str("path", &rw.Path)
	if hasPath && !strings.HasPrefix(rw.Path, "/") {
		d.errorf(pathRng, "Invalid path", "The rewrite path %q must start with \"/\".", rw.Path)
	}
	if rng, ok := a.str("path_prefix", &rw.PathPrefix); ok {
		switch {
		case hasPath:
			d.errorf(rng, "Conflicting rewrite paths", "A rewrite sets path or path_prefix, not both.")
		case !strings.HasPrefix(rw.PathPrefix, "/"):
			d.errorf(rng, "Invalid path", "The rewrite path_prefix %q must start with \"/\".", rw.PathPrefix)
		default:
			*prefixNeeded = &rng
		}
	}
	if rng, ok := a.str("host", &rw.Host); ok && rw.Host == "" {
		d.errorf(rng, "Invalid host", "The rewrite host must not be empty.")
	}
	return rw
}

func (d *decoder) decodeMirror(s *source, b *hcl.Block) *RouteMirror {
	mi := &RouteMirror{}
	a, _ := d.content(s, b.Body, mirrorSchema())
	if rng, ok := a.str("upstream", &mi.Upstream); ok {
		d.refs = append(d.refs, reference{kind: "upstream", name: mi.Upstream, rng: rng})
	}
	a.intRange("percent", 0, 100, &mi.Percent)
	return mi
}

// strOrList reads an attribute that is one string or a list of strings.
func (d *decoder) strOrList(a attrs, name string) ([]string, []hcl.Range) {
	val, attr, ok := a.value(name, cty.DynamicPseudoType)
	if !ok {
		return nil, nil
	}
	if val.Type() == cty.String {
		return []string{val.AsString()}, []hcl.Range{attr.Expr.Range()}
	}
	vals, ranges, _ := a.strs(name)
	return vals, ranges
}

// checkRegex reports a regular expression that RE2 (Go's regexp, which the
// routing filter uses too) does not accept.
func (d *decoder) checkRegex(rng hcl.Range, re string) {
	if _, err := regexp.Compile(re); err != nil {
		d.errorf(rng, "Invalid regular expression",
			"%q is not a valid RE2 regular expression: %s.", re, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
}

// validHeaderName reports whether s is an HTTP header field name (a
// token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}
