package conformance

import (
	"fmt"
	"math/big"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// The decoded forms of the case language's blocks. Optional attributes are
// pointers (or nil maps and slices) when absent.

type caseFileHCL struct {
	Cases []caseHCL
}

type caseHCL struct {
	Name      string
	Behaviour string
	Source    string
	Pending   *string
	PendingOn map[string]string
	Protocols []string
	Config    hcl.Expression
	Backends  []backendHCL
	Steps     []stepHCL
	DeclRange hcl.Range
	Attrs     hcl.Attributes // for diagnostics
}

type backendHCL struct {
	Name      string
	Kind      *string
	DeclRange hcl.Range
}

type stepHCL struct {
	Name      string
	Body      hcl.Body
	DeclRange hcl.Range
}

// stepBodyHCL is a decoded step body. Step bodies are decoded once at load
// time with placeholder values (for diagnostics) and again for every cell
// with the cell's real addresses.
type stepBodyHCL struct {
	Request requestHCL
	Expect  expectHCL
}

type requestHCL struct {
	Listener   *string
	Method     *string
	Authority  *string
	Path       *string
	Headers    map[string][]string
	Body       *string
	BodySize   *int64
	Chunked    *bool
	Repeat     *int
	Raw        *string
	SNI        *string
	ClientCert *string
	WebSocket  *string
	DeclRange  hcl.Range
	Attrs      hcl.Attributes // for diagnostics
}

type expectHCL struct {
	Status           []int // any of these; nil means 200
	Headers          map[string]string
	HeadersPresent   []string
	HeadersAbsent    []string
	BodyContains     *string
	BodySize         *int64
	Backend          *string
	Distribution     map[string]float64
	Tolerance        *float64
	Within           *string
	ConnectionClosed *bool
	NothingAfter     *bool
	Upstream         *upstreamHCL
	ServerCert       *string
	NoResponse       *bool
	Saw              []sawHCL
	DeclRange        hcl.Range
	Attrs            hcl.Attributes // for diagnostics
}

type upstreamHCL struct {
	Method        *string
	Path          *string
	Host          *string
	Headers       map[string]string
	HeadersAbsent []string
	BodyBytes     *int64
}

// sawHCL is a backend_saw block: a request that a recorded echo backend
// must have received while the step ran.
type sawHCL struct {
	Backend       string
	Method        *string
	Path          *string
	Host          *string
	Headers       map[string]string
	HeadersAbsent []string
	Count         *int
	Within        *string
	DeclRange     hcl.Range
	Attrs         hcl.Attributes
}

var (
	fileSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "case", LabelNames: []string{"name"}}}}
	caseSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "behaviour", Required: true}, {Name: "source", Required: true},
			{Name: "pending"}, {Name: "protocols"}, {Name: "config", Required: true},
		},
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "backend", LabelNames: []string{"name"}},
			{Type: "step", LabelNames: []string{"name"}},
		},
	}
	backendSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "kind"}}}
	stepSchema    = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "request"}, {Type: "expect"}}}
	requestSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "listener"}, {Name: "method"}, {Name: "authority"}, {Name: "path"}, {Name: "headers"},
		{Name: "body"}, {Name: "body_size"}, {Name: "chunked"}, {Name: "repeat"}, {Name: "raw"},
		{Name: "sni"}, {Name: "client_cert"}, {Name: "websocket"},
	}}
	expectSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "status"}, {Name: "headers"}, {Name: "headers_present"}, {Name: "headers_absent"},
			{Name: "body_contains"}, {Name: "body_size"}, {Name: "backend"}, {Name: "distribution"},
			{Name: "tolerance"}, {Name: "within"}, {Name: "connection_closed"}, {Name: "nothing_after"},
			{Name: "server_certificate"}, {Name: "no_response"},
		},
		Blocks: []hcl.BlockHeaderSchema{{Type: "upstream_request"}, {Type: "backend_saw", LabelNames: []string{"backend"}}},
	}
	sawSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "method"}, {Name: "path"}, {Name: "host"}, {Name: "headers"}, {Name: "headers_absent"},
		{Name: "count"}, {Name: "within"},
	}}
	upstreamSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "method"}, {Name: "path"}, {Name: "host"}, {Name: "headers"}, {Name: "headers_absent"}, {Name: "body_bytes"},
	}}
)

func decodeCaseFile(body hcl.Body) (*caseFileHCL, hcl.Diagnostics) {
	content, diags := body.Content(fileSchema)
	cf := &caseFileHCL{}
	for _, b := range content.Blocks {
		c, ds := decodeCaseBlock(b)
		diags = append(diags, ds...)
		cf.Cases = append(cf.Cases, c)
	}
	return cf, diags
}

func decodeCaseBlock(b *hcl.Block) (caseHCL, hcl.Diagnostics) {
	content, diags := b.Body.Content(caseSchema)
	c := caseHCL{Name: b.Labels[0], DeclRange: b.DefRange, Attrs: content.Attributes}
	d := &attrDecoder{attrs: content.Attributes, diags: diags}
	if v := d.str("behaviour"); v != nil {
		c.Behaviour = *v
	}
	if v := d.str("source"); v != nil {
		c.Source = *v
	}
	if a, ok := content.Attributes["pending"]; ok {
		// A string (every protocol) or an object of protocol → reason.
		if v, ds := a.Expr.Value(nil); !ds.HasErrors() && (v.Type().IsObjectType() || v.Type().IsMapType()) {
			c.PendingOn = d.strMap("pending")
		} else {
			c.Pending = d.str("pending")
		}
	}
	c.Protocols = d.strList("protocols")
	if a, ok := content.Attributes["config"]; ok {
		c.Config = a.Expr
	} else {
		c.Config = hcl.StaticExpr(cty.StringVal(""), b.DefRange)
	}
	for _, blk := range content.Blocks {
		switch blk.Type {
		case "backend":
			bc, ds := blk.Body.Content(backendSchema)
			d.diags = append(d.diags, ds...)
			bd := &attrDecoder{attrs: bc.Attributes}
			c.Backends = append(c.Backends, backendHCL{Name: blk.Labels[0], Kind: bd.str("kind"), DeclRange: blk.DefRange})
			d.diags = append(d.diags, bd.diags...)
		case "step":
			c.Steps = append(c.Steps, stepHCL{Name: blk.Labels[0], Body: blk.Body, DeclRange: blk.DefRange})
		}
	}
	return c, d.diags
}

func decodeStepBody(body hcl.Body, ctx *hcl.EvalContext) (*stepBodyHCL, hcl.Diagnostics) {
	content, diags := body.Content(stepSchema)
	st := &stepBodyHCL{}
	var nreq, nexp int
	for _, blk := range content.Blocks {
		switch blk.Type {
		case "request":
			nreq++
			c, ds := blk.Body.Content(requestSchema)
			diags = append(diags, ds...)
			d := &attrDecoder{attrs: c.Attributes, ctx: ctx}
			st.Request = requestHCL{
				Listener: d.str("listener"), Method: d.str("method"), Authority: d.str("authority"),
				Path: d.str("path"), Headers: d.multiMap("headers"), Body: d.str("body"),
				BodySize: d.int64("body_size"), Chunked: d.bool("chunked"), Repeat: d.int("repeat"),
				Raw: d.str("raw"), SNI: d.str("sni"), ClientCert: d.str("client_cert"), WebSocket: d.str("websocket"),
				DeclRange: blk.DefRange, Attrs: c.Attributes,
			}
			diags = append(diags, d.diags...)
		case "expect":
			nexp++
			c, ds := blk.Body.Content(expectSchema)
			diags = append(diags, ds...)
			d := &attrDecoder{attrs: c.Attributes, ctx: ctx}
			st.Expect = expectHCL{
				Status: d.statuses("status"), Headers: d.strMap("headers"), HeadersPresent: d.strList("headers_present"),
				HeadersAbsent: d.strList("headers_absent"), BodyContains: d.str("body_contains"),
				BodySize: d.int64("body_size"), Backend: d.str("backend"), Distribution: d.numMap("distribution"),
				Tolerance: d.float("tolerance"), Within: d.str("within"), ConnectionClosed: d.bool("connection_closed"),
				NothingAfter: d.bool("nothing_after"), ServerCert: d.str("server_certificate"),
				NoResponse: d.bool("no_response"),
				DeclRange:  blk.DefRange, Attrs: c.Attributes,
			}
			diags = append(diags, d.diags...)
			nup := 0
			for _, ub := range c.Blocks {
				if ub.Type == "backend_saw" {
					sc, ds := ub.Body.Content(sawSchema)
					diags = append(diags, ds...)
					sd := &attrDecoder{attrs: sc.Attributes, ctx: ctx}
					st.Expect.Saw = append(st.Expect.Saw, sawHCL{
						Backend: ub.Labels[0], Method: sd.str("method"), Path: sd.str("path"), Host: sd.str("host"),
						Headers: sd.strMap("headers"), HeadersAbsent: sd.strList("headers_absent"),
						Count: sd.int("count"), Within: sd.str("within"), DeclRange: ub.DefRange, Attrs: sc.Attributes,
					})
					diags = append(diags, sd.diags...)
					continue
				}
				nup++
				if nup > 1 {
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate upstream_request block",
						Detail: "An expect block holds at most one upstream_request block.", Subject: ub.DefRange.Ptr()})
					continue
				}
				uc, ds := ub.Body.Content(upstreamSchema)
				diags = append(diags, ds...)
				ud := &attrDecoder{attrs: uc.Attributes, ctx: ctx}
				st.Expect.Upstream = &upstreamHCL{
					Method: ud.str("method"), Path: ud.str("path"), Host: ud.str("host"),
					Headers: ud.strMap("headers"), HeadersAbsent: ud.strList("headers_absent"),
					BodyBytes: ud.int64("body_bytes"),
				}
				diags = append(diags, ud.diags...)
			}
		}
	}
	if nreq != 1 || nexp != 1 {
		r := body.MissingItemRange()
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "A step needs one request and one expect block",
			Detail: fmt.Sprintf("This step has %d request and %d expect blocks.", nreq, nexp), Subject: &r})
	}
	return st, diags
}

// attrDecoder evaluates attributes under ctx and converts them to Go
// values, collecting diagnostics. A null attribute counts as absent.
type attrDecoder struct {
	attrs hcl.Attributes
	ctx   *hcl.EvalContext
	diags hcl.Diagnostics
}

func (d *attrDecoder) value(name string, ty cty.Type) (cty.Value, *hcl.Attribute, bool) {
	a, ok := d.attrs[name]
	if !ok {
		return cty.NilVal, nil, false
	}
	v, ds := a.Expr.Value(d.ctx)
	d.diags = append(d.diags, ds...)
	if ds.HasErrors() || v.IsNull() {
		return cty.NilVal, a, false
	}
	cv, err := convert.Convert(v, ty)
	if err != nil {
		d.diags = append(d.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Incorrect attribute value type",
			Detail:  fmt.Sprintf("Inappropriate value for attribute %q: %s.", name, err),
			Subject: a.Expr.Range().Ptr()})
		return cty.NilVal, a, false
	}
	if !cv.IsWhollyKnown() {
		d.diags = append(d.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown value",
			Detail: fmt.Sprintf("Attribute %q has no known value.", name), Subject: a.Expr.Range().Ptr()})
		return cty.NilVal, a, false
	}
	return cv, a, true
}

func (d *attrDecoder) str(name string) *string {
	v, _, ok := d.value(name, cty.String)
	if !ok {
		return nil
	}
	s := v.AsString()
	return &s
}

func (d *attrDecoder) bool(name string) *bool {
	v, _, ok := d.value(name, cty.Bool)
	if !ok {
		return nil
	}
	b := v.True()
	return &b
}

func (d *attrDecoder) float(name string) *float64 {
	v, _, ok := d.value(name, cty.Number)
	if !ok {
		return nil
	}
	f, _ := v.AsBigFloat().Float64()
	return &f
}

func (d *attrDecoder) int64(name string) *int64 {
	v, a, ok := d.value(name, cty.Number)
	if !ok {
		return nil
	}
	n, acc := v.AsBigFloat().Int64()
	if acc != big.Exact {
		d.diags = append(d.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Not a whole number",
			Detail: fmt.Sprintf("Attribute %q must be a whole number.", name), Subject: a.Expr.Range().Ptr()})
		return nil
	}
	return &n
}

func (d *attrDecoder) int(name string) *int {
	n := d.int64(name)
	if n == nil {
		return nil
	}
	i := int(*n)
	return &i
}

func (d *attrDecoder) strList(name string) []string {
	v, _, ok := d.value(name, cty.List(cty.String))
	if !ok {
		return nil
	}
	out := []string{}
	for _, e := range v.AsValueSlice() {
		out = append(out, e.AsString())
	}
	return out
}

func (d *attrDecoder) strMap(name string) map[string]string {
	v, _, ok := d.value(name, cty.Map(cty.String))
	if !ok {
		return nil
	}
	out := map[string]string{}
	for k, e := range v.AsValueMap() {
		out[k] = e.AsString()
	}
	return out
}

func (d *attrDecoder) numMap(name string) map[string]float64 {
	v, _, ok := d.value(name, cty.Map(cty.Number))
	if !ok {
		return nil
	}
	out := map[string]float64{}
	for k, e := range v.AsValueMap() {
		out[k], _ = e.AsBigFloat().Float64()
	}
	return out
}

// multiMap decodes an object whose values are strings or lists of strings,
// such as request headers where a field may repeat.
func (d *attrDecoder) multiMap(name string) map[string][]string {
	a, ok := d.attrs[name]
	if !ok {
		return nil
	}
	v, ds := a.Expr.Value(d.ctx)
	d.diags = append(d.diags, ds...)
	if ds.HasErrors() || v.IsNull() {
		return nil
	}
	bad := func() map[string][]string {
		d.diags = append(d.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Incorrect attribute value type",
			Detail:  fmt.Sprintf("Attribute %q must be an object whose values are strings or lists of strings.", name),
			Subject: a.Expr.Range().Ptr()})
		return nil
	}
	if !v.IsWhollyKnown() || !(v.Type().IsObjectType() || v.Type().IsMapType()) {
		return bad()
	}
	out := map[string][]string{}
	for k, e := range v.AsValueMap() {
		if s, err := convert.Convert(e, cty.String); err == nil && !s.IsNull() {
			out[k] = []string{s.AsString()}
			continue
		}
		l, err := convert.Convert(e, cty.List(cty.String))
		if err != nil || l.IsNull() {
			return bad()
		}
		for _, x := range l.AsValueSlice() {
			out[k] = append(out[k], x.AsString())
		}
	}
	return out
}

// statuses decodes a status code or a list of acceptable status codes.
func (d *attrDecoder) statuses(name string) []int {
	a, ok := d.attrs[name]
	if !ok {
		return nil
	}
	v, ds := a.Expr.Value(d.ctx)
	d.diags = append(d.diags, ds...)
	if ds.HasErrors() || v.IsNull() {
		return nil
	}
	var nums []cty.Value
	if n, err := convert.Convert(v, cty.Number); err == nil && v.Type() == cty.Number {
		nums = []cty.Value{n}
	} else if l, err := convert.Convert(v, cty.List(cty.Number)); err == nil && !l.IsNull() && l.IsWhollyKnown() {
		nums = l.AsValueSlice()
	}
	var out []int
	for _, n := range nums {
		i, acc := n.AsBigFloat().Int64()
		if acc != big.Exact {
			nums = nil
			break
		}
		out = append(out, int(i))
	}
	if len(nums) == 0 {
		d.diags = append(d.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Incorrect attribute value type",
			Detail:  fmt.Sprintf("Attribute %q must be a status code or a non-empty list of status codes.", name),
			Subject: a.Expr.Range().Ptr()})
		return nil
	}
	return out
}

// at returns the range of attribute name's value, or fallback when absent.
func at(attrs hcl.Attributes, name string, fallback hcl.Range) hcl.Range {
	if a, ok := attrs[name]; ok {
		return a.Expr.Range()
	}
	return fallback
}
