#!/usr/bin/env bash
# The test command (README): does its own set-up, then runs every test in the workspace.
#
# Set-up: the npm `smpp` package (pinned in tests/peers/smpp/package-lock.json), a third-party
# SMPP peer that tests run against our SMPP code, and npm `playwright-core` (pinned in
# tests/peers/browser) with Debian's `chromium` (apt-get, as root), which drive the hosted page
# in tests/hosted_browser.rs (needs node and npm; `npm ci`, skipped when node_modules already
# matches the lock), then every binary of the workspace, which
# the integration tests spawn (the otpgate server on loopback, port 0 plus 8080 for the
# embedded-defaults test; the otpgate-smsc-sim SMSC simulator), and SIPp (Debian's sip-tester),
# the third-party SIP user agent the voice gateway is tested against, Debian's `prometheus`
# (promtool included; tests/prometheus.rs) and `docker-compose` (tests/docker.rs) — each installed
# with apt-get when missing and run as root; otherwise install them yourself.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "tests/run.sh: cargo not found; install Rust (rustup.rs)" >&2; exit 1; }
for tool in node npm; do
  command -v "$tool" >/dev/null || {
    echo "tests/run.sh: $tool not found; install Node.js 18 or later with npm (the SMPP interoperability tests run the npm smpp package)" >&2
    exit 1
  }
done

# node_modules/.package-lock.json is npm's record of what it installed; it matches the lock's
# package entries (all but the root "") exactly when the install is current.
npm_ci_if_stale() {
  local peer=$1
  if ! node -e '
    const fs = require("fs");
    const sorted = (v) => v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted(v[k])])) : v;
    const read = (f) => JSON.parse(fs.readFileSync(process.argv[1] + f, "utf8")).packages;
    try {
      const want = read("/package-lock.json"); delete want[""];
      const have = read("/node_modules/.package-lock.json");
      process.exit(JSON.stringify(sorted(want)) === JSON.stringify(sorted(have)) ? 0 : 1);
    } catch (e) { process.exit(1); }
  ' "$peer"; then
    echo "tests/run.sh: installing npm packages in $peer (npm ci)" >&2
    npm ci --prefix "$peer" --no-audit --no-fund --loglevel=error
  fi
}
npm_ci_if_stale tests/peers/smpp
# playwright-core drives the hosted page in Debian's chromium (no browser download of its own).
npm_ci_if_stale tests/peers/browser

apt_install() {
  local package=$1 why=$2
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "tests/run.sh: installing $package (apt-get): $why" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "$package" >/dev/null ||
      { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "$package" >/dev/null; }
  else
    echo "tests/run.sh: $package is missing ($why); install it (Debian/Ubuntu: apt-get install $package)" >&2
    exit 1
  fi
}
[ -x /usr/bin/chromium ] || apt_install chromium "the headless browser of tests/hosted_browser.rs"

command -v sipp >/dev/null || apt_install sip-tester "SIPp, the SIP peer of the voice tests"
[ -x /usr/bin/promtool ] || apt_install prometheus "Prometheus and promtool, which tests/prometheus.rs runs against docker/'s dashboard and alert rules"
[ -x /usr/bin/docker-compose ] || apt_install docker-compose "docker-compose config, which tests/docker.rs validates docker/docker-compose.yml with"

# schemathesis and openapi-spec-validator (PyPI, pinned; tests/openapi_support/mod.rs names the
# same versions and installs them itself when missing) in a virtualenv under ~/.cache: the
# schema fuzzing of tests/schemathesis.rs and the document check of tests/openapi.rs.
if command -v python3 >/dev/null; then
  venv="$HOME/.cache/otpgate/schemathesis-4.32.5"
  if [ ! -x "$venv/bin/schemathesis" ] || [ ! -x "$venv/bin/openapi-spec-validator" ]; then
    echo "tests/run.sh: installing schemathesis and openapi-spec-validator (pip) into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "schemathesis==4.32.5" "openapi-spec-validator==0.9.0"
  fi
else
  echo "tests/run.sh: python3 not found; tests/schemathesis.rs will be skipped" >&2
fi

cargo build --workspace --bins --locked
cargo test --workspace --locked "$@"
