#!/usr/bin/env bash
# sparse_bench.sh [DIR] - "read only what is allocated": a 16 GiB
# monolithicSparse disk holding 256 MiB of data must export in about the
# time of a 256 MiB disk with the same data, and read about its allocated
# bytes (not a test; prints medians of REPS runs, default 3).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$root/build}
dir=${1:-$root/bench-data/sparse}
reps=${REPS:-3}
ova=$build/ovatool
[[ $reps =~ ^[1-9][0-9]*$ ]] || { echo "REPS must be a whole number >= 1, not '$reps'" >&2; exit 1; }
[ -x "$ova" ] || { echo "build first: bash jobs/setup.sh" >&2; exit 1; }
source "$root/jobs/env.sh"
# DIR is emptied: only if it is new, empty, or a previous run's (it has the
# marker, or small.vmx from a run before the marker)
if [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ] && [ ! -f "$dir/.sparse_bench" ] && [ ! -f "$dir/small.vmx" ]; then
  echo "$dir is not empty and not a sparse_bench folder: not removing it" >&2
  exit 1
fi
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" && : > .sparse_bench
# get FILE KEY: the number after "KEY": in a --json file; fails if there is none
get() {
  local v; v=$(grep -o "\"$2\":[0-9.]*" "$1" | head -1 | cut -d: -f2)
  [[ $v =~ ^[0-9.]+$ ]] || { echo "sparse_bench.sh: no \"$2\" in $1" >&2; return 1; }
  echo "$v"
}

# 256 MiB of mixed data (text + random), the same bytes in both disks
truncate -s 256M data.raw
(yes "a line of log text that compresses well, with a counter" || true) | head -c 134217728 |
  dd of=data.raw conv=notrunc status=none
head -c 134217728 /dev/urandom | dd of=data.raw bs=1M seek=128 conv=notrunc status=none
# small: the data alone; big: the data spread over a 16 GiB sparse disk (4 pieces of 64 MiB)
qemu-img convert -q -f raw -O vmdk -o subformat=monolithicSparse data.raw small.vmdk
truncate -s 16G big.raw
for i in 0 1 2 3; do
  dd if=data.raw of=big.raw bs=1M skip=$((i * 64)) seek=$((i * 4096 + 1000)) count=64 conv=notrunc status=none
done
qemu-img convert -q -f raw -O vmdk -o subformat=monolithicSparse big.raw big.vmdk
rm -f big.raw
for d in small big; do
  sed "s/@DISK@/$d.vmdk/" > "$d.vmx" <<'VMX'
displayName = "sparse bench"
guestOS = "other-64"
scsi0.present = "TRUE"
scsi0:0.present = "TRUE"
scsi0:0.fileName = "@DISK@"
VMX
done
cat small.vmdk big.vmdk > /dev/null

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for d in small big; do
  : > "$d.times"
  for ((i = 0; i < reps; i++)); do
    "$ova" export "$d.vmx" -o "$d.ova" --overwrite -q --json > "$d.json"
    get "$d.json" seconds >> "$d.times"
  done
  "$ova" info "$d.vmx" --json > "$d.info"
done
t_small=$(median < small.times) t_big=$(median < big.times)
declare -A CAP ALLOC READ
for d in small big; do
  CAP[$d]=$(get "$d.info" capacity)
  ALLOC[$d]=$(get "$d.info" allocated)
  READ[$d]=$(get "$d.json" bytes_read)
done
echo "### Sparse disk: 16 GiB holding 256 MiB vs a 256 MiB disk ($(date -u +%Y-%m-%d), $reps runs, median)"
echo
echo "| disk | capacity | allocated | bytes read | export s |"
echo "|---|---:|---:|---:|---:|"
for d in small big; do
  awk -v d="$d" -v c="${CAP[$d]}" -v a="${ALLOC[$d]}" -v r="${READ[$d]}" \
      -v t="$(median < "$d.times")" 'BEGIN { printf "| %s | %.0f MiB | %.0f MiB | %.0f MiB | %.2f |\n", d, c / 1048576, a / 1048576, r / 1048576, t }'
done
echo
awk -v s="$t_small" -v b="$t_big" -v r="${READ[big]}" -v a="${ALLOC[big]}" 'BEGIN {
  printf "16 GiB sparse / 256 MiB disk export time: %.2fx; bytes read / allocated: %.3f\n", b / s, r / a }'
