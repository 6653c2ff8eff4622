#!/usr/bin/env bash
# Generates the typed Python client of the till API from openapi/till-api.json with
# openapi-python-client (a kept generator from PyPI, pinned here), into clients/python/build/.
# The generated code is not committed: the OpenAPI document is the source of truth, and CI
# generates the client from it on every run (clients/python/check-daemon.sh), so the two cannot
# drift. The generator and the client's runtime packages live in clients/python/.venv (ignored).
# Usage: clients/python/generate.sh        then: pip install clients/python/build/ngbridge-till-client
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
generator="openapi-python-client==0.29.1"
venv="$here/.venv"
if [ ! -x "$venv/bin/openapi-python-client" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$generator"
fi
mkdir -p "$here/build"
"$venv/bin/openapi-python-client" generate --path "$root/openapi/till-api.json" --config "$here/config.yaml" \
    --output-path "$here/build/ngbridge-till-client" --overwrite --meta setup
echo "generated: $here/build/ngbridge-till-client (package ngbridge_till_client)"
