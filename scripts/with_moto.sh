#!/bin/sh
# Runs a command beside a throwaway S3 server: moto (PyPI `moto[server]`, installed by
# `make test-deps` under .cache/pytools) on a free loopback port with a bucket made for the
# run, then the server stopped, whatever the command's outcome.
#
#   scripts/with_moto.sh [--skip-if-absent] COMMAND [ARG...]
#
# The command sees RAGD_TEST_S3 (s3://ragd-test) and AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY and AWS_REGION for it (moto takes any key).
# Environment: MOTO_SERVER (the executable; default .cache/pytools/bin/moto_server).
# --skip-if-absent: without moto, say so and exit 0; else exit 2.
set -eu

skip=0
if [ "${1:-}" = "--skip-if-absent" ]; then skip=1; shift; fi
[ $# -gt 0 ] || { echo "usage: $0 [--skip-if-absent] COMMAND [ARG...]" >&2; exit 2; }

serve=${MOTO_SERVER:-.cache/pytools/bin/moto_server}
if [ ! -x "$serve" ]; then
  msg="moto is not installed ($serve; \`make test-deps\` installs it, or set MOTO_SERVER)"
  if [ $skip = 1 ]; then echo "note: $msg: the S3 tests were skipped"; exit 0; fi
  echo "error: $msg" >&2; exit 2
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=$(mktemp -t moto.XXXXXX.log)
"$serve" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -f "$log"' EXIT INT TERM

i=0
until python3 -c "import urllib.request; urllib.request.urlopen(urllib.request.Request('http://127.0.0.1:$port/ragd-test', method='PUT'), timeout=2)" 2>/dev/null; do
  i=$((i + 1))
  if [ $i -gt 120 ] || ! kill -0 $pid 2>/dev/null; then
    echo "error: moto did not answer on port $port; its output:" >&2
    cat "$log" >&2; exit 2
  fi
  sleep 0.5
done
echo "moto (S3) on http://127.0.0.1:$port, bucket ragd-test, pid $pid" >&2

export RAGD_TEST_S3=s3://ragd-test
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1

set +e
"$@"
rc=$?
exit $rc
