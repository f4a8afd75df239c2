package conf

import (
	"encoding/json"
	"fmt"
	"slices"
)

// RoutingJSON returns the plugin configuration of the routing filter
// (builtin:routing) for the named listener: the listener's default
// upstream and, in file order, the routes that apply to it (those without
// listeners, and those that list it). The document's schema is the one
// filters/routing accepts, documented in filters/README.md:
//
//	{"default_upstream": "api", "routes": [{"name": "v1", "match": [...], "to": [...], ...}]}
//
// It must only be called on a Config loaded without errors.
func (c *Config) RoutingJSON(listener string) ([]byte, error) {
	l := c.Listener(listener)
	if l == nil {
		return nil, fmt.Errorf("conf: no listener named %q", listener)
	}
	doc := routingDoc{DefaultUpstream: l.Upstream, Routes: []routeDoc{}}
	for _, r := range c.Routes {
		if len(r.Listeners) > 0 && !slices.Contains(r.Listeners, listener) {
			continue
		}
		doc.Routes = append(doc.Routes, routeToDoc(r))
	}
	return json.Marshal(doc)
}

// The types below mirror filters/routing's Config (a separate module that
// cannot be imported); conf/testdata/routing/*.golden are also decoded by
// the filter's tests, which keeps the two in step.

type routingDoc struct {
	DefaultUpstream string     `json:"default_upstream,omitempty"`
	Routes          []routeDoc `json:"routes"`
}

type routeDoc struct {
	Name          string       `json:"name"`
	Match         []matchDoc   `json:"match,omitempty"`
	To            []destDoc    `json:"to,omitempty"`
	Redirect      *redirectDoc `json:"redirect,omitempty"`
	Respond       *respondDoc  `json:"respond,omitempty"`
	Rewrite       *rewriteDoc  `json:"rewrite,omitempty"`
	Mirror        *mirrorDoc   `json:"mirror,omitempty"`
	Timeout       string       `json:"timeout,omitempty"`
	RetryAttempts *int         `json:"retry_attempts,omitempty"`
}

type matchDoc struct {
	Hosts      []string        `json:"hosts,omitempty"`
	Path       string          `json:"path,omitempty"`
	PathPrefix string          `json:"path_prefix,omitempty"`
	PathRegex  string          `json:"path_regex,omitempty"`
	Methods    []string        `json:"methods,omitempty"`
	Headers    []valueMatchDoc `json:"headers,omitempty"`
	Query      []valueMatchDoc `json:"query,omitempty"`
}

type valueMatchDoc struct {
	Name    string  `json:"name"`
	Exact   *string `json:"exact,omitempty"`
	Regex   string  `json:"regex,omitempty"`
	Present *bool   `json:"present,omitempty"`
}

type destDoc struct {
	Upstream string `json:"upstream"`
	Weight   int    `json:"weight"`
}

type redirectDoc struct {
	Scheme     string `json:"scheme,omitempty"`
	Host       string `json:"host,omitempty"`
	Port       int    `json:"port,omitempty"`
	Path       string `json:"path,omitempty"`
	Prefix     string `json:"prefix,omitempty"`
	StripQuery bool   `json:"strip_query,omitempty"`
	Status     int    `json:"status"`
}

type respondDoc struct {
	Status  int               `json:"status"`
	Body    string            `json:"body,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
}

type rewriteDoc struct {
	Path       string `json:"path,omitempty"`
	PathPrefix string `json:"path_prefix,omitempty"`
	Host       string `json:"host,omitempty"`
}

type mirrorDoc struct {
	Upstream string `json:"upstream"`
	Percent  int    `json:"percent"`
}

func routeToDoc(r *Route) routeDoc {
	rd := routeDoc{Name: r.Name}
	for _, m := range r.Matches {
		md := matchDoc{
			Hosts: m.Hosts, Path: m.Path, PathPrefix: m.PathPrefix, PathRegex: m.PathRegex,
			Methods: m.Methods,
			Headers: valueMatchDocs(m.Headers), Query: valueMatchDocs(m.Query),
		}
		rd.Match = append(rd.Match, md)
	}
	for _, d := range r.To {
		rd.To = append(rd.To, destDoc(d))
	}
	if x := r.Redirect; x != nil {
		rd.Redirect = &redirectDoc{Scheme: x.Scheme, Host: x.Host, Port: x.Port, Path: x.Path, Prefix: x.Prefix, StripQuery: x.StripQuery, Status: x.Status}
	}
	if x := r.Respond; x != nil {
		rd.Respond = &respondDoc{Status: x.Status, Body: x.Body, Headers: x.Headers}
	}
	if x := r.Rewrite; x != nil {
		rd.Rewrite = &rewriteDoc{Path: x.Path, PathPrefix: x.PathPrefix, Host: x.Host}
	}
	if x := r.Mirror; x != nil {
		rd.Mirror = &mirrorDoc{Upstream: x.Upstream, Percent: x.Percent}
	}
	if r.Timeout > 0 {
		rd.Timeout = r.Timeout.String()
	}
	if r.RetryAttempts >= 0 {
		n := r.RetryAttempts
		rd.RetryAttempts = &n
	}
	return rd
}

func valueMatchDocs(vs []ValueMatch) []valueMatchDoc {
	var out []valueMatchDoc
	for _, v := range vs {
		vd := valueMatchDoc{Name: v.Name}
		switch v.Kind {
		case MatchExact:
			val := v.Value
			vd.Exact = &val
		case MatchRegex:
			vd.Regex = v.Value
		case MatchPresent, MatchAbsent:
			p := v.Kind == MatchPresent
			vd.Present = &p
		}
		out = append(out, vd)
	}
	return out
}
