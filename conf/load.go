package conf

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// maxReadSize bounds what file() reads, so that a stray path cannot exhaust
// memory.
const maxReadSize = 16 << 20

// Load reads the configuration at path: one file, or every *.hcl file of a
// directory (not its subdirectories; names starting with "." are ignored)
// merged in name order.
//
// The returned Config is never nil and its Files is filled even when diags
// has errors, so that they can be printed with [WriteDiagnostics]. When
// diags.HasErrors(), the rest of the Config is incomplete and must not be
// used. Diagnostics name files by path joined to the given path, so a
// relative path gives relative names.
func Load(path string) (*Config, hcl.Diagnostics) {
	names, diags := configFiles(path)
	sources := make(map[string][]byte, len(names))
	for _, name := range names {
		src, err := os.ReadFile(name)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Failed to read configuration file",
				Detail:   fmt.Sprintf("Cannot read %q: %s.", name, osReason(err)),
			})
			continue
		}
		sources[name] = src
	}
	if diags.HasErrors() {
		// Still parse what was read, to fill Files and report syntax errors.
		cfg, _, d := parse(sources, "")
		return cfg, append(diags, d...)
	}
	return Parse(sources, "")
}

// configFiles lists the files Load reads for path.
func configFiles(path string) ([]string, hcl.Diagnostics) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Failed to read configuration",
			Detail:   fmt.Sprintf("Cannot read %q: %s.", path, osReason(err)),
		}}
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Failed to read configuration directory",
			Detail:   fmt.Sprintf("Cannot list %q: %s.", path, osReason(err)),
		}}
	}
	var names []string
	for _, e := range entries { // ReadDir sorts by name.
		n := e.Name()
		if e.IsDir() || strings.HasPrefix(n, ".") || !strings.HasSuffix(n, ".hcl") {
			continue
		}
		names = append(names, filepath.Join(path, n))
	}
	if len(names) == 0 {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "No configuration files",
			Detail:   fmt.Sprintf("The directory %q contains no *.hcl files.", path),
		}}
	}
	return names, nil
}

// Parse decodes configuration files held in memory, by file name, merged in
// name order. A file's relative paths (module, files, file()) are resolved
// against the directory of its name joined to baseDir; an empty baseDir is
// the working directory.
//
// The returned Config is never nil; see [Load] for how to use it when diags
// has errors.
func Parse(sources map[string][]byte, baseDir string) (*Config, hcl.Diagnostics) {
	cfg, files, diags := parse(sources, baseDir)
	if diags.HasErrors() {
		// A body with syntax errors decodes into misleading follow-ups.
		return cfg, diags
	}
	d := newDecoder(cfg)
	for _, s := range files {
		d.decodeFile(s)
	}
	d.resolve()
	diags = append(diags, d.diags...)
	sortDiagnostics(diags)
	return cfg, diags
}

// parse parses sources in name order into a Config holding only Files.
func parse(sources map[string][]byte, baseDir string) (*Config, []*source, hcl.Diagnostics) {
	cfg := &Config{Files: make(map[string]*hcl.File, len(sources))}
	names := make([]string, 0, len(sources))
	for name := range sources {
		names = append(names, name)
	}
	sort.Strings(names)

	var diags hcl.Diagnostics
	files := make([]*source, 0, len(names))
	for _, name := range names {
		f, d := hclsyntax.ParseConfig(sources[name], name, hcl.InitialPos)
		diags = append(diags, d...)
		if f == nil {
			continue
		}
		cfg.Files[name] = f
		files = append(files, newSource(name, baseDir, f))
	}
	return cfg, files, diags
}

// source is one parsed file and what its expressions are evaluated with.
type source struct {
	name string
	dir  string // absolute directory that relative paths start from
	file *hcl.File
	ctx  *hcl.EvalContext
}

func newSource(name, baseDir string, f *hcl.File) *source {
	dir := filepath.Dir(name)
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(baseDir, dir)
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return &source{
		name: name,
		dir:  dir,
		file: f,
		ctx: &hcl.EvalContext{Functions: map[string]function.Function{
			"env":        envFunc(),
			"file":       fileFunc(dir),
			"jsonencode": stdlib.JSONEncodeFunc,
		}},
	}
}

// path resolves a path written in this file.
func (s *source) path(p string) string {
	p = filepath.FromSlash(p)
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(s.dir, p)
}

// envFunc is env(NAME) or env(NAME, DEFAULT): an environment variable,
// which must be set unless a default is given.
func envFunc() function.Function {
	return function.New(&function.Spec{
		Description: "Returns the value of an environment variable, or the default when it is not set.",
		Params:      []function.Parameter{{Name: "name", Type: cty.String}},
		VarParam:    &function.Parameter{Name: "default", Type: cty.String},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if len(args) > 2 {
				return cty.NilVal, function.NewArgErrorf(2, "env takes a name and at most one default")
			}
			name := args[0].AsString()
			if v, ok := os.LookupEnv(name); ok {
				return cty.StringVal(v), nil
			}
			if len(args) == 2 {
				return args[1], nil
			}
			return cty.NilVal, function.NewArgErrorf(0,
				"the environment variable %q is not set; set it, or give a default: env(%q, \"value\")", name, name)
		},
	})
}

// fileFunc is file(PATH): the text of a file, relative to dir.
func fileFunc(dir string) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the contents of a UTF-8 text file, relative to the configuration file's directory.",
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p := args[0].AsString()
			full := filepath.FromSlash(p)
			if !filepath.IsAbs(full) {
				full = filepath.Join(dir, full)
			}
			b, err := readText(full)
			if err != nil {
				return cty.NilVal, function.NewArgErrorf(0, "cannot read %q: %s", p, err)
			}
			return cty.StringVal(b), nil
		},
	})
}

// readText reads a regular file of at most maxReadSize bytes of UTF-8.
func readText(path string) (string, error) {
	if reason := checkReadable(path); reason != "" {
		return "", errors.New(reason)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", errors.New(osReason(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxReadSize+1))
	switch {
	case err != nil:
		return "", errors.New(osReason(err))
	case len(b) > maxReadSize:
		return "", fmt.Errorf("it is larger than %d MiB", maxReadSize>>20)
	case !utf8.Valid(b):
		return "", errors.New("it is not UTF-8 text")
	}
	return string(b), nil
}

// checkReadable reports why path cannot be read as a regular file, or "".
// It checks the kind of file before opening it, since opening a FIFO
// blocks.
func checkReadable(path string) string {
	info, err := os.Stat(path)
	switch {
	case err != nil:
		return osReason(err)
	case info.IsDir():
		return "it is a directory"
	case !info.Mode().IsRegular():
		return "it is not a regular file"
	}
	f, err := os.Open(path)
	if err != nil {
		return osReason(err)
	}
	f.Close()
	return ""
}

// checkDir returns why path is not a readable directory, or "".
func checkDir(path string) string {
	info, err := os.Stat(path)
	switch {
	case err != nil:
		return osReason(err)
	case !info.IsDir():
		return "it is not a directory"
	}
	f, err := os.Open(path)
	if err != nil {
		return osReason(err)
	}
	f.Close()
	return ""
}

// osReason is err without the path a *fs.PathError repeats, so diagnostics
// can name the path as the user wrote it.
func osReason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
