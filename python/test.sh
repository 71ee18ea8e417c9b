#!/usr/bin/env bash
# The Python package's tests, as CI runs them (the README's test command ends
# with this script): makes a virtual environment, builds the abi3 wheel with
# maturin (release), installs it, and runs pytest against the installed wheel
# and the real servers (the capture server; Etsy statsd from node_modules).
# Fails if the build or any test fails, or if no test is collected.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
cd "$here"

# The first CPython 3.9+ with venv and pip: $PYTHON, python3, then pyenv's 3.11 or 3.10.
pick_python() {
  local candidate
  for candidate in "${PYTHON:-}" python3 "$HOME"/.pyenv/versions/3.11*/bin/python3 "$HOME"/.pyenv/versions/3.10*/bin/python3; do
    [ -n "$candidate" ] || continue
    command -v "$candidate" >/dev/null 2>&1 || continue
    if "$candidate" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 9))' >/dev/null 2>&1; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}
python="$(pick_python)" || { echo "python/test.sh: no CPython 3.9+ with venv and pip found" >&2; exit 1; }

venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
echo "--- python: $("$venv/bin/python" --version) in $venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade \
  "maturin>=1.7,<2" pytest "tornado>=6" "sprockets-statsd==1.0.0" "sprockets.http"

# The Etsy statsd server the tests start (the README's command installs it first).
if [ ! -f "$repo/node_modules/statsd/stats.js" ]; then
  (cd "$repo" && npm ci --ignore-scripts)
fi

echo "--- building the wheel"
rm -rf "$here/dist"
"$venv/bin/maturin" build --release --quiet --interpreter "$venv/bin/python" --out "$here/dist"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$here"/dist/statsd_connector-*.whl
# The tests must import the installed wheel, not this source tree.
(cd / && "$venv/bin/python" -c 'import statsd_connector, sys; f = statsd_connector.__file__; print("--- testing", f); sys.exit("site-packages" not in f)')

echo "--- pytest"
# pytest exits 5 when it collects nothing: that fails this script too.
cd "$here/tests"
"$venv/bin/pytest" -p no:cacheprovider -q .
