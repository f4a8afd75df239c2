// Command h3load is a small HTTP/3 load generator for hack/bench.sh (h2load
// speaks no HTTP/3 here): -c QUIC connections, -m concurrent streams on
// each, every stream a closed loop of GET requests, for -d. It prints the
// request rate and latency percentiles:
//
//	h3load -c 64 -m 10 -d 10s -k https://127.0.0.1:8443/
//
// The last lines are machine-readable "key: value" pairs (requests, rps,
// p50_ms, p99_ms, non2xx, errors) that hack/bench.sh parses. The exit
// status is 1 when nothing succeeded or the flags are wrong.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type result struct {
	lat    []time.Duration
	non2xx int
	errs   int
	first  error
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("h3load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	conns := fs.Int("c", 16, "QUIC connections")
	streams := fs.Int("m", 10, "concurrent requests (streams) per connection")
	dur := fs.Duration("d", 10*time.Second, "duration of the measurement")
	warmup := fs.Duration("w", 0, "warm-up before measuring (not counted)")
	insecure := fs.Bool("k", false, "do not verify the server certificate")
	caFile := fs.String("cacert", "", "PEM file of the CA that signed the server certificate")
	serverName := fs.String("servername", "", "TLS server name (default: the URL host)")
	timeout := fs.Duration("timeout", 5*time.Second, "per-request timeout")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 || *conns < 1 || *streams < 1 || *dur <= 0 {
		fmt.Fprintln(stderr, "usage: h3load [-c N] [-m N] [-d 10s] [-k | -cacert ca.pem] https://host:port/path")
		return 2
	}
	url := fs.Arg(0)
	tc := &tls.Config{InsecureSkipVerify: *insecure, ServerName: *serverName} //nolint:gosec // -k is the user's choice
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			fmt.Fprintln(stderr, "h3load:", err)
			return 2
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			fmt.Fprintf(stderr, "h3load: no certificate in %s\n", *caFile)
			return 2
		}
		tc.RootCAs = pool
	}

	// One Transport per connection: each dials its own QUIC connection
	// (and UDP socket) and multiplexes its -m streams on it.
	trs := make([]*http3.Transport, *conns)
	for i := range trs {
		trs[i] = &http3.Transport{
			TLSClientConfig:    tc.Clone(),
			DisableCompression: true,
			QUICConfig:         &quic.Config{MaxIncomingStreams: -1, KeepAlivePeriod: 10 * time.Second},
		}
	}
	defer func() {
		for _, tr := range trs {
			_ = tr.Close()
		}
	}()

	// Connect every connection first, so the handshakes are not measured.
	for i, tr := range trs {
		if err := once(tr, url, *timeout, nil); err != nil {
			fmt.Fprintf(stderr, "h3load: connection %d: %v\n", i, err)
			return 1
		}
	}

	start := time.Now()
	measureFrom := start.Add(*warmup)
	end := measureFrom.Add(*dur)
	results := make([]result, *conns**streams)
	var wg sync.WaitGroup
	for i := range results {
		tr := trs[i%*conns]
		r := &results[i]
		r.lat = make([]time.Duration, 0, 1024)
		wg.Go(func() {
			for {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				err := once(tr, url, *timeout, r)
				if t0.Before(measureFrom) {
					continue
				}
				if err != nil {
					r.errs++
					if r.first == nil {
						r.first = err
					}
					continue
				}
				r.lat = append(r.lat, time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(measureFrom)

	var all []time.Duration
	non2xx, errs := 0, 0
	var firstErr error
	for i := range results {
		all = append(all, results[i].lat...)
		non2xx += results[i].non2xx
		errs += results[i].errs
		if firstErr == nil {
			firstErr = results[i].first
		}
	}
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		i := min(int(p*float64(len(all))), len(all)-1)
		return float64(all[i]) / float64(time.Millisecond)
	}
	rps := float64(len(all)) / elapsed.Seconds()
	fmt.Fprintf(stdout, "h3load: %d connections x %d streams, %s: %d requests, %.2f req/s, p50 %.3fms, p99 %.3fms, max %.3fms, %d non-2xx, %d errors\n",
		*conns, *streams, elapsed.Round(time.Millisecond), len(all), rps, pct(0.50), pct(0.99), pct(1), non2xx, errs)
	if firstErr != nil {
		fmt.Fprintf(stdout, "first error: %v\n", firstErr)
	}
	fmt.Fprintf(stdout, "requests: %d\nrps: %.2f\np50_ms: %.3f\np99_ms: %.3f\nnon2xx: %d\nerrors: %d\n",
		len(all), rps, pct(0.50), pct(0.99), non2xx, errs)
	if len(all) == 0 {
		return 1
	}
	return 0
}

// once sends one GET and reads the whole body; r (if not nil) counts a
// non-2xx status, which is still a completed request.
func once(tr *http3.Transport, url string, timeout time.Duration, r *result) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
	if err != nil {
		return err
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if r == nil {
			return errors.New(resp.Status)
		}
		r.non2xx++
	}
	return nil
}
