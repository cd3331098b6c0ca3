#!/usr/bin/env bash
# tests/bench/sse.sh - change streams at scale (issue 6, "Must show").
#
# Starts nats-server (JetStream), the test issuer (sse_setup.py) and
# `spaceport serve` with SPACEPORT_SSE_COALESCE=0s (every event delivered),
# provisions USERS users (one GET /graph/v1.0/me each: user and personal
# drive; tokens valid for the whole run), then runs sse_clients, which
#   1. opens STREAMS streams per user (10 x 1,000 = 10,000) from one epoll
#      process, bound to 127.0.0.2.. (the server allows 4,096 per address),
#   2. reads spaceport's VmRSS before and with every stream open and idle,
#      and its CPU (utime+stime, /proc) over IDLE seconds of keep-alives,
#   3. publishes RATE storage change events per second for DURATION
#      seconds (raw NATS HPUB, as examples/storage-change), spread over the
#      users' drives, and checks that each reaches exactly the STREAMS
#      streams of its drive's owner, once, in id order; latency publish ->
#      receipt p50/p99/max.
# Then the baseline: the same streams held by sse_bare (bare libmicrohttpd
# with spaceport's connection memory, stream block and thread count).
# Prints the figures; exit code 0 when every delivery arrived exactly once
# and in order. Everything listens on loopback and is stopped at the end.
#
# Environment: BUILD (default build), USERS (1000), STREAMS (10), SOURCES
# (4), RATE (1000), DURATION (20), IDLE (30), SETTLE (5), DRAIN (15: seconds
# without a receipt before giving up on stragglers), KEEPALIVE (15s),
# PER_SECOND (1: latency by second of publishing), PERF (1: perf record
# spaceport's threads while publishing; report in $PERF_OUT), WAIT_QUIET
# (seconds to wait for a running `meson test` to end first, default 0).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${BUILD:-$root/build}
bin=${SPACEPORT_BIN:-$build/spaceport}
clients=$build/tests/bench/sse_clients
bare=$build/tests/bench/sse_bare
users=${USERS:-1000}
streams=${STREAMS:-10}
sources=${SOURCES:-4}
rate=${RATE:-1000}
duration=${DURATION:-20}
idle=${IDLE:-30}
settle=${SETTLE:-5}
drain=${DRAIN:-15}
keepalive=${KEEPALIVE:-15s}
per_second=${PER_SECOND:-0}
perf_out=${PERF_OUT:-/tmp/sse-bench.perf.data}

[[ -x $bin && -x $clients && -x $bare ]] || { echo "sse.sh: build first (ninja -C $build)" >&2; exit 2; }
command -v nats-server >/dev/null || { echo "sse.sh: nats-server not found" >&2; exit 2; }

work=$(mktemp -d /tmp/sse-bench.XXXXXX)
nats_pid='' issuer_pid='' sp_pid='' client_pid='' bare_pid=''
cleanup() {
  for p in $client_pid $bare_pid $sp_pid $issuer_pid $nats_pid; do
    kill -TERM "$p" 2>/dev/null || true
  done
  for p in $client_pid $bare_pid $sp_pid $issuer_pid $nats_pid; do
    for _ in $(seq 1 200); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Both sides hold one descriptor per stream (spaceport raises its own soft
# limit to the hard one; children inherit ours).
ulimit -n "$(ulimit -Hn)"
need=$((users * streams + 256))
if (($(ulimit -n) < need)); then
  echo "sse.sh: ulimit -n $(ulimit -n) < $need descriptors needed" >&2
  exit 2
fi

port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_tcp() { for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

# WAIT_QUIET=N: wait up to N seconds for other test runs to finish first.
for _ in $(seq 1 "${WAIT_QUIET:-0}"); do pgrep -f "meson test" >/dev/null || break; sleep 1; done
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
if pgrep -f "meson test" >/dev/null; then
  echo "note: 'meson test' is running concurrently; figures include that load"
fi
echo "ulimit -n: $(ulimit -n)"

nats_port=$(port)
nats-server -a 127.0.0.1 -p "$nats_port" -js -sd "$work/nats" >"$work/nats.log" 2>&1 &
nats_pid=$!
wait_tcp "$nats_port" || { echo "sse.sh: nats-server did not start" >&2; exit 2; }

/usr/bin/python3 "$root/tests/bench/sse_setup.py" issuer "$users" $((idle + duration + 3600)) "$work" &
issuer_pid=$!
for _ in $(seq 1 600); do [[ -s $work/issuer.url ]] && break; sleep 0.05; done
[[ -s $work/issuer.url ]] || { echo "sse.sh: issuer did not start" >&2; exit 2; }

http_port=$(port)
SPACEPORT_HTTP_ADDR=127.0.0.1:$http_port SPACEPORT_DATA_DIR=$work/data \
SPACEPORT_OIDC_ISSUERS=$(cat "$work/issuer.url") SPACEPORT_NATS_URL=nats://127.0.0.1:$nats_port \
SPACEPORT_SSE_COALESCE=0s SPACEPORT_SSE_KEEPALIVE=$keepalive SPACEPORT_LOG_LEVEL=warn \
  "$bin" serve 2>"$work/spaceport.log" &
sp_pid=$!
for _ in $(seq 1 600); do
  curl -fs "http://127.0.0.1:$http_port/readyz" >/dev/null 2>&1 && break
  sleep 0.05
done
curl -fs "http://127.0.0.1:$http_port/readyz" >/dev/null || { echo "sse.sh: spaceport not ready" >&2; cat "$work/spaceport.log" >&2; exit 2; }
echo "spaceport: SPACEPORT_SSE_COALESCE=0s SPACEPORT_SSE_KEEPALIVE=$keepalive, soft NOFILE $(awk '/Max open files/ {print $4}' "/proc/$sp_pid/limits")"

t=$(date +%s%N)
/usr/bin/python3 "$root/tests/bench/sse_setup.py" provision "http://127.0.0.1:$http_port" "$work"
echo "provisioned $users users with personal drives in $((($(date +%s%N) - t) / 1000000)) ms"
sleep 2

args=(--port "$http_port" --users "$work/users" --nats-port "$nats_port" --server-pid "$sp_pid"
      --nats-pid "$nats_pid" --streams "$streams" --sources "$sources" --rate "$rate"
      --duration "$duration" --idle "$idle" --settle "$settle" --drain "$drain")
[[ $per_second == 1 ]] && args+=(--per-second)
if [[ ${PERF:-0} == 1 ]] && command -v perf >/dev/null; then
  # Recorded while publishing only; ends by itself after DURATION seconds.
  args+=(--on-publish "exec perf record -F 999 -g -p $sp_pid -o $perf_out -- sleep $duration >$work/perf.log 2>&1")
fi
rc=0
# In the background so that a signal to this script interrupts the wait.
"$clients" "${args[@]}" &
client_pid=$!
wait "$client_pid" || rc=$?
client_pid=''
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "spaceport log lines at warn or above: $(grep -c . "$work/spaceport.log" || true)"
grep -m 5 . "$work/spaceport.log" | cut -c1-300 || true
t=$(date +%s%N)
kill -TERM "$sp_pid"
for _ in $(seq 1 300); do kill -0 "$sp_pid" 2>/dev/null || break; sleep 0.1; done
wait "$sp_pid" 2>/dev/null && echo "spaceport stopped in $((($(date +%s%N) - t) / 1000000)) ms, exit 0" ||
  echo "spaceport stop: exit $?"
sp_pid=''

# Baseline: the same number of streams held by bare libmicrohttpd with
# spaceport's server settings (connection memory, stream block, threads).
define() { awk -v n="$1" '$1 == "#define" && $2 == n {$1 = $2 = ""; gsub(/[()]/, ""); print}' "$root/src/http/server.c"; }
memory=$(($(define SP_HTTP_CONNECTION_MEMORY)))
block=$(($(define SP_HTTP_STREAM_BLOCK)))
threads=$(($(nproc) * $(define SP_HTTP_THREADS_PER_CORE)))
((threads > $(define SP_HTTP_MAX_THREADS))) && threads=$(define SP_HTTP_MAX_THREADS)
bare_port=$(port)
"$bare" "$bare_port" "$memory" "$block" "$threads" &
bare_pid=$!
wait_tcp "$bare_port" || { echo "sse.sh: sse_bare did not start" >&2; exit 2; }
echo "baseline: bare libmicrohttpd, connection memory $memory, stream block $block, $threads threads"
"$clients" --port "$bare_port" --users "$work/users" --server-pid "$bare_pid" --streams "$streams" \
  --sources "$sources" --settle "$settle" --idle 5 --rate 0 2>&1 |
  grep -E "streams open:|RSS|CPU idle with|result" | sed 's/^/baseline /; s/ with keep-alives/ (it sends none)/' || true
kill -TERM "$bare_pid"; wait "$bare_pid" 2>/dev/null || true
bare_pid=''
exit "$rc"
