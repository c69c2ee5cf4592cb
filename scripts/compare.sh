#!/usr/bin/env bash
# compare.sh: hubbub beside the peer servers (../shared/peers), same
# scenarios, same machine, one run. Prints one markdown table (the median
# of RUNS runs per server and scenario) and draws the chart.
#
# For each run, for each scenario, it runs every peer through the peers' own
# harness (run.sh, one server per call, so runs interleave) and then hubbub
# (a fresh cmd/hubbub-bench-server per run, measured by cmd/hubbub-load).
# Every result line gets "run" and the load average before it.
#
# Knobs (environment):
#   SCENARIOS="200:5000:64 1000:1000:64 2000:500:64 5000:200:64 10000:100:64"
#                                           clients:count:size (1,000,000 deliveries each; the
#                                           targets are 1000:1000:64 and 5000:200:64)
#   PEERS="melody centrifuge socketio"      peer servers ("" for none)
#   TRANSPORTS="ws sse longpoll"            hubbub transports
#   VARIANTS=""                             other hubbub trees to run beside this one, e.g. a
#                                           patched copy: "budget=/tmp/hubbub-try" adds rows
#                                           "hubbub-ws+budget" (VARIANT_TRANSPORTS, default ws)
#   SERVER_FLAGS="" VARIANT_FLAGS=""        extra flags for this tree's / the variants' bench server
#   RUNS=3                                  runs per server and scenario
#   CLIENT_FLAGS="-timeout 40s -idle 5s"    flags for both load clients
#   PEERS_DIR=../shared/peers               the peer harness (read-only is fine)
#   WORK=<new temp dir>                     binaries, peers' work copy, logs, results
#   SVG=docs/benchmarks-fanout.svg          chart output ("" for none)
#   PORT_BASE=18600                         first TCP port
#   MAX_BUSY=10 MAX_WAIT=120                before each run, wait up to MAX_WAIT s until the CPUs
#                                           are at most MAX_BUSY % busy (other engineers' tests)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH=/usr/local/go/bin:$PATH

SCENARIOS=${SCENARIOS:-"200:5000:64 1000:1000:64 2000:500:64 5000:200:64 10000:100:64"}
PEERS=${PEERS-"melody centrifuge socketio"}
TRANSPORTS=${TRANSPORTS:-"ws sse longpoll"}
VARIANTS=${VARIANTS:-}
VARIANT_TRANSPORTS=${VARIANT_TRANSPORTS:-ws}
SERVER_FLAGS=${SERVER_FLAGS:-}
VARIANT_FLAGS=${VARIANT_FLAGS:-}
RUNS=${RUNS:-3}
CLIENT_FLAGS=${CLIENT_FLAGS:-"-timeout 40s -idle 5s"}
PEERS_DIR=${PEERS_DIR:-$ROOT/../shared/peers}
WORK=${WORK:-$(mktemp -d -t hubbub-compare.XXXXXX)}
SVG=${SVG-$ROOT/docs/benchmarks-fanout.svg}
PORT_BASE=${PORT_BASE:-18600}
MAX_BUSY=${MAX_BUSY:-10}
MAX_WAIT=${MAX_WAIT:-120}

mkdir -p "$WORK/bin" "$WORK/logs" || exit 1
ALL=$WORK/results.jsonl
: >"$ALL"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

echo "== build (work dir $WORK)" >&2
go build -o "$WORK/bin/" ./cmd/hubbub-bench-server ./cmd/hubbub-load ./cmd/hubbub-benchreport || exit 1
# Hubbub servers to run: "name bindir transports" per line.
HUBBUBS="hubbub $WORK/bin $TRANSPORTS"
for v in $VARIANTS; do
  label=${v%%=*} tree=${v#*=}
  (cd "$tree" && go build -o "$WORK/bin-$label/" ./cmd/hubbub-bench-server ./cmd/hubbub-load) || exit 1
  HUBBUBS+=$'\n'"hubbub+$label $WORK/bin-$label $VARIANT_TRANSPORTS"
done
peers_built=0

STARTED=() # server PIDs this script started
forget() { # pid: no longer ours to stop
  local keep=() p
  for p in "${STARTED[@]}"; do [ "$p" != "$1" ] && keep+=("$p"); done
  STARTED=("${keep[@]}")
}
cleanup() { for p in "${STARTED[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
cpu_busy() { # percent of CPU time not idle over the next second, all processes
  local a b
  a=$(head -n 1 /proc/stat); sleep 1; b=$(head -n 1 /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN{split(a,x);split(b,y);t=0;for(i=2;i<=9;i++)t+=y[i]-x[i];
    idle=(y[5]-x[5])+(y[6]-x[6]); printf "%.0f", (t > 0 ? 100*(t-idle)/t : 0)}'
}
BUSY=0 LA=
wait_quiet() { # wait (at most MAX_WAIT s) until other processes leave the CPUs idle
  local i
  for i in $(seq "$MAX_WAIT"); do
    BUSY=$(cpu_busy) LA=$(loadavg)
    BUSY=${BUSY:-0}
    [ "$BUSY" -le "$MAX_BUSY" ] && return
  done
  echo "   (CPUs still ${BUSY}% busy after $MAX_WAIT s, load $(loadavg); running anyway)" >&2
}
tag() { # line run -> line with the run number and the conditions before it
  printf '%s,"run":%s,"loadavg_start":"%s","cpu_busy_start":%s}\n' "${1%\}}" "$2" "$LA" "$BUSY"
}

port=$PORT_BASE
for run in $(seq "$RUNS"); do
  for sc in $SCENARIOS; do
    IFS=: read -r clients count size <<<"$sc"
    for peer in $PEERS; do
      wait_quiet
      echo "== run $run: $peer $clients×$count×$size (CPU ${BUSY}% busy, load $(loadavg))" >&2
      port=$((port + 10))
      skip=1
      [ $peers_built = 0 ] && skip=0
      out=$(PEERS_WORK=$WORK/peers SKIP_BUILD=$skip SERVERS=$peer SCENARIOS=$sc PORT_BASE=$port \
        CLIENT_FLAGS=$CLIENT_FLAGS "$PEERS_DIR/run.sh" </dev/null 2>"$WORK/logs/peers-$run-$peer-$sc.log")
      peers_built=1
      jsonl=$(sed -n 's/^Results (\([^;]*\);.*/\1/p' <<<"$out")
      line=$(tail -n 1 "$jsonl" 2>/dev/null)
      if [ -z "$line" ]; then
        line="{\"proto\":\"$peer\",\"clients\":$clients,\"count\":$count,\"size\":$size,\"error\":\"run.sh failed, see $WORK/logs\"}"
      fi
      tag "$line" "$run" >>"$ALL"
    done
    while read -r name bin trs; do
      for tr in $trs; do
        server=hubbub-$tr${name#hubbub}
        wait_quiet
        echo "== run $run: $server $clients×$count×$size (CPU ${BUSY}% busy, load $(loadavg))" >&2
        port=$((port + 10))
        log=$WORK/logs/$server-$run-$sc
        flags=$SERVER_FLAGS
        [ "$name" != hubbub ] && flags=$VARIANT_FLAGS
        # shellcheck disable=SC2086
        "$bin/hubbub-bench-server" -addr "127.0.0.1:$port" $flags </dev/null >"$log.server.log" 2>&1 &
        spid=$!
        STARTED+=("$spid")
        # shellcheck disable=SC2086
        line=$(timeout 120 "$bin/hubbub-load" -server "http://127.0.0.1:$port" -transport "$tr" \
          -clients "$clients" -count "$count" -size "$size" -extra $CLIENT_FLAGS </dev/null 2>"$log.client.log")
        rc=$?
        kill "$spid" 2>/dev/null
        wait "$spid" 2>/dev/null
        forget "$spid"
        if [ -z "$line" ]; then
          line="{\"transport\":\"$tr\",\"clients\":$clients,\"count\":$count,\"size\":$size,\"error\":\"hubbub-load exit $rc, see $log.client.log\"}"
        fi
        line="${line%\}},\"server\":\"$server\"}"
        tag "$line" "$run" >>"$ALL"
        echo "   $(tail -n 1 "$log.client.log")" >&2
      done
    done <<<"$HUBBUBS"
  done
done

echo
echo "Results: $ALL ($(nproc) CPUs shared by client and server; $(uname -sr); $(date -u +%Y-%m-%dT%H:%MZ); median of $RUNS)"
echo
svgflag=()
[ -n "$SVG" ] && svgflag=(-svg "$SVG" -subtitle "median of $RUNS runs; $(nproc) CPUs shared by server and load client; $(date -u +%F)")
"$WORK/bin/hubbub-benchreport" "${svgflag[@]}" "$ALL"
[ -n "$SVG" ] && echo && echo "Chart: $SVG"
