#!/usr/bin/env bash
# Runs the experiments of benches/README.md and prints a results table.
#
#   benches/run-experiments.sh [a] [s] [b] [c] [d]    (default: a b c)
#
#   a  throughput: kukka-baseline vs the cluster (kukka up), 32 connections,
#      RUNS runs each, alternating, fresh data and Redis every run
#   s  storage attribution: kukka-baseline with --storage plain and outbox
#      (the cluster's AggregateRepo, committer and relay)
#   b  circuit breaker: payment latency 200-310 ms vs a 300 ms timeout,
#      50 connections placing orders, default breaker thresholds and CB_TUNED
#   c  event lag (201 -> visible on /myPages): probe beside a full
#      32-connection load, and beside an open-loop load of LAG_RATE orders/s
#   l  the read side keeps up: the cluster's closed-loop maximum (median of
#      a's cluster runs, or RUNS fresh runs), then an open-loop load at
#      LAG_SHARE (80 %) of it for LAG_SECS (60 s) with a lag probe every
#      100 ms polled every 2 ms; p99 overall, in the first and the last 10 s
#   r  past one Redis: events applied per second by the views and delivery
#      consumers (kukka-consumer-ceiling, CEILING_ORDERS orders) with 1 and 2
#      consumers, on one Redis and on a 3-master Redis Cluster; and
#      place-order throughput of kukka up on both
#   d  criterion micro benchmarks (cargo bench)
#
# Environment: RUNS (3), DURATION (30 s), WARMUP (5 s), CONNS (32),
# CB_CONNS (50), OUT (benches/results/raw), BUILD (1: cargo build --release
# first), BIN (where kukka, kukka-bench and kukka-baseline are; default
# $CARGO_TARGET_DIR/release), CB_TUNED (--env flags of b's tuned runs),
# LAG_RATES (open-loop rates for c, "50 100"), RUN (0: only print the
# table of the results already in OUT).
# Everything listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
DURATION=${DURATION:-30}
WARMUP=${WARMUP:-5}
CONNS=${CONNS:-32}
CB_CONNS=${CB_CONNS:-50}
OUT=${OUT:-benches/results/raw}
BUILD=${BUILD:-1}
TARGET=${CARGO_TARGET_DIR:-target}
BIN=${BIN:-$TARGET/release}
CB_TUNED=${CB_TUNED:---env KUKKA_BREAKER_OUTAGE_MS=0 --env KUKKA_BREAKER_MINIMUM_CALLS=50 --env KUKKA_BREAKER_FAILURE_RATE=80 --env KUKKA_BREAKER_HALF_OPEN_CALLS=1 --env KUKKA_BREAKER_OPEN_MS=500}
LAG_RATES=${LAG_RATES:-50 100}
LAG_SHARE=${LAG_SHARE:-0.8}
LAG_SECS=${LAG_SECS:-60}
CEILING_ORDERS=${CEILING_ORDERS:-20000}
EXPS=("$@")
[ ${#EXPS[@]} -eq 0 ] && EXPS=(a b c)
mkdir -p "$OUT"
[ "${RUN:-1}" = 1 ] && rm -f "$OUT/loads.txt"

want() { local e; for e in "${EXPS[@]}"; do [ "$e" = "$1" ] && return 0; done; return 1; }
# RUN=0 only prints the table of the results already in OUT.
running() { [ "${RUN:-1}" = 1 ] && want "$1"; }

if [ "$BUILD" = 1 ] && [ "${RUN:-1}" = 1 ]; then
  cargo build --release --locked -p kukka-nodes -p kukka-benches --bins
fi
for b in kukka kukka-bench kukka-baseline kukka-consumer-ceiling; do
  [ -x "$BIN/$b" ] || { echo "missing $BIN/$b (build with BUILD=1)" >&2; exit 1; }
done

PIDS=()
TMPS=()
cleanup() {
  local p d
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  for d in "${TMPS[@]:-}"; do [ -n "$d" ] && rm -rf "$d"; done
}
trap cleanup EXIT

free_port() {
  local p i
  for i in $(seq 1 200); do
    p=$(( (RANDOM % 30000) + 20000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  echo "no free port" >&2; return 1
}

wait_until() { # seconds command...
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.2
  done
}

stop_pid() { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

BENCH=("$BIN/kukka-bench" --quiet -d "$DURATION" --warmup-secs "$WARMUP")

# One baseline run: fresh Redis (durable like kukka up's) and fresh sled.
run_baseline() { # json plot [storage]
  local dir rport hport rpid bpid
  dir=$(mktemp -d /tmp/kukka-baseline-XXXXXX); TMPS+=("$dir")
  rport=$(free_port)
  redis-server --port "$rport" --bind 127.0.0.1 --dir "$dir" --appendonly yes \
    --appendfsync always --save '' --protected-mode yes --daemonize no >"$dir/redis.log" 2>&1 &
  rpid=$!; PIDS+=("$rpid")
  wait_until 15 redis-cli -p "$rport" ping
  hport=$(free_port)
  "$BIN/kukka-baseline" --addr "127.0.0.1:$hport" --data-dir "$dir/sled" \
    --redis-url "redis://127.0.0.1:$rport" --storage "${3:-plain}" >"$dir/baseline.log" 2>&1 &
  bpid=$!; PIDS+=("$bpid")
  wait_until 30 curl -fsS "http://127.0.0.1:$hport/readyz"
  "${BENCH[@]}" -c "$CONNS" --label "baseline (${3:-plain})" --url "http://127.0.0.1:$hport" \
    --json "$1" --plot "$2" >/dev/null
  stop_pid "$bpid"; stop_pid "$rpid"
  rm -rf "$dir"
}

# The load average after a run (the machine is shared; see README).
ld() { echo "      load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/loads.txt"; }

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "n/a"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
# med FIELD FILES...: median of a jq expression over JSON reports.
med() { local f=$1; shift; for j in "$@"; do jq -r "$f" "$j"; done | median; }
fmt() { printf '%.*f' "${2:-1}" "$1"; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB; load $(cut -d' ' -f1-3 /proc/loadavg)"

if running a; then
  echo "== a: throughput at $CONNS connections, baseline vs cluster ($RUNS runs each, alternating)"
  rm -f "$OUT"/a-*
  for r in $(seq 1 "$RUNS"); do
    echo "-- run $r: baseline"; run_baseline "$OUT/a-baseline-$r.json" "$OUT/a-baseline-$r.svg"
    jq -r '"   \(.throughput|floor) req/s  p50 \(.latency_ms.p50) ms  p99 \(.latency_ms.p99) ms"' "$OUT/a-baseline-$r.json"
    ld
    echo "-- run $r: cluster"
    "${BENCH[@]}" -c "$CONNS" --spawn --label cluster --json "$OUT/a-cluster-$r.json" --plot "$OUT/a-cluster-$r.svg" >/dev/null
    jq -r '"   \(.throughput|floor) req/s  p50 \(.latency_ms.p50) ms  p99 \(.latency_ms.p99) ms"' "$OUT/a-cluster-$r.json"
    ld
  done
fi

if running s; then
  echo "== s: storage attribution, kukka-baseline --storage plain | outbox"
  rm -f "$OUT"/s-*
  for r in $(seq 1 "$RUNS"); do
    for st in plain outbox; do
      run_baseline "$OUT/s-$st-$r.json" "$OUT/s-$st-$r.svg" "$st"
      jq -r '"   run '"$r"' '"$st"': \(.throughput|floor) req/s  p50 \(.latency_ms.p50) ms  p99 \(.latency_ms.p99) ms"' "$OUT/s-$st-$r.json"
      ld
    done
  done
fi

CB_LATENCY=(--env KUKKA_PAYMENT_INJECT_LATENCY_MS=200-310 --env KUKKA_PAYMENT_TIMEOUT_MS=300)
if running b; then
  echo "== b: circuit breaker, payment latency 200-310 ms, timeout 300 ms, $CB_CONNS connections"
  rm -f "$OUT"/b-*
  for r in $(seq 1 "$RUNS"); do
    for cfg in default tuned; do
      extra=()
      # shellcheck disable=SC2206
      [ "$cfg" = tuned ] && extra=($CB_TUNED)
      "${BENCH[@]}" -c "$CB_CONNS" --spawn --label "breaker $cfg" "${CB_LATENCY[@]}" "${extra[@]}" \
        --json "$OUT/b-$cfg-$r.json" --plot "$OUT/b-$cfg-$r.svg" >/dev/null
      jq -r '"   run '"$r"' '"$cfg"': 2xx \(.ok_pct)%  503 \(.busy_pct)% (fast \(.fast_busy_pct)%)  5xx \(.outcomes.server_errors)  conn \(.outcomes.connection_errors)"' "$OUT/b-$cfg-$r.json"
      ld
    done
  done
fi

if running c; then
  echo "== c: event lag beside a $CONNS-connection load and beside open-loop loads of $LAG_RATES orders/s"
  rm -f "$OUT"/c-*
  for r in $(seq 1 "$RUNS"); do
    "${BENCH[@]}" -c "$CONNS" --spawn --probe-lag --label "event lag, full load" \
      --json "$OUT/c-full-$r.json" --plot "$OUT/c-full-$r.svg" >/dev/null
    for rate in $LAG_RATES; do
      "${BENCH[@]}" -c "$CONNS" --rate "$rate" --spawn --probe-lag --label "event lag, $rate orders/s" \
        --json "$OUT/c-rate$rate-$r.json" --plot "$OUT/c-rate$rate-$r.svg" >/dev/null
    done
    for f in "$OUT"/c-*-"$r".json; do
      jq -r '"   \(.setup.label): \(.throughput|floor) req/s, lag p50 \(.event_lag.lag_ms.p50) ms  p99 \(.event_lag.lag_ms.p99) ms  (\(.event_lag.probes) probes, \(.event_lag.timeouts) not visible within 10 s)"' "$f"
    done
    ld
  done
fi

# A durable Redis (like kukka up's) on a free port; prints its URL.
start_redis() { # dir
  local port; port=$(free_port)
  redis-server --port "$port" --bind 127.0.0.1 --dir "$1" --appendonly yes \
    --appendfsync always --save '' --daemonize no >"$1/redis-$port.log" 2>&1 &
  PIDS+=($!)
  wait_until 15 redis-cli -p "$port" ping
  echo "redis://127.0.0.1:$port"
}

# A Redis Cluster of 3 durable masters; prints the seed list.
start_redis_cluster() { # dir
  local ports=() p i seeds=""
  for i in 1 2 3; do
    p=$(free_port); ports+=("$p")
    mkdir -p "$1/c$p"
    redis-server --port "$p" --bind 127.0.0.1 --dir "$1/c$p" --appendonly yes \
      --appendfsync always --save '' --cluster-enabled yes --cluster-config-file nodes.conf \
      --daemonize no >"$1/redis-$p.log" 2>&1 &
    PIDS+=($!)
    wait_until 15 redis-cli -p "$p" ping
    seeds+="${seeds:+,}redis://127.0.0.1:$p"
  done
  redis-cli --cluster create $(for p in "${ports[@]}"; do echo "127.0.0.1:$p"; done) \
    --cluster-yes >"$1/create.log" 2>&1
  for p in "${ports[@]}"; do
    wait_until 30 sh -c "redis-cli -p $p cluster info | grep -q cluster_state:ok"
  done
  # Every node agrees on the slot map (state:ok alone can come before
  # gossip has told every node where the others are).
  wait_until 30 redis-cli --cluster check "127.0.0.1:${ports[0]}"
  echo "$seeds"
}

if running l; then
  A_C=("$OUT"/a-cluster-*.json)
  if [ ! -e "${A_C[0]:-}" ]; then
    echo "== l: the cluster's closed-loop maximum ($RUNS runs)"
    for r in $(seq 1 "$RUNS"); do
      "${BENCH[@]}" -c "$CONNS" --spawn --label cluster --json "$OUT/a-cluster-$r.json" >/dev/null
      jq -r '"   \(.throughput|floor) req/s"' "$OUT/a-cluster-$r.json"
    done
    A_C=("$OUT"/a-cluster-*.json)
  fi
  max=$(med .throughput "${A_C[@]}")
  rate=$(awk -v m="$max" -v s="$LAG_SHARE" 'BEGIN {printf "%d", m * s}')
  echo "== l: open loop at $rate orders/s ($LAG_SHARE of $(fmt "$max" 0) req/s) for $LAG_SECS s, lag probed every 100 ms"
  rm -f "$OUT"/l-*
  "$BIN/kukka-bench" --quiet -d "$LAG_SECS" --warmup-secs "$WARMUP" -c 512 --rate "$rate" --spawn \
    --probe-lag --lag-every-ms 100 --lag-poll-ms 2 --label "read side at $rate orders/s" \
    --json "$OUT/l-lag.json" --plot "$OUT/l-lag.svg" >/dev/null
  ld
fi

if running r; then
  echo "== r: past one Redis: consumer ceilings ($CEILING_ORDERS orders) and place-order throughput"
  rm -f "$OUT"/r-*
  for target in single cluster; do
    for r in $(seq 1 "$RUNS"); do
      for h in views delivery; do
        for n in 1 2; do
          dir=$(mktemp -d /tmp/kukka-ceiling-XXXXXX); TMPS+=("$dir")
          n0=${#PIDS[@]}
          if [ "$target" = single ]; then url=$(start_redis "$dir"); else url=$(start_redis_cluster "$dir"); fi
          "$BIN/kukka-consumer-ceiling" --redis-url "$url" --orders "$CEILING_ORDERS" --handler "$h" \
            --consumers "$n" --json "$OUT/r-$target-$h-$n-$r.json" >/dev/null
          echo "   run $r $target $h x$n: $(jq -r '.events_per_sec|floor' "$OUT/r-$target-$h-$n-$r.json") events/s"
          for p in "${PIDS[@]:$n0}"; do stop_pid "$p"; done
          rm -rf "$dir"
        done
      done
      extra=(); [ "$target" = cluster ] && extra=(--env KUKKA_REDIS_CLUSTER=3)
      "${BENCH[@]}" -c "$CONNS" --spawn --label "cluster on $target Redis" "${extra[@]}" \
        --json "$OUT/r-$target-place-$r.json" >/dev/null
      jq -r '"   run '"$r"' '"$target"' place: \(.throughput|floor) req/s  p50 \(.latency_ms.p50) ms  p99 \(.latency_ms.p99) ms"' "$OUT/r-$target-place-$r.json"
      ld
    done
  done
fi

if running d; then
  echo "== d: criterion micro benchmarks"
  cargo bench --locked -p kukka-benches --bench hot_paths -- --noplot 2>&1 | grep -E '^[a-z].*|time:' || true
fi

echo
echo "== results (medians of $RUNS runs, ${DURATION} s each after ${WARMUP} s warm-up)"
shopt -s nullglob
A_B=("$OUT"/a-baseline-*.json); A_C=("$OUT"/a-cluster-*.json)
if want a && [ ${#A_B[@]} -gt 0 ] && [ ${#A_C[@]} -gt 0 ]; then
  bt=$(med .throughput "${A_B[@]}"); ct=$(med .throughput "${A_C[@]}")
  echo "| system | req/s | p50 ms | p99 ms | non-2xx |"
  echo "| --- | ---: | ---: | ---: | ---: |"
  echo "| baseline | $(fmt "$bt" 0) | $(fmt "$(med .latency_ms.p50 "${A_B[@]}")" 2) | $(fmt "$(med .latency_ms.p99 "${A_B[@]}")" 2) | $(med '.requests - .outcomes.ok' "${A_B[@]}") |"
  echo "| cluster | $(fmt "$ct" 0) | $(fmt "$(med .latency_ms.p50 "${A_C[@]}")" 2) | $(fmt "$(med .latency_ms.p99 "${A_C[@]}")" 2) | $(med '.requests - .outcomes.ok' "${A_C[@]}") |"
  echo "cluster / baseline throughput: $(awk -v c="$ct" -v b="$bt" 'BEGIN {printf "%.1f%%", 100*c/b}')"
fi
S_ROWS=""
for st in plain outbox; do
  F=("$OUT"/s-$st-[0-9]*.json)
  [ ${#F[@]} -gt 0 ] && S_ROWS+="| baseline --storage $st | $(fmt "$(med .throughput "${F[@]}")" 0) | $(fmt "$(med .latency_ms.p50 "${F[@]}")" 2) | $(fmt "$(med .latency_ms.p99 "${F[@]}")" 2) |"$'\n'
done
if want s && [ -n "$S_ROWS" ]; then
  echo "| storage | req/s | p50 ms | p99 ms |"
  echo "| --- | ---: | ---: | ---: |"
  printf '%s' "$S_ROWS"
fi
if want b; then
  echo "| breaker | 2xx % | 503+RA % | fast 503 % | 2xx p50/p99 ms | fast 503 p50/p99 ms | slow 503 p50/p99 ms | other 5xx | conn errors |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  for cfg in default tuned; do
    B=("$OUT"/b-$cfg-[0-9]*.json)
    [ ${#B[@]} -gt 0 ] || continue
    echo "| $cfg | $(fmt "$(med .ok_pct "${B[@]}")" 2) | $(fmt "$(med .busy_pct "${B[@]}")" 2) | $(fmt "$(med .fast_busy_pct "${B[@]}")" 2) | $(fmt "$(med .latency_ms.p50 "${B[@]}")") / $(fmt "$(med .latency_ms.p99 "${B[@]}")") | $(fmt "$(med .fast_busy_latency_ms.p50 "${B[@]}")") / $(fmt "$(med .fast_busy_latency_ms.p99 "${B[@]}")") | $(fmt "$(med .slow_busy_latency_ms.p50 "${B[@]}")") / $(fmt "$(med .slow_busy_latency_ms.p99 "${B[@]}")") | $(med .outcomes.server_errors "${B[@]}") | $(med .outcomes.connection_errors "${B[@]}") |"
  done
fi
if want l && [ -e "$OUT/l-lag.json" ]; then
  L="$OUT/l-lag.json"
  # p99 of the probes placed in [from, to) seconds into the measured window.
  p99_in() { jq -r --argjson a "$1" --argjson b "$2" '[.event_lag.samples[] | select(.[0] >= $a and .[0] < $b and .[1] != null) | .[1]] | sort | if length == 0 then "n/a" else .[((length * 0.99) | ceil) - 1] end' "$L"; }
  first=$(p99_in 0 10); last=$(p99_in $((LAG_SECS - 10)) "$LAG_SECS")
  echo "| read side | load req/s | lag p50 ms | lag p99 ms | p99 first 10 s | p99 last 10 s | last / first | probes / not visible |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  echo "| $(jq -r .setup.target_rate "$L") orders/s open loop | $(fmt "$(jq .throughput "$L")" 0) | $(fmt "$(jq .event_lag.lag_ms.p50 "$L")" 1) | $(fmt "$(jq .event_lag.lag_ms.p99 "$L")" 1) | $(fmt "$first" 1) | $(fmt "$last" 1) | $(awk -v a="$first" -v b="$last" 'BEGIN {if (a > 0) printf "%.2f", b / a; else print "n/a"}') | $(jq .event_lag.probes "$L") / $(jq .event_lag.timeouts "$L") |"
fi
if want r; then
  R=("$OUT"/r-*.json)
  if [ -e "${R[0]:-}" ]; then
    echo "| Redis | views x1 events/s | views x2 | delivery x1 | delivery x2 | place orders req/s | p99 ms |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    for target in single cluster; do
      row="| $target"
      for hn in views-1 views-2 delivery-1 delivery-2; do
        F=("$OUT"/r-$target-$hn-[0-9]*.json); row+=" | $(fmt "$(med .events_per_sec "${F[@]}")" 0)"
      done
      F=("$OUT"/r-$target-place-[0-9]*.json)
      echo "$row | $(fmt "$(med .throughput "${F[@]}")" 0) | $(fmt "$(med .latency_ms.p99 "${F[@]}")" 1) |"
    done
  fi
fi
if want c; then
  echo "| event lag | load req/s | lag p50 ms | lag p99 ms | lag max ms | probes / not visible in 10 s |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: |"
  for k in full $(for rate in $LAG_RATES; do echo "rate$rate"; done); do
    C=("$OUT"/c-$k-[0-9]*.json)
    [ ${#C[@]} -gt 0 ] || continue
    if [ "$(med .event_lag.lag_ms.count "${C[@]}")" = 0 ]; then
      lag="| > 10000 | > 10000 | > 10000"
    else
      lag="| $(fmt "$(med .event_lag.lag_ms.p50 "${C[@]}")" 1) | $(fmt "$(med .event_lag.lag_ms.p99 "${C[@]}")" 1) | $(fmt "$(med .event_lag.lag_ms.max "${C[@]}")" 1)"
    fi
    echo "| $k | $(fmt "$(med .throughput "${C[@]}")" 0) $lag | $(med .event_lag.probes "${C[@]}") / $(med .event_lag.timeouts "${C[@]}") |"
  done
fi
