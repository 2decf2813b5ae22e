#!/usr/bin/env bash
# Builds target/oslo-venv: a Python virtualenv with the oslo.messaging the
# interop tests (tests/tests/oslo_interop.rs) run against. Does nothing when
# it is there already.
set -euo pipefail
export PYTHONWARNINGS=ignore
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/target/oslo-venv"
if "$venv/bin/python" -c "import oslo_messaging" 2>/dev/null; then
    exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/tests/oslo/requirements.txt"
"$venv/bin/python" -c "import oslo_messaging" 
