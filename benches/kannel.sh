#!/usr/bin/env bash
# Whole-path side by side: HTTP request → SMS gateway → SMPP → SMSC simulator, for otpgate and for
# Kannel (Debian's package), in one invocation, against one simulator.
#
#   bash benches/kannel.sh                                  # ~2 min after the build
#   DURATION=20 RATE=2000 WINDOWS="10" bash benches/kannel.sh
#   BIN_DIR=/tmp/target/release bash benches/kannel.sh      # prebuilt binaries, no cargo build
#   OUT_DIR=/tmp/whole-path bash benches/kannel.sh          # keep every run's JSON and the logs
#
# For each window W (otpgate: one transceiver bind, window = W, max_tps = MAX_TPS; Kannel: one
# transceiver, max-pending-submits = W, throughput = MAX_TPS; MAX_TPS=0, the default, is no
# limit), both gateways are driven by otpgate-load --mode send with the same fresh US numbers and
# the same 40-character text:
#  (a) closed loop, CONCURRENCY in flight for DURATION s: HTTP answers/s; submit_sm/s that reached
#      the SMSC over the same window (the simulator's counter read at the end of the warmup and at
#      the last answer; Kannel answers 202 once it has queued a message, so this is the honest
#      figure); how long submit_sm kept arriving after the last answer (the queue draining); HTTP
#      p50/p99; the gateway processes' CPU time per message that reached the SMSC;
#  (b) open loop at RATE/s for OPEN_DURATION s: HTTP p50/p99/p99.9, timed from each request's
#      scheduled start.
# otpgate answers 200 "Success" only after the SMSC's submit_sm_resp and after committing the send
# to SQLite; each otpgate run starts on a fresh database. Kannel keeps its queue in memory
# (KANNEL_STORE=file or spool turns its message store on) and logs at warning level (otpgate logs
# nothing per message either). The simulator answers every submit_sm and sends no receipts, so
# neither gateway pays for them. The simulator, both gateways and the load generator share this
# machine's cores: run it on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
OPEN_DURATION=${OPEN_DURATION:-10}
WARMUP=${WARMUP:-1}
RATE=${RATE:-1000}
CONCURRENCY=${CONCURRENCY:-64}
WINDOWS=${WINDOWS:-10 64}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-60}
KANNEL_LOG_LEVEL=${KANNEL_LOG_LEVEL:-2}
MAX_TPS=${MAX_TPS:-0} # the carrier's contracted rate: otpgate max_tps, Kannel throughput; 0 = none
KANNEL_STORE=${KANNEL_STORE:-} # empty: queue in memory only; "file" or "spool": Kannel's message store

install_debian_package() { # install_debian_package COMMAND PACKAGE
    command -v "$1" > /dev/null && return
    echo "$1 not found: installing the Debian package $2" >&2
    local sudo=
    [ "$(id -u)" = 0 ] || sudo=sudo
    if ! { $sudo apt-get install -y --no-install-recommends "$2" ||
        { $sudo apt-get update && $sudo apt-get install -y --no-install-recommends "$2"; }; } >&2; then
        echo "error: could not install $2 with apt-get (needs root or sudo and a Debian/Ubuntu" \
            "package source); install it by hand and run again" >&2
        exit 1
    fi
}
install_debian_package bearerbox kannel
install_debian_package jq jq

if [ -n "${BIN_DIR:-}" ]; then
    bin=$BIN_DIR
else
    cargo build --release --locked -p otpgate -p otpgate-smsc-sim -p otpgate-load >&2
    bin=${CARGO_TARGET_DIR:-target}/release
fi
for b in otpgate otpgate-smsc-sim otpgate-load; do
    [ -x "$bin/$b" ] || { echo "error: $bin/$b is missing" >&2; exit 1; }
done

dir=$(mktemp -d)
out=${OUT_DIR:-$dir/results}
mkdir -p "$out"
stop() { # stop PID...: SIGTERM, then SIGKILL whatever is left after 10 s
    local pid
    for pid in "$@"; do kill -TERM "$pid" 2> /dev/null || true; done
    for pid in "$@"; do
        for _ in $(seq 100); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2> /dev/null || true
        wait "$pid" 2> /dev/null || true
    done
}
cleanup() {
    # The gateways first: otpgate does not exit on SIGTERM while its SMSC is gone.
    # shellcheck disable=SC2086 # one word per pid
    stop ${otpgate_pid:-} ${kannel_pids:-}
    # shellcheck disable=SC2046
    stop $(jobs -p)
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { # a loopback TCP port nothing listens on
    local p
    for _ in $(seq 100); do
        p=$((20000 + RANDOM % 40000))
        (exec 3<> "/dev/tcp/127.0.0.1/$p") 2> /dev/null || { echo "$p"; return; }
    done
    echo "error: no free port found" >&2
    exit 1
}
wait_for() { # wait_for WHAT PID COMMAND...: retry COMMAND for 15 s while PID lives
    local what=$1 pid=$2
    shift 2
    for _ in $(seq 150); do
        "$@" > /dev/null 2>&1 && return
        kill -0 "$pid" 2> /dev/null || { echo "error: $what exited" >&2; return 1; }
        sleep 0.1
    done
    echo "error: $what not ready after 15 s" >&2
    return 1
}
cpu_ticks() { # cpu_ticks PID...: user + system clock ticks, summed
    local sum=0 pid t
    for pid in "$@"; do
        # Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
        t=$(sed 's/.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')
        sum=$((sum + t))
    done
    echo "$sum"
}
hz=$(getconf CLK_TCK)

printf '[[rules]]\npattern = "*"\naction = "accept"\n' > "$dir/accept.toml"
"$bin/otpgate-smsc-sim" --listen 127.0.0.1:0 --no-record --rules "$dir/accept.toml" \
    > "$dir/sim.out" 2> "$dir/sim.err" &
sim_pid=$!
wait_for "the SMSC simulator" $sim_pid grep -q control= "$dir/sim.out"
smpp=$(sed -n 's/.*smpp=\([^ ]*\).*/\1/p' "$dir/sim.out")
control=$(sed -n 's/.*control=//p' "$dir/sim.out")

kannel_start() { # kannel_start WINDOW -> $kannel_url, $kannel_pids
    local w=$1 admin box http k=$dir/kannel-w$1
    admin=$(free_port) box=$(free_port) http=$(free_port)
    while [ "$box" = "$admin" ]; do box=$(free_port); done
    while [ "$http" = "$admin" ] || [ "$http" = "$box" ]; do http=$(free_port); done
    mkdir -p "$k"
    # Optional lines go last in their group: an empty line would end the group early.
    local store='' throughput=''
    [ "$MAX_TPS" = 0 ] || throughput="throughput = $MAX_TPS"
    case $KANNEL_STORE in
        "") ;;
        file) store="store-type = file"$'\n'"store-location = \"$k/messages.store\"" ;;
        spool) mkdir -p "$k/spool" && store="store-type = spool"$'\n'"store-location = \"$k/spool\"" ;;
        *) echo "error: KANNEL_STORE must be empty, file or spool" >&2 && exit 1 ;;
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
    wait_for "Kannel's smsbox" "$sb" kannel_ready smsbox || { tail -n 20 "$k"/* >&2; exit 1; }
    # smsbox answers 4xx to a sendsms without arguments once it listens.
    wait_for "Kannel's smsbox" "$sb" curl -s -o /dev/null "$kannel_url/cgi-bin/sendsms" ||
        { tail -n 20 "$k"/* >&2; exit 1; }
}

otpgate_start() { # otpgate_start WINDOW -> $otpgate_url, $otpgate_key, $otpgate_pid; fresh database
    local w=$1 d
    d=$(mktemp -d -p "$dir")
    cat > "$d/otpgate.toml" << EOF
[server]
listen = "127.0.0.1:0"
[store]
url = "sqlite://$d/data/otpgate.db"
# A send-only load to few prefixes with nobody entering codes is what pumping looks like.
[risk.pumping]
min_sends = 0
[[carriers]]
name = "smsc-a"
protocol = "smpp"
address = "$smpp"
system_id = "otpgate"
password = "secret"
binds = 1
window = $w
max_tps = $MAX_TPS
EOF
    "$bin/otpgate" serve --config "$d/otpgate.toml" > "$d/stdout" 2> "$d/stderr" &
    otpgate_pid=$!
    wait_for otpgate $otpgate_pid grep -q '^otpgate listening on ' "$d/stdout" || { cat "$d/stderr" >&2; exit 1; }
    otpgate_url=$(sed -n 's/^otpgate listening on //p' "$d/stdout")
    otpgate_key=$(sed -n 's/.*stored hashed): //p' "$d/stdout")
    # Ready = the bind is up, so the first sends do not answer 502.
    wait_for "otpgate's SMPP bind" $otpgate_pid curl -sf "$otpgate_url/readyz" || { cat "$d/stderr" >&2; exit 1; }
}

load() { # load NAME PIDS LOAD-ARGS...: one run, JSON to $out/NAME.json, CPU ticks to NAME.cpu
    local name=$1 pids=$2 before status=0
    shift 2
    # shellcheck disable=SC2086 # one word per pid
    before=$(cpu_ticks $pids)
    "$bin/otpgate-load" --mode send --smsc-control "$control" --drain-timeout "$DRAIN_TIMEOUT" \
        --warmup "$WARMUP" --json "$@" > "$out/$name.json" 2> "$out/$name.err" || status=$?
    # shellcheck disable=SC2086
    echo $(($(cpu_ticks $pids) - before)) > "$out/$name.cpu"
    if [ $status -ne 0 ]; then
        echo "warning: $name: otpgate-load exited $status (failures are in the table)" >&2
        tail -n 3 "$out/$name.err" >&2
    fi
    [ -s "$out/$name.json" ] || { echo "error: $name produced no report" >&2; exit 1; }
}

closed=(--rate 0 --concurrency "$CONCURRENCY" --duration "$DURATION")
open=(--rate "$RATE" --concurrency 256 --duration "$OPEN_DURATION")
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load average: $load_before on $(nproc) cores" >&2
awk '$1 > 1.5 { exit 1 }' /proc/loadavg || echo "warning: the machine is busy (load average above 1.5): figures will be noisy" >&2
for w in $WINDOWS; do
    kannel_start "$w"
    for loop in closed open; do
        if [ $loop = closed ]; then args=("${closed[@]}"); else args=("${open[@]}"); fi
        echo "== window $w, $loop loop: otpgate" >&2
        otpgate_start "$w"
        load "otpgate-w$w-$loop" "$otpgate_pid" --url "$otpgate_url" --api-key "$otpgate_key" "${args[@]}"
        stop "$otpgate_pid"
        otpgate_pid=
        echo "== window $w, $loop loop: Kannel" >&2
        load "kannel-w$w-$loop" "$kannel_pids" --target kannel --url "$kannel_url" \
            --kannel-password secret "${args[@]}"
    done
    # shellcheck disable=SC2086
    stop $kannel_pids
    kannel_pids=
done
[ -z "${OUT_DIR:-}" ] || cp -r "$dir"/kannel-w* "$out"/ 2> /dev/null || true

# ---- the table
get() { jq -r "$2 // empty" "$out/$1.json"; }
cpu_us() { # CPU µs of the gateway per message that reached the SMSC during the run
    local n
    n=$(get "$1" .smsc.submit_sm_total)
    awk -v t="$(cat "$out/$1.cpu")" -v hz="$hz" -v n="${n:-0}" 'BEGIN { if (n > 0) printf "%.0f", t * 1e6 / hz / n }'
}
row() { # row LABEL OTPGATE KANNEL FORMAT
    awk -v l="$1" -v a="$2" -v b="$3" -v f="$4" 'BEGIN {
        r = (a != "" && b != "" && b + 0 != 0) ? sprintf("%.2f", a / b) : "-"
        printf "%-34s %12s %12s %10s\n", l, (a == "" ? "-" : sprintf(f, a)), (b == "" ? "-" : sprintf(f, b)), r
    }'
}
kannel_version=$(dpkg-query -W -f '${Version}' kannel 2> /dev/null || echo "?")
echo
echo "otpgate vs Kannel $kannel_version — HTTP → gateway → SMPP (1 transceiver bind) → otpgate-smsc-sim"
echo "closed loop: $CONCURRENCY in flight, ${DURATION} s after ${WARMUP} s warmup;" \
    "open loop: $RATE/s for ${OPEN_DURATION} s; load average before: $load_before"
for w in $WINDOWS; do
    o=otpgate-w$w k=kannel-w$w
    echo
    printf '%-34s %12s %12s %10s\n' "window $w" otpgate Kannel "otp/Kannel"
    row "closed: HTTP answers/s" "$(get "$o-closed" .units_per_s)" "$(get "$k-closed" .units_per_s)" "%.0f"
    row "closed: reached the SMSC/s" "$(get "$o-closed" .smsc.submit_sm_per_s)" \
        "$(get "$k-closed" .smsc.submit_sm_per_s)" "%.0f"
    row "closed: queue drained after (s)" "$(get "$o-closed" .smsc.drain_seconds)" \
        "$(get "$k-closed" .smsc.drain_seconds)" "%.2f"
    row "closed: HTTP p50 (ms)" "$(get "$o-closed" .latency_ms.message.p50)" \
        "$(get "$k-closed" .latency_ms.message.p50)" "%.2f"
    row "closed: HTTP p99 (ms)" "$(get "$o-closed" .latency_ms.message.p99)" \
        "$(get "$k-closed" .latency_ms.message.p99)" "%.2f"
    row "closed: gateway CPU µs/message" "$(cpu_us "$o-closed")" "$(cpu_us "$k-closed")" "%.0f"
    row "open $RATE/s: HTTP p50 (ms)" "$(get "$o-open" .latency_ms.message.p50)" \
        "$(get "$k-open" .latency_ms.message.p50)" "%.2f"
    row "open $RATE/s: HTTP p99 (ms)" "$(get "$o-open" .latency_ms.message.p99)" \
        "$(get "$k-open" .latency_ms.message.p99)" "%.2f"
    row "open $RATE/s: HTTP p99.9 (ms)" "$(get "$o-open" .latency_ms.message.p99_9)" \
        "$(get "$k-open" .latency_ms.message.p99_9)" "%.2f"
    row "open $RATE/s: reached the SMSC/s" "$(get "$o-open" .smsc.submit_sm_per_s)" \
        "$(get "$k-open" .smsc.submit_sm_per_s)" "%.0f"
    for run in "$o-closed" "$k-closed" "$o-open" "$k-open"; do
        f=$(get "$run" '.failed + .warmup.failed + .abandoned')
        d=$(get "$run" 'if .smsc.drained then "" else "not all accepted messages reached the SMSC" end')
        [ "${f:-0}" = 0 ] && [ -z "$d" ] || echo "  $run: $f failed ${d:+; $d}"
        if [ "${f:-0}" != 0 ]; then
            jq -r '.failures.by_detail | to_entries[] | "    \(.value.count)  \(.key)"' "$out/$run.json"
        fi
    done
done
echo
echo "ratios are otpgate / Kannel: above 1 is better for otpgate in the rates, below 1 in latency and CPU"
[ -z "${OUT_DIR:-}" ] || echo "JSON reports and Kannel logs: $OUT_DIR"
