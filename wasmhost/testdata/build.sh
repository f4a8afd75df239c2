#!/bin/sh
# Rebuilds the test modules from their WAT sources (needs wabt's wat2wasm:
# apt-get install -y wabt). The .wasm outputs are checked in.
set -eu
cd "$(dirname "$0")"
for f in *.wat; do
	wat2wasm "$f" -o "${f%.wat}.wasm"
done
