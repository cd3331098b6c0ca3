#!/usr/bin/env bash
# tests/bench/webdav.sh - what Spaceport's access check costs a WebDAV read,
# against the same nginx serving the same file without it, in the same run.
#
# One nginx (examples/webdav/serve) in front of the real program. The same
# small file of a personal space is read with wrk:
#   checked: GET /dav/spaces/<driveId>/f with a bearer token - nginx asks
#            GET /api/v1/dav-access (auth_request, kept-alive upstream
#            connections; the token from the verifier's cache, the role one
#            indexed read) before it sends the file;
#   static:  GET /static/<driveId>/f - a location added for this benchmark
#            only (--include), the same directory without auth_request.
# The two alternate for ROUNDS rounds (default 3) and the best of each
# counts: on shared cores single runs vary by 10 % or more either way.
# Prints requests/s and latency p50/p99 of each, and the ratio
# checked/static. The check route alone (wrk straight at Spaceport with
# the headers nginx sends) is printed too.
#
# Needs the project built (ninja -C build), nginx with the dav-ext module,
# nats-server, wrk, curl and Debian's /usr/bin/python3 (the test issuer).
# Environment: BUILD (build dir), DURATION (wrk seconds, default 10),
# WRK_THREADS (default 2), CONNECTIONS (default 64), ROUNDS (default 3),
# FILE_BYTES (default 4096).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$root/tests/bench/lib.sh"
rounds=${ROUNDS:-3}
file_bytes=${FILE_BYTES:-4096}
[[ -x $bin ]] || { echo "webdav.sh: $bin missing; run ninja -C $build" >&2; exit 2; }
for tool in wrk nats-server curl nginx; do
  command -v "$tool" >/dev/null || { echo "webdav.sh: $tool not found" >&2; exit 2; }
done


# One wrk run: prints "requests/s p50_ms p99_ms"; fails when any answer was
# not 2xx (a refused check would otherwise look fast).
wrk_run() {
  local out
  out=$(wrk -t"$wrk_threads" -c"$connections" -d"${duration}s" --latency "$@")
  if grep -q 'Non-2xx\|Socket errors' <<<"$out"; then
    echo "webdav.sh: wrk saw errors:" >&2
    echo "$out" >&2
    tail -5 "$work/nginx/error.log" "$work/spaceport.err" >&2 2>/dev/null || true
    return 1
  fi
  awk '
    function ms(v) {
      if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
      if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
      if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
      return v
    }
    /Requests\/sec/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    END { printf "%s %.3f %.3f\n", rps, p50, p99 }' <<<"$out"
}

bench_issuer
web_port=$(port)
web=http://127.0.0.1:$web_port
bench_spaceport SPACEPORT_PUBLIC_URL="$web"

# The same directory without the check: a location for this benchmark only.
storage=$work/storage
cat >"$work/static.conf" <<CONF
location /static/ {
    alias "$storage/";
}
CONF
"$root/examples/webdav/serve" --listen "127.0.0.1:$web_port" --spaceport "127.0.0.1:$http_port" \
  --storage "$storage" --run-dir "$work/nginx" --include "$work/static.conf" \
  >"$work/nginx.out" 2>&1 &
pids+=($!)
wait_http "$web/readyz" || { echo "webdav.sh: nginx did not start" >&2; cat "$work/nginx.out" >&2; exit 1; }

auth="Authorization: Bearer $token"
drive=$(curl -fsS -H "$auth" "$web/graph/v1.0/me/drives" |
  /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["value"][0]["id"])')
head -c "$file_bytes" /dev/urandom >"$work/f"
curl -fsS -o /dev/null -H "$auth" -T "$work/f" "$web/dav/spaces/$drive/f"
checked=$web/dav/spaces/$drive/f
static=$web/static/$drive/f
cmp -s "$work/f" <(curl -fsS -H "$auth" "$checked") &&
  cmp -s "$work/f" <(curl -fsS "$static") ||
  { echo "webdav.sh: the two URLs do not serve the file" >&2; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' "$checked")
[[ $code == 401 ]] || { echo "webdav.sh: $checked without a token answered $code, not 401" >&2; exit 1; }

echo "== GET of one ${file_bytes}-byte file through nginx, wrk -c$connections -t$wrk_threads -d${duration}s, best of $rounds =="
best_s='0 0 0' best_c='0 0 0'
better() { awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); print (x[1] >= y[1] ? a : b) }'; }
for round in $(seq 1 "$rounds"); do
  s=$(wrk_run -H "$auth" "$static")
  c=$(wrk_run -H "$auth" "$checked")
  read -r s_rps _ _ <<<"$s"
  read -r c_rps _ _ <<<"$c"
  printf 'round %d: static %8.0f req/s  checked %8.0f req/s  ratio %s\n' \
    "$round" "$s_rps" "$c_rps" "$(ratio "$c_rps" "$s_rps")"
  best_s=$(better "$s" "$best_s")
  best_c=$(better "$c" "$best_c")
done
read -r s_rps s_p50 s_p99 <<<"$best_s"
read -r c_rps c_p50 c_p99 <<<"$best_c"
printf 'static  (no check):          %8.0f req/s  p50 %7.3f ms  p99 %7.3f ms\n' "$s_rps" "$s_p50" "$s_p99"
printf 'checked (auth_request):      %8.0f req/s  p50 %7.3f ms  p99 %7.3f ms\n' "$c_rps" "$c_p50" "$c_p99"
echo "ratio checked/static: $(ratio "$c_rps" "$s_rps")"

# The check route alone, asked as nginx asks it.
a=$(wrk_run -H "$auth" -H "X-Original-Method: GET" -H "X-Original-URI: /dav/spaces/$drive/f" \
  "http://127.0.0.1:$http_port/api/v1/dav-access")
read -r a_rps a_p50 a_p99 <<<"$a"
printf 'GET /api/v1/dav-access alone: %8.0f req/s  p50 %7.3f ms  p99 %7.3f ms\n' "$a_rps" "$a_p50" "$a_p99"
