package shared

import (
	"errors"
	"sync"
	"testing"
)

func TestDataCAS(t *testing.T) {
	s := New()
	if _, _, err := s.Get(nil, "vm", "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get missing: %v", err)
	}
	if err := s.Set("vm", "k", []byte("a"), 7); !errors.Is(err, ErrCASMismatch) {
		t.Fatalf("Set with cas on missing key: %v", err)
	}
	if err := s.Set("vm", "k", []byte("a"), 0); err != nil {
		t.Fatal(err)
	}
	v, cas, err := s.Get(nil, "vm", "k")
	if err != nil || string(v) != "a" || cas == 0 {
		t.Fatalf("Get = %q %d %v", v, cas, err)
	}
	if err := s.Set("vm", "k", []byte("b"), cas); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("vm", "k", []byte("c"), cas); !errors.Is(err, ErrCASMismatch) {
		t.Fatalf("stale cas: %v", err)
	}
	if _, _, err := s.Get(nil, "other-vm", "k"); !errors.Is(err, ErrNotFound) {
		t.Fatal("vm ids must scope keys")
	}
}

func TestDataCASConcurrent(t *testing.T) {
	s := New()
	// Seed the key first: a key that does not exist yet has no token, so
	// the first Set of each worker would be unconditional (cas 0, as the
	// ABI says) and could reset the count another worker already raised.
	if err := s.Set("vm", "n", []byte{0, 0}, 0); err != nil {
		t.Fatal(err)
	}
	const workers, per = 4, 200
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range per {
				for {
					v, cas, err := s.Get(nil, "vm", "n")
					if err != nil {
						t.Error(err)
						return
					}
					n := (int(v[0]) | int(v[1])<<8) + 1
					if s.Set("vm", "n", []byte{byte(n), byte(n >> 8)}, cas) == nil {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	v, _, _ := s.Get(nil, "vm", "n")
	if n := int(v[0]) | int(v[1])<<8; n != workers*per {
		t.Fatalf("n = %d, want %d", n, workers*per)
	}
}

type notes struct{ ids []uint32 }

func (n *notes) QueueReady(id uint32) { n.ids = append(n.ids, id) }

func TestQueues(t *testing.T) {
	s := New()
	if _, err := s.ResolveQueue("vm", "q"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	a, b := &notes{}, &notes{}
	id := s.RegisterQueue("vm", "q", a)
	if got, _ := s.ResolveQueue("vm", "q"); got != id {
		t.Fatalf("resolve = %d, want %d", got, id)
	}
	if _, err := s.Dequeue(nil, id); !errors.Is(err, ErrEmpty) {
		t.Fatal(err)
	}
	if err := s.Enqueue(id, []byte("1")); err != nil {
		t.Fatal(err)
	}
	if id2 := s.RegisterQueue("vm", "q", b); id2 != id {
		t.Fatal("re-registration must keep the id")
	}
	_ = s.Enqueue(id, []byte("2"))
	s.ForgetOwner(b)
	_ = s.Enqueue(id, []byte("3"))
	if len(a.ids) != 1 || len(b.ids) != 1 {
		t.Fatalf("notifications a=%v b=%v", a.ids, b.ids)
	}
	for _, want := range []string{"1", "2", "3"} {
		got, err := s.Dequeue(nil, id)
		if err != nil || string(got) != want {
			t.Fatalf("Dequeue = %q %v, want %q", got, err, want)
		}
	}
	if err := s.Enqueue(999, nil); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
}
