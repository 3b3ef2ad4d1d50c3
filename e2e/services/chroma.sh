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
python="${PYTHON:-python3}"
venv="$(realpath -m "${CHROMA_E2E_VENV:-$repo/.cache/chroma-venv}")"
state="$(realpath -m "${CHROMA_E2E_STATE:-$repo/.cache/chroma-run}")"
# Pinned: the version whose v2 API the plugin's client was checked against.
package="chromadb==1.5.9"
stamp="$venv/.installed-$package"
chroma="$venv/bin/chroma"

log() { echo "chroma.sh: $*" >&2; }
die() { log "$*"; exit 1; }
unavailable() { log "UNAVAILABLE: $*"; exit 3; }

install() {
  if [[ -f "$stamp" && -x "$chroma" ]]; then return 0; fi
  command -v "$python" >/dev/null || unavailable "$python not found"
  "$python" -m venv --help >/dev/null 2>&1 || unavailable "venv is not available for $python"
  mkdir -p "$(dirname "$venv")"
  # A venv records its own path, so it is built in place; the stamp, written last, marks a
  # complete install (an interrupted one is rebuilt from scratch).
  log "installing $package into $venv"
  rm -rf "$venv"
  if ! "$python" -m venv "$venv" >&2 \
    || ! PIP_ROOT_USER_ACTION=ignore timeout 900 "$venv/bin/python" -m pip install --quiet \
      --disable-pip-version-check --no-warn-script-location "$package" >&2; then
    rm -rf "$venv"
    unavailable "pip could not install $package"
  fi
  [[ -x "$chroma" ]] || die "chromadb has no chroma CLI at $chroma (package layout changed?)"
  touch "$stamp"
}

running_pid() {
  local pid
  pid="$(cat "$state/chroma.pid" 2>/dev/null)" || return 1
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

free_port() {
  "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

healthy() {
  "$python" - "$1" <<'EOF'
import sys, urllib.request
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/api/v2/heartbeat", timeout=1) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
EOF
}

start() {
  if running_pid >/dev/null; then cat "$state/port"; return 0; fi
  # Serialise installs: parallel test runs share the venv.
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  if command -v flock >/dev/null; then flock 9; fi
  install
  exec 9>&-
  rm -rf "$state"
  mkdir -p "$state/data"
  local attempt port pid
  for attempt in 1 2 3; do
    port="${CHROMA_E2E_PORT:-$(free_port)}"
    # setsid + no inherited stdout: the server must not hold the caller's pipes open.
    setsid "$chroma" run --path "$state/data" --host 127.0.0.1 --port "$port" \
      </dev/null >"$state/chroma.log" 2>&1 &
    pid=$!
    echo "$pid" >"$state/chroma.pid"
    for _ in $(seq 300); do
      if healthy "$port"; then
        echo "$port" >"$state/port"
        echo "$port"
        return 0
      fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    log "attempt $attempt on port $port failed:"
    tail -n 5 "$state/chroma.log" >&2 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
    [[ -z "${CHROMA_E2E_PORT:-}" ]] || break
  done
  die "chroma did not start (log: $state/chroma.log)"
}

stop() {
  local pid
  if pid="$(running_pid)"; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$state"
  echo "stopped"
}

status() {
  local pid
  if pid="$(running_pid)"; then echo "running pid=$pid port=$(cat "$state/port")"; else echo "stopped"; return 1; fi
}

case "${1:-}" in
  install)
    # The same lock as `start`: CI installs in the background while tests may already start Chroma.
    mkdir -p "$(dirname "$venv")"
    exec 9>"$venv.lock"
    if command -v flock >/dev/null; then flock 9; fi
    install
    ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) sed -n '2,16s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
