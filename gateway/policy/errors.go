package policy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Error is a policy that cannot be prepared: Rego that does not parse,
// compile or type-check, or a query that does not. Each problem says where.
type Error struct {
	// Policy is the stage name.
	Policy string
	// Problems are the individual errors, in the order OPA reports them.
	Problems []Problem
}

// Problem is one error of a policy.
type Problem struct {
	// File is the Rego or data file the problem is in; "" when it is in the
	// query (InQuery) or has no known location.
	File string
	// InQuery reports that the problem is in the query; Line and Column
	// are then positions in the query text.
	InQuery bool
	// Line and Column are 1-based; 0 when unknown.
	Line, Column int
	// Offset is the byte offset of the position in its source, and Length
	// the length of the offending text (0 when unknown).
	Offset, Length int
	// Code is OPA's error class, such as rego_parse_error,
	// rego_compile_error, rego_type_error or rego_unsafe_var_error; "" when
	// the problem is not OPA's (an invalid data document).
	Code string
	// Message describes the problem, without its location.
	Message string
}

func (p Problem) String() string {
	msg := p.Message
	if p.Code != "" {
		msg = p.Code + ": " + msg
	}
	switch {
	case p.File != "" && p.Line > 0:
		return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Column, msg)
	case p.File != "":
		return p.File + ": " + msg
	case p.InQuery:
		return fmt.Sprintf("query:%d:%d: %s", p.Line, p.Column, msg)
	}
	return msg
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Policy != "" {
		fmt.Fprintf(&b, "policy %q: ", e.Policy)
	}
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// newError turns what OPA reports when parsing or compiling into an
// *Error; errors without locations become location-less problems.
func newError(policy string, err error) *Error {
	e := &Error{Policy: policy}
	var errs ast.Errors
	var one *ast.Error
	switch {
	case errors.As(err, &errs):
		for _, ae := range errs {
			e.Problems = append(e.Problems, problemOf(ae))
		}
	case errors.As(err, &one):
		e.Problems = append(e.Problems, problemOf(one))
	default:
		e.Problems = append(e.Problems, Problem{Message: err.Error()})
	}
	return e
}

func problemOf(ae *ast.Error) Problem {
	p := Problem{Code: ae.Code, Message: ae.Message}
	if loc := ae.Location; loc != nil {
		p.File, p.Line, p.Column, p.Offset = loc.File, loc.Row, loc.Col, loc.Offset
		p.Length = len(loc.Text)
		if i := strings.IndexByte(string(loc.Text), '\n'); i >= 0 {
			p.Length = i
		}
		p.InQuery = loc.File == "" && loc.Row > 0
	}
	return p
}
