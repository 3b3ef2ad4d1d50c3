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
python="${PYTHON:-python3}"
py_dir="$(realpath -m "${E2E_CLIENTS_CACHE:-$repo/.cache/e2e-clients/python}")"
# Pinned: the tests assert the SDKs' own types and errors, which change between major versions.
py_requirements="$here/python/requirements.txt"
node_dir="$here/node"

log() { echo "e2e/clients/install.sh: $*" >&2; }
unavailable() { log "UNAVAILABLE: $*"; exit 3; }

install_python() {
  command -v "$python" >/dev/null || unavailable "$python not found"
  local stamp
  stamp="$py_dir/.installed-$( (cat "$py_requirements"; "$python" --version 2>&1) | sha256sum | cut -c1-16)"
  if [[ ! -f "$stamp" ]]; then
    "$python" -m pip --version >/dev/null 2>&1 || unavailable "pip is not available for $python"
    mkdir -p "$(dirname "$py_dir")"
    local tmp
    tmp="$(mktemp -d "$py_dir.tmp.XXXXXX")"
    log "installing $(grep -c '^[a-z].*==' "$py_requirements") pinned packages of $py_requirements into $py_dir"
    if ! PIP_ROOT_USER_ACTION=ignore timeout 600 "$python" -m pip install --quiet --disable-pip-version-check \
        --no-warn-script-location --no-warn-conflicts --target "$tmp" -r "$py_requirements" >&2; then
      rm -rf "$tmp"
      unavailable "pip could not install $py_requirements"
    fi
    touch "$tmp/$(basename "$stamp")"
    rm -rf "$py_dir"
    mv "$tmp" "$py_dir"
  fi
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
mkdir -p "$repo/.cache"
exec 9>"$repo/.cache/e2e-clients.lock"
if command -v flock >/dev/null; then flock 9; fi
case "$what" in
  python) install_python ;;
  node) install_node ;;
  all) install_python; install_node ;;
esac
