package policy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/loader"
	"github.com/open-policy-agent/opa/v1/tester"
)

// TestOptions configures Test.
type TestOptions struct {
	// Run selects the tests whose name (package.rule) matches this regular
	// expression; "" runs every test.
	Run string
	// Verbose reports every test and its print() output, not only
	// failures.
	Verbose bool
	// Output receives the report; nil discards it.
	Output io.Writer
}

// TestReport counts the outcomes of a Test run. A test with sub-results
// (test cases of a parameterised test) counts once per case.
type TestReport struct {
	Passed, Failed, Errored, Skipped int
}

// OK reports whether at least one test ran and none failed or erred.
func (r TestReport) OK() bool { return r.Passed > 0 && r.Failed == 0 && r.Errored == 0 }

func (r TestReport) String() string {
	return fmt.Sprintf("%d passed, %d failed, %d errors, %d skipped", r.Passed, r.Failed, r.Errored, r.Skipped)
}

// Test runs the Rego unit tests found at paths (files or directories,
// searched recursively; *.json and *.yaml files there are data) the way
// `opa test` does: every rule named test_* is a test, todo_test_* is
// skipped. Builtin errors fail a test, as they fail a request in the
// gateway. The report goes to opts.Output. An error means the tests could
// not run: files that do not load or compile are an *Error naming them.
func Test(ctx context.Context, paths []string, opts TestOptions) (TestReport, error) {
	out := opts.Output
	if out == nil {
		out = io.Discard
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return TestReport{}, fmt.Errorf("policy test: %w", err)
		}
	}
	modules, store, err := tester.Load(paths, nil)
	if err != nil {
		return TestReport{}, testLoadError(err)
	}
	runner := tester.NewRunner().
		SetStore(store).
		SetModules(modules).
		RaiseBuiltinErrors(true).
		CapturePrintOutput(opts.Verbose).
		EnableTracing(true).
		SetDefaultRegoVersion(ast.RegoV1)
	if opts.Run != "" {
		runner = runner.Filter(opts.Run)
	}
	ch, err := runner.RunTests(ctx, nil)
	if err != nil {
		return TestReport{}, testLoadError(err)
	}
	var rep TestReport
	counted := make(chan *tester.Result)
	go func() {
		defer close(counted)
		for r := range ch {
			rep.add(r)
			counted <- r
		}
	}()
	if err := (tester.PrettyReporter{Output: out, Verbose: opts.Verbose, FailureLine: true}).Report(counted); err != nil {
		for range counted {
		}
		return rep, fmt.Errorf("policy test: report: %w", err)
	}
	if rep.Passed+rep.Failed+rep.Errored+rep.Skipped == 0 {
		fmt.Fprintln(out, "no tests found (test rules are named test_*)")
	}
	return rep, nil
}

func (r *TestReport) add(t *tester.Result) {
	switch {
	case t.Skip:
		r.Skipped++
	case t.Error != nil:
		r.Errored++
	case len(t.SubResults) > 0:
		for _, sr := range t.SubResults.Iter {
			if len(sr.SubResults) > 0 {
				continue
			}
			if sr.Fail {
				r.Failed++
			} else {
				r.Passed++
			}
		}
	case t.Fail:
		r.Failed++
	default:
		r.Passed++
	}
}

// testLoadError turns loader and compiler errors into an *Error when they
// carry locations.
func testLoadError(err error) error {
	var lerrs loader.Errors
	if errors.As(err, &lerrs) {
		e := &Error{}
		for _, le := range lerrs {
			e.Problems = append(e.Problems, newError("", le).Problems...)
		}
		return e
	}
	var aerrs ast.Errors
	var aerr *ast.Error
	if errors.As(err, &aerrs) || errors.As(err, &aerr) {
		return newError("", err)
	}
	return fmt.Errorf("policy test: %w", err)
}
