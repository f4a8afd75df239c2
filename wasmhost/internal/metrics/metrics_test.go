package metrics

import (
	"errors"
	"testing"
)

func TestRegistry(t *testing.T) {
	var r Registry
	c, _ := r.Define(Counter, "c")
	g, _ := r.Define(Gauge, "g")
	h, _ := r.Define(Histogram, "h")
	if again, _ := r.Define(Counter, "c"); again != c {
		t.Fatal("redefinition must return the same id")
	}
	if _, err := r.Define(Gauge, "c"); !errors.Is(err, ErrBadArgument) {
		t.Fatal("kind clash must fail")
	}
	tests := []struct {
		name string
		op   func() error
		want error
	}{
		{"counter inc", func() error { return r.Increment(c, 2) }, nil},
		{"counter negative", func() error { return r.Increment(c, -1) }, ErrBadArgument},
		{"counter record adds", func() error { return r.Record(c, 3) }, nil},
		{"gauge add", func() error { return r.Increment(g, -5) }, nil},
		{"gauge set", func() error { return r.Record(g, 7) }, nil},
		{"histogram inc", func() error { return r.Increment(h, 1) }, ErrBadArgument},
		{"histogram record", func() error { return r.Record(h, 3) }, nil},
		{"histogram record big", func() error { return r.Record(h, 1<<63) }, nil},
		{"unknown", func() error { return r.Increment(99, 1) }, ErrNotFound},
		{"zero id", func() error { return r.Record(0, 1) }, ErrNotFound},
	}
	for _, tt := range tests {
		if err := tt.op(); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	if v, _ := r.Get(c); v != 5 {
		t.Errorf("counter = %d", v)
	}
	if v, _ := r.Get(g); v != 7 {
		t.Errorf("gauge = %d", v)
	}
	if _, err := r.Get(h); !errors.Is(err, ErrBadArgument) {
		t.Error("histogram Get must fail")
	}
	all := r.All()
	n, sum, b := all[2].Histogram()
	if n != 2 || sum != 3+1<<63 || b[2] != 1 || b[len(b)-1] != 1 {
		t.Errorf("histogram = %d %d %v", n, sum, b)
	}
}
