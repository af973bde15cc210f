# Shared by the whole-path benchmarks (kannel.sh, volume.sh): process handling, the SMSC simulator,
# an otpgate engine with one SMPP carrier, one otpgate-load run, and reading its JSON report.
# Source it after `set -euo pipefail`; it sets $dir (a temporary directory removed on exit) and
# $out (where each run's JSON goes: $OUT_DIR, or under $dir). Scripts that start other processes
# add their pids to $extra_pids so the exit trap stops them.
# shellcheck shell=bash

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

require_binaries() { # require_binaries DIR NAME...: each DIR/NAME must be an executable
    local d=$1 b
    shift
    for b in "$@"; do
        [ -x "$d/$b" ] || { echo "error: $d/$b is missing" >&2; exit 1; }
    done
}

dir=$(mktemp -d)
out=${OUT_DIR:-$dir/results}
mkdir -p "$out"
otpgate_pid=
extra_pids=

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
    stop $otpgate_pid $extra_pids
    # shellcheck disable=SC2046
    stop $(jobs -p)
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { # a loopback TCP port nothing listens on
    local p lo
    # Below the kernel's ephemeral range: a port only an outgoing connection holds does not
    # answer the probe below, yet makes bind() fail (seen with Kannel's smsbox beside Jasmin).
    lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2> /dev/null || echo 32768)
    for _ in $(seq 100); do
        p=$((10000 + RANDOM % (lo > 12000 ? lo - 10000 : 2000)))
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

smsc_start() { # smsc_start BIN ACTION [SIM-ARGS...] -> $smpp, $control, $sim_pid
    # ACTION: accept (submit_sm_resp only) or deliver (submit_sm_resp, then a DELIVRD receipt).
    local sim_bin=$1 action=$2
    shift 2
    printf '[[rules]]\npattern = "*"\naction = "%s"\n' "$action" > "$dir/smsc-rules.toml"
    "$sim_bin" --listen 127.0.0.1:0 --rules "$dir/smsc-rules.toml" "$@" > "$dir/sim.out" 2> "$dir/sim.err" &
    sim_pid=$!
    wait_for "the SMSC simulator" $sim_pid grep -q control= "$dir/sim.out"
    smpp=$(sed -n 's/.*smpp=\([^ ]*\).*/\1/p' "$dir/sim.out")
    control=$(sed -n 's/.*control=//p' "$dir/sim.out")
}

otpgate_start() { # otpgate_start BIN WINDOW DB_DIR -> $otpgate_url, $otpgate_key, $otpgate_pid
    # One SMPP transceiver bind to the simulator at $smpp with window WINDOW and max_tps $MAX_TPS
    # (0 when unset: no limit); the store is DB_DIR/otpgate.db (a fresh directory: empty store),
    # or $STORE_URL when set (postgres://…). The engine runs in a directory of its own, where it
    # keeps its code secret (data/secret.key beside a PostgreSQL store). With $API_KEY set, the
    # application "default" is configured with that key (several nodes on one store need it:
    # only the first start of a store generates and prints one).
    local engine=$1 w=$2 db=$3 d apps=
    [ -z "${API_KEY:-}" ] || apps=$(printf '[[applications]]\nname = "default"\napi_key = "%s"' "$API_KEY")
    engine=$(realpath "$engine")
    d=$(mktemp -d -p "$dir")
    cat > "$d/otpgate.toml" << EOF2
[server]
listen = "127.0.0.1:0"
[store]
url = "${STORE_URL:-sqlite://$db/otpgate.db}"
# A send-only load to few prefixes with nobody entering codes is what pumping looks like.
[risk.pumping]
min_sends = 0
# One load generator on one address and one key: the request limits would cap the measurement.
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
window = $w
max_tps = ${MAX_TPS:-0}
$apps
EOF2
    # A binary from before the request limits (issue 18) refuses the [limits] table it does not
    # know (strict config): the previous binary of a comparison may be one.
    # (Its output is read whole first: with pipefail, `grep -q` closing the pipe early would fail
    # the check.)
    local checked
    checked=$("$engine" check-config --config "$d/otpgate.toml" 2>&1 || true)
    if grep -q 'unknown field `limits`' <<< "$checked"; then
        sed -i '/^\[limits\]$/,/^requests_per_minute_per_key/d' "$d/otpgate.toml"
    fi
    (cd "$d" && exec "$engine" serve --config "$d/otpgate.toml" > "$d/stdout" 2> "$d/stderr") &
    otpgate_pid=$!
    wait_for otpgate $otpgate_pid grep -q '^otpgate listening on ' "$d/stdout" || { cat "$d/stderr" >&2; exit 1; }
    otpgate_url=$(sed -n 's/^otpgate listening on //p' "$d/stdout")
    otpgate_key=${API_KEY:-$(sed -n 's/.*stored hashed): //p' "$d/stdout")}
    if [ -z "$otpgate_key" ]; then
        # A prefilled store already holds the generated key (printed only on first start): add one.
        echo "error: the store in $db has an API key this run cannot read; start from an empty one" >&2
        exit 1
    fi
    # Ready = the bind is up, so the first sends do not answer 502.
    wait_for "otpgate's SMPP bind" $otpgate_pid curl -sf "$otpgate_url/readyz" || { cat "$d/stderr" >&2; exit 1; }
}

otpgate_stop() {
    stop "$otpgate_pid"
    otpgate_pid=
}

load() { # load NAME PIDS LOAD-ARGS...: one run, JSON to $out/NAME.json, CPU ticks to NAME.cpu
    local name=$1 pids=$2 before status=0
    shift 2
    # shellcheck disable=SC2086 # one word per pid
    before=$(cpu_ticks $pids)
    "$load_bin" --smsc-control "$control" --drain-timeout "${DRAIN_TIMEOUT:-60}" \
        --warmup "$WARMUP" --json "$@" > "$out/$name.json" 2> "$out/$name.err" || status=$?
    # shellcheck disable=SC2086
    echo $(($(cpu_ticks $pids) - before)) > "$out/$name.cpu"
    if [ $status -ne 0 ]; then
        echo "warning: $name: otpgate-load exited $status (failures are in the table)" >&2
        tail -n 3 "$out/$name.err" >&2
    fi
    [ -s "$out/$name.json" ] || { echo "error: $name produced no report" >&2; exit 1; }
}

get() { jq -r "$2 // empty" "$out/$1.json"; }

cpu_us() { # CPU µs of the gateway per message that reached the SMSC during the run
    local n
    n=$(get "$1" .smsc.submit_sm_total)
    awk -v t="$(cat "$out/$1.cpu")" -v hz="$hz" -v n="${n:-0}" 'BEGIN { if (n > 0) printf "%.0f", t * 1e6 / hz / n }'
}

window_rate() { # window_rate RUN FIRST|LAST: mean successes/s over the first or last 5 whole measured seconds
    jq -r --arg which "$2" --argjson w "$WARMUP" '
        (.ok_per_second[($w | ceil):]) as $measured
        | ($measured[:(($measured | length) - 1)]) as $whole   # the last second may be partial
        | (if $which == "FIRST" then $whole[:5] else $whole[-5:] end) as $s
        | if ($s | length) == 0 then empty else ($s | add) / ($s | length) end' "$out/$1.json"
}

failures() { # failures RUN: prints failure counts by detail when the run had any
    local f d
    f=$(get "$1" '.failed + .warmup.failed + .abandoned')
    d=$(get "$1" 'if .smsc and (.smsc.drained | not) then "not all accepted messages reached the SMSC" else "" end')
    [ "${f:-0}" = 0 ] && [ -z "$d" ] || echo "  $1: $f failed ${d:+; $d}"
    if [ "${f:-0}" != 0 ]; then
        jq -r '.failures.by_detail | to_entries[] | "    \(.value.count)  \(.key)"' "$out/$1.json"
        jq -r '.warmup.failures | to_entries[] | "    \(.value.count)  \(.key) (warmup)"' "$out/$1.json"
    fi
}

load_average_note() { # prints the load average; warns when the machine is busy
    load_before=$(cut -d' ' -f1-3 /proc/loadavg)
    echo "load average: $load_before on $(nproc) cores" >&2
    awk '$1 > 1.5 { exit 1 }' /proc/loadavg ||
        echo "warning: the machine is busy (load average above 1.5): figures will be noisy" >&2
}

# The comparison tables of postgres.sh and volume.sh: per round, one column per configuration
# in $columns (run names are CONFIG-RUN-ROUND) and one per "A/B" ratio in $ratios.
# Set columns=(…) and ratios=(…) before calling; labels are padded to $label_width.
table_header() {
    local r c line
    line=$(printf "%-${label_width:-34}s" "")
    for r in $(seq "$ROUNDS"); do
        for c in "${columns[@]}"; do line+=$(printf '%11s' "$c $r"); done
        for c in "${ratios[@]}"; do line+=$(printf '%12s' "$c"); done
    done
    echo "$line"
}
row() { # row LABEL FORMAT RUN JQ-PATH|FUNCTION
    local label=$1 f=$2 run=$3 what=$4 line r c v ratio
    line=$(printf "%-${label_width:-34}s" "$label")
    for r in $(seq "$ROUNDS"); do
        local -A value=()
        for c in "${columns[@]}"; do
            if [ "${what:0:1}" = . ]; then v=$(get "$c-$run-$r" "$what"); else v=$($what "$c-$run-$r"); fi
            value[$c]=$v
            line+=$(awk -v v="$v" -v f="$f" 'BEGIN { printf "%11s", (v == "" ? "-" : sprintf(f, v)) }')
        done
        for ratio in "${ratios[@]}"; do
            line+=$(awk -v a="${value[${ratio%/*}]:-}" -v b="${value[${ratio#*/}]:-}" \
                'BEGIN { printf "%12s", (a != "" && b != "" && b + 0 != 0) ? sprintf("%.2f", a / b) : "-" }')
        done
    done
    echo "$line"
}
