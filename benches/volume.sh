#!/usr/bin/env bash
# Volume: does a send cost more when the store holds a month of traffic? The same whole-path SMPP
# load runs against an empty store and against one pre-filled with COUNT charged verifications of
# the current month (otpgate-prefill, through the engine's own store writer), alternating, in one
# invocation, against one SMSC simulator. Issue 11's goal: at 1,000,000 rows, throughput and p99
# within 10 % of the empty store.
#
#   bash benches/volume.sh                          # ~6 min after the build (the prefill ~1 min)
#   COUNT=200000 ROUNDS=1 DURATION=5 bash benches/volume.sh
#   BIN_DIR=target/release OUT_DIR=/tmp/volume bash benches/volume.sh
#
# Each round runs, for the empty store and then the full one (each a fresh copy, so no run sees
# another's sends), three loads with otpgate-load on fresh US carrier numbers:
#  (a) send, closed loop, CONCURRENCY in flight for DURATION s: accepted sends/s, p50/p99;
#  (b) send, open loop at RATE/s for DURATION s: p50/p99/p99.9 from each send's scheduled start;
#  (c) verify, closed loop: send → the code read back from what reached the SMSC → check: the
#      send, check and receipt paths together (the simulator answers each submit_sm and then sends
#      a DELIVRD receipt).
# The engine answers "Success" once the SMSC returned submit_sm_resp and the send is committed to
# SQLite, charged: the production path, not the uncharged sandbox. The simulator, the engine and
# the load generator share this machine's cores; only runs of one invocation compare.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-1000000}
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-1}
RATE=${RATE:-1000}
CONCURRENCY=${CONCURRENCY:-64}
WINDOW=${WINDOW:-64}

# shellcheck source=benches/common.sh
. benches/common.sh
install_debian_package jq jq

if [ -n "${BIN_DIR:-}" ]; then
    bin=$BIN_DIR
else
    cargo build --release --locked -p otpgate -p otpgate-smsc-sim -p otpgate-load -p otpgate-prefill >&2
    bin=${CARGO_TARGET_DIR:-target}/release
fi
require_binaries "$bin" otpgate otpgate-smsc-sim otpgate-load otpgate-prefill
load_bin=$bin/otpgate-load

echo "== prefilling a store with $COUNT charged verifications of this month" >&2
mkdir -p "$dir/full"
"$bin/otpgate-prefill" --db "$dir/full/otpgate.db" --count "$COUNT" >&2
size=$(du -sh "$dir/full" | cut -f1)

smsc_start "$bin/otpgate-smsc-sim" deliver
load_average_note
start=0 # numbers are never reused within the invocation
for round in $(seq "$ROUNDS"); do
    for store in empty full; do
        for run in send-closed send-open verify; do
            db=$(mktemp -d -p "$dir")
            [ $store = empty ] || cp "$dir/full"/otpgate.db* "$db"/
            curl -sf -X POST "$control/reset" > /dev/null
            otpgate_start "$bin/otpgate" "$WINDOW" "$db"
            case $run in
                send-closed) args=(--mode send --rate 0 --concurrency "$CONCURRENCY") ;;
                send-open) args=(--mode send --rate "$RATE" --concurrency 256) ;;
                verify) args=(--mode verify --rate 0 --concurrency "$CONCURRENCY") ;;
            esac
            echo "== round $round, $store store, $run" >&2
            load "$store-$run-$round" "$otpgate_pid" --url "$otpgate_url" --api-key "$otpgate_key" \
                --duration "$DURATION" --start "$start" "${args[@]}"
            start=$(get "$store-$run-$round" .next_start)
            otpgate_stop
            rm -rf "$db"
        done
    done
done

# ---- the table: per round, empty and full side by side
first5() { window_rate "$1" FIRST; }
last5() { window_rate "$1" LAST; }
echo
echo "otpgate on an empty store vs one holding $COUNT charged verifications of this month ($size)"
echo "HTTP → otpgate → SMPP (1 bind, window $WINDOW) → otpgate-smsc-sim with DELIVRD receipts;" \
    "closed loops $CONCURRENCY in flight, open loop $RATE/s; ${DURATION} s after ${WARMUP} s warmup;" \
    "load average before: $load_before"
columns=(empty full)
ratios=(full/empty)
label_width=32
table_header
row "send closed: accepted/s" "%.0f" send-closed .units_per_s
row "send closed: first 5 s /s" "%.0f" send-closed first5
row "send closed: last 5 s /s" "%.0f" send-closed last5
row "send closed: p50 (ms)" "%.2f" send-closed .latency_ms.message.p50
row "send closed: p99 (ms)" "%.2f" send-closed .latency_ms.message.p99
row "send closed: CPU µs/message" "%.0f" send-closed cpu_us
row "send open $RATE/s: p50 (ms)" "%.2f" send-open .latency_ms.message.p50
row "send open $RATE/s: p99 (ms)" "%.2f" send-open .latency_ms.message.p99
row "send open $RATE/s: p99.9 (ms)" "%.2f" send-open .latency_ms.message.p99_9
row "verify closed: approved/s" "%.0f" verify .units_per_s
row "verify closed: p50 (ms)" "%.2f" verify .latency_ms.verification.p50
row "verify closed: p99 (ms)" "%.2f" verify .latency_ms.verification.p99
for r in $(seq "$ROUNDS"); do
    for e in empty full; do
        for run in send-closed send-open verify; do failures "$e-$run-$r"; done
    done
done
echo
echo "full/empty: the full store's figure over the empty one's (same round); 1.00 = no cost of volume"
[ -z "${OUT_DIR:-}" ] || echo "JSON reports: $OUT_DIR"
