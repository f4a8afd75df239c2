package conf

import (
	"fmt"
	"net"
	"strings"
	"testing"
)

func TestCheckListenAddresses(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	src := fmt.Sprintf(`listener "free" {
  address = "127.0.0.1:0"
}

listener "busy" {
  address = %q
}
`, busy.Addr().String())
	cfg, diags := Parse(map[string][]byte{"l.hcl": []byte(src)}, "")
	mustNotFail(t, cfg, diags)

	diags = CheckListenAddresses(cfg)
	if len(diags) != 1 {
		t.Fatalf("got %d diagnostics, want 1: %v", len(diags), diags)
	}
	d := diags[0]
	if d.Summary != "Address in use" || d.Subject.Filename != "l.hcl" || d.Subject.Start.Line != 6 || d.Subject.Start.Column != 13 {
		t.Errorf("got %q at %s, want \"Address in use\" at l.hcl:6,13", d.Summary, d.Subject)
	}

	// What CheckListenAddresses bound is closed again.
	if diags := CheckListenAddresses(&Config{Listeners: cfg.Listeners[:1]}); len(diags) != 0 {
		t.Errorf("a free address failed: %v", diags)
	}
}

func TestCheckListenAddressesWithinConfig(t *testing.T) {
	// Two listeners on one address: the static check reports it too, but
	// CheckListenAddresses must not depend on it. The address is free when
	// picked but another process may take it meanwhile: try a few.
	for try := 0; ; try++ {
		free, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := free.Addr().String()
		free.Close()

		cfg := &Config{Listeners: []*Listener{
			{Name: "a", Address: addr},
			{Name: "b", Address: addr},
		}}
		first := CheckListenAddresses(cfg)
		second := CheckListenAddresses(cfg)
		ok := len(first) == 1 && first[0].Summary == "Address in use" && strings.Contains(first[0].Detail, `"b"`) &&
			len(second) == 1 // the first check closed its sockets
		if ok {
			return
		}
		if try == 4 {
			t.Fatalf("got %v then %v, want listener b in use each time", first, second)
		}
	}
}
