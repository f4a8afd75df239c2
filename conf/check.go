package conf

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/hashicorp/hcl/v2"
)

// CheckListenAddresses binds the TCP address (and for http3 the UDP one)
// of each listener of cfg, and the admin address, all at once so that listeners of cfg that would collide are caught too, then
// closes them. It reports an address that cannot be bound (in use, not
// local, not permitted) as a diagnostic on that listener's address.
//
// It is meant for validating a configuration before starting, as
// `wasmgate validate` does: against a running gateway it reports the
// addresses that gateway holds.
func CheckListenAddresses(cfg *Config) hcl.Diagnostics {
	var diags hcl.Diagnostics
	var bound []io.Closer
	for _, l := range cfg.Listeners {
		if l.Address == "" {
			continue
		}
		ln, err := net.Listen("tcp", l.Address)
		if err != nil {
			diags = append(diags, listenDiagnostic(l, err))
			continue
		}
		bound = append(bound, ln)
		if l.HTTP3 {
			pc, err := net.ListenPacket("udp", l.Address)
			if err != nil {
				diags = append(diags, listenDiagnostic(l, err))
				continue
			}
			bound = append(bound, pc)
		}
	}
	if a := cfg.Admin; a != nil && a.Address != "" {
		if ln, err := net.Listen("tcp", a.Address); err != nil {
			diags = append(diags, addressDiagnostic("admin block", a.Address, a.AddressRange, err))
		} else {
			bound = append(bound, ln)
		}
	}
	for _, c := range bound {
		c.Close()
	}
	return diags
}

func listenDiagnostic(l *Listener, err error) *hcl.Diagnostic {
	return addressDiagnostic(fmt.Sprintf("listener %q", l.Name), l.Address, l.AddressRange, err)
}

// addressDiagnostic reports an address that owner (`listener "NAME"`, or
// `admin block`) cannot bind.
func addressDiagnostic(owner, address string, rng hcl.Range, err error) *hcl.Diagnostic {
	d := &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Cannot listen on address",
		Detail:   fmt.Sprintf("The %s cannot listen on %q: %s.", owner, address, err),
		Subject:  rng.Ptr(),
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		d.Summary = "Address in use"
		d.Detail = fmt.Sprintf("The %s cannot listen on %q: another socket already uses it.", owner, address)
	}
	return d
}
