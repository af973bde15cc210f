#!/usr/bin/env bash
# Whole-path side by side: HTTP request → SMS gateway → SMPP → SMSC simulator, for otpgate, for
# Kannel (Debian's package) with its queue in memory and with its file store, and for Jasmin (PyPI
# `jasmin`, when installed), in one invocation, against one simulator.
#
#   bash benches/kannel.sh                                  # ~4 min after the build
#   KANNEL_STORES=memory bash benches/kannel.sh             # Kannel without its store only
#   JASMIN_VENV=/opt/jasmin bash benches/kannel.sh          # Jasmin from that venv (else: skipped)
#   bash benches/kannel.sh --smoke                          # seconds: one short run per column
#   DURATION=20 RATE=2000 WINDOWS="10" bash benches/kannel.sh
#   BIN_DIR=/tmp/target/release bash benches/kannel.sh      # prebuilt binaries, no cargo build
#   OUT_DIR=/tmp/whole-path bash benches/kannel.sh          # keep every run's JSON and the logs
#   BASE_BIN_DIR=/tmp/before bash benches/kannel.sh         # also an earlier otpgate, same run
#
# For each window W (otpgate: one transceiver bind, window = W, max_tps = MAX_TPS; Kannel: one
# transceiver, max-pending-submits = W, throughput = MAX_TPS; MAX_TPS=0, the default, is no
# limit), both gateways are driven by otpgate-load --mode send with the same fresh US numbers and
# the same 40-character text:
#  (a) closed loop, CONCURRENCY in flight for DURATION s: HTTP answers/s; submit_sm/s that reached
#      the SMSC over the same window (the simulator's counter read at the end of the warmup and at
#      the last answer; Kannel answers 202 once it has queued a message, so this is the honest
#      figure); how long submit_sm kept arriving after the last answer (the queue draining); HTTP
#      p50/p99; the gateway processes' CPU time per message that reached the SMSC; the mean
#      accepted sends/s over the first and the last 5 whole seconds (a rate that decays as the
#      store fills shows there);
#  (b) open loop at RATE/s for OPEN_DURATION s: HTTP p50/p99/p99.9, timed from each request's
#      scheduled start.
# otpgate answers 200 "Success" only after the SMSC's submit_sm_resp and after committing the send
# to SQLite; each otpgate run starts on a fresh database. Kannel keeps its queue in memory
# (KANNEL_STORE=file or spool turns its message store on) and logs at warning level (otpgate logs
# nothing per message either); KANNEL_STORES lists the Kannel columns: "memory" (no store) and
# "file" (store-type = file: every message written to its store before the 202). Jasmin 0.11
# (HTTP API → RabbitMQ → its SMPP client connector, no throughput limit, no window setting) runs
# from JASMIN_VENV (a virtualenv with `pip install jasmin`; RabbitMQ on 5672 guest/guest and
# Redis on 6379 must run; it logs at warning level but for its HTTP access log; its column's CPU
# counts jasmind only, not RabbitMQ or Redis). The
# simulator answers every submit_sm and sends no receipts, so no gateway pays for them. The simulator, both gateways and the load generator share this
# machine's cores: run it on a quiet machine. With BASE_BIN_DIR (a directory holding an earlier
# build's otpgate), that engine runs each load too, right before this one, in its own column.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --smoke ]; then
    # A check that the whole path still runs (CI), not a measurement.
    : "${DURATION:=2}" "${OPEN_DURATION:=2}" "${WINDOWS:=10}" "${RATE:=200}" "${DRAIN_TIMEOUT:=10}"
fi
DURATION=${DURATION:-10}
OPEN_DURATION=${OPEN_DURATION:-10}
WARMUP=${WARMUP:-1}
RATE=${RATE:-1000}
CONCURRENCY=${CONCURRENCY:-64}
WINDOWS=${WINDOWS:-10 64}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-60}
KANNEL_LOG_LEVEL=${KANNEL_LOG_LEVEL:-2}
MAX_TPS=${MAX_TPS:-0} # the carrier's contracted rate: otpgate max_tps, Kannel throughput; 0 = none
# Kannel columns: "memory" (queue in memory only), "file" or "spool" (Kannel's message store).
# KANNEL_STORE=file (the older spelling) means KANNEL_STORES=file.
KANNEL_STORES=${KANNEL_STORES:-${KANNEL_STORE:-memory file}}
JASMIN_VENV=${JASMIN_VENV:-}

# shellcheck source=benches/common.sh
. benches/common.sh
install_debian_package bearerbox kannel
install_debian_package jq jq

if [ -n "${BIN_DIR:-}" ]; then
    bin=$BIN_DIR
else
    cargo build --release --locked -p otpgate -p otpgate-smsc-sim -p otpgate-load >&2
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

smsc_start "$bin/otpgate-smsc-sim" accept --no-record

kannel_start() { # kannel_start WINDOW STORE -> $kannel_url, $kannel_pids
    local w=$1 admin box http k=$dir/kannel-$2-w$1
    admin=$(free_port) box=$(free_port) http=$(free_port)
    while [ "$box" = "$admin" ]; do box=$(free_port); done
    while [ "$http" = "$admin" ] || [ "$http" = "$box" ]; do http=$(free_port); done
    rm -rf "$k" && mkdir -p "$k"
    # Optional lines go last in their group: an empty line would end the group early.
    local store='' throughput=''
    [ "$MAX_TPS" = 0 ] || throughput="throughput = $MAX_TPS"
    case $2 in
        memory) ;;
        file) store="store-type = file"$'\n'"store-location = \"$k/messages.store\"" ;;
        spool) mkdir -p "$k/spool" && store="store-type = spool"$'\n'"store-location = \"$k/spool\"" ;;
        *) echo "error: KANNEL_STORES may hold memory, file and spool" >&2 && exit 1 ;;
    esac
    cat > "$k/kannel.conf" << EOF
group = core
admin-port = $admin
admin-password = bench
admin-allow-ip = 127.0.0.1
smsbox-port = $box
box-allow-ip = 127.0.0.1
log-file = "$k/bearerbox.log"
log-level = $KANNEL_LOG_LEVEL
dlr-storage = internal
$store

group = smsc
smsc = smpp
smsc-id = sim
host = ${smpp%:*}
port = ${smpp##*:}
transceiver-mode = true
smsc-username = otpgate
smsc-password = secret
system-type = ""
max-pending-submits = $w
enquire-link-interval = 30
log-level = $KANNEL_LOG_LEVEL
$throughput

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = $box
sendsms-port = $http
log-file = "$k/smsbox.log"
log-level = $KANNEL_LOG_LEVEL

group = sendsms-user
username = otpgate
password = secret
max-messages = 1
concatenation = false
EOF
    bearerbox -v "$KANNEL_LOG_LEVEL" "$k/kannel.conf" > "$k/bearerbox.out" 2>&1 &
    local bb=$!
    kannel_url=http://127.0.0.1:$http
    local status="http://127.0.0.1:$admin/status.txt?password=bench"
    kannel_ready() { # the SMPP bind is online (and, once smsbox runs, smsbox is connected)
        local s
        s=$(curl -sf "$status") && grep -q '^ *sim\[sim\] .*(online' <<< "$s" &&
            { [ "${1:-}" != smsbox ] || grep -q 'smsbox:.*on-line' <<< "$s"; }
    }
    # smsbox gives up at once if bearerbox does not listen yet.
    wait_for "Kannel's bearerbox (SMSC bind)" "$bb" kannel_ready || { tail -n 20 "$k"/* >&2; exit 1; }
    smsbox -v "$KANNEL_LOG_LEVEL" "$k/kannel.conf" > "$k/smsbox.out" 2>&1 &
    local sb=$!
    kannel_pids="$bb $sb"
    extra_pids="$jasmin_pid $kannel_pids"
    wait_for "Kannel's smsbox" "$sb" kannel_ready smsbox || { tail -n 20 "$k"/* >&2; exit 1; }
    # smsbox answers 4xx to a sendsms without arguments once it listens.
    wait_for "Kannel's smsbox" "$sb" curl -s -o /dev/null "$kannel_url/cgi-bin/sendsms" ||
        { tail -n 20 "$k"/* >&2; exit 1; }
}

jasmin_pid=
jasmin_start() { # jasmin_start -> $jasmin_url, $jasmin_pid: jasmind with one connector bound to the simulator
    local j=$dir/jasmin http jcli smpps spec
    http=$(free_port) jcli=$(free_port) smpps=$(free_port)
    # The wheel lacks the AMQP spec jasmind loads from its config directory: txAMQP's serves.
    spec=$(find "$JASMIN_VENV" -name 'amqp0-9-1.stripped.xml' | head -n 1)
    [ -n "$spec" ] || { echo "error: no txamqp AMQP 0-9-1 spec under $JASMIN_VENV" >&2; exit 1; }
    mkdir -p "$j/etc/jasmin/resource" "$j/etc/jasmin/store" "$j/var/log/jasmin"
    cp "$spec" "$j/etc/jasmin/resource/amqp0-9-1.xml"
    printf '%s\n' "[smpp-server]" "bind = 127.0.0.1" "port = $smpps" \
        "[jcli]" "bind = 127.0.0.1" "port = $jcli" "authentication = False" \
        "[http-api]" "bind = 127.0.0.1" "port = $http" "log_level = WARNING" \
        "[amqp-broker]" "host = 127.0.0.1" "port = 5672" "username = guest" "password = guest" \
        "[redis-client]" "host = 127.0.0.1" "port = 6379" \
        "[sm-listener]" "log_level = WARNING" "[dlr]" "log_level = WARNING" > "$j/etc/jasmin/jasmin.cfg"
    ROOT_PATH=$j "$JASMIN_VENV/bin/python" "$JASMIN_VENV/bin/jasmind.py" > "$j/jasmind.out" 2>&1 &
    jasmin_pid=$!
    extra_pids=$jasmin_pid
    # shellcheck disable=SC2016 # expanded by the inner bash
    wait_for "jasmind's jCli" "$jasmin_pid" bash -c 'exec 3<> "/dev/tcp/127.0.0.1/$1"' _ "$jcli" ||
        { tail -n 30 "$j/jasmind.out" >&2; exit 1; }
    "$JASMIN_VENV/bin/python" benches/jasmin-jcli.py "$jcli" "${smpp%:*}" "${smpp##*:}" > "$j/jcli.out" 2>&1 ||
        { tail -n 30 "$j/jcli.out" "$j/jasmind.out" >&2; exit 1; }
    jasmin_url=http://127.0.0.1:$http
}
others="" # the columns after otpgate's, in order
for s in $KANNEL_STORES; do others+=" kannel-$s"; done
if [ -n "$JASMIN_VENV" ]; then
    [ -x "$JASMIN_VENV/bin/jasmind.py" ] || { echo "error: no bin/jasmind.py in JASMIN_VENV=$JASMIN_VENV" >&2; exit 1; }
    jasmin_start
    others+=" jasmin"
else
    echo "note: JASMIN_VENV unset: no Jasmin column (python3 -m venv V && V/bin/pip install jasmin)" >&2
fi

closed=(--rate 0 --concurrency "$CONCURRENCY" --duration "$DURATION")
open=(--rate "$RATE" --concurrency 256 --duration "$OPEN_DURATION")
load_average_note
for w in $WINDOWS; do
    for loop in closed open; do
        if [ $loop = closed ]; then args=("${closed[@]}"); else args=("${open[@]}"); fi
        for e in $engines; do
            echo "== window $w, $loop loop: $e" >&2
            otpgate_start "$(engine_bin "$e")" "$w" "$(mktemp -d -p "$dir")"
            load "$e-w$w-$loop" "$otpgate_pid" --mode send --url "$otpgate_url" --api-key "$otpgate_key" "${args[@]}"
            otpgate_stop
        done
        for store in $KANNEL_STORES; do
            # A fresh Kannel per run: a store left by the closed loop would replay into the open one.
            echo "== window $w, $loop loop: Kannel, store $store" >&2
            kannel_start "$w" "$store"
            load "kannel-$store-w$w-$loop" "$kannel_pids" --mode send --target kannel --url "$kannel_url" \
                --kannel-password secret "${args[@]}"
            # shellcheck disable=SC2086
            stop $kannel_pids
            kannel_pids= extra_pids=$jasmin_pid
        done
        if [ -n "$jasmin_pid" ]; then
            echo "== window $w, $loop loop: Jasmin" >&2
            load "jasmin-w$w-$loop" "$jasmin_pid" --mode send --target jasmin --url "$jasmin_url" \
                --kannel-user bench --kannel-password bench "${args[@]}"
        fi
    done
done
[ -z "${OUT_DIR:-}" ] || cp -r "$dir"/kannel-* "$dir"/jasmin "$out"/ 2> /dev/null || true

# ---- the table
kannel_version=$(dpkg-query -W -f '${Version}' kannel 2> /dev/null || echo "?")
first_kannel=kannel-${KANNEL_STORES%% *}
cols() { # cols LABEL FORMAT JQ-PATH|FUNCTION SUFFIX: one row, a column per engine, then the ratio
    local label=$1 f=$2 what=$3 suffix=$4 e v line ours= theirs=
    line=$(printf '%-36s' "$label")
    for e in $engines $others; do
        v=
        if [ -s "$out/$e-w$w-$suffix.json" ]; then
            if [ "${what:0:1}" = . ]; then v=$(get "$e-w$w-$suffix" "$what"); else v=$($what "$e-w$w-$suffix"); fi
        fi
        line+=$(awk -v v="$v" -v f="$f" 'BEGIN { printf "%14s", (v == "" ? "-" : sprintf(f, v)) }')
        [ "$e" = otpgate ] && ours=$v
        [ "$e" = "$first_kannel" ] && theirs=$v
    done
    line+=$(awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "%14s", (a != "" && b != "" && b + 0 != 0) ? sprintf("%.2f", a / b) : "-" }')
    echo "$line"
}
first5() { window_rate "$1" FIRST; }
last5() { window_rate "$1" LAST; }
echo
jasmin_version=
[ -z "$JASMIN_VENV" ] || jasmin_version=$("$JASMIN_VENV/bin/pip" show jasmin 2> /dev/null | sed -n 's/^Version: //p')
echo "otpgate vs Kannel $kannel_version${jasmin_version:+ and Jasmin $jasmin_version} — HTTP → gateway → SMPP (1 transceiver bind) → otpgate-smsc-sim"
echo "closed loop: $CONCURRENCY in flight, ${DURATION} s after ${WARMUP} s warmup;" \
    "open loop: $RATE/s for ${OPEN_DURATION} s; load average before: $load_before"
[ -z "${BASE_BIN_DIR:-}" ] || echo "base: $BASE_BIN_DIR/otpgate; otpgate: $bin/otpgate"
for w in $WINDOWS; do
    echo
    header=$(printf '%-36s' "window $w")
    for e in $engines $others; do header+=$(printf '%14s' "$e"); done
    echo "$header$(printf '%14s' "otp/${first_kannel#kannel-}")"
    cols "closed: HTTP answers/s" "%.0f" .units_per_s closed
    cols "closed: reached the SMSC/s" "%.0f" .smsc.submit_sm_per_s closed
    cols "closed: accepted/s, first 5 s" "%.0f" first5 closed
    cols "closed: accepted/s, last 5 s" "%.0f" last5 closed
    cols "closed: queue drained after (s)" "%.2f" .smsc.drain_seconds closed
    cols "closed: HTTP p50 (ms)" "%.2f" .latency_ms.message.p50 closed
    cols "closed: HTTP p99 (ms)" "%.2f" .latency_ms.message.p99 closed
    cols "closed: gateway CPU µs/message" "%.0f" cpu_us closed
    cols "open $RATE/s: HTTP p50 (ms)" "%.2f" .latency_ms.message.p50 open
    cols "open $RATE/s: HTTP p99 (ms)" "%.2f" .latency_ms.message.p99 open
    cols "open $RATE/s: HTTP p99.9 (ms)" "%.2f" .latency_ms.message.p99_9 open
    cols "open $RATE/s: reached the SMSC/s" "%.0f" .smsc.submit_sm_per_s open
    for e in $engines $others; do
        for loop in closed open; do failures "$e-w$w-$loop"; done
    done
done
echo
echo "ratios are otpgate / $first_kannel: above 1 is better for otpgate in the rates, below 1 in latency and CPU"
echo "kannel-memory: Kannel's queue in memory; kannel-file: its file store on; jasmin: CPU of jasmind only" \
    "(RabbitMQ and Redis not counted); Kannel and Jasmin answer once queued, otpgate after submit_sm_resp and a commit"
[ -z "${OUT_DIR:-}" ] || echo "JSON reports and Kannel logs: $OUT_DIR"
