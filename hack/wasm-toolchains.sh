#!/usr/bin/env bash
# Installs the toolchains the wasmhost compatibility tests
# (wasmhost/compat_test.go) build their C, Rust and AssemblyScript filters
# with, on Debian 12 as root. Idempotent: apt-get update runs once, and only
# when a package is missing; npm runs only when a pinned version is missing.
#
#   C:              clang, lld (wasm-ld), wasi-libc, libclang-rt-14-dev-wasm32
#   Rust:           Debian rustc + libstd-rust-dev-wasm32 (no cargo, no crates)
#   AssemblyScript: npm packages "assemblyscript" (pinned, for the raw-ABI
#                   filter) and, in a separate prefix, "@solo-io/proxy-runtime"
#                   with the old assemblyscript it was written for (bonus test)
#
# The npm packages go to $WASMGATE_TOOLCHAINS (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/wasmgate-toolchains), outside the repo; the
# tests look there too. Set WASMGATE_SKIP_AS_SDK=1 to skip the SDK prefix.
set -euo pipefail

AS_VERSION=0.27.37          # newest release that supports Node 18 (Debian 12)
AS_SDK_VERSION=0.1.8        # @solo-io/proxy-runtime
AS_SDK_ASC_VERSION=0.14.13  # the assemblyscript release it targets (^0.14.9)
PREFIX="${WASMGATE_TOOLCHAINS:-${XDG_CACHE_HOME:-$HOME/.cache}/wasmgate-toolchains}"

pkgs=(clang lld wasi-libc libclang-rt-14-dev-wasm32 rustc libstd-rust-dev-wasm32)
command -v node >/dev/null || pkgs+=(nodejs)
command -v npm >/dev/null || pkgs+=(npm)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "wasm-toolchains: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm_install DIR PKG@VERSION... installs into DIR unless every package is
# already there at that version.
npm_install() {
  local dir=$1; shift
  local spec name want have ok=1
  for spec in "$@"; do
    name=${spec%@*} want=${spec##*@}
    have=$(node -p "require('$dir/node_modules/$name/package.json').version" 2>/dev/null || true)
    [ "$have" = "$want" ] || ok=0
  done
  [ $ok = 1 ] && return 0
  echo "wasm-toolchains: npm install $* into $dir"
  mkdir -p "$dir"
  [ -f "$dir/package.json" ] || echo '{"private":true}' >"$dir/package.json"
  npm install --prefix "$dir" --no-audit --no-fund --no-save --loglevel=error "$@"
}

npm_install "$PREFIX/as" "assemblyscript@$AS_VERSION"
if [ "${WASMGATE_SKIP_AS_SDK:-}" != 1 ]; then
  # Best effort: the SDK is a bonus test that skips when it is missing.
  npm_install "$PREFIX/as-sdk" "assemblyscript@$AS_SDK_ASC_VERSION" "@solo-io/proxy-runtime@$AS_SDK_VERSION" ||
    echo "wasm-toolchains: warning: @solo-io/proxy-runtime not installed; its test will skip" >&2
fi

echo "wasm-toolchains: clang $(clang --version | head -1 | sed 's/.*version //'), rustc $(/usr/bin/rustc --version | cut -d' ' -f2), asc $(node -p "require('$PREFIX/as/node_modules/assemblyscript/package.json').version")"
