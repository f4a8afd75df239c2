package gateway

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readAccessLog(t *testing.T, path string) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("access log line is not JSON: %v: %q", err, l)
		}
		lines = append(lines, m)
	}
	return lines
}

func TestAccessLog(t *testing.T) {
	be := startEcho(t, "b")
	logPath := filepath.Join(t.TempDir(), "access.log")
	src := fmt.Sprintf(webListener, fmt.Sprintf("access_log = %q", logPath)) +
		upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", be[0].Addr()))
	gw, url := startGateway(t, src, Options{})
	c := newClient()
	get(t, c, url+"/a?x=1", "User-Agent", "probe/\"1\"", "Referer", "http://ref.example/")
	get(t, c, url+"/missing", "X-Echo-Status", "404")
	if err := gw.Shutdown(context.Background()); err != nil { // flushes the log
		t.Fatal(err)
	}
	lines := readAccessLog(t, logPath)
	if len(lines) != 2 {
		t.Fatalf("%d access log lines, want 2", len(lines))
	}
	first := lines[0]
	want := map[string]any{
		"listener": "web", "method": "GET", "scheme": "http", "uri": "/a?x=1", "protocol": "HTTP/1.1",
		"status": 200.0, "upstream": "u", "endpoint": be[0].Addr(), "tries": 1.0,
		"user_agent": `probe/"1"`, "referer": "http://ref.example/", "x_forwarded_for": "127.0.0.1",
	}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("%s = %#v, want %#v", k, first[k], v)
		}
	}
	if !strings.HasPrefix(first["client"].(string), "127.0.0.1:") || first["bytes_sent"].(float64) <= 0 || first["duration_ms"].(float64) <= 0 {
		t.Errorf("client/bytes_sent/duration: %v %v %v", first["client"], first["bytes_sent"], first["duration_ms"])
	}
	if _, ok := first["tls_version"]; ok {
		t.Error("a plaintext request must not log TLS facts")
	}
	if lines[1]["status"] != 404.0 {
		t.Errorf("second line status %v, want 404", lines[1]["status"])
	}
}

func TestAccessLogTLS(t *testing.T) {
	be := startEcho(t, "b")
	ca := newTestCA(t, "log CA")
	cert, key := ca.issue(t, "srv", certOpts{names: []string{"log.test"}})
	logPath := filepath.Join(t.TempDir(), "tls-access.log")
	src := strings.Replace(fmt.Sprintf(httpsListener, certBlock("s", cert, key, "")), `protocol = "https"`,
		fmt.Sprintf("protocol = \"https\"\n  access_log = %q", logPath), 1) +
		upstreamHCL("u", "round_robin", "", fmt.Sprintf("%q {}", be[0].Addr()))
	gw, addr := startTLSGateway(t, src, Options{NativeFilter: factsStages})
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{ServerName: "log.test", RootCAs: ca.pool}}}
	req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/secure", nil)
	req.Host = "log.test"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := gw.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	lines := readAccessLog(t, logPath)
	if len(lines) != 1 {
		t.Fatalf("%d lines", len(lines))
	}
	l := lines[0]
	if l["status"] != 200.0 || l["tls_version"] != "TLSv1.3" || l["sni"] != "log.test" || l["scheme"] != "https" || l["tls_cipher"] == "" {
		t.Errorf("TLS facts in the access log: %v", l)
	}
}
