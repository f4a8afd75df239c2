package conf

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// diagWidth is the width detail text is wrapped to.
const diagWidth = 78

// WriteDiagnostics writes diags as text, in the layout of HCL's diagnostic
// text writer without color: severity and summary, the file name, line and
// enclosing block, the source lines, then the detail wrapped to 78 columns.
// Since there is no color to highlight the subject, a line of carets under
// the source marks it:
//
//	Error: Unknown balancer
//
//	  on gateway.hcl line 2, in upstream "api":
//	   2:   balancer = "fastest"
//	                   ^^^^^^^^^
//
//	"fastest" is not a balancer. Use one of: round_robin, ...
//
// files maps file names to parsed files, usually [Config.Files]; a
// diagnostic in a file it lacks is printed without source.
func WriteDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics) error {
	var b bytes.Buffer
	for _, d := range diags {
		if d != nil {
			writeDiagnostic(&b, files, d)
		}
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("conf: writing diagnostics: %w", err)
	}
	return nil
}

func writeDiagnostic(b *bytes.Buffer, files map[string]*hcl.File, d *hcl.Diagnostic) {
	severity := "Error"
	if d.Severity == hcl.DiagWarning {
		severity = "Warning"
	}
	fmt.Fprintf(b, "%s: %s\n\n", severity, d.Summary)

	if d.Subject != nil {
		subject := *d.Subject
		f := files[subject.Filename]
		if f == nil || f.Bytes == nil {
			fmt.Fprintf(b, "  on %s line %d:\n  (source code not available)\n\n", subject.Filename, subject.Start.Line)
		} else {
			writeSnippet(b, f, subject, d.Context)
		}
	}
	if d.Detail != "" {
		b.WriteString(wrap(d.Detail, diagWidth))
		b.WriteString("\n\n")
	}
}

// writeSnippet writes where subject is, the source lines of subject and
// context, and carets under the subject on its first line.
func writeSnippet(b *bytes.Buffer, f *hcl.File, subject hcl.Range, context *hcl.Range) {
	var in string
	if cs, ok := f.Nav.(interface{ ContextString(int) string }); ok {
		if c := cs.ContextString(subject.Start.Byte); c != "" {
			in = ", in " + c
		}
	}
	fmt.Fprintf(b, "  on %s line %d%s:\n", subject.Filename, subject.Start.Line, in)

	// An empty range cannot be shown; widen it to one character.
	if subject.Empty() {
		subject.End.Byte++
		subject.End.Column++
	}
	snippet := subject
	if context != nil {
		snippet = hcl.RangeOver(snippet, *context)
	}
	sc := hcl.NewRangeScanner(f.Bytes, subject.Filename, bufio.ScanLines)
	for sc.Scan() {
		lr := sc.Range()
		if !lr.Overlaps(snippet) {
			continue
		}
		prefix := fmt.Sprintf("%4d: ", lr.Start.Line)
		line := sc.Bytes()
		b.WriteString(prefix)
		b.Write(line)
		b.WriteByte('\n')
		if lr.Start.Line != subject.Start.Line {
			continue
		}
		start := min(max(subject.Start.Byte-lr.Start.Byte, 0), len(line))
		end := min(max(subject.End.Byte-lr.Start.Byte, start), len(line))
		b.WriteString(strings.Repeat(" ", len(prefix)))
		for _, r := range string(line[:start]) {
			if r == '\t' {
				b.WriteByte('\t')
			} else {
				b.WriteByte(' ')
			}
		}
		b.WriteString(strings.Repeat("^", max(utf8.RuneCount(line[start:end]), 1)))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
}

// wrap breaks each line of s at spaces so that it fits width columns where
// possible, keeping its indentation.
func wrap(s string, width int) string {
	var b strings.Builder
	for i, line := range strings.Split(s, "\n") {
		if i > 0 {
			b.WriteByte('\n')
		}
		indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
		b.WriteString(indent)
		col := utf8.RuneCountInString(indent)
		for j, word := range strings.Fields(line) {
			n := utf8.RuneCountInString(word)
			if j > 0 {
				if col+1+n > width {
					b.WriteByte('\n')
					b.WriteString(indent)
					col = utf8.RuneCountInString(indent)
				} else {
					b.WriteByte(' ')
					col++
				}
			}
			b.WriteString(word)
			col += n
		}
	}
	return b.String()
}

// sortDiagnostics orders diags by position: those without a subject first,
// then by file name and offset. The sort is stable.
func sortDiagnostics(diags hcl.Diagnostics) {
	slices.SortStableFunc(diags, func(a, b *hcl.Diagnostic) int {
		switch {
		case a.Subject == nil || b.Subject == nil:
			return cmp.Compare(boolInt(a.Subject != nil), boolInt(b.Subject != nil))
		case a.Subject.Filename != b.Subject.Filename:
			return strings.Compare(a.Subject.Filename, b.Subject.Filename)
		default:
			return cmp.Compare(a.Subject.Start.Byte, b.Subject.Start.Byte)
		}
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
