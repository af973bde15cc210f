#!/usr/bin/env bash
# Regenerates the spoken prompts the voice channel plays: for each language, the intro phrase,
# the "I repeat" phrase and the ten digits, synthesised with espeak-ng and converted with sox to
# raw G.711 µ-law, 8 kHz mono (the `.ulaw` files next to this script, compiled into the gateway
# with include_bytes!). Leading and trailing silence is trimmed; the gateway adds its own pauses.
#
#   apt-get install espeak-ng sox     # Debian 12: espeak-ng 1.51, sox 14.4.2
#   bash gateways/sip/prompts/generate.sh
#
# Output is deterministic for the same espeak-ng and sox versions; SHA256SUMS records what was
# committed, so `sha256sum -c SHA256SUMS` (in this folder) tells whether a rerun changed anything.
# To add a language: add a line to PHRASES below, run this script, and add the language to
# `Language` in src/prompt.rs.
set -euo pipefail
cd "$(dirname "$0")"
for tool in espeak-ng sox; do
  command -v "$tool" >/dev/null || { echo "generate.sh: $tool not found (apt-get install espeak-ng sox)" >&2; exit 1; }
done

# Arabic is written with its short vowels (tashkeel): espeak-ng guesses badly without them.
# language | espeak-ng voice | words per minute | intro | "I repeat"
PHRASES=(
  "en|en-us|150|Your verification code is|I repeat"
  "es|es|150|Su código de verificación es|Repito"
  "ar|ar|140|رَمْزُ التَّحَقُّقِ الخاصُّ بِكَ هُوَ|أُكَرِّرُ"
)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# speak TEXT VOICE WPM OUT: espeak-ng at 22.05 kHz → trimmed, normalised, 8 kHz µ-law.
speak() {
  espeak-ng -v "$2" -s "$3" -w "$tmp/speech.wav" -- "$1"
  sox "$tmp/speech.wav" -r 8000 -c 1 -e u-law -b 8 -t raw "$4" \
    silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse gain -n -3
}

for entry in "${PHRASES[@]}"; do
  IFS='|' read -r lang voice wpm intro repeat <<<"$entry"
  mkdir -p "$lang"
  speak "$intro" "$voice" "$wpm" "$lang/intro.ulaw"
  speak "$repeat" "$voice" "$wpm" "$lang/repeat.ulaw"
  for digit in 0 1 2 3 4 5 6 7 8 9; do
    speak "$digit" "$voice" "$wpm" "$lang/$digit.ulaw"
  done
  echo "generate.sh: $lang: $(du -cb "$lang"/*.ulaw | tail -1 | cut -f1) bytes" >&2
done

sha256sum */*.ulaw >SHA256SUMS
echo "generate.sh: espeak-ng $(espeak-ng --version | awk '{print $4}'), $(sox --version | awk '{print $NF}'); SHA256SUMS written" >&2
