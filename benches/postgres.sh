#!/usr/bin/env bash
# Issue 14: the whole-path load on the SQLite store, on PostgreSQL with one node and with two
# nodes on one database, and (BASE_BIN_DIR) the previous binary on SQLite — same machine, same
# simulator, same invocation, alternating within each round.
#
#   bash benches/postgres.sh
#   BASE_BIN_DIR=/path/to/previous/release bash benches/postgres.sh    # adds the "base" column
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test ROUNDS=2 DURATION=10 bash benches/postgres.sh
#   BIN_DIR=target/release bash benches/postgres.sh                    # binaries already built
#
# Each run: HTTP → otpgate → SMPP (1 bind per node, window 64) → otpgate-smsc-sim with DELIVRD
# receipts; a closed loop of CONCURRENCY whole verifications (send, read the code at the SMSC,
# check) and a closed loop of sends only; a fresh store each (a new SQLite file, or a new schema
# in DATABASE_URL's database, dropped on exit). Two nodes: two engine processes on one schema,
# each driven by its own load generator with half the concurrency and its own numbers (a unit
# stays on its node); their rates add up, the latency shown is the worse node's, the CPU is both
# engines' over the messages the SMSC got.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
CONCURRENCY=${CONCURRENCY:-64}
ROUNDS=${ROUNDS:-2}
WARMUP=${WARMUP:-1}
DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}

# shellcheck source=benches/common.sh
. benches/common.sh
install_debian_package jq jq
install_debian_package psql postgresql-client
if [ -n "${BIN_DIR:-}" ]; then
    bin=$BIN_DIR # binaries built already (a debug build's figures are not comparable with others)
else
    cargo build --release --locked -p otpgate -p otpgate-smsc-sim -p otpgate-load >&2
    bin=${CARGO_TARGET_DIR:-target}/release
fi
require_binaries "$bin" otpgate otpgate-smsc-sim otpgate-load
load_bin=$bin/otpgate-load

schemas=()
drop_schemas() {
    local s
    for s in "${schemas[@]}"; do psql "$DATABASE_URL" -qc "DROP SCHEMA IF EXISTS $s CASCADE" 2> /dev/null || true; done
}
trap 'drop_schemas; cleanup' EXIT
fresh_schema() { # fresh_schema NAME -> $store_url: DATABASE_URL on a new empty schema
    local s=otpgate_bench_$$_$1
    psql "$DATABASE_URL" -qc "SET client_min_messages = warning; DROP SCHEMA IF EXISTS $s CASCADE; CREATE SCHEMA $s"
    schemas+=("$s")
    store_url="$DATABASE_URL?options=-c%20search_path%3D$s"
}

API_KEY=otpg_bench_0123456789abcdef # several nodes on one store: a configured key
columns=(sqlite pg1 pg2)
ratios=(pg1/sqlite pg2/sqlite)
if [ -n "${BASE_BIN_DIR:-}" ]; then
    require_binaries "$BASE_BIN_DIR" otpgate
    columns=(base "${columns[@]}")
    ratios=(sqlite/base "${ratios[@]}")
fi

load_pair() { # load_pair NAME LOAD-ARGS...: one load per node of $node_urls, JSON merged to NAME.json
    local name=$1 before i pids=()
    shift
    # shellcheck disable=SC2086 # one word per pid
    before=$(cpu_ticks $node_pids)
    for i in 0 1; do
        "$load_bin" --smsc-control "$control" --drain-timeout "${DRAIN_TIMEOUT:-60}" --warmup "$WARMUP" \
            --json --url "${node_urls[$i]}" --api-key "$API_KEY" --concurrency $((CONCURRENCY / 2)) \
            --start $((start + i * 5000000)) "$@" > "$out/$name.$i.json" 2> "$out/$name.$i.err" &
        pids+=($!)
    done
    wait "${pids[@]}" || echo "warning: $name: a load generator failed (failures are in the table)" >&2
    # shellcheck disable=SC2086
    echo $(($(cpu_ticks $node_pids) - before)) > "$out/$name.cpu"
    jq -s '{units_per_s: (map(.units_per_s) | add),
            latency_ms: {verification: {p50: (map(.latency_ms.verification.p50 // 0) | max),
                                        p99: (map(.latency_ms.verification.p99 // 0) | max)},
                         message: {p50: (map(.latency_ms.message.p50 // 0) | max),
                                   p99: (map(.latency_ms.message.p99 // 0) | max)}},
            smsc: {submit_sm_total: (map(.smsc.submit_sm_total // 0) | max), drained: (map(.smsc.drained) | all)},
            failed: (map(.failed) | add), warmup: {failed: (map(.warmup.failed) | add), failures: {}},
            abandoned: (map(.abandoned) | add), failures: {by_detail: (map(.failures.by_detail // {}) | add)},
            next_start: (map(.next_start) | max)}' "$out/$name.0.json" "$out/$name.1.json" > "$out/$name.json"
}

smsc_start "$bin/otpgate-smsc-sim" deliver
load_average_note
start=0 # numbers are never reused within the invocation
for round in $(seq "$ROUNDS"); do
    for config in "${columns[@]}"; do
        for run in verify send; do
            store_url=
            [ "${config:0:2}" != pg ] || fresh_schema "$round$run$config"
            curl -sf -X POST "$control/reset" > /dev/null
            # The previous run's store writes (a GB of WAL and database pages) are flushed now,
            # not by the kernel's writeback during this run: otherwise whichever configuration
            # runs next pays for the one before (seen: the run after `base` 8-15 % slower).
            sync
            engine=$bin/otpgate
            [ "$config" != base ] || engine=$BASE_BIN_DIR/otpgate
            echo "== round $round, $config, $run" >&2
            if [ "$config" = pg2 ]; then
                node_urls=() node_pids=
                for _ in 0 1; do
                    STORE_URL=$store_url otpgate_start "$engine" 64 "$(mktemp -d -p "$dir")"
                    node_urls+=("$otpgate_url") node_pids+=" $otpgate_pid" extra_pids+=" $otpgate_pid"
                done
                load_pair "$config-$run-$round" --duration "$DURATION" --mode "$run" --rate 0
                start=$(get "$config-$run-$round" .next_start)
                # shellcheck disable=SC2086 # one word per pid
                stop $node_pids
                otpgate_pid=
            else
                STORE_URL=$store_url otpgate_start "$engine" 64 "$(mktemp -d -p "$dir")"
                load "$config-$run-$round" "$otpgate_pid" --url "$otpgate_url" --api-key "$otpgate_key" \
                    --duration "$DURATION" --start "$start" --mode "$run" --rate 0 --concurrency "$CONCURRENCY"
                start=$(get "$config-$run-$round" .next_start)
                otpgate_stop
            fi
        done
    done
done

echo
echo "otpgate on SQLite vs PostgreSQL ($(psql "$DATABASE_URL" -Atc 'SHOW server_version'), same machine): one node, and two (pg2)"
echo "HTTP → otpgate → SMPP (1 bind per node, window 64) → otpgate-smsc-sim with DELIVRD receipts;" \
    "closed loops of $CONCURRENCY in all; ${DURATION} s after ${WARMUP} s warmup; load average before: $load_before"
table_header
row "verify closed: approved/s" "%.0f" verify .units_per_s
row "verify closed: p50 (ms)" "%.2f" verify .latency_ms.verification.p50
row "verify closed: p99 (ms)" "%.2f" verify .latency_ms.verification.p99
row "verify closed: CPU µs/message" "%.0f" verify cpu_us
row "send closed: accepted/s" "%.0f" send .units_per_s
row "send closed: p99 (ms)" "%.2f" send .latency_ms.message.p99
row "send closed: CPU µs/message" "%.0f" send cpu_us
for r in $(seq "$ROUNDS"); do
    for c in "${columns[@]}"; do for run in verify send; do failures "$c-$run-$r"; done; done
done
[ -z "${BASE_BIN_DIR:-}" ] || echo "base: the previous binary ($BASE_BIN_DIR) on SQLite"
echo "pg2: two nodes on one schema; its latencies are the worse node's"
