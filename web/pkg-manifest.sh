#!/usr/bin/env bash
# Prints what web/pkg/ is built from, one line each, sorted: every crate the WebAssembly build
# uses (`crate NAME vX.Y.Z`, from Cargo.lock via `cargo tree`), the SHA-256 of every workspace
# file that goes into it (`source PATH SHA256`), and the SHA-256 of the generated files
# (`output FILE SHA256`). build.sh writes it to web/pkg/BUILT-FROM with the toolchain; check-pkg.sh
# prints it again and compares. Nothing here depends on the Rust toolchain.
#
# Usage: web/pkg-manifest.sh PKG_DIR SOURCE...   (SOURCE: paths relative to the repository root)
set -euo pipefail

web="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$web/.." && pwd)"
pkg="$1"
shift

cd "$root"
{
    cargo tree --locked -p powrace-web --target wasm32-unknown-unknown -e normal,build \
        --prefix none --format '{p}' |
        sed -E 's/ \(\*\)$//; s/ \(proc-macro\)$//; s/ \([^)]*\)$//' | sort -u | sed 's/^/crate /'
    for f in "$@"; do
        if [ -f "$f" ]; then
            printf 'source %s %s\n' "$f" "$(sha256sum "$f" | cut -d' ' -f1)"
        else
            printf 'source %s MISSING\n' "$f"
        fi
    done
    for f in powrace_web.js powrace_web_bg.wasm; do
        printf 'output %s %s\n' "$f" "$(sha256sum "$pkg/$f" | cut -d' ' -f1)"
    done
} | LC_ALL=C sort
