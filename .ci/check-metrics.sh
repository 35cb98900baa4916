#!/usr/bin/env bash
# Lints every role's /metrics of a live `kukka up` with `promtool check
# metrics` (names, HELP and TYPE, counters ending in _total, units).
#
#   .ci/check-metrics.sh            # uses ${CARGO_TARGET_DIR:-target}/debug/kukka
#   KUKKA=path/to/kukka .ci/check-metrics.sh
#
# Starts `kukka up` on free ports in a temporary data dir, waits until the
# edge's admin port answers /readyz?scope=cluster, places one order (so the
# request and payment histograms have series), scrapes each node's admin
# port (adminAddr in run/<name>.json), runs promtool on each, stops the
# system. Needs curl, jq and promtool (Debian/Ubuntu: apt-get install
# prometheus). Exits non-zero if promtool finds anything.
set -euo pipefail
cd "$(dirname "$0")/.."

KUKKA="${KUKKA:-${CARGO_TARGET_DIR:-target}/debug/kukka}"
PROMTOOL="${PROMTOOL:-promtool}"
for tool in "$KUKKA" "$PROMTOOL" curl jq; do
  command -v "$tool" >/dev/null 2>&1 || { echo "check-metrics: $tool not found" >&2; exit 1; }
done

dir=$(mktemp -d /tmp/kukka-check-metrics-XXXXXX)
up_pid=""
cleanup() {
  if [ -n "$up_pid" ] && kill -0 "$up_pid" 2>/dev/null; then
    kill -TERM "$up_pid" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$up_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$up_pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT

"$KUKKA" up --edge-port 0 --data-dir "$dir/data" --quiet >"$dir/up.log" 2>&1 &
up_pid=$!

wait_until() { # seconds command...
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then return 1; fi
    sleep 0.2
  done
}
edge="$dir/data/run/edge.json"
if ! wait_until 90 test -s "$edge" ||
   ! wait_until 90 curl -fsS "http://$(jq -r .adminAddr "$edge")/readyz?scope=cluster"; then
  echo "check-metrics: kukka up did not get ready" >&2
  tail -n 40 "$dir/up.log" >&2
  exit 1
fi
curl -fsS -o /dev/null -X POST "http://$(jq -r .httpAddr "$edge")/orders" \
  -H 'content-type: application/json' \
  -d '{"customerName":"CI","phoneNumber":"01012341234","address":"SEOUL","flowerType":"MixBox","qty":1,"price":10000}'

failed=0
for run in "$dir"/data/run/*.json; do
  admin=$(jq -r '.adminAddr // empty' "$run")
  [ -n "$admin" ] || continue   # redis.json
  name=$(basename "$run" .json)
  curl -fsS "http://$admin/metrics" >"$dir/$name.prom"
  families=$(grep -c '^# TYPE ' "$dir/$name.prom" || true)
  if out=$("$PROMTOOL" check metrics <"$dir/$name.prom" 2>&1); then
    echo "  $name: $families families, promtool check metrics OK"
  else
    echo "  $name: promtool check metrics FAILED:"
    echo "$out" | sed 's/^/    /'
    failed=1
  fi
done
exit "$failed"
