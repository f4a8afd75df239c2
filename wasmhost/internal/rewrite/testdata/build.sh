#!/bin/sh
# Rebuilds the rewriter's test modules from their WAT sources (needs wabt's
# wat2wasm: apt-get install -y wabt). The .wasm outputs are checked in.
# --debug-names keeps the name section, which the rewrite must preserve.
set -eu
cd "$(dirname "$0")"
for f in *.wat; do
	wat2wasm --debug-names --enable-tail-call "$f" -o "${f%.wat}.wasm"
done
