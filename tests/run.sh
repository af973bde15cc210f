#!/usr/bin/env bash
# The test command (README): does its own set-up, then runs every test in the workspace.
#
# The suite starts the real otpgate binary on loopback (port 0, plus 8080 for the
# embedded-defaults test) and needs nothing else yet. Third-party peers (npm `smpp`, sipp)
# are installed here as their gateways arrive.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "tests/run.sh: cargo not found; install Rust (rustup.rs)" >&2; exit 1; }

cargo test --workspace --locked "$@"
