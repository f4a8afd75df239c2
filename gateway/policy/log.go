package policy

import (
	"encoding/json"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/wasmgate/wasmgate/gateway/exchange"
)

// redacted replaces what the decision log must not record.
const redacted = "[REDACTED]"

// decisionLog writes one JSON object per line. Lines are written whole
// under a lock, so concurrent requests never interleave.
type decisionLog struct {
	mu sync.Mutex
	w  io.Writer
	c  io.Closer // nil for stderr
}

// logEntry is one decision log line.
type logEntry struct {
	Time       string `json:"time"`
	Policy     string `json:"policy"`
	RequestID  uint64 `json:"request_id"`
	Decision   string `json:"decision"` // allow | deny | skip (failed open)
	Status     int    `json:"status,omitempty"`
	Reason     string `json:"reason,omitempty"`
	Error      string `json:"error,omitempty"`
	DurationNS int64  `json:"duration_ns"`
	Input      any    `json:"input,omitempty"`
}

// write logs a decision d, or the failure ee.
func (l *decisionLog) write(s *Stage, x *exchange.Exchange, start time.Time, d *Decision, ee *EvalError) {
	end := s.now()
	e := logEntry{
		Time:       end.UTC().Format(time.RFC3339Nano),
		Policy:     s.name,
		RequestID:  x.RequestID,
		DurationNS: end.Sub(start).Nanoseconds(),
		Input:      redactedInput(s, x),
	}
	switch {
	case ee != nil && s.failOpen:
		e.Decision, e.Error = "skip", ee.Error()
	case ee != nil:
		e.Decision, e.Status, e.Error = "deny", DefaultDenyStatus, ee.Error()
	case d.Allow:
		e.Decision, e.Reason = "allow", d.Reason
	default:
		e.Decision, e.Status, e.Reason = "deny", d.Status, d.Reason
		if e.Status == 0 {
			e.Status = DefaultDenyStatus
		}
	}
	line, err := json.Marshal(e)
	if err != nil {
		s.log.Warn("decision log: cannot encode entry", "policy", s.name, "err", err)
		return
	}
	line = append(line, '\n')
	l.mu.Lock()
	_, err = l.w.Write(line)
	l.mu.Unlock()
	if err != nil {
		s.log.Warn("decision log: write failed", "policy", s.name, "err", err)
	}
}

func (l *decisionLog) close() error {
	if l.c == nil {
		return nil
	}
	return l.c.Close()
}

// redactedInput is the input document with secrets removed: values of
// headers and query parameters whose names suggest credentials, the body,
// and claims other than the registered identity and authorization ones.
func redactedInput(s *Stage, x *exchange.Exchange) any {
	var b inputBuilder
	in, _, err := b.build(s, x, needAll)
	if err != nil || in == nil {
		return nil
	}
	v, err := ast.JSON(in)
	if err != nil {
		return nil
	}
	doc, _ := v.(map[string]any)
	if req, ok := doc["request"].(map[string]any); ok {
		if hs, ok := req["headers"].(map[string]any); ok {
			for name := range hs {
				if sensitive(name) {
					hs[name] = redacted
				}
			}
		}
		if q, ok := req["query"].(map[string]any); ok {
			for name := range q {
				if sensitive(name) {
					q[name] = []any{redacted}
				}
			}
		}
		for _, f := range []string{"body", "raw_body"} {
			if _, ok := req[f]; ok {
				req[f] = redacted
			}
		}
	}
	if claims, ok := doc["claims"].(map[string]any); ok {
		for name := range claims {
			switch name {
			case "sub", "iss", "aud", "exp", "iat", "nbf", "scope", "scp", "roles", "groups":
			default:
				claims[name] = redacted
			}
		}
	}
	return doc
}

// sensitive reports whether a header or parameter name suggests a secret.
func sensitive(name string) bool {
	name = strings.ToLower(name)
	for _, s := range []string{"auth", "cookie", "token", "secret", "key", "password", "passwd", "session", "signature", "credential"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}
