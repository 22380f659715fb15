#!/usr/bin/env bash
# Runs the django-hordak peer benchmark (hordak_bench.py) in its own virtual environment,
# creating it the first time (or when requirements-hordak.txt changed) from PyPI.
#   bench/peers/run_hordak.sh --help
#   bench/peers/run_hordak.sh --json bench/out/hordak.json
# PYTHON picks the interpreter for the venv (python3); PEERS_VENV its folder.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${PEERS_VENV:-$here/../out/peers-venv}"
req="$here/requirements-hordak.txt"
stamp="$venv/.installed-requirements-hordak.txt"

if [ ! -x "$venv/bin/python" ]; then
    echo "creating the peers venv in $venv" >&2
    mkdir -p "$(dirname "$venv")"
    "${PYTHON:-python3}" -m venv "$venv"
fi
if ! cmp -s "$req" "$stamp"; then
    echo "installing $req into $venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
    cp "$req" "$stamp"
fi
exec "$venv/bin/python" "$here/hordak_bench.py" "$@"
