#!/usr/bin/env bash
# Checks that the committed web/pkg/ is what web/build.sh generates from the sources now.
# Exit 0: fresh; 1: stale (run web/build.sh and commit web/pkg/); 2: could not build.
set -euo pipefail

web="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

"$web/build.sh" "$tmp/pkg" >/dev/null || exit 2
if diff -r "$web/pkg" "$tmp/pkg"; then
    echo "check-pkg: web/pkg is up to date"
else
    echo "check-pkg: web/pkg is stale; run web/build.sh and commit web/pkg/" >&2
    exit 1
fi
