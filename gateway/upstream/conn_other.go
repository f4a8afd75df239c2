//go:build !unix

package upstream

import "net"

// peekAlive cannot peek on this platform: an idle connection the endpoint
// closed is then found when a request fails on it (and a bodiless one is
// resent on a fresh connection).
func peekAlive(net.Conn) bool { return true }
