#!/usr/bin/env bash
# import_bench.sh [DIR] - `ovatool import` of the benchmark image's balanced
# OVA against what one does without it: `tar x` of the OVA, then
# `qemu-img convert -O vmdk -o subformat=monolithicSparse` of its disk (the
# same output format, Workstation's), and against itself with
# --buffered-io (grains through the page cache instead of O_DIRECT). Prints
# the median of REPS runs (default 3) of each and the ratios (not a test;
# rerun it on a quiet machine). DIR: the image folder of make_image.sh (default
# bench-data/, made when missing); the OVA is made there once as
# import-bench.ova, the outputs go to OUT (default DIR/import-out) and are
# removed. The input is in the page cache for both (each run reads it right
# after the previous one), and both make their output durable (import
# fsyncs its files; `sync` of the extracted disk and the converted one
# after qemu-img). On a disk both are bound by its write speed and the
# final flush of the device's cache (import writes the 1.2 GB of grains,
# tar + qemu-img 0.7 GB more); with OUT on a tmpfs
# (OUT=/dev/shm/import-out) what is compared is the work.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$root/build}
dir=${1:-$root/bench-data}
reps=${REPS:-3}
ova=$build/ovatool
[[ $reps =~ ^[1-9][0-9]*$ ]] || { echo "REPS must be a whole number >= 1, not '$reps'" >&2; exit 1; }
[ -x "$ova" ] || { echo "build first: bash jobs/setup.sh" >&2; exit 1; }
command -v qemu-img >/dev/null || { echo "qemu-img is needed" >&2; exit 1; }
source "$root/jobs/env.sh"
[ -f "$dir/vm/bench.vmx" ] || bash "$root/tests/bench/make_image.sh" "$dir"
cd "$dir"
if [ ! -f import-bench.ova ]; then
  "$ova" export vm/bench.vmx -o import-bench.ova -c balanced -q
fi
out=${OUT:-$dir/import-out}
rm -rf "$out"
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
now() { date +%s.%N; }
: > imp.times
: > buf.times
: > qemu.times
cat import-bench.ova > /dev/null
for ((i = 0; i < reps; i++)); do
  mkdir -p "$out"
  t0=$(now)
  "$ova" import import-bench.ova -o "$out/" -q --progress 0 --json > "$out.json"
  t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }' >> imp.times
  read_bytes=$(grep -o '"bytes_read":[0-9]*' "$out.json" | cut -d: -f2)
  rm -rf "$out" && mkdir -p "$out"
  t0=$(now)
  "$ova" import import-bench.ova -o "$out/" -q --progress 0 --buffered-io
  t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }' >> buf.times
  rm -rf "$out" && mkdir -p "$out"
  t0=$(now)
  tar -C "$out" -xf import-bench.ova
  qemu-img convert -f vmdk -O vmdk -o subformat=monolithicSparse "$out/import-bench-disk1.vmdk" "$out/disk.vmdk"
  sync "$out/import-bench-disk1.vmdk" "$out/disk.vmdk" # import fsyncs its files too
  t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }' >> qemu.times
  rm -rf "$out"
done
size=$(stat -c %s import-bench.ova)
mi=$(median < imp.times)
mb=$(median < buf.times)
mq=$(median < qemu.times)
echo "OVA: $size bytes; ovatool import read $read_bytes bytes (the input once)"
echo "ovatool import:                     median $mi s of $reps ($(tr '\n' ' ' < imp.times))"
echo "ovatool import --buffered-io:       median $mb s of $reps ($(tr '\n' ' ' < buf.times))"
echo "tar x + qemu-img convert (sparse):  median $mq s of $reps ($(tr '\n' ' ' < qemu.times))"
awk -v q="$mq" -v i="$mi" 'BEGIN { printf "ratio: %.2fx\n", q / i }'
awk -v b="$mb" -v i="$mi" 'BEGIN { printf "O_DIRECT against --buffered-io: %.2fx\n", b / i }'
rm -f imp.times buf.times qemu.times "$out.json"
