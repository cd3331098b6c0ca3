#!/usr/bin/env bash
# tests/bench/idle.sh - idle footprint and start-up time of `spaceport serve`.
#
# Starts a nats-server first (so its start-up is not counted), then starts
# spaceport N times and measures the time from exec to the first /readyz
# 200, and the resident set size after it has idled for 3 s (VmRSS from
# /proc, and the peak from /usr/bin/time -v). Prints medians.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=${SPACEPORT_BIN:-$root/build/spaceport}
runs=${RUNS:-5}
work=$(mktemp -d)
trap 'kill $nats_pid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
nats_port=$(port)
nats-server -a 127.0.0.1 -p "$nats_port" -js -sd "$work/nats" >/dev/null 2>&1 &
nats_pid=$!
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$nats_port) 2>/dev/null && break; sleep 0.05; done

starts=() rss=() peaks=()
for i in $(seq 1 "$runs"); do
  http_port=$(port)
  data="$work/data$i"
  start=$(date +%s%N)
  SPACEPORT_OIDC_ISSUERS=http://127.0.0.1:1 SPACEPORT_NATS_URL=nats://127.0.0.1:$nats_port \
  SPACEPORT_HTTP_ADDR=127.0.0.1:$http_port SPACEPORT_DATA_DIR=$data SPACEPORT_LOG_LEVEL=warn \
    /usr/bin/time -v -o "$work/time$i" "$bin" serve 2>/dev/null &
  tpid=$!
  until curl -fs "http://127.0.0.1:$http_port/readyz" >/dev/null 2>&1; do sleep 0.002; done
  end=$(date +%s%N)
  starts+=($(((end - start) / 1000000)))
  sleep 3
  pid=$(pgrep -P "$tpid" -x spaceport)
  rss+=($(awk '/VmRSS/ {print $2}' "/proc/$pid/status"))
  kill -TERM "$pid"; wait "$tpid" || true
  peaks+=($(awk -F: '/Maximum resident/ {gsub(/ /,"",$2); print $2}' "$work/time$i"))
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "runs: $runs"
echo "start-up to /readyz 200: median $(median "${starts[@]}") ms (all: ${starts[*]})"
echo "idle RSS after 3 s: median $(median "${rss[@]}") KiB (all: ${rss[*]})"
echo "peak RSS (/usr/bin/time -v): median $(median "${peaks[@]}") KiB"
