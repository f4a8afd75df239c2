package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/wasmgate/wasmgate/conformance"
)

const conformanceUsage = `Usage: wasmgate conformance [--run PATTERN] [--json FILE] [--cases DIR] [--protocols LIST] [--binary PATH] [-v]

Runs the conformance suite embedded in this binary against this binary (or
--binary): every case on h1, h2 and h3 where the case and the build allow,
printing a case × protocol table. Exit status: 0 when no cell fails, 1 when
one does, 2 when the suite cannot run.

`

// cmdConformance runs the conformance suite and prints its table.
func cmdConformance(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("conformance", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, conformanceUsage)
		fs.PrintDefaults()
	}
	pattern := fs.String("run", "", "run only the cases whose name matches this regular expression")
	jsonFile := fs.String("json", "", "also write the report as JSON to this file (- for stdout)")
	casesDir := fs.String("cases", "", "run the case files in this directory instead of the embedded ones")
	protocols := fs.String("protocols", "", "comma-separated protocols to try (default h1,h2,h3)")
	binary := fs.String("binary", "", "the wasmgate executable under test (default: this one)")
	verbose := fs.Bool("v", false, "print a line per cell as it finishes")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return 2
	}
	opts := conformance.Options{Binary: *binary, Run: *pattern}
	if opts.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintf(stderr, "wasmgate conformance: cannot find this executable: %v\n", err)
			return 2
		}
		opts.Binary = exe
	}
	if *casesDir != "" {
		opts.Cases, opts.Dir = os.DirFS(*casesDir), "."
	}
	if *protocols != "" {
		opts.Protocols = strings.Split(*protocols, ",")
	}
	if *verbose {
		opts.Progress = stderr
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := conformance.Run(ctx, opts)
	if err != nil {
		var le *conformance.LoadError
		if errors.As(err, &le) {
			_ = le.Suite.WriteDiagnostics(stderr, le.Diags)
		} else {
			fmt.Fprintf(stderr, "wasmgate conformance: %v\n", err)
		}
		return 2
	}
	if err := rep.WriteTable(stdout); err != nil {
		fmt.Fprintf(stderr, "wasmgate conformance: %v\n", err)
		return 2
	}
	if *jsonFile != "" {
		if err := writeReportJSON(rep, *jsonFile, stdout); err != nil {
			fmt.Fprintf(stderr, "wasmgate conformance: %v\n", err)
			return 2
		}
	}
	if rep.Failed() {
		return 1
	}
	return 0
}

func writeReportJSON(rep *conformance.Report, name string, stdout io.Writer) error {
	if name == "-" {
		return rep.WriteJSON(stdout)
	}
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("JSON report: %w", err)
	}
	if err := rep.WriteJSON(f); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("JSON report: %w", err)
	}
	return nil
}
