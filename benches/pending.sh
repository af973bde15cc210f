#!/usr/bin/env bash
# Memory and latency with many pending verifications (issue 17's goals: ≤ 1 KiB RSS per pending
# verification at 1,000,000 of them; sends and checks at 1M pending no slower than at 1k, ±10 %;
# cold start to ready < 1 s with 1M rows in the store).
#
#   bash benches/pending.sh                         # N=1,000,000: ~15 min per engine after the build
#   N=200000 bash benches/pending.sh                # a smaller fill
#   BASE_BIN_DIR=/tmp/before bash benches/pending.sh  # an earlier otpgate first, same invocation
#   BIN_DIR=target/release OUT_DIR=/tmp/pending bash benches/pending.sh
#   COLD_ONLY=1 bash benches/pending.sh             # only the start on N prefilled rows (~2 min)
#
# For each engine (base first when BASE_BIN_DIR is set), on a fresh SQLite store, through one
# SMPP bind (window WINDOW) to otpgate-smsc-sim: the production send path, charged and committed,
# not the sandbox (the sandbox inbox would keep every message in memory and be measured instead):
#  1. fill 1,000 pending verifications (closed loop, fresh US numbers; codes valid for a day so
#     none expires during the fill), wait IDLE_WAIT s (actors idle longer than 30 s are evicted),
#     read the engine's RSS (VmRSS) and live actors (otpgate_number_actors), then run the probe:
#     verify (send → code read back from the simulator → check) open loop at PROBE_RATE/s for
#     PROBE_DURATION s on numbers outside the fill: send and check p50/p99;
#  2. fill up to N pending the same way, wait, read RSS and actors, run the same probe;
#  3. SIGTERM, start again on the same store: milliseconds from exec to /readyz answering 200
#     (the bind up) and to the first send answered.
# Before all that, when otpgate-prefill is built: a store prefilled with N verifications of this
# month (benches/prefill), copied fresh for each start: exec to /readyz 200 and to the first send
# answered, 3 rounds alternating the engines.
# RSS per pending = (RSS at N − RSS at 1k) / (N − 1k). The probe's own verifications are few
# (PROBE_RATE × PROBE_DURATION) next to N. The simulator records messages only for the probe's
# code look-ups; its memory is not the engine's. Shared, noisy machine: compare only runs of one
# invocation.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
SMALL=${SMALL:-1000}
WINDOW=${WINDOW:-64}
CONCURRENCY=${CONCURRENCY:-64}
IDLE_WAIT=${IDLE_WAIT:-40}
PROBE_RATE=${PROBE_RATE:-100}
PROBE_DURATION=${PROBE_DURATION:-10}
WARMUP=${WARMUP:-1}
KEY=otpg_pending_bench_key_0123456789abcdef

# shellcheck source=benches/common.sh
. benches/common.sh
install_debian_package jq jq

if [ -n "${BIN_DIR:-}" ]; then
    bin=$BIN_DIR
else
    cargo build --release --locked -p otpgate -p otpgate-smsc-sim -p otpgate-load -p otpgate-prefill >&2
    bin=${CARGO_TARGET_DIR:-target}/release
fi
require_binaries "$bin" otpgate otpgate-smsc-sim otpgate-load
load_bin=$bin/otpgate-load
engines="otpgate"
if [ -n "${BASE_BIN_DIR:-}" ]; then
    require_binaries "$BASE_BIN_DIR" otpgate
    engines="base otpgate"
fi
engine_bin() { if [ "$1" = base ]; then echo "$BASE_BIN_DIR/otpgate"; else echo "$bin/otpgate"; fi; }

# Records are for the probe's code look-ups (the fills' messages need none, but the simulator
# records all, and drops new ones past its cap): room for every engine's fills and probes.
smsc_start "$bin/otpgate-smsc-sim" accept --max-records $((2 * (N + 100000)))

pending_start() { # pending_start BIN DIR -> $otpgate_pid, $otpgate_url, $ready_ms, $first_send_ms
    local engine d=$2 started
    engine=$(realpath "$1")
    if [ ! -f "$d/otpgate.toml" ]; then
        cat > "$d/otpgate.toml" << EOF
[server]
listen = "127.0.0.1:$(free_port)"
[store]
url = "sqlite://$d/otpgate.db"
[[applications]]
name = "default"
api_key = "$KEY"
[verification]
# Pending for the whole run: a fill of 1M takes minutes.
code_validity_seconds = 86400
[risk.pumping]
min_sends = 0
[limits]
requests_per_minute_per_ip = 0
requests_per_minute_per_key = 0
[[carriers]]
name = "smsc-a"
protocol = "smpp"
address = "$smpp"
system_id = "otpgate"
password = "secret"
binds = 1
window = $WINDOW
max_tps = 0
EOF
    fi
    otpgate_url=http://$(sed -n 's/^listen = "\(.*\)"/\1/p' "$d/otpgate.toml")
    started=$(date +%s%N)
    (cd "$d" && exec "$engine" serve --config "$d/otpgate.toml" > "$d/stdout" 2> "$d/stderr") &
    otpgate_pid=$!
    # Polled every 5 ms: start-to-ready is the figure.
    for _ in $(seq 3000); do
        curl -sf -o /dev/null "$otpgate_url/readyz" && break
        kill -0 "$otpgate_pid" 2> /dev/null || { cat "$d/stderr" >&2; exit 1; }
        sleep 0.005
    done
    ready_ms=$((($(date +%s%N) - started) / 1000000))
    curl -sf -o /dev/null -H "x-api-key: $KEY" -H 'content-type: application/json' \
        -d '{"phone_number":"+14155552671"}' "$otpgate_url/v3/phone/send/" || true
    first_send_ms=$((($(date +%s%N) - started) / 1000000))
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
actors() { curl -sf "$otpgate_url/metrics" | awk '$1 == "otpgate_number_actors" { print $2 }'; }

fill() { # fill NAME FROM COUNT: COUNT sends on numbers FROM.., closed loop, no warmup
    WARMUP=0 load "$1" "$otpgate_pid" --mode send --url "$otpgate_url" --api-key "$KEY" --rate 0 \
        --concurrency "$CONCURRENCY" --duration 86400 --start "$2" --count "$3"
}
probe() { # probe NAME FROM: verify, open loop, on numbers FROM.. (past every fill)
    load "$1" "$otpgate_pid" --mode verify --url "$otpgate_url" --api-key "$KEY" \
        --rate "$PROBE_RATE" --duration "$PROBE_DURATION" --start "$2" --concurrency 64
}
measure() { # measure ENGINE LABEL: after the idle wait, RSS and actors into $out/ENGINE-LABEL.mem
    sleep "$IDLE_WAIT"
    echo "$(rss_kib "$otpgate_pid") $(actors)" > "$out/$1-$2.mem"
}

load_average_note
cold_start() { # cold_start: start-to-ready on a copy of a store prefilled with N rows, 3 rounds
    local d e round
    echo "== prefilling a store with $N verifications (otpgate-prefill)" >&2
    mkdir -p "$dir/cold"
    "$bin/otpgate-prefill" --db "$dir/cold/otpgate.db" --count "$N" >&2
    for round in 1 2 3; do
        for e in $engines; do
            d=$(mktemp -d -p "$dir")
            cp "$dir"/cold/otpgate.db* "$d"/
            pending_start "$(engine_bin "$e")" "$d"
            echo "$ready_ms $first_send_ms" >> "$out/$e.cold"
            stop "$otpgate_pid"
            otpgate_pid=
            rm -rf "$d"
        done
    done
    rm -rf "$dir/cold"
}
if [ -x "$bin/otpgate-prefill" ]; then cold_start; fi
engines_fill=$engines
[ "${COLD_ONLY:-}" != 1 ] || engines_fill=
round_base=0 # each engine probes its own numbers: the simulator keeps the earlier engine's messages
for e in $engines_fill; do
    round_base=$((round_base + 1000000))
    d=$(mktemp -d -p "$dir")
    echo "== $e: start on an empty store" >&2
    pending_start "$(engine_bin "$e")" "$d"
    echo "== $e: fill $SMALL pending" >&2
    fill "$e-fill-small" 0 "$SMALL"
    measure "$e" small
    probe "$e-probe-small" $((N + 10000000 + round_base))
    echo "== $e: fill to $N pending" >&2
    fill "$e-fill-large" "$SMALL" $((N - SMALL))
    measure "$e" large
    probe "$e-probe-large" $((N + 20000000 + round_base))
    echo "== $e: restart on the store of $N" >&2
    stop "$otpgate_pid"
    pending_start "$(engine_bin "$e")" "$d"
    echo "$ready_ms $first_send_ms $(du -sm "$d" | cut -f1)" > "$out/$e.start"
    stop "$otpgate_pid"
    otpgate_pid=
    rm -rf "$d"
done

# ---- the table
echo
echo "pending verifications: $SMALL vs $N, one SMPP bind (window $WINDOW) to otpgate-smsc-sim," \
    "SQLite store; probe: verify open loop $PROBE_RATE/s for $PROBE_DURATION s; load average before: $load_before"
[ -z "${BASE_BIN_DIR:-}" ] || echo "base: $BASE_BIN_DIR/otpgate; otpgate: $bin/otpgate"
row() { # row LABEL FUNCTION [ARG]: one column per engine, FUNCTION ENGINE [ARG] prints the cell
    local line e
    line=$(printf '%-48s' "$1")
    for e in $engines; do line+=$(printf '%16s' "$($2 "$e" "${3:-}")"); done
    echo "$line"
}
mem() { cut -d' ' -f"$3" "$out/$1-$2.mem"; }
cold_ready() { cut -d' ' -f1 "$out/$1.cold" | paste -sd/; }
cold_first() { cut -d' ' -f2 "$out/$1.cold" | paste -sd/; }
fill_rate() { printf %.0f "$(get "$1-fill-large" .units_per_s)"; }
rss_mib() { awk -v k="$(mem "$1" "$2" 1)" 'BEGIN { printf "%.1f", k / 1024 }'; }
per_pending() {
    awk -v a="$(mem "$1" small 1)" -v b="$(mem "$1" large 1)" -v n=$((N - SMALL)) \
        'BEGIN { printf "%.0f", (b - a) * 1024 / n }'
}
live() { echo "$(mem "$1" small 2)/$(mem "$1" large 2)"; }
p50_p99() { # p50_p99 ENGINE SIZE:STEP
    local run=$1-probe-${2%:*} step=${2#*:}
    printf '%.2f/%.2f' "$(get "$run" ".latency_ms.$step.p50")" "$(get "$run" ".latency_ms.$step.p99")"
}
restart() { cut -d' ' -f"$2" "$out/$1.start"; }
header=$(printf '%-48s' "")
for e in $engines; do header+=$(printf '%16s' "$e"); done
echo "$header"
if [ -s "$out/otpgate.cold" ]; then
    row "start on $N prefilled rows: to ready (ms)" cold_ready
    row "start on $N prefilled rows: to 1st send (ms)" cold_first
fi
[ "${COLD_ONLY:-}" != 1 ] || exit 0
row "fill rate to $N, sends/s" fill_rate
row "RSS at $SMALL pending (MiB)" rss_mib small
row "RSS at $N pending (MiB)" rss_mib large
row "RSS per pending verification (bytes)" per_pending
row "live number actors at $SMALL/$N" live
row "at $SMALL pending: send p50/p99 (ms)" p50_p99 small:send
row "at $N pending: send p50/p99 (ms)" p50_p99 large:send
row "at $SMALL pending: check p50/p99 (ms)" p50_p99 small:check
row "at $N pending: check p50/p99 (ms)" p50_p99 large:check
row "restart on $N rows: to ready (ms)" restart 1
row "restart on $N rows: to 1st send (ms)" restart 2
row "store size at $N (MiB)" restart 3
for e in $engines; do
    for run in fill-small fill-large probe-small probe-large; do failures "$e-$run"; done
done
