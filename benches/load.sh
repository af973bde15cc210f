#!/usr/bin/env bash
# Whole-path load benchmark: HTTP → per-number actor → sandbox channel → SQLite group commit.
# Each verification is three requests (send, read the code from the sandbox inbox, check).
#
#   bash benches/load.sh                 # both runs below, ~30 s after the build
#   DURATION=20 bash benches/load.sh     # longer runs
#
# Run 1: closed loop, as fast as 64 in-flight verifications go (throughput).
# Run 2: open loop at 1,000 verifications/s (latency percentiles at a fixed rate).
# The engine and the load generator share this machine's cores; each run uses a fresh
# database so earlier runs' rate limits do not interfere.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
RATE=${RATE:-1000}
CONCURRENCY=${CONCURRENCY:-64}

cargo build --release --locked -p otpgate -p otpgate-load >&2
bin=target/release

run() { # run NAME LOAD-ARGS...
    local name=$1; shift
    local dir; dir=$(mktemp -d)
    printf '[server]\nlisten = "127.0.0.1:0"\n[store]\nurl = "sqlite://%s/data/otpgate.db"\n' "$dir" > "$dir/otpgate.toml"
    "$bin/otpgate" serve --config "$dir/otpgate.toml" > "$dir/stdout" 2> "$dir/stderr" &
    local pid=$!
    for _ in $(seq 100); do grep -q '^otpgate listening on ' "$dir/stdout" && break; sleep 0.1; done
    local url key
    url=$(sed -n 's/^otpgate listening on //p' "$dir/stdout")
    key=$(sed -n 's/.*stored hashed): //p' "$dir/stdout")
    [ -n "$url" ] || { cat "$dir/stderr" >&2; kill "$pid"; exit 1; }
    echo "== $name"
    local status=0
    "$bin/otpgate-load" --url "$url" --api-key "$key" "$@" || status=$?
    if [ -n "${PROFILE:-}" ]; then :; fi
    curl -s "$url/metrics" | grep -E '^otpgate_store_(batch_size|commit_duration_seconds)_(sum|count)' || true
    kill -TERM "$pid"; wait "$pid" || true
    rm -rf "$dir"
    return $status
}

run "closed loop, concurrency $CONCURRENCY" --rate 0 --concurrency "$CONCURRENCY" --duration "$DURATION"
run "open loop, $RATE verifications/s" --rate "$RATE" --concurrency 256 --duration "$DURATION"
