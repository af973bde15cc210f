#!/usr/bin/env bash
# The dashboard screenshot of the README (docker/dashboard.png), made without Grafana: the engine,
# two SMSC simulators and Prometheus (Debian's, scraping every second with docker/'s alert rules)
# on loopback, a load run (benches/load's otpgate-load), then docker/plot_dashboard.py.
#
#   bash docker/render-dashboard.sh                 # DURATION=120 RATE=15, debug binaries
#   BIN=target/release DURATION=300 bash docker/render-dashboard.sh
#
# smsc-a (the cheaper carrier) delivers after 0.2 s, after 1.5 s to +1212…, undelivers +1415…
# and never receipts +1713… (fallback after 2 s); smsc-b delivers. +1808555… is a high-risk prefix.
# Needs: cargo build --workspace --bins, prometheus, python3 with matplotlib (pip install matplotlib).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/debug}
DURATION=${DURATION:-120}
RATE=${RATE:-15}
dir=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done; }
trap cleanup EXIT
. benches/common.sh

sim() { # sim NAME RULES -> $NAME_smpp, $NAME_control
    local name=$1
    printf '%s' "$2" > "$dir/$name.toml"
    "$BIN/otpgate-smsc-sim" --listen 127.0.0.1:0 --control 127.0.0.1:0 --rules "$dir/$name.toml" > "$dir/$name.out" 2> "$dir/$name.err" &
    pids+=($!)
    wait_for "$name" $! grep -q control= "$dir/$name.out"
    printf -v "${name}_smpp" '%s' "$(sed -n 's/.*smpp=\([^ ]*\).*/\1/p' "$dir/$name.out")"
    printf -v "${name}_control" '%s' "$(sed -n 's/.*control=//p' "$dir/$name.out")"
}
sim a $'[[rules]]\npattern = "1415"\naction = "undeliver"\n[[rules]]\npattern = "1713"\naction = "accept"\n[[rules]]\npattern = "1212"\naction = "deliver"\ndelay_ms = 1500\n[[rules]]\npattern = "*"\naction = "deliver"\ndelay_ms = 200\n'
sim b $'[[rules]]\npattern = "*"\naction = "deliver"\ndelay_ms = 300\n'

cat > "$dir/otpgate.toml" << EOF2
[server]
listen = "127.0.0.1:0"
[store]
url = "sqlite://$dir/data/otpgate.db"
[verification]
fallback_after_seconds = 2
[risk]
high_risk_prefixes = ["+1808555"]
[[carriers]]
name = "smsc-a"
protocol = "smpp"
address = "$a_smpp"
system_id = "otpgate"
password = "secret"
fee_usd = { default = 0.001 }
[[carriers]]
name = "smsc-b"
protocol = "smpp"
address = "$b_smpp"
system_id = "otpgate"
password = "secret"
fee_usd = { default = 0.002 }
EOF2
"$BIN/otpgate" serve --config "$dir/otpgate.toml" > "$dir/otpgate.out" 2> "$dir/otpgate.err" &
pids+=($!)
wait_for otpgate $! grep -q '^otpgate listening on ' "$dir/otpgate.out"
url=$(sed -n 's/^otpgate listening on //p' "$dir/otpgate.out")
key=$(sed -n 's/.*stored hashed): //p' "$dir/otpgate.out")

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$dir/prometheus.yml" << EOF2
global: { scrape_interval: 1s, evaluation_interval: 1s }
rule_files: ["$PWD/docker/prometheus/alerts.yml"]
scrape_configs:
  - job_name: otpgate
    static_configs: [{ targets: ["${url#http://}"] }]
EOF2
prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/tsdb" --web.listen-address="127.0.0.1:$port" > /dev/null 2> "$dir/prometheus.err" &
pids+=($!)
wait_for prometheus $! curl -sf "http://127.0.0.1:$port/-/ready"

# A few high-risk sends beside the load, so the refusals panel has a line.
( for i in $(seq 10 40); do
    curl -s -o /dev/null -H "x-api-key: $key" -H 'content-type: application/json' \
      -d "{\"phone_number\": \"+180855526$i\"}" "$url/v3/phone/send/"
    sleep 3
  done ) &
pids+=($!)
"$BIN/otpgate-load" --url "$url" --api-key "$key" --smsc-control "$a_control" --rate "$RATE" --concurrency 64 --duration "$DURATION" --warmup 0
sleep 5
python3 docker/plot_dashboard.py --prometheus "http://127.0.0.1:$port" --minutes "$(( DURATION / 60 + 1 ))" --out docker/dashboard.png
