#!/usr/bin/env bash
# Creates .venv (Python 3.10) at the checkout root and installs the project
# with the exact, tested set of packages in requirements/constraints.txt.
# Idempotent: when nothing changed since the last install it returns at once.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv"
constraints="requirements/constraints.txt"
stamp="$venv/.resizer-tfx-installed"

find_python310() {
  local candidate
  for candidate in "${PYTHON310:-}" python3.10 \
      "$(pyenv root 2>/dev/null)"/versions/3.10*/bin/python3.10 \
      "$HOME"/.pyenv/versions/3.10*/bin/python3.10 \
      /usr/local/bin/python3.10 /usr/bin/python3.10; do
    [ -n "$candidate" ] || continue
    if "$candidate" -c 'import sys, venv; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1; then
      command -v "$candidate" 2>/dev/null || echo "$candidate"
      return 0
    fi
  done
  return 1
}

wanted="$(cat setup.py "$constraints" | sha256sum | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  echo "setup: .venv is up to date ($("$venv/bin/python" --version))"
  exit 0
fi

if ! python="$(find_python310)"; then
  cat >&2 <<'MSG'
setup: Python 3.10 was not found.
  TFX 1.16 (the newest TFX that installs on glibc < 2.39) has no wheels for
  Python 3.11+. Install Python 3.10 with its venv module, for example
    pyenv install 3.10.13          (then re-run this command), or
    apt-get install python3.10 python3.10-venv
  or point PYTHON310 at an interpreter: PYTHON310=/path/to/python3.10 make test
MSG
  exit 1
fi

start=$(date +%s)
if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating .venv with $python"
  "$python" -m venv "$venv"
fi
echo "setup: installing the pinned set from $constraints (about 2-4 minutes on a fresh machine)"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "pip==24.3.1" 2>&1 \
  | { grep -v -e "is ignored: it is neither a file nor a directory" || true; }
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -c "$constraints" -e ".[test]" 2>&1 | { grep -v -e "is ignored: it is neither a file nor a directory" || true; }
check='import tfx.v1, tensorflow, keras, tensorflow_datasets, tensorflow_serving, PIL'
if ! "$venv/bin/python" -W ignore -c "$check" >/dev/null 2>&1; then
  "$venv/bin/python" -c "$check" >&2 || true
  echo "setup: the installed environment does not import; see the errors above" >&2
  exit 1
fi
echo "$wanted" > "$stamp"
echo "setup: done in $(( $(date +%s) - start )) s ($("$venv/bin/python" --version))"
