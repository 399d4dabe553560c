#!/usr/bin/env bash
# Regenerates web/pkg/ (the wasm-bindgen glue and .wasm the page loads) from web/src, and
# web/pkg/BUILT-FROM: the toolchain, then every crate, source file and output by version or
# SHA-256 (web/pkg-manifest.sh), which check-pkg.sh compares with the tree.
#
# Needs the wasm32-unknown-unknown target and wasm-bindgen-cli at the exact version pinned in
# web/Cargo.toml:  cargo install wasm-bindgen-cli --version 0.2.130
# The output is byte-for-byte reproducible for a given toolchain: paths are remapped, debug
# info is off. Another toolchain gives other bytes, just as good.
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

# The workspace files cargo read for this build (its dep-info; crates.io sources are named by
# version instead), the Cargo.toml files whose features shape it, and this script's settings.
deps="$target_dir/wasm32-unknown-unknown/release/powrace_web.d"
mapfile -t sources < <(
    {
        sed -e 's/^[^:]*: //' -e 's/\\ /\x1f/g' "$deps" | tr ' ' '\n' | tr '\037' ' ' |
            grep -v '^$' | sed "s#^$root/##" | grep -v '^/'
        printf '%s\n' web/Cargo.toml pow-core/Cargo.toml web/build.sh
    } | LC_ALL=C sort -u
)
{
    echo "# What web/build.sh built web/pkg/ from. web/check-pkg.sh recomputes every line but the"
    echo "# toolchain and fails when one differs (run web/build.sh and commit web/pkg/ then); a"
    echo "# different toolchain gives other bytes that are just as good, so it is only recorded."
    echo "toolchain $(rustc --version)"
    "$web/pkg-manifest.sh" "$out" "${sources[@]}"
} >"$out/BUILT-FROM"
ls -l "$out"
