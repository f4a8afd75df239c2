package conformance

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Duration is a time.Duration that marshals to JSON as a string ("1.5s").
type Duration time.Duration

// String formats the duration rounded to milliseconds.
func (d Duration) String() string { return time.Duration(d).Round(time.Millisecond).String() }

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("conformance report: %w", err)
	}
	return nil
}

// WriteTable writes the case × protocol table, numbered notes for skip
// and pending reasons, the failures in full and a summary line.
func (r *Report) WriteTable(w io.Writer) error {
	var notes []string
	note := func(s string) int {
		for i, n := range notes {
			if n == s {
				return i + 1
			}
		}
		notes = append(notes, s)
		return len(notes)
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "CASE")
	for _, p := range AllProtocols() {
		fmt.Fprintf(tw, "\t%s", p)
	}
	fmt.Fprintln(tw)
	var failures []string
	for _, c := range r.Cases {
		fmt.Fprint(tw, c.Name)
		for _, cell := range c.Cells {
			text := string(cell.Status)
			switch cell.Status {
			case Skip, Pending:
				text = fmt.Sprintf("%s [%d]", cell.Status, note(cell.Reason))
			case Fail:
				failures = append(failures, fmt.Sprintf("FAIL %s on %s: %s", c.Name, cell.Protocol, cell.Reason))
				if cell.Detail != "" {
					failures = append(failures, indent(cell.Detail, "    "))
				}
			}
			fmt.Fprintf(tw, "\t%s", text)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("conformance table: %w", err)
	}
	for i, n := range notes {
		fmt.Fprintf(&b, "[%d] %s\n", i+1, n)
	}
	for _, f := range failures {
		fmt.Fprintln(&b, f)
	}
	for _, c := range r.Cases {
		for _, cell := range c.Cells {
			if cell.Status == Pending && cell.Detail != "" {
				fmt.Fprintf(&b, "PENDING %s on %s: %s\n", c.Name, cell.Protocol, firstLine(cell.Detail))
			}
		}
	}
	s := r.Summary
	fmt.Fprintf(&b, "%d cases, %d cells: %d pass, %d fail, %d skip, %d pending (not passing: %d) in %s — %s\n",
		len(r.Cases), s.Pass+s.Fail+s.Skip+s.Pending, s.Pass, s.Fail, s.Skip, s.Pending, s.Fail+s.Skip+s.Pending,
		r.Duration, r.Version)
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("conformance table: %w", err)
	}
	return nil
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return prefix + strings.Join(lines, "\n"+prefix)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
