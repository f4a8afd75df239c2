package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/wasmgate/wasmgate/gateway/policy"
)

const policyUsage = `usage: wasmgate policy test [-v] [-run REGEX] PATH...

Runs the Rego unit tests (rules named test_*, in *_test.rego files) found at
each PATH, a file or a directory searched recursively; *.json and *.yaml
files there are data. Tests run as the gateway evaluates policies: builtin
errors fail them. The exit status is 0 when every test passes, 1 when one
fails or none is found, 2 on a usage error.
`

// cmdPolicy runs `wasmgate policy SUBCOMMAND`; test is the only one.
func cmdPolicy(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "test" {
		fmt.Fprint(stderr, policyUsage)
		return 2
	}
	fs := flag.NewFlagSet("policy test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, policyUsage) }
	verbose := fs.Bool("v", false, "report every test and its print() output, not only failures")
	run := fs.String("run", "", "run only the tests whose name (package.rule) matches this regular expression")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprint(stderr, policyUsage)
		return 2
	}
	rep, err := policy.Test(ctx, fs.Args(), policy.TestOptions{Run: *run, Verbose: *verbose, Output: stdout})
	if err != nil {
		var pe *policy.Error
		if errors.As(err, &pe) {
			for _, p := range pe.Problems {
				fmt.Fprintf(stderr, "%s\n", p)
			}
		} else {
			fmt.Fprintf(stderr, "wasmgate: %v\n", err)
		}
		return 1
	}
	if !rep.OK() {
		fmt.Fprintf(stderr, "wasmgate policy test: FAIL (%s)\n", rep)
		return 1
	}
	fmt.Fprintf(stdout, "wasmgate policy test: ok (%s)\n", rep)
	return 0
}
