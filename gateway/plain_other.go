//go:build !linux

package gateway

import (
	"context"
	"errors"
)

// plainSupported reports whether this platform has the plain path (an
// epoll event loop; see plain_linux.go). Elsewhere fasthttp serves every
// request.
const plainSupported = false

type plainServer struct{}

func newPlainServer(*h1Listener) (*plainServer, error) {
	return nil, errors.New("plain path: not supported on this platform")
}

func (*plainServer) serve()                         {}
func (*plainServer) shutdown(context.Context) error { return nil }
func (*plainServer) closeLoops()                    {}
