package upstream

import (
	"testing"
	"time"
)

// TestPlainPath: the plain path takes an upstream only when Forward would
// do nothing for its requests that the plain path does not: a try that
// Forward would repeat or bound differently must go through Forward.
func TestPlainPath(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want bool
	}{
		{"defaults", Config{}, true},
		{"retry on connect failure", Config{RetryAttempts: 1, RetryOn: RetryConnectFailure}, true},
		{"retry on reset", Config{RetryAttempts: 1, RetryOn: RetryReset}, false},
		{"retry on gateway error", Config{RetryAttempts: 1, RetryOn: RetryGatewayError}, false},
		{"retry on 5xx", Config{RetryAttempts: 1, RetryOn: Retry5xx}, false},
		{"retry on a status", Config{RetryAttempts: 1, RetryCodes: []int{429}}, false},
		{"per-try timeout", Config{RetryAttempts: 1, RetryPerTryTimeout: time.Second}, false},
		{"h2 endpoints", Config{Protocol: ProtocolH2C}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Endpoints = endpoints("127.0.0.1:1")
			if got := newUpstream(t, tt.cfg).PlainPath(); got != tt.want {
				t.Fatalf("PlainPath() = %v, want %v", got, tt.want)
			}
		})
	}
}
