package echo

import (
	"testing"
	"time"
)

// TestCloseRightAfterStart: Close must return even when Serve has not
// started accepting yet (fasthttp's Shutdown alone would wait forever).
func TestCloseRightAfterStart(t *testing.T) {
	for i := 0; i < 50; i++ {
		s, err := Start("e", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- s.Close() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("close: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Close right after Start did not return")
		}
	}
}
