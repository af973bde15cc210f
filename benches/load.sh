#!/usr/bin/env bash
# Whole-path load benchmark: HTTP → per-number actor → carrier → SQLite group commit, one
# verification = send → read the code → check.
#
#   bash benches/load.sh                      # both runs below through SMPP, ~40 s after the build
#   CARRIER=sandbox bash benches/load.sh      # the sandbox channel instead (uncharged, no carrier)
#   DURATION=20 RATE=2000 bash benches/load.sh
#
# CARRIER=smpp (the default) is the production path: one SMPP bind (window 64) to the SMSC
# simulator, which answers each submit_sm and sends a DELIVRD receipt; each send is routed,
# charged and committed before it is answered, the code is read back from what reached the SMSC,
# and numbers are fresh US carrier numbers. CARRIER=sandbox sends to the fictional sandbox
# numbers, reads the sandbox inbox, and skips the carrier, billing and receipts.
#
# Run 1: closed loop, as fast as CONCURRENCY in-flight verifications go (throughput).
# Run 2: open loop at RATE verifications/s (latency percentiles at a fixed rate).
# The engine, the simulator and the load generator share this machine's cores; each run uses a
# fresh database so earlier runs' rate limits do not interfere.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
RATE=${RATE:-1000}
CONCURRENCY=${CONCURRENCY:-64}
CARRIER=${CARRIER:-smpp}
WARMUP=${WARMUP:-1}

# shellcheck source=benches/common.sh
. benches/common.sh
install_debian_package jq jq
cargo build --release --locked -p otpgate -p otpgate-smsc-sim -p otpgate-load >&2
bin=${CARGO_TARGET_DIR:-target}/release
load_bin=$bin/otpgate-load

sandbox_start() { # the engine on its defaults but the store: sandbox only -> $otpgate_url, $otpgate_key
    local d
    d=$(mktemp -d -p "$dir")
    # Request limits off: one load generator on one address and one key would meet them.
    printf '[server]\nlisten = "127.0.0.1:0"\n[store]\nurl = "sqlite://%s/data/otpgate.db"\n[limits]\nrequests_per_minute_per_ip = 0\nrequests_per_minute_per_key = 0\n' "$d" > "$d/otpgate.toml"
    "$bin/otpgate" serve --config "$d/otpgate.toml" > "$d/stdout" 2> "$d/stderr" &
    otpgate_pid=$!
    wait_for otpgate $otpgate_pid grep -q '^otpgate listening on ' "$d/stdout" || { cat "$d/stderr" >&2; exit 1; }
    otpgate_url=$(sed -n 's/^otpgate listening on //p' "$d/stdout")
    otpgate_key=$(sed -n 's/.*stored hashed): //p' "$d/stdout")
}

case $CARRIER in
    smpp) smsc_start "$bin/otpgate-smsc-sim" deliver ;;
    sandbox) ;;
    *) echo "error: CARRIER must be smpp or sandbox" >&2 && exit 1 ;;
esac

run() { # run NAME LOAD-ARGS...
    local name=$1 status=0
    shift
    if [ "$CARRIER" = smpp ]; then
        curl -sf -X POST "$control/reset" > /dev/null
        otpgate_start "$bin/otpgate" 64 "$(mktemp -d -p "$dir")"
        set -- --smsc-control "$control" "$@"
    else
        sandbox_start
    fi
    echo "== $name ($CARRIER)"
    "$load_bin" --url "$otpgate_url" --api-key "$otpgate_key" --warmup "$WARMUP" "$@" || status=$?
    curl -s "$otpgate_url/metrics" | grep -E '^otpgate_store_(batch_size|commit_duration_seconds)_(sum|count)' || true
    otpgate_stop
    return $status
}

run "closed loop, concurrency $CONCURRENCY" --rate 0 --concurrency "$CONCURRENCY" --duration "$DURATION"
run "open loop, $RATE verifications/s" --rate "$RATE" --concurrency 256 --duration "$DURATION"
