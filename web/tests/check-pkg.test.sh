#!/usr/bin/env bash
# web/check-pkg.sh against a copy of the repository in a temp dir, changed the ways that matter:
# a toolchain other than the recorded one passes (with a note); a source change, an edited
# output, a dependency bump and a missing manifest fail and say to run web/build.sh. Run by
# web/test.sh; takes a few seconds (cargo tree, sha256sum; nothing is built).
set -euo pipefail

web="$(cd "$(dirname "$0")/.." && pwd)"
root="$(cd "$web/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
failures=0

fresh_copy() {
    rm -rf "$tmp/repo"
    mkdir "$tmp/repo"
    (cd "$root" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$tmp/repo")
}

# expect CODE PATTERN DESCRIPTION: runs the copy's check-pkg.sh.
expect() {
    local want="$1" pattern="$2" what="$3" out code=0
    out="$("$tmp/repo/web/check-pkg.sh" 2>&1)" || code=$?
    if [ "$code" = "$want" ] && grep -Eq "$pattern" <<<"$out"; then
        echo "ok: $what (exit $code)"
    else
        echo "FAILED: $what: exit $code (want $want), output:" >&2
        sed 's/^/    /' <<<"$out" >&2
        failures=$((failures + 1))
    fi
}

fresh_copy
sed -i 's/^toolchain .*/toolchain rustc 1.0.0 (a toolchain from another day)/' "$tmp/repo/web/pkg/BUILT-FROM"
expect 0 'note: web/pkg was built with rustc 1\.0\.0.*not compared byte for byte' "a toolchain bump is not an error"

fresh_copy
sed -i 's/^toolchain .*/toolchain rustc 1.0.0/' "$tmp/repo/web/pkg/BUILT-FROM"
echo '// a change' >>"$tmp/repo/web/src/check.rs"
expect 1 'stale: changed since web/build.sh made it: web/src/check\.rs$' "a source change without web/build.sh"
expect 1 'run web/build.sh and commit web/pkg/' "... and says what to run"

fresh_copy
sed -i 's/^toolchain .*/toolchain rustc 1.0.0/' "$tmp/repo/web/pkg/BUILT-FROM"
echo '// a change' >>"$tmp/repo/pow-core/src/chain.rs"
expect 1 'changed since web/build.sh made it: pow-core/src/chain\.rs$' "a pow-core change without web/build.sh"

fresh_copy
sed -i 's/^toolchain .*/toolchain rustc 1.0.0/' "$tmp/repo/web/pkg/BUILT-FROM"
printf ' ' >>"$tmp/repo/web/pkg/powrace_web.js"
expect 1 'changed since web/build.sh made it: powrace_web\.js$' "an edited glue file"

fresh_copy
sed -i 's/^toolchain .*/toolchain rustc 1.0.0/' "$tmp/repo/web/pkg/BUILT-FROM"
sed -i 's/^crate serde_json v.*/crate serde_json v1.0.0/' "$tmp/repo/web/pkg/BUILT-FROM"
expect 1 'changed since web/build.sh made it: serde_json$' "another version of a dependency"

fresh_copy
rm "$tmp/repo/web/pkg/BUILT-FROM"
expect 1 'BUILT-FROM is missing' "no manifest"

[ "$failures" -eq 0 ] || {
    echo "check-pkg.test.sh: $failures failed" >&2
    exit 1
}
