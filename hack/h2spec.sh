#!/usr/bin/env bash
# HTTP/2 conformance with h2spec against wasmgate: over TLS (ALPN h2) and
# over h2c (prior knowledge), proxying to hack/benchbackend.
#
#   hack/h2spec.sh                 # both; exits non-zero when a test fails
#   MODES=tls hack/h2spec.sh       # only TLS (or: h2c)
#   H2SPEC_ARGS="-j out.xml" ...   # extra h2spec arguments (JUnit report)
#
# h2spec is installed with `go install` when missing. .ci/run may call it.
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
go build -o "$WORK/wasmgate" ./gateway/cmd/wasmgate
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
for _ in $(seq 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$H2C_PORT") 2>/dev/null && break
	sleep 0.1
done

status=0
for mode in $MODES; do
	echo "== h2spec over $mode"
	case "$mode" in
	tls) args=(-h 127.0.0.1 -p "$TLS_PORT" -t -k) ;;
	h2c) args=(-h 127.0.0.1 -p "$H2C_PORT") ;;
	*) echo "unknown mode $mode" >&2; exit 2 ;;
	esac
	# shellcheck disable=SC2086
	"$H2SPEC" "${args[@]}" -o 5 ${H2SPEC_ARGS:-} >"$WORK/$mode.txt" 2>&1 || status=1
	sed -n '/^Failures:/,$p' "$WORK/$mode.txt"
	tail -n 1 "$WORK/$mode.txt"
done
exit "$status"
