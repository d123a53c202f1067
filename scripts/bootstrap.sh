#!/usr/bin/env bash
# Creates .venv (Python 3.11+), installs the pinned requirements when they change and compiles
# the message catalogues (directory/translations) when a .po is newer than its .mo.
# Usage: source scripts/bootstrap.sh [requirements-file]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
requirements="${1:-requirements.txt}"
python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: Python 3.11 or newer is needed ($python is $("$python" --version 2>&1 || echo missing)). Set PYTHON=/path/to/python3.11." >&2
  exit 1
fi
if [ ! -x "$root/.venv/bin/python" ]; then
  echo "Creating the virtual environment in .venv ..."
  "$python" -m venv "$root/.venv"
fi
stamp="$root/.venv/.installed-$(basename "$requirements")"
digest="$(cat "$root/requirements.txt" "$root/$requirements" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
  echo "Installing $requirements into .venv ..."
  "$root/.venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$root/.venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$root/$requirements"
  echo "$digest" > "$stamp"
fi
for po in "$root"/directory/translations/*/LC_MESSAGES/messages.po; do
  if [ ! -f "${po%.po}.mo" ] || [ "$po" -nt "${po%.po}.mo" ]; then
    "$root/.venv/bin/python" -m babel.messages.frontend compile --statistics -i "$po" -o "${po%.po}.mo"
  fi
done
export PATH="$root/.venv/bin:$PATH"
