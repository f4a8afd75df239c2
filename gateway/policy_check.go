package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/hashicorp/hcl/v2"

	"github.com/wasmgate/wasmgate/conf"
	"github.com/wasmgate/wasmgate/gateway/policy"
)

// policyDiagnostics turns a *policy.Error from building the policy stage
// sc into diagnostics at the Rego file, line and column (or at the query
// attribute), and adds each Rego file it names to cfg.Files so that
// conf.WriteDiagnostics prints its source lines. It returns nil when err
// is not a *policy.Error.
func policyDiagnostics(cfg *conf.Config, chainName string, sc *conf.Stage, err error) hcl.Diagnostics {
	var pe *policy.Error
	if !errors.As(err, &pe) {
		return nil
	}
	var diags hcl.Diagnostics
	for _, p := range pe.Problems {
		d := &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  policySummary(p.Code),
			Detail:   fmt.Sprintf("Policy %q of chain %q: %s.", sc.Name, chainName, p.Message),
		}
		switch {
		case p.File != "":
			rng := regoRange(cfg, p)
			d.Subject = &rng
		case p.InQuery:
			d.Subject = sc.QueryRange.Ptr()
			d.Detail = fmt.Sprintf("Policy %q of chain %q: the query: %s.", sc.Name, chainName, p.Message)
		default:
			d.Subject = sc.DeclRange.Ptr()
		}
		diags = append(diags, d)
	}
	return diags
}

func policySummary(code string) string {
	switch code {
	case "rego_parse_error":
		return "Rego syntax error"
	case "rego_type_error":
		return "Rego type error"
	case "":
		return "Invalid policy data"
	}
	return "Rego compile error"
}

// regoRange is the range of a problem in a Rego file, whose source it adds
// to cfg.Files. Byte offsets are computed from line and column.
func regoRange(cfg *conf.Config, p policy.Problem) hcl.Range {
	rng := hcl.Range{Filename: p.File}
	f := cfg.Files[p.File]
	if f == nil {
		src, err := os.ReadFile(p.File)
		if err != nil {
			rng.Start = hcl.Pos{Line: max(p.Line, 1), Column: max(p.Column, 1)}
			rng.End = rng.Start
			return rng
		}
		f = &hcl.File{Bytes: src}
		if cfg.Files == nil {
			cfg.Files = map[string]*hcl.File{}
		}
		cfg.Files[p.File] = f
	}
	line, col := max(p.Line, 1), max(p.Column, 1)
	off := 0
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(f.Bytes[off:], '\n')
		if i < 0 {
			break
		}
		off += i + 1
	}
	off = min(off+col-1, len(f.Bytes))
	rng.Start = hcl.Pos{Line: line, Column: col, Byte: off}
	n := max(p.Length, 1)
	if i := bytes.IndexByte(f.Bytes[off:], '\n'); i >= 0 && i < n {
		n = max(i, 1)
	}
	rng.End = hcl.Pos{Line: line, Column: col + n, Byte: min(off+n, len(f.Bytes))}
	return rng
}
