package conf

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// attrs reads the attributes of one block. Each typed getter leaves its
// destination untouched (so it keeps its default) when the attribute is
// absent, null or wrong, and reports whatever is wrong.
type attrs struct {
	d        *decoder
	src      *source
	m        hcl.Attributes
	required map[string]bool
}

// value evaluates the named attribute and converts it to ty. ok is false
// when it is absent, null or in error (already reported); attr is nil only
// when it is absent.
func (a attrs) value(name string, ty cty.Type) (val cty.Value, attr *hcl.Attribute, ok bool) {
	attr = a.m[name]
	if attr == nil {
		return cty.NilVal, nil, false
	}
	val, diags := attr.Expr.Value(a.src.ctx)
	a.d.diags = append(a.d.diags, diags...)
	if diags.HasErrors() || !val.IsWhollyKnown() {
		return cty.NilVal, attr, false
	}
	if val.IsNull() {
		if a.required[name] {
			a.d.errorf(attr.Expr.Range(), "Missing required argument",
				"The argument %q is required and must not be null.", name)
		}
		return cty.NilVal, attr, false
	}
	if ty != cty.DynamicPseudoType {
		cv, err := convert.Convert(val, ty)
		if err != nil {
			a.d.errorf(attr.Expr.Range(), "Incorrect attribute value type",
				"Inappropriate value for attribute %q: %s.", name, err)
			return cty.NilVal, attr, false
		}
		val = cv
	}
	return val, attr, true
}

// str reads a string. It returns the value's range and whether it was set.
func (a attrs) str(name string, dst *string) (hcl.Range, bool) {
	val, attr, ok := a.value(name, cty.String)
	if !ok {
		return hcl.Range{}, false
	}
	*dst = val.AsString()
	return attr.Expr.Range(), true
}

// boolean reads a bool.
func (a attrs) boolean(name string, dst *bool) {
	val, _, ok := a.value(name, cty.Bool)
	if !ok {
		return
	}
	*dst = val.True()
}

// oneOf reads a string that must be one of allowed; what names it in
// diagnostics ("balancer").
func (a attrs) oneOf(name, what string, allowed []string, dst *string) {
	var s string
	rng, ok := a.str(name, &s)
	if !ok {
		return
	}
	if !slices.Contains(allowed, s) {
		a.d.errorf(rng, "Unknown "+what,
			"%q is not a %s. Use one of: %s.", s, what, strings.Join(allowed, ", "))
		return
	}
	*dst = s
}

// strs reads a list of strings with the range of each element: the
// element's own expression when the value is written as a list, else the
// whole attribute value. attr is nil when the list is absent, null or in
// error; null elements are reported and left out.
func (a attrs) strs(name string) (vals []string, ranges []hcl.Range, attr *hcl.Attribute) {
	val, attr, ok := a.value(name, cty.List(cty.String))
	if !ok {
		return nil, nil, nil
	}
	exprs, diags := hcl.ExprList(attr.Expr)
	n := val.LengthInt()
	vals = make([]string, 0, n)
	ranges = make([]hcl.Range, 0, n)
	for i, it := 0, val.ElementIterator(); it.Next(); i++ {
		_, v := it.Element()
		rng := attr.Expr.Range()
		if !diags.HasErrors() && len(exprs) == n {
			rng = exprs[i].Range()
		}
		if v.IsNull() {
			a.d.errorf(rng, "Incorrect attribute value type",
				"Inappropriate value for attribute %q: element %d must not be null.", name, i)
			continue
		}
		vals = append(vals, v.AsString())
		ranges = append(ranges, rng)
	}
	return vals, ranges, attr
}

// intRange reads a whole number in lo..hi.
func (a attrs) intRange(name string, lo, hi int, dst *int) {
	val, attr, ok := a.value(name, cty.Number)
	if !ok {
		return
	}
	bf := val.AsBigFloat()
	n, acc := bf.Int64()
	if !bf.IsInt() || acc != big.Exact || n < int64(lo) || n > int64(hi) {
		a.d.errorf(attr.Expr.Range(), "Value out of range",
			"The value of %q must be a whole number from %d to %d; got %s.", name, lo, hi, bf.Text('g', 10))
		return
	}
	*dst = int(n)
}

// duration reads a positive Go duration string ("30s").
func (a attrs) duration(name string, dst *time.Duration) {
	var s string
	rng, ok := a.str(name, &s)
	if !ok {
		return
	}
	v, err := time.ParseDuration(s)
	switch {
	case err != nil:
		a.d.errorf(rng, "Invalid duration",
			"%q is not a valid duration for %q. Use a number with a unit (ns, us, ms, s, m, h), for example \"500ms\", \"30s\" or \"1h30m\".", s, name)
	case v <= 0:
		a.d.errorf(rng, "Invalid duration",
			"The duration %q must be greater than zero; got %q.", name, s)
	default:
		*dst = v
	}
}

// size reads a positive byte size: a whole number of bytes, or a string
// with a binary unit ("16KiB").
func (a attrs) size(name string, dst *int64) {
	val, attr, ok := a.value(name, cty.DynamicPseudoType)
	if !ok {
		return
	}
	var (
		n   int64
		err error
	)
	switch val.Type() {
	case cty.Number:
		bf := val.AsBigFloat()
		var acc big.Accuracy
		n, acc = bf.Int64()
		if !bf.IsInt() || acc != big.Exact {
			err = fmt.Errorf("%s is not a whole number of bytes", bf.Text('g', 10))
		}
	case cty.String:
		n, err = parseSize(val.AsString())
	default:
		a.d.errorf(attr.Expr.Range(), "Incorrect attribute value type",
			"Inappropriate value for attribute %q: a number of bytes or a string such as \"16KiB\" is required.", name)
		return
	}
	if err == nil && n <= 0 {
		err = fmt.Errorf("it must be greater than zero")
	}
	if err != nil {
		a.d.errorf(attr.Expr.Range(), "Invalid size",
			"Invalid size for %q: %s. Use a whole number of bytes or a number with a binary unit (B, KiB, MiB, GiB, TiB), for example \"16KiB\" or \"10MiB\".", name, err)
		return
	}
	*dst = n
}

// json reads any value as JSON; a string is kept verbatim.
func (a attrs) json(name string, dst *string) {
	val, attr, ok := a.value(name, cty.DynamicPseudoType)
	if !ok {
		return
	}
	if val.Type() == cty.String {
		*dst = val.AsString()
		return
	}
	b, err := ctyjson.Marshal(val, val.Type())
	if err != nil {
		a.d.errorf(attr.Expr.Range(), "Invalid value",
			"The value of %q cannot be written as JSON: %s.", name, err)
		return
	}
	*dst = string(b)
}

// parseSize parses "1024", "16KiB", "16 KiB", "1GiB".
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("%q does not start with a whole number", s)
	}
	if i < len(t) && t[i] == '.' {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is too large", s)
	}
	var shift uint
	switch strings.TrimSpace(t[i:]) {
	case "", "B":
	case "KiB":
		shift = 10
	case "MiB":
		shift = 20
	case "GiB":
		shift = 30
	case "TiB":
		shift = 40
	default:
		return 0, fmt.Errorf("%q has an unknown unit", s)
	}
	if n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n << shift, nil
}

// parsePrefix parses a CIDR prefix, or an address as a single-address
// prefix, and masks it.
func parsePrefix(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), true
	}
	if ip, err := netip.ParseAddr(s); err == nil && ip.Zone() == "" {
		return netip.PrefixFrom(ip, ip.BitLen()), true
	}
	return netip.Prefix{}, false
}

// hostPort is a parsed "host:port" in a form that compares equal when two
// spellings denote the same socket address.
type hostPort struct {
	host string     // lower-case name, canonical IP, or "" (any)
	ip   netip.Addr // valid when host is an IP literal
	port int
}

// parseHostPort parses "host:port". A listener may leave host empty and use
// port 0; an endpoint may not.
func parseHostPort(s string, listener bool) (hostPort, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return hostPort{}, fmt.Errorf("%s", ae.Err)
		}
		return hostPort{}, err
	}
	var hp hostPort
	p, err := strconv.ParseUint(port, 10, 16)
	lo := uint64(1)
	if listener {
		lo = 0
	}
	if err != nil || p < lo {
		return hostPort{}, fmt.Errorf("the port %q is not a number from %d to 65535", port, lo)
	}
	hp.port = int(p)
	switch {
	case host == "":
		if !listener {
			return hostPort{}, fmt.Errorf("the host is missing")
		}
	case isIPLiteral(host):
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return hostPort{}, fmt.Errorf("%q is not a valid IP address", host)
		}
		hp.ip = ip.Unmap()
		hp.host = hp.ip.String()
	case validDNSName(host):
		hp.host = strings.ToLower(host)
	default:
		return hostPort{}, fmt.Errorf("%q is neither an IP address nor a DNS name", host)
	}
	return hp, nil
}

// isIPLiteral reports whether host is meant as an IP address rather than a
// name: it has a colon (IPv6) or consists of digits and dots.
func isIPLiteral(host string) bool {
	if strings.Contains(host, ":") {
		return true
	}
	return strings.Trim(host, "0123456789.") == ""
}

// validDNSName reports whether s is a syntactically valid host name.
func validDNSName(s string) bool {
	if len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(s, "."), ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// validName reports whether s is acceptable as the name of a listener,
// upstream, chain or stage: it appears in logs and metric labels.
func validName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i, c := range []byte(s) {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '-' && c != '.') {
			return false
		}
	}
	return true
}
