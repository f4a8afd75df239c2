// Command wasmgate is the wasmgate gateway: validate a config, run it, or
// print the version.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/wasmgate/wasmgate/conf"
	"github.com/wasmgate/wasmgate/gateway"
	"github.com/wasmgate/wasmgate/gateway/echo"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

//go:embed quickstart.hcl
var quickstartHCL []byte

// quickstartBackends are the demo upstream endpoints of quickstart.hcl.
var quickstartBackends = [...]struct{ name, addr string }{
	{"web", "127.0.0.1:9081"},
	{"api", "127.0.0.1:9082"},
}

const usage = `wasmgate: a programmable L7 gateway

Usage:
  wasmgate run [-c PATH] [-log-level LEVEL] [-log-format text|json] [-drain DURATION]
  wasmgate validate PATH
  wasmgate policy test [-v] [-run REGEX] PATH...
  wasmgate conformance [--run PATTERN] [--json FILE] [-v]
  wasmgate version

PATH is an HCL file or a directory of *.hcl files. Without -c, run serves the
embedded quickstart on 127.0.0.1:8080 in front of two demo backends.
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "wasmgate %s\n", version)
		return 0
	case "validate":
		return cmdValidate(args[1:], stdout, stderr)
	case "run":
		return cmdRun(ctx, args[1:], stderr)
	case "conformance":
		return cmdConformance(ctx, args[1:], stdout, stderr)
	case "policy":
		return cmdPolicy(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "wasmgate: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprint(stderr, "usage: wasmgate validate PATH\n")
		return 2
	}
	cfg, diags := load(fs.Arg(0))
	if !diags.HasErrors() {
		diags = append(diags, gateway.Check(context.Background(), cfg, gateway.Options{})...)
		diags = append(diags, conf.CheckListenAddresses(cfg)...)
	}
	if len(diags) > 0 {
		var files map[string]*hcl.File
		if cfg != nil {
			files = cfg.Files
		}
		_ = conf.WriteDiagnostics(stderr, files, diags)
	}
	if diags.HasErrors() {
		return 1
	}
	fmt.Fprintf(stdout, "%s: valid: %d listener(s), %d upstream(s), %d chain(s)\n",
		fs.Arg(0), len(cfg.Listeners), len(cfg.Upstreams), len(cfg.Chains))
	return 0
}

func load(path string) (*conf.Config, hcl.Diagnostics) {
	return conf.Load(path)
}

func cmdRun(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "", "config file or directory (default: the embedded quickstart)")
	level := fs.String("log-level", "info", "debug | info | warn | error")
	format := fs.String("log-format", "text", "text | json")
	drain := fs.Duration("drain", 30*time.Second, "how long SIGINT/SIGTERM waits for in-flight requests")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to this file until exit (a debugging aid)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log, err := newLogger(stderr, *level, *format)
	if err != nil {
		fmt.Fprintf(stderr, "wasmgate: %v\n", err)
		return 2
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "wasmgate: %v\n", err)
			return 2
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "wasmgate: cpu profile: %v\n", err)
			return 2
		}
		defer func() {
			pprof.StopCPUProfile()
			_ = f.Close()
		}()
	}

	var cfg *conf.Config
	var diags hcl.Diagnostics
	if *path == "" {
		for _, b := range quickstartBackends {
			srv, err := echo.Start(b.name, b.addr)
			if err != nil {
				log.Error("cannot start demo backend", "backend", b.name, "address", b.addr, "err", err)
				return 1
			}
			defer func() { _ = srv.Close() }()
		}
		wd, _ := os.Getwd()
		cfg, diags = conf.Parse(map[string][]byte{"quickstart.hcl": quickstartHCL}, wd)
	} else {
		cfg, diags = load(*path)
	}
	if diags.HasErrors() {
		_ = conf.WriteDiagnostics(stderr, cfgFiles(cfg), diags)
		return 1
	}

	gw := gateway.New(gateway.Options{Logger: log})
	if err := gw.Start(ctx, cfg); err != nil {
		var be *gateway.BindError
		var ce *gateway.ConfigError
		switch {
		case errors.As(err, &be):
			_ = conf.WriteDiagnostics(stderr, cfg.Files, hcl.Diagnostics{be.Diagnostic()})
		case errors.As(err, &ce):
			_ = conf.WriteDiagnostics(stderr, cfg.Files, ce.Diagnostics)
		default:
			log.Error("cannot start", "err", err)
		}
		return 1
	}
	log.Info("wasmgate started", "version", version, "config", configName(*path))

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			reload(ctx, gw, *path, log, stderr)
			continue
		}
		log.Info("shutting down; draining in-flight requests", "signal", sig.String(), "drain", drain.String())
		sctx, cancel := context.WithTimeout(ctx, *drain)
		err := gw.Shutdown(sctx)
		cancel()
		if err != nil {
			log.Warn("drain incomplete", "err", err)
			return 1
		}
		log.Info("stopped")
		return 0
	}
	return 0
}

// reload re-reads the config on SIGHUP; a bad config keeps the old one.
func reload(ctx context.Context, gw *gateway.Gateway, path string, log *slog.Logger, stderr io.Writer) {
	if path == "" {
		log.Warn("reload ignored: running the embedded quickstart")
		return
	}
	cfg, diags := load(path)
	if diags.HasErrors() {
		_ = conf.WriteDiagnostics(stderr, cfgFiles(cfg), diags)
		log.Error("reload rejected; still serving the previous configuration", "errors", len(diags.Errs()))
		gw.RejectedConfig()
		return
	}
	if err := gw.Reload(ctx, cfg); err != nil {
		log.Error("reload rejected; still serving the previous configuration", "err", err)
		return
	}
}

func cfgFiles(cfg *conf.Config) map[string]*hcl.File {
	if cfg == nil {
		return nil
	}
	return cfg.Files
}

func configName(path string) string {
	if path == "" {
		return "embedded quickstart"
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	return abs
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad -log-level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("bad -log-format %q: want text or json", format)
}
