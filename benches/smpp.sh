#!/usr/bin/env bash
# SMPP delivery-path benchmark: submit_sm/s through otpgate's SMPP gateway against the SMSC
# simulator, for 1 and 4 binds at window 10 and 64, with the smpp34 crate's client run against
# the same SMSC in the same invocation for comparison.
#
#   bash benches/smpp.sh                  # ~1 min after the build
#   COUNT=2000000 bash benches/smpp.sh    # longer runs
#
# Pass 1 (comparison): the SMSC answers every submit_sm and sends no receipt, for both clients
# (the smpp34 client stalls when receipts arrive while its window is full).
# Pass 2 (production shape): otpgate only, every message gets a DELIVRD receipt that the
# gateway parses, matches and reports.
# The simulator, the gateway and the peer share this machine's cores.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-1000000}

cargo build --release --locked -p otpgate-smsc-sim -p otpgate-smpp-load --features otpgate-smpp-load/peer-smpp34 >&2
bin=target/release
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT

smsc() { # smsc RULES-FILE-OR-EMPTY -> sets $smpp $control
    local args=(--listen 127.0.0.1:0 --no-record)
    [ -n "$1" ] && args+=(--rules "$1")
    "$bin/otpgate-smsc-sim" "${args[@]}" > "$dir/sim.out" 2> "$dir/sim.err" &
    for _ in $(seq 100); do [ -s "$dir/sim.out" ] && break; sleep 0.05; done
    smpp=$(sed -n 's/.*smpp=\([^ ]*\).*/\1/p' "$dir/sim.out")
    control=$(sed -n 's/.*control=//p' "$dir/sim.out")
}

printf '[[rules]]\npattern = "*"\naction = "accept"\n' > "$dir/accept.toml"
echo "== pass 1: no receipts, otpgate vs smpp34 ($COUNT messages per run)"
smsc "$dir/accept.toml"
"$bin/otpgate-smpp-load" --smsc "$smpp" --control "$control" --count "$COUNT" "$@"
kill %1; wait %1 2>/dev/null || true

echo "== pass 2: DELIVRD receipt for every message, otpgate"
smsc ""
"$bin/otpgate-smpp-load" --smsc "$smpp" --control "$control" --count "$COUNT" --no-peer "$@"
