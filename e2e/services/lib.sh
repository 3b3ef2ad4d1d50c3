# Sourced by the service scripts beside it (redis.sh, chroma.sh, presidio.sh, embedding-model.sh)
# and by e2e/clients/install.sh: installing from PyPI into the repo's .cache, and starting,
# checking and stopping one local server per state directory.
#
# The sourcing script sets, before it calls these:
#   name    the service, for log lines and file names ("chroma" -> chroma.pid, chroma.log)
#   python  the interpreter that runs pip, venv and the health checks
#   state   the state directory of a server (pid, port and log files), for the server functions
# Exit codes the functions use: 1 failure, 3 unavailable (python, pip or the registry), so
# callers may skip.

log() { echo "$name.sh: $*" >&2; }
die() { log "$*"; exit 1; }
unavailable() { log "UNAVAILABLE: $*"; exit 3; }

# with_lock PATH CMD...: runs CMD holding PATH.lock, so concurrent installs and starts (CI installs
# in the background while tests may already start the service) take turns.
with_lock() {
  mkdir -p "$(dirname "$1")"
  (
    exec 9>"$1.lock"
    if command -v flock >/dev/null; then flock 9; fi
    "${@:2}"
  )
}

# pip_target_install DIR STAMP PIP-ARG...: pip install --target DIR, unless STAMP (a file name
# inside DIR) says a complete install is there. Installs next to DIR and renames, so an
# interrupted install never looks complete.
pip_target_install() {
  local dir="$1" stamp="$2" tmp
  shift 2
  [[ -f "$dir/$stamp" ]] && return 0
  command -v "$python" >/dev/null || unavailable "$python not found"
  "$python" -m pip --version >/dev/null 2>&1 || unavailable "pip is not available for $python"
  mkdir -p "$(dirname "$dir")"
  tmp="$(mktemp -d "$dir.tmp.XXXXXX")"
  log "installing $* into $dir"
  if ! PIP_ROOT_USER_ACTION=ignore timeout 900 "$python" -m pip install --quiet \
      --disable-pip-version-check --no-warn-script-location --target "$tmp" "$@" >&2; then
    rm -rf "$tmp"
    unavailable "pip could not install $*"
  fi
  touch "$tmp/$stamp"
  rm -rf "$dir"
  mv "$tmp" "$dir"
}

# venv_install VENV STAMP PIP-ARG...: a virtualenv holding the packages, unless STAMP (a file name
# inside VENV) says a complete install is there. A venv records its own path, so it is built in
# place and the stamp, written last, marks it complete (an interrupted one is rebuilt).
venv_install() {
  local venv="$1" stamp="$2"
  shift 2
  [[ -f "$venv/$stamp" && -x "$venv/bin/python" ]] && return 0
  command -v "$python" >/dev/null || unavailable "$python not found"
  "$python" -m venv --help >/dev/null 2>&1 || unavailable "venv is not available for $python"
  mkdir -p "$(dirname "$venv")"
  log "installing $* into $venv"
  rm -rf "$venv"
  if ! "$python" -m venv "$venv" >&2 \
    || ! PIP_ROOT_USER_ACTION=ignore timeout 900 "$venv/bin/python" -m pip install --quiet \
      --disable-pip-version-check --no-warn-script-location "$@" >&2; then
    rm -rf "$venv"
    unavailable "pip could not install $*"
  fi
  touch "$venv/$stamp"
}

running_pid() {
  local pid
  pid="$(cat "$state/$name.pid" 2>/dev/null)" || return 1
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

free_port() {
  "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# http_ok PORT PATH: GET http://127.0.0.1:PORT/PATH answers 200 within a second.
http_ok() {
  "$python" - "$1" "$2" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}{sys.argv[2]}", timeout=1) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}

# start_http_server FIXED-PORT HEALTH-PATH WAIT-SECONDS CMD...: starts CMD detached (every `{PORT}`
# in it replaced by the port: FIXED-PORT, or a free one) with a fresh state directory, waits until
# GET HEALTH-PATH answers 200, and prints the port alone on stdout. Three tries on free ports.
start_http_server() {
  local fixed="$1" health="$2" wait_s="$3" attempt port pid
  shift 3
  rm -rf "$state"
  mkdir -p "$state/data"
  for attempt in 1 2 3; do
    port="${fixed:-$(free_port)}"
    # setsid + no inherited stdout: the server must not hold the caller's pipes open.
    setsid "${@//\{PORT\}/$port}" </dev/null >"$state/$name.log" 2>&1 &
    pid=$!
    echo "$pid" >"$state/$name.pid"
    for _ in $(seq $((wait_s * 10))); do
      if http_ok "$port" "$health"; then
        echo "$port" >"$state/port"
        echo "$port"
        return 0
      fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    log "attempt $attempt on port $port failed:"
    tail -n 5 "$state/$name.log" >&2 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
    [[ -z "$fixed" ]] || break
  done
  die "$name did not start (log: $state/$name.log)"
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

# usage: prints the script's header comment (its lines 2..N) and exits 2.
usage() {
  sed -n "2,${1}s/^# \{0,1\}//p" "$0" >&2
  exit 2
}
