#!/usr/bin/env bash
# resume_bench.sh [DATA_DIR] - what --resume costs (issue 14), measured in
# one run on the benchmark image (make_image.sh; not a test, not run by
# ctest; run on a quiet machine):
#   1. journaling: REPS pairs of the balanced export without and with
#      --resume, in alternating order (plain/journaled, then
#      journaled/plain), one process with every core; medians, spreads
#      ((max - min) / median), and the cost: journaled / plain - 1
#      (target under 2% of wall time)
#   2. resuming from the middle: a journaled export stopped by SIGTERM once
#      its partial output holds half the OVA (exit 75 at the next durable
#      point), then the resume alone is timed; median resume time, and its
#      ratio to a whole export and to the part that was left (target: the
#      part left plus one read of the begun disk member's durable prefix).
#      Every resumed OVA is compared (cmp) with the uninterrupted one. The
#      part left is measured in output bytes; the image's data sits in its
#      first GiB, so the compression work left is larger than the output
#      left suggests, and the read-back (from the file system: the partial
#      output was written with O_DIRECT, so not from the page cache) is part
#      of the resume's time. So it also reports the stopped run plus its
#      resume against one whole export: the work an interruption costs.
# Environment: BUILD (default ./build), REPS (3), RANKS (1: one process;
# N: mpirun -n N for every run), WORK (where the OVAs go; default
# DATA_DIR/resume-out, removed at the end).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$root/build}
data=${1:-$root/bench-data}
reps=${REPS:-3}
ranks=${RANKS:-1}
ova=$build/ovatool
[[ $reps =~ ^[1-9][0-9]*$ ]] || { echo "REPS must be a whole number >= 1, not '$reps'" >&2; exit 1; }
[[ $ranks =~ ^[1-9][0-9]*$ ]] || { echo "RANKS must be a whole number >= 1, not '$ranks'" >&2; exit 1; }
[ -x "$ova" ] || { echo "build first: bash jobs/setup.sh (no $ova)" >&2; exit 1; }
bash "$root/tests/bench/make_image.sh" "$data" >&2
source "$root/jobs/env.sh"
vmx=$data/vm/bench.vmx flat=$data/vm/bench-flat.vmdk
out=${WORK:-$data/resume-out}
rm -rf "$out" && mkdir -p "$out/plain" "$out/journaled"
cat "$flat" > /dev/null   # warm the page cache: this measures the export, not the source disk
export SOURCE_DATE_EPOCH=1700000000

launch() {  # launch ARGS...: ovatool in the background, as one process or under mpirun; sets PID
  if [ "$ranks" = 1 ]; then "$ova" "$@" & else mpirun -n "$ranks" --oversubscribe "$ova" "$@" & fi
  PID=$!
}
timed() {  # timed ARGS...: run ovatool to the end, print the wall seconds
  local t0 t1
  t0=$(date +%s.%N)
  launch "$@"
  wait "$PID"
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
spread() { sort -g | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.1f%%", (m > 0 ? (v[NR] - v[1]) / m * 100 : 0) }'; }

echo "# journaling cost: $reps alternating pairs, $ranks rank(s), balanced preset"
: > "$out/plain.t"
: > "$out/journaled.t"
for i in $(seq "$reps"); do
  rm -f "$out/plain/bench.ova" "$out/journaled/bench.ova"
  if [ $((i % 2)) = 1 ]; then
    timed export "$vmx" -o "$out/plain/bench.ova" -q >> "$out/plain.t"
    timed export "$vmx" -o "$out/journaled/bench.ova" -q --resume >> "$out/journaled.t"
  else
    timed export "$vmx" -o "$out/journaled/bench.ova" -q --resume >> "$out/journaled.t"
    timed export "$vmx" -o "$out/plain/bench.ova" -q >> "$out/plain.t"
  fi
  cmp "$out/plain/bench.ova" "$out/journaled/bench.ova" || { echo "journaled OVA differs" >&2; exit 1; }
done
plain=$(median < "$out/plain.t")
jour=$(median < "$out/journaled.t")
printf 'plain      median %.2f s  spread %s\n' "$plain" "$(spread < "$out/plain.t")"
printf 'journaled  median %.2f s  spread %s\n' "$jour" "$(spread < "$out/journaled.t")"
printf 'journaling cost: %+.2f%% of wall time (target < 2%%)\n' "$(echo "($jour / $plain - 1) * 100" | bc -l)"

echo "# resume from the middle: $reps runs"
size=$(stat -c %s "$out/plain/bench.ova")
: > "$out/resume.t"
: > "$out/left.f"
: > "$out/stopped.t"
for i in $(seq "$reps"); do
  part=$out/journaled/bench.ova.partial
  rm -f "$out/journaled/bench.ova" "$part" "$out/journaled/bench.ova.journal"
  t0=$(date +%s.%N)
  launch export "$vmx" -o "$out/journaled/bench.ova" -q --resume
  while [ "$(stat -c %s "$part" 2>/dev/null || echo 0)" -lt $((size / 2)) ] && kill -0 "$PID" 2>/dev/null; do
    sleep 0.05
  done
  kill -TERM "$PID" 2>/dev/null || true
  rc=0
  wait "$PID" || rc=$?
  [ "$rc" = 75 ] || { echo "the stopped export exited $rc, not 75 (stopped at a durable point)" >&2; exit 1; }
  echo "$t0 $(date +%s.%N)" | awk '{ printf "%.3f\n", $2 - $1 }' >> "$out/stopped.t"
  durable=$(stat -c %s "$part")
  echo "$durable $size" | awk '{ printf "%.4f\n", 1 - $1 / $2 }' >> "$out/left.f"
  timed export "$vmx" -o "$out/journaled/bench.ova" -q --resume >> "$out/resume.t"
  cmp "$out/plain/bench.ova" "$out/journaled/bench.ova" || { echo "resumed OVA differs" >&2; exit 1; }
done
res=$(median < "$out/resume.t")
left=$(median < "$out/left.f")
printf 'resume     median %.2f s  spread %s; output left when stopped: %.0f%% (median)\n' "$res" \
  "$(spread < "$out/resume.t")" "$(echo "$left * 100" | bc -l)"
printf 'resume / whole export: %.3f; resume / (whole x part left): %.3f (1.0: proportional to what is left)\n' \
  "$(echo "$res / $plain" | bc -l)" "$(echo "$res / ($plain * $left)" | bc -l)"
# what the stop cost in all: the stopped run and its resume against one
# uninterrupted export (1.0: no work lost or repeated; the excess is the
# start-up of a second run, the stop and the read-back of the begun member)
stopped=$(median < "$out/stopped.t")
both=$(paste "$out/stopped.t" "$out/resume.t" | awk '{ print $1 + $2 }' | median)
printf 'stopped run median %.2f s; stopped run + resume median %.2f s = %.3f x the whole export\n' "$stopped" "$both" \
  "$(echo "$both / $plain" | bc -l)"
rm -rf "$out"
