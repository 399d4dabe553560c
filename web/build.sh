#!/usr/bin/env bash
# Regenerates web/pkg/ (the wasm-bindgen glue and .wasm the page loads) from web/src.
#
# Needs the wasm32-unknown-unknown target and wasm-bindgen-cli at the exact version pinned in
# web/Cargo.toml:  cargo install wasm-bindgen-cli --version 0.2.130
# The output is byte-for-byte reproducible for a given toolchain: paths are remapped, debug
# info is off. check-pkg.sh relies on that.
#
# Usage: web/build.sh [OUT_DIR]   (default: web/pkg)
set -euo pipefail

web="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$web/.." && pwd)"
out="${1:-$web/pkg}"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"

want="$(sed -n 's/^wasm-bindgen = "=\(.*\)"/\1/p' "$web/Cargo.toml")"
have="$(wasm-bindgen --version | awk '{print $2}')"
if [ "$want" != "$have" ]; then
    echo "build.sh: web/Cargo.toml pins wasm-bindgen $want but wasm-bindgen-cli is $have;" >&2
    echo "  cargo install wasm-bindgen-cli --version $want" >&2
    exit 2
fi

# No absolute paths of this machine in the .wasm (panic locations name source files).
sep=$'\x1f'
export CARGO_ENCODED_RUSTFLAGS="--remap-path-prefix=$cargo_home=/cargo${sep}--remap-path-prefix=$root=/powrace"
export CARGO_PROFILE_RELEASE_DEBUG=0
export CARGO_PROFILE_RELEASE_LTO=true
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
export CARGO_PROFILE_RELEASE_PANIC=abort

cd "$root"
cargo build --release --locked --target wasm32-unknown-unknown -p powrace-web
mkdir -p "$out"
wasm-bindgen --target web --no-typescript --out-dir "$out" \
    "$target_dir/wasm32-unknown-unknown/release/powrace_web.wasm"
ls -l "$out"
