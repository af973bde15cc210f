#!/usr/bin/env bash
# Regenerates config/intel/carriers.tsv: libphonenumber's mobile carrier names per number prefix
# (English names), exported from the PyPI `phonenumbers` package (a faithful port of
# libphonenumber that ships its carrier mapping). The engine compiles this file in as its default
# carrier data; `[intel] carriers_file` points at a newer export without a rebuild.
#
#   bash config/intel/generate-carriers.sh [VERSION]      # needs python3 with venv and PyPI access
#
# Format: lines `<E.164 prefix digits>\t<carrier name>`, sorted; `#` lines are comments.
set -euo pipefail
cd "$(dirname "$0")"
version=${1:-9.0.43}
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet "phonenumbers==$version"
"$venv/bin/python" - "$version" > carriers.tsv <<'PY'
import sys
from phonenumbers.carrierdata import CARRIER_DATA
print(f"# libphonenumber carrier mapping (en), from PyPI phonenumbers {sys.argv[1]}; "
      "regenerate with config/intel/generate-carriers.sh")
for prefix in sorted(CARRIER_DATA):
    name = CARRIER_DATA[prefix].get("en")
    if name and "\t" not in name and "\n" not in name:
        print(f"{prefix}\t{name}")
PY
echo "generate-carriers.sh: $(grep -vc '^#' carriers.tsv) prefixes written to config/intel/carriers.tsv" >&2
