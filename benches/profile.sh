#!/usr/bin/env bash
# Where the time goes (see benches/README.md, "Profiling").
#
#   benches/profile.sh cpu plain|outbox|cluster|write-path
#       CPU time per request of every process (server(s), Redis, the bench)
#       over a 10 s window of a 32-connection place-orders load, from
#       /proc/<pid>/stat (all threads, sled's IO threads included; for Redis
#       also its reaped children: AOF rewrites). `write-path` is the
#       cluster with its delivery node stopped (SIGSTOP) for the whole
#       load: orders are still accepted, and no views or delivery consumer
#       takes any CPU, so it shows what the write path alone can do.
#   benches/profile.sh switches plain|outbox|cluster|write-path
#       Per order, for every process but the bench over the same 10 s
#       window: context switches, futex calls (wake-ups between threads),
#       sync writes (fdatasync, sync_file_range), writes (write, writev:
#       sockets, log lines, the AOF) and socket reads, counted by
#       `perf stat` (Debian's linux-perf) from kernel tracepoints.
#   benches/profile.sh syscalls plain|outbox [N]
#       Synchronous log writes (pwrite + sync_file_range), fsyncs and futex
#       calls per order of kukka-baseline for N orders (default 20000),
#       counted with strace --seccomp-bpf (only those calls are traced).
#       Throughput under strace is not meaningful; the counts are.
#
# Needs the release binaries (BIN, default $CARGO_TARGET_DIR/release),
# redis-server, redis-cli, curl, jq; `syscalls` needs strace, `switches`
# perf.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release}
MODE=${1:?usage: profile.sh cpu|switches|syscalls KIND}
KIND=${2:?usage: profile.sh cpu|switches|syscalls KIND}
N=${3:-20000}

DIR=$(mktemp -d /tmp/kukka-profile-XXXXXX)
PIDS=()
STOPPED=
cleanup() {
  local p
  [ -n "$STOPPED" ] && kill -CONT "$STOPPED" 2>/dev/null || true
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap cleanup EXIT

free_port() {
  local p i
  for i in $(seq 1 200); do
    p=$(( (RANDOM % 30000) + 20000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}
wait_until() { # seconds command...
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.2
  done
}

declare -A NAME
start_redis() {
  RPORT=$(free_port)
  redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$DIR" --appendonly yes \
    --appendfsync always --save '' --daemonize no >"$DIR/redis.log" 2>&1 &
  PIDS+=($!); NAME[$!]=redis
  wait_until 15 redis-cli -p "$RPORT" ping
}

HPORT=$(free_port)
URL=http://127.0.0.1:$HPORT
if [ "$MODE" = syscalls ]; then
  start_redis
  strace -f --seccomp-bpf -c -o "$DIR/strace.txt" \
    -e trace=sync_file_range,fsync,fdatasync,pwrite64,futex \
    "$BIN/kukka-baseline" --addr "127.0.0.1:$HPORT" --data-dir "$DIR/sled" \
    --redis-url "redis://127.0.0.1:$RPORT" --storage "$KIND" >"$DIR/baseline.log" 2>&1 &
  SPID=$!; PIDS+=("$SPID")
  wait_until 30 curl -fsS "$URL/readyz"
  "$BIN/kukka-bench" --url "$URL" -q -c 32 -n "$N" >/dev/null
  # strace's child is the baseline: stop it, strace then writes its summary.
  for child in $(pgrep -P "$SPID" || true); do kill -TERM "$child" 2>/dev/null || true; done
  wait "$SPID" || true
  echo "kukka-baseline --storage $KIND, $N orders:"
  awk -v n="$N" '/^ *[0-9]/ && $NF != "total" {printf "  %-16s %9d calls  %7.2f per order\n", $NF, $4, $4/n}' "$DIR/strace.txt"
  exit 0
fi

if [ "$KIND" = cluster ] || [ "$KIND" = write-path ]; then
  "$BIN/kukka" up --quiet --edge-port "$HPORT" --data-dir "$DIR/up" >"$DIR/up.log" 2>&1 &
  # kukka up itself counts too (quiet: its children write their logs
  # themselves, as in production, where there is no kukka up).
  PIDS+=($!); NAME[$!]=up
  # The edge's probes are on its admin port (run/edge.json), not on $URL.
  wait_until 90 test -s "$DIR/up/run/edge.json"
  ADMIN=$(jq -r .adminAddr "$DIR/up/run/edge.json")
  wait_until 90 curl -fsS "http://$ADMIN/readyz?scope=cluster"
  for f in "$DIR"/up/run/*.json; do NAME[$(jq -r .pid "$f")]=$(basename "$f" .json); done
  if [ "$KIND" = write-path ]; then
    STOPPED=$(jq -r .pid "$DIR/up/run/delivery.json")
    kill -STOP "$STOPPED"
  fi
else
  start_redis
  "$BIN/kukka-baseline" --addr "127.0.0.1:$HPORT" --data-dir "$DIR/sled" \
    --redis-url "redis://127.0.0.1:$RPORT" --storage "$KIND" >"$DIR/baseline.log" 2>&1 &
  PIDS+=($!); NAME[$!]=baseline
  wait_until 30 curl -fsS "$URL/readyz"
fi
"$BIN/kukka-bench" --url "$URL" -q -c 32 -d 15 --warmup-secs 5 --json "$DIR/r.json" >/dev/null &
BENCH=$!; NAME[$BENCH]=bench
sleep 5
# Redis's own time plus that of the children it has reaped (its AOF
# rewrites and snapshots run in a forked child). kukka up's reaped children
# are the nodes, counted on their own lines, so only Redis adds them.
snap() {
  local p
  for p in "${!NAME[@]}"; do
    if [ "${NAME[$p]}" = redis ]; then
      echo "${NAME[$p]} $(awk '{print $14+$15+$16+$17}' "/proc/$p/stat")"
    else
      echo "${NAME[$p]} $(awk '{print $14+$15}' "/proc/$p/stat")"
    fi
  done | sort
}
if [ "$MODE" = switches ]; then
  EVENTS=context-switches
  for call in futex fdatasync sync_file_range write writev recvfrom; do
    EVENTS+=",syscalls:sys_enter_$call"
  done
  STATS=()
  for p in "${!NAME[@]}"; do
    case "${NAME[$p]}" in bench | up) continue ;; esac
    perf stat -x, -e "$EVENTS" -p "$p" -o "$DIR/stat-${NAME[$p]}" -- sleep 10 &
    STATS+=($!)
  done
  wait "${STATS[@]}"
  wait "$BENCH"
  rps=$(jq .throughput "$DIR/r.json")
  printf '%s: %.0f req/s (p50 %.2f ms, p99 %.2f ms); load average %s; per order:\n' "$KIND" "$rps" \
    "$(jq .latency_ms.p50 "$DIR/r.json")" "$(jq .latency_ms.p99 "$DIR/r.json")" "$(cut -d' ' -f1-3 /proc/loadavg)"
  printf '  %-9s %9s %9s %9s %9s %9s %9s %9s\n' process switches futex fdatasync sync_range write writev recvfrom
  for f in "$DIR"/stat-*; do
    awk -F, -v name="${f##*/stat-}" -v n="$(jq '.throughput * 10' "$DIR/r.json")" '
      $3 ~ /^(context-switches|syscalls:)/ { v[++i] = $1 / n }
      END { printf "  %-9s %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f\n", name, v[1], v[2], v[3], v[4], v[5], v[6], v[7] }' "$f"
  done | sort
  exit 0
fi
snap >"$DIR/s1"; t1=$(date +%s.%N)
sleep 10
snap >"$DIR/s2"; t2=$(date +%s.%N)
wait "$BENCH"
rps=$(jq .throughput "$DIR/r.json")
printf '%s: %.0f req/s (p50 %.2f ms, p99 %.2f ms); load average %s\n' "$KIND" "$rps" \
  "$(jq .latency_ms.p50 "$DIR/r.json")" "$(jq .latency_ms.p99 "$DIR/r.json")" "$(cut -d' ' -f1-3 /proc/loadavg)"
join "$DIR/s1" "$DIR/s2" | awk -v r="$rps" -v t1="$t1" -v t2="$t2" -v hz="$(getconf CLK_TCK)" '
  { cpu = ($3 - $2) / hz; tot += cpu
    printf "  %-9s %5.2f cores  %6.0f us CPU per request\n", $1, cpu / (t2 - t1), 1e6 * cpu / (r * (t2 - t1)) }
  END { printf "  %-9s %5.2f cores  %6.0f us CPU per request\n", "total", tot / (t2 - t1), 1e6 * tot / (r * (t2 - t1)) }'
