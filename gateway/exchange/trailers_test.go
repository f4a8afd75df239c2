package exchange

import (
	"context"
	"testing"
)

type trailerStage struct{ name string }

func (trailerStage) OnRequestTrailers(context.Context, *Exchange) error  { return nil }
func (trailerStage) OnResponseTrailers(context.Context, *Exchange) error { return nil }

// TestTrailersReset: trailer sections, their flags and the stages that
// asked for them do not outlive the exchange; a local response has no
// trailers.
func TestTrailersReset(t *testing.T) {
	var x Exchange
	a, b := trailerStage{"a"}, trailerStage{"b"}
	x.WantTrailers(a)
	x.WantTrailers(b)
	if st := x.TrailerStages(); len(st) != 2 || st[0] != a || st[1] != b {
		t.Fatalf("stages %v, want a, b in order", st)
	}
	x.Request.Trailer.Add("x-t", "1")
	x.Request.ExpectTrailer, x.Request.TrailerReceived = true, true
	x.Response.Trailer.Add("grpc-status", "0")
	x.Response.TrailerReceived = true
	x.SendLocal(403, nil)
	if x.Response.Trailer.Len() != 0 || x.Response.TrailerReceived {
		t.Fatal("a local response kept the upstream's trailers")
	}
	x.Response.Trailer.Add("grpc-status", "0")
	x.Reset()
	if len(x.TrailerStages()) != 0 || x.Request.Trailer.Len() != 0 || x.Request.ExpectTrailer ||
		x.Request.TrailerReceived || x.Response.Trailer.Len() != 0 {
		t.Fatal("Reset kept trailer state")
	}
}
