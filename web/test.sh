#!/usr/bin/env bash
# Every check of web/: the page's pure modules in Node; the committed pkg/ was built from the
# sources as they are (whatever the toolchain) and passes, as committed, the vectors and the
# statistics' textbook values; the vectors pass on wasm32 for pow-core and for powrace-web in
# Node and in headless Chromium; and the dashboard works end to end against the real
# node-server, with a short ledger, a lottery batch and its charts, and a 100,000-entry ledger,
# in headless Chromium and, when firefox-esr and geckodriver are on PATH, in headless Firefox
# (required when CI=true).
# Assumes the tools of web/README.md ("Tools") are installed.
set -euo pipefail

web="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$web/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
export WASM_BINDGEN_TEST_WEBDRIVER_JSON="$web/webdriver.json"
chromedriver="${CHROMEDRIVER:-/usr/bin/chromedriver}"

step() { printf '\n=== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

# The Firefox end-to-end test needs both; outside CI it is skipped without them, in CI (CI=true)
# their absence fails the run before anything else is built.
missing_firefox=()
command -v firefox-esr >/dev/null 2>&1 || missing_firefox+=(firefox-esr)
command -v geckodriver >/dev/null 2>&1 || missing_firefox+=(geckodriver)
if [ "${#missing_firefox[@]}" -gt 0 ] && [ "${CI:-}" = true ]; then
    echo "test.sh: CI=true and not on PATH: ${missing_firefox[*]} (the Firefox end-to-end test needs them; see web/README.md, Tools)" >&2
    exit 1
fi

# The cluster end-to-end test needs etcd, and node-server built with the etcd feature (protoc
# to build it): with both on PATH the one release build has the feature (nothing changes without
# --etcd); outside CI the test is skipped without them, in CI (CI=true) that fails.
missing_etcd=()
command -v etcd >/dev/null 2>&1 || missing_etcd+=(etcd)
command -v protoc >/dev/null 2>&1 || missing_etcd+=(protoc)
if [ "${#missing_etcd[@]}" -gt 0 ] && [ "${CI:-}" = true ]; then
    echo "test.sh: CI=true and not on PATH: ${missing_etcd[*]} (the cluster end-to-end test needs them; .ci/run installs etcd-server and protobuf-compiler)" >&2
    exit 1
fi
node_features=()
[ "${#missing_etcd[@]}" -eq 0 ] && node_features=(--features etcd)

# A wasm-pack run must really run tests: the runner skips a suite built for the other
# environment and still exits 0, so require "N passed" with N > 0 and no "skipping".
wasm_tests() {
    local log status
    log="$(mktemp)"
    set +e
    wasm-pack test "$@" >"$log" 2>&1
    status=$?
    set -e
    grep -E '^(test |test result|Running headless)' "$log" || true
    if [ "$status" -ne 0 ] || grep -q 'skipping' "$log" || ! grep -Eq 'test result: ok\. [1-9][0-9]* passed' "$log"; then
        cat "$log" >&2
        echo "test.sh: wasm-pack test $* failed or ran no tests" >&2
        rm -f "$log"
        return 1
    fi
    rm -f "$log"
}

step "web/pkg was built by web/build.sh from the sources as they are (and the checker is checked)"
"$web/check-pkg.sh"
"$web/tests/check-pkg.test.sh"

step "the page's modules in Node: no import cycle and every one served, the batch, exact nonces, which races count and their figures (from the committed WebAssembly)"
node --test "$web/tests/modules.test.mjs" "$web/tests/batch.test.mjs" "$web/tests/page.test.mjs"

step "native unit tests of powrace-web"
cargo test --locked -p powrace-web

step "the committed web/pkg in Node: the vectors, ledgers sealed here with node:crypto, the figures against textbook values"
node --test "$web/tests/pkg.test.mjs"

for crate in pow-core web; do
    step "wasm-pack test: $crate in Node"
    wasm_tests --node "$crate" --locked --test wasm
    step "wasm-pack test: $crate in headless Chromium"
    WASM_BINDGEN_USE_BROWSER=1 wasm_tests --chrome --headless --chromedriver "$chromedriver" "$crate" --locked --test wasm
done

step "end to end: the real node-server, the page in headless Chromium, nc; a lottery batch and its charts; a 100,000-entry ledger"
cargo build --locked --release -p node-server "${node_features[@]}"
cargo build --locked --release -p powrace-web --example fixture_ledger
export NODE_SERVER_BIN="$CARGO_TARGET_DIR/release/node-server"
export FIXTURE_BIN="$CARGO_TARGET_DIR/release/examples/fixture_ledger"
cd "$web/tests/e2e"
[ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund
node --test --test-concurrency=1 e2e.test.mjs experiment.test.mjs big-ledger.test.mjs

step "end to end on an etcd cluster: three node processes on a real etcd, the page finds them through /cluster, a relayed lane (Chromium)"
if [ "${#missing_etcd[@]}" -eq 0 ]; then
    NODE_SERVER_ETCD_BIN="$NODE_SERVER_BIN" node --test cluster.test.mjs
else
    echo "test.sh: SKIPPED the cluster end-to-end test: not on PATH: ${missing_etcd[*]} (CI=true makes this an error)" >&2
fi

step "end to end in Firefox: the same page in Debian's headless Firefox ESR, over WebDriver (geckodriver)"
if [ "${#missing_firefox[@]}" -eq 0 ]; then
    FIREFOX="${FIREFOX:-$(command -v firefox-esr)}" node --test firefox.test.mjs
else
    echo "test.sh: SKIPPED the Firefox end-to-end test: not on PATH: ${missing_firefox[*]} (CI=true makes this an error)" >&2
fi
