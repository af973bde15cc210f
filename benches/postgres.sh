#!/usr/bin/env bash
# Issue 14: the whole-path load on the SQLite store and on the PostgreSQL store, same machine,
# same binary, same run, alternating rounds.
#
#   bash benches/postgres.sh
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test ROUNDS=2 DURATION=10 bash benches/postgres.sh
#   BIN_DIR=target/debug bash benches/postgres.sh   # binaries already built
#
# Each run: one engine node, HTTP → otpgate → SMPP (1 bind, window 64) → otpgate-smsc-sim with
# DELIVRD receipts; closed loop of CONCURRENCY whole verifications (send, read the code at the
# SMSC, check) and a closed loop of sends only; a fresh store each (a new SQLite file, or a new
# schema in DATABASE_URL's database, dropped on exit).
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

smsc_start "$bin/otpgate-smsc-sim" deliver
load_average_note
start=0 # numbers are never reused within the invocation
for round in $(seq "$ROUNDS"); do
    for store in sqlite postgres; do
        for run in verify send; do
            store_url=
            [ $store = sqlite ] || fresh_schema "$round$run"
            curl -sf -X POST "$control/reset" > /dev/null
            STORE_URL=$store_url otpgate_start "$bin/otpgate" 64 "$(mktemp -d -p "$dir")"
            echo "== round $round, $store, $run" >&2
            load "$store-$run-$round" "$otpgate_pid" --url "$otpgate_url" --api-key "$otpgate_key" \
                --duration "$DURATION" --start "$start" --mode "$run" --rate 0 --concurrency "$CONCURRENCY"
            start=$(get "$store-$run-$round" .next_start)
            otpgate_stop
        done
    done
done

echo
echo "otpgate on SQLite vs PostgreSQL ($(psql "$DATABASE_URL" -Atc 'SHOW server_version'), same machine), one node"
echo "HTTP → otpgate → SMPP (1 bind, window 64) → otpgate-smsc-sim with DELIVRD receipts;" \
    "closed loops of $CONCURRENCY; ${DURATION} s after ${WARMUP} s warmup; load average before: $load_before"
row() { # row LABEL FORMAT RUN JQ-PATH|FUNCTION
    local label=$1 f=$2 run=$3 what=$4 line r e v
    line=$(printf '%-34s' "$label")
    for r in $(seq "$ROUNDS"); do
        local pair=()
        for e in sqlite postgres; do
            if [ "${what:0:1}" = . ]; then v=$(get "$e-$run-$r" "$what"); else v=$($what "$e-$run-$r"); fi
            pair+=("$v")
            line+=$(awk -v v="$v" -v f="$f" 'BEGIN { printf "%11s", (v == "" ? "-" : sprintf(f, v)) }')
        done
        line+=$(awk -v a="${pair[1]}" -v b="${pair[0]}" 'BEGIN { printf "%9s", (a != "" && b != "" && b + 0 != 0) ? sprintf("%.2f", a / b) : "-" }')
    done
    echo "$line"
}
header=$(printf '%-34s' "")
for r in $(seq "$ROUNDS"); do header+=$(printf '%11s%11s%9s' "sqlite $r" "pg $r" "pg/sql"); done
echo "$header"
row "verify closed: approved/s" "%.0f" verify .units_per_s
row "verify closed: p50 (ms)" "%.2f" verify .latency_ms.verification.p50
row "verify closed: p99 (ms)" "%.2f" verify .latency_ms.verification.p99
row "verify closed: CPU µs/message" "%.0f" verify cpu_us
row "send closed: accepted/s" "%.0f" send .units_per_s
row "send closed: p99 (ms)" "%.2f" send .latency_ms.message.p99
for r in $(seq "$ROUNDS"); do
    for e in sqlite postgres; do for run in verify send; do failures "$e-$run-$r"; done; done
done
