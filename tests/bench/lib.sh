# tests/bench/lib.sh - what the shell benchmarks (auth.sh, webdav.sh) share:
# a work directory removed at exit with the processes they started, free
# ports, and the stack they measure: the test issuer with a bench token, a
# nats-server and `spaceport serve`. Sourced after `set -euo pipefail`
# with root set. Environment: BUILD (build dir), DURATION (wrk seconds,
# default 10), WRK_THREADS (default 2), CONNECTIONS (default 64).

build=${BUILD:-$root/build}
duration=${DURATION:-10}
wrk_threads=${WRK_THREADS:-2}
connections=${CONNECTIONS:-64}
bin=$build/spaceport

work=$(mktemp -d)
pids=()
bench_cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap bench_cleanup EXIT

port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Waits until curl ARGS... (a URL and options) succeeds; fails after 20 s.
wait_http() { for _ in $(seq 1 400); do curl -fs -o /dev/null "$@" 2>/dev/null && return 0; sleep 0.05; done; return 1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# Starts the test issuer (discovery + JWKS) and sets issuer_url, token (a
# user with no groups) and token_groups (one whose token names 32 groups).
bench_issuer() {
  touch "$work/issuer.out"
  /usr/bin/python3 - "$root/tests/integration" >"$work/issuer.out" 2>"$work/issuer.err" <<'PY' &
import sys, time
sys.path.insert(0, sys.argv[1])
from issuer import TestIssuer
iss = TestIssuer(keys=[('bench', 'RSA')]).start()
print(iss.url)
print(iss.mint(key='bench', claims={'sub': 'bench-user', 'preferred_username': 'bench',
                                        'name': 'Bench User', 'exp': int(time.time()) + 3600}))
print(iss.mint(key='bench', claims={'sub': 'bench-groups', 'preferred_username': 'benchg',
                                        'name': 'Bench Groups', 'exp': int(time.time()) + 3600,
                                        'groups': ['group-%02d' % i for i in range(32)]}))
sys.stdout.flush()
while True:
    time.sleep(3600)
PY
  pids+=($!)
  for _ in $(seq 1 200); do [[ $(wc -l <"$work/issuer.out") -ge 3 ]] && break; sleep 0.05; done
  issuer_url=$(sed -n 1p "$work/issuer.out")
  token=$(sed -n 2p "$work/issuer.out")
  token_groups=$(sed -n 3p "$work/issuer.out")
  [[ -n $token_groups ]] || { echo "the test issuer did not start" >&2; cat "$work/issuer.err" >&2; return 1; }
}

# Starts nats-server and `spaceport serve` (trusting the issuer, logging
# warnings to work/spaceport.err) with the extra VAR=value settings given,
# and waits until it is ready; sets http_port.
bench_spaceport() {
  local nats_port
  nats_port=$(port)
  nats-server -a 127.0.0.1 -p "$nats_port" -js -sd "$work/nats" >/dev/null 2>&1 &
  pids+=($!)
  http_port=$(port)
  env SPACEPORT_OIDC_ISSUERS="$issuer_url" SPACEPORT_NATS_URL="nats://127.0.0.1:$nats_port" \
    SPACEPORT_HTTP_ADDR="127.0.0.1:$http_port" SPACEPORT_DATA_DIR="$work/data" \
    SPACEPORT_LOG_LEVEL=warn "$@" "$bin" serve 2>"$work/spaceport.err" &
  pids+=($!)
  if ! wait_http "http://127.0.0.1:$http_port/readyz"; then
    echo "spaceport not ready" >&2
    tail -5 "$work/spaceport.err" >&2
    return 1
  fi
}
