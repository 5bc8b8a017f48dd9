#!/bin/sh
# local-down.sh - stop the cluster local-up.sh started, by pid (never by name).
stop() {  # SIGTERM, wait up to 10 s, then SIGKILL
  pids=""
  for f in "$@"; do [ -s "$f" ] && pids="$pids $(cat "$f")"; done
  [ -n "$pids" ] || return 0
  kill -TERM $pids 2>/dev/null
  i=0
  while [ $i -lt 100 ]; do
    alive=""
    for p in $pids; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
    [ -n "$alive" ] || return 0
    sleep 0.1
    i=$((i + 1))
  done
  kill -KILL $alive 2>/dev/null
}
stop /run/slurmd.pid /run/slurmctld.pid
# a step that failed inside PMIx can leave its slurmstepd behind, deaf to SIGTERM
for p in $(ps -eo pid=,comm= | awk '$2 == "slurmstepd" {print $1}'); do kill -KILL "$p"; done
stop /run/munge/munged.pid
rm -f /run/munge/munged.pid
