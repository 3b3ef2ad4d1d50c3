#!/usr/bin/env bash
# Installs the official OpenAI SDKs the client end-to-end tests use, at pinned versions:
#   Python: openai + pytest from e2e/clients/python/requirements.txt (every dependency pinned) with
#           `pip install --target` into <repo>/.cache/e2e-clients/python
#   Node:   openai from e2e/clients/node/package-lock.json with `npm ci` into e2e/clients/node/node_modules
#
# Usage: install.sh [python|node|all]   (default all)
#   Idempotent: a stamp naming what was installed (a hash of requirements.txt and the interpreter's
#   version, whose compiled wheels differ; the openai version of package-lock.json) marks a complete
#   install, so a second run does nothing. Python installs are atomic (install beside, then rename);
#   every run is serialised with flock.
#   Prints `PYTHONPATH=<dir>` for the Python part on stdout (the tests put it on PYTHONPATH).
# Environment:
#   E2E_CLIENTS_CACHE   Python install dir (default <repo>/.cache/e2e-clients/python)
#   PYTHON              interpreter with pip (default python3)
# Exit codes: 0 ok; 1 failure; 3 python/pip/node/npm or the registry is unavailable (callers may skip).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
name=e2e/clients/install
python="${PYTHON:-python3}"
py_dir="$(realpath -m "${E2E_CLIENTS_CACHE:-$repo/.cache/e2e-clients/python}")"
# Pinned: the tests assert the SDKs' own types and errors, which change between major versions.
py_requirements="$here/python/requirements.txt"
node_dir="$here/node"
# shellcheck source=../services/lib.sh
source "$repo/e2e/services/lib.sh"

install_python() {
  command -v "$python" >/dev/null || unavailable "$python not found"
  local stamp
  stamp=".installed-$( (cat "$py_requirements"; "$python" --version 2>&1) | sha256sum | cut -c1-16)"
  pip_target_install "$py_dir" "$stamp" --no-warn-conflicts -r "$py_requirements"
  echo "PYTHONPATH=$py_dir"
}

install_node() {
  command -v node >/dev/null || unavailable "node not found"
  command -v npm >/dev/null || unavailable "npm not found"
  local version stamp
  version="$(cd "$node_dir" && node -p 'require("./package-lock.json").packages["node_modules/openai"].version')"
  stamp="$node_dir/node_modules/.installed-openai-$version"
  [[ -f "$stamp" ]] && return 0
  log "installing openai@$version (package-lock.json) into $node_dir/node_modules"
  if ! (cd "$node_dir" && timeout 600 npm ci --no-audit --no-fund --loglevel=error >&2); then
    unavailable "npm ci could not install the locked packages"
  fi
  touch "$stamp"
}

what="${1:-all}"
case "$what" in
  python|node|all) ;;
  *) echo "usage: $0 [python|node|all]" >&2; exit 2 ;;
esac
install_all() { install_python; install_node; }
case "$what" in
  python) with_lock "$repo/.cache/e2e-clients" install_python ;;
  node) with_lock "$repo/.cache/e2e-clients" install_node ;;
  all) with_lock "$repo/.cache/e2e-clients" install_all ;;
esac
