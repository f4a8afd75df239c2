#!/usr/bin/env bash
# Writes demo certificates (CA, server, client) for the quickstart and the
# scripts: hack/certs.sh [DIR] (default: certs). See hack/certs/main.go.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./hack/certs -out "${1:-certs}" ${NAMES:+-names "$NAMES"}
