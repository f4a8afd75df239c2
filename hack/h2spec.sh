#!/usr/bin/env bash
# HTTP/2 conformance with h2spec against wasmgate: over TLS (ALPN h2) and
# over h2c (prior knowledge, on a listener that also serves HTTP/1.1),
# proxying to hack/benchbackend. Run by `make h2spec`.
#
#   hack/h2spec.sh                 # both modes
#   MODES=tls hack/h2spec.sh       # only TLS (or: h2c)
#   H2SPEC_ARGS="http2/6.5" ...    # extra h2spec arguments (e.g. a section)
#   WASMGATE_BIN=path ...          # test this binary instead of building one
#
# Exit status: 0 when every failing test is in EXCEPTIONS below, 1 when any
# other test fails (or h2spec/wasmgate cannot run). Exceptions that pass are
# reported so the list can shrink. h2spec is installed with `go install`
# when missing.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MODES="${MODES:-tls h2c}"
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# Known failures: MODE|H2SPEC SECTION|TEST DESCRIPTION|REASON. MODE is "all"
# or one mode. Each one is also reproduced against a bare net/http server
# (see hack/README.md); none of them lets a malformed request reach an
# upstream.
EXCEPTIONS=(
	"all|http2/6.5.3|Sends multiple values of SETTINGS_INITIAL_WINDOW_SIZE|Go's HTTP/2 server (net/http, x/net/http2) treats a SETTINGS frame that repeats a parameter as a connection error (PROTOCOL_ERROR) on purpose; RFC 9113 §6.5.3 wants the values processed in order. Real clients do not repeat parameters."
	"all|http2/8.1.2.2|Sends a HEADERS frame that contains the connection-specific header field|Go's HTTP/2 server answers a request with Connection/Keep-Alive/Proxy-Connection/Transfer-Encoding/Upgrade with its own 400 before any handler runs, instead of RST_STREAM(PROTOCOL_ERROR). RFC 9113 §8.1.1 allows a response to a malformed request; the request never reaches the upstream."
	"all|http2/8.1.2.2|Sends a HEADERS frame that contains the TE header field with any value other than \"trailers\"|As above, for TE other than \"trailers\": net/http answers 400 itself; nothing is forwarded."
	"h2c|http2/3.5|Sends invalid connection preface|On a port that serves HTTP/1.1 and h2c, bytes that do not start like the HTTP/2 preface are an HTTP/1.1 request; \"INVALID CONNECTION PREFACE\" is a malformed request line and gets 400 and a close (RFC 9112 §3). (A preface that goes wrong after \"PRI * HTTP/2.0\" is closed without an answer.) Go's h2c-only server fails this test too: it resets the connection."
)

H2SPEC="${H2SPEC:-$(command -v h2spec || true)}"
if [ -z "$H2SPEC" ]; then
	GOBIN_DIR="$(go env GOPATH)/bin"
	[ -x "$GOBIN_DIR/h2spec" ] || (cd "$WORK" && go install github.com/summerwind/h2spec/cmd/h2spec@latest)
	H2SPEC="$GOBIN_DIR/h2spec"
fi

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

cd "$ROOT"
if [ -n "${WASMGATE_BIN:-}" ]; then
	cp "$WASMGATE_BIN" "$WORK/wasmgate"
else
	go build -o "$WORK/wasmgate" ./gateway/cmd/wasmgate
fi
go build -o "$WORK/backend" ./hack/benchbackend
go run ./hack/certs -out "$WORK/certs" >/dev/null

BACKEND_PORT="$(free_port)"
TLS_PORT="$(free_port)"
H2C_PORT="$(free_port)"
cat >"$WORK/h2spec.hcl" <<HCL
listener "tls" {
  address  = "127.0.0.1:$TLS_PORT"
  protocol = "https"
  upstream = "backend"
  tls {
    certificate "demo" {
      cert_file = "$WORK/certs/server.pem"
      key_file  = "$WORK/certs/server.key"
    }
  }
}
listener "h2c" {
  address  = "127.0.0.1:$H2C_PORT"
  http2    = true
  upstream = "backend"
}
upstream "backend" {
  endpoint "127.0.0.1:$BACKEND_PORT" {}
}
HCL

"$WORK/backend" -addr "127.0.0.1:$BACKEND_PORT" >"$WORK/backend.log" 2>&1 &
PIDS+=($!)
"$WORK/wasmgate" run -c "$WORK/h2spec.hcl" -log-level warn >"$WORK/wasmgate.log" 2>&1 &
PIDS+=($!)
ready=
for _ in $(seq 100); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$H2C_PORT") 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$TLS_PORT") 2>/dev/null; then
		ready=1
		break
	fi
	sleep 0.1
done
if [ -z "$ready" ]; then
	echo "wasmgate did not start:" >&2
	cat "$WORK/wasmgate.log" >&2
	exit 1
fi

# check MODE JUNIT: compares h2spec's failures with EXCEPTIONS; prints the
# verdict and returns 1 on an unexpected failure.
check() {
	printf '%s\n' "${EXCEPTIONS[@]}" >"$WORK/exceptions.txt"
	python3 - "$1" "$2" "$WORK/exceptions.txt" <<'PY'
import sys, xml.etree.ElementTree as ET
mode, junit, exc_file = sys.argv[1:4]
exceptions = {}
for line in open(exc_file, encoding="utf-8"):
    line = line.rstrip("\n")
    if not line:
        continue
    m, pkg, desc, reason = line.split("|", 3)
    if m in ("all", mode):
        exceptions[(pkg, desc)] = reason
failed, passed = [], set()
for tc in ET.parse(junit).getroot().iter("testcase"):
    key = (tc.get("package"), tc.get("classname"))
    if tc.find("failure") is not None or tc.find("error") is not None:
        failed.append(key)
    elif tc.find("skipped") is None:
        passed.add(key)
unexpected = [k for k in failed if k not in exceptions]
for k in failed:
    if k in exceptions:
        print(f"  exception  {k[0]}: {k[1]}\n             reason: {exceptions[k]}")
for k in unexpected:
    print(f"  FAIL       {k[0]}: {k[1]}")
for k in exceptions:
    if k in passed:
        print(f"  note       {k[0]}: {k[1]} now passes; remove it from EXCEPTIONS")
total = len(failed) + len(passed)
print(f"{mode}: {total} tests, {len(passed)} passed, {len(failed) - len(unexpected)} documented exceptions, {len(unexpected)} unexpected failures")
sys.exit(1 if unexpected else 0)
PY
}

status=0
for mode in $MODES; do
	echo "== h2spec over $mode"
	case "$mode" in
	tls) args=(-h 127.0.0.1 -p "$TLS_PORT" -t -k) ;;
	h2c) args=(-h 127.0.0.1 -p "$H2C_PORT") ;;
	*) echo "unknown mode $mode" >&2; exit 2 ;;
	esac
	# h2spec exits non-zero on any failure; the verdict is check's.
	# shellcheck disable=SC2086
	"$H2SPEC" "${args[@]}" -o 5 -j "$WORK/$mode.xml" ${H2SPEC_ARGS:-} >"$WORK/$mode.txt" 2>&1 || true
	if [ ! -s "$WORK/$mode.xml" ]; then
		echo "h2spec produced no report:" >&2
		cat "$WORK/$mode.txt" >&2
		status=1
		continue
	fi
	check "$mode" "$WORK/$mode.xml" || {
		status=1
		sed -n '/^Failures:/,$p' "$WORK/$mode.txt"
	}
done
exit "$status"
