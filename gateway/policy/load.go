package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"
)

// loadModules parses files and the modules under dir (recursively, tests
// excepted), in a stable order. Parse errors of every file are collected
// into one *Error.
func loadModules(policy string, files []string, dir string) ([]*ast.Module, error) {
	paths := slices.Clone(files)
	if dir != "" {
		found, err := regoFiles(dir)
		if err != nil {
			return nil, fmt.Errorf("policy %q: %w", policy, err)
		}
		for _, p := range found {
			if !slices.Contains(paths, p) {
				paths = append(paths, p)
			}
		}
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("policy %q: no Rego files", policy)
	}
	var modules []*ast.Module
	perr := &Error{Policy: policy}
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("policy %q: %w", policy, err)
		}
		m, err := ast.ParseModuleWithOpts(p, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			perr.Problems = append(perr.Problems, newError(policy, err).Problems...)
			continue
		}
		modules = append(modules, m)
	}
	if len(perr.Problems) > 0 {
		return nil, perr
	}
	return modules, nil
}

// regoFiles lists the *.rego files under dir, except *_test.rego and
// anything in a directory whose name starts with '.'.
func regoFiles(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != dir && strings.HasPrefix(name, ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, ".rego") && !strings.HasSuffix(name, "_test.rego") {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no *.rego files (other than tests) in %s", dir)
	}
	return out, nil
}

// loadData reads JSON or YAML objects and merges them into one document.
func loadData(policy string, files []string) (map[string]any, error) {
	data := map[string]any{}
	for _, p := range files {
		src, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("policy %q: %w", policy, err)
		}
		var doc any
		if err := util.Unmarshal(src, &doc); err != nil {
			return nil, &Error{Policy: policy, Problems: []Problem{{File: p, Message: "invalid data document: " + err.Error()}}}
		}
		obj, ok := doc.(map[string]any)
		if !ok {
			return nil, &Error{Policy: policy, Problems: []Problem{{File: p, Message: "a data document must be an object"}}}
		}
		if err := merge(data, obj, ""); err != nil {
			return nil, &Error{Policy: policy, Problems: []Problem{{File: p, Message: err.Error()}}}
		}
	}
	return data, nil
}

var errMerge = errors.New("data documents conflict")

// merge copies src into dst; objects merge, any other value may be set
// only once.
func merge(dst, src map[string]any, path string) error {
	for k, v := range src {
		at := path + "." + k
		old, ok := dst[k]
		if !ok {
			dst[k] = v
			continue
		}
		om, ok1 := old.(map[string]any)
		nm, ok2 := v.(map[string]any)
		if !ok1 || !ok2 {
			return fmt.Errorf("%w: data%s is set by more than one file", errMerge, at)
		}
		if err := merge(om, nm, at); err != nil {
			return err
		}
	}
	return nil
}
