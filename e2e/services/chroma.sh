#!/usr/bin/env bash
# Chroma (the vector database) from PyPI, for the semantic-cache live tests:
#   chromadb   ships the `chroma` CLI whose `run` serves the v2 HTTP API (a Rust server in the wheel)
#
# Usage: chroma.sh install|start|stop|status
#   install  creates a venv with chromadb (idempotent).
#   start    installs if needed, starts `chroma run` on a free port (or $CHROMA_E2E_PORT), waits
#            for GET /api/v2/heartbeat, prints the port alone on stdout. Idempotent.
#   stop     stops the server and removes the state directory (data, log, pid and port files).
#   status   prints "running pid=... port=..." (exit 0) or "stopped" (exit 1).
# Environment:
#   CHROMA_E2E_VENV   venv dir (default <repo>/.cache/chroma-venv)
#   CHROMA_E2E_STATE  state dir: chroma.pid, port, chroma.log, data/ (default <repo>/.cache/chroma-run)
#   CHROMA_E2E_PORT   fixed port instead of a free one
#   PYTHON            interpreter with venv + pip (default python3)
# Exit codes: 0 ok, 1 failure, 3 chromadb (or python/pip) is unavailable, so callers may skip.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
name=chroma
python="${PYTHON:-python3}"
venv="$(realpath -m "${CHROMA_E2E_VENV:-$repo/.cache/chroma-venv}")"
state="$(realpath -m "${CHROMA_E2E_STATE:-$repo/.cache/chroma-run}")"
# Pinned: the version whose v2 API the plugin's client was checked against.
package="chromadb==1.5.9"
chroma="$venv/bin/chroma"
# shellcheck source=lib.sh
source "$here/lib.sh"

install() {
  venv_install "$venv" ".installed-$package" "$package"
  [[ -x "$chroma" ]] || die "chromadb has no chroma CLI at $chroma (package layout changed?)"
}

start() {
  if running_pid >/dev/null; then cat "$state/port"; return 0; fi
  with_lock "$venv" install
  start_http_server "${CHROMA_E2E_PORT:-}" /api/v2/heartbeat 30 \
    "$chroma" run --path "$state/data" --host 127.0.0.1 --port "{PORT}"
}

case "${1:-}" in
  install) with_lock "$venv" install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) usage 16 ;;
esac
