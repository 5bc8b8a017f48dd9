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
source "$root/jobs/env.sh"
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"

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
    "$ova" export "$d.vmx" -o "$d.ova" -q --json > "$d.json"
    sed -E 's/.*"seconds":([0-9.]+).*/\1/' "$d.json" >> "$d.times"
  done
  "$ova" info "$d.vmx" --json > "$d.info"
done
t_small=$(median < small.times) t_big=$(median < big.times)
get() { sed -E "s/.*\"$2\":([0-9.]+).*/\1/" "$1"; }
echo "### Sparse disk: 16 GiB holding 256 MiB vs a 256 MiB disk ($(date -u +%Y-%m-%d), $reps runs, median)"
echo
echo "| disk | capacity | allocated | bytes read | export s |"
echo "|---|---:|---:|---:|---:|"
for d in small big; do
  awk -v d="$d" -v c="$(get "$d.info" capacity)" -v a="$(get "$d.info" allocated)" -v r="$(get "$d.json" bytes_read)" \
      -v t="$(median < "$d.times")" 'BEGIN { printf "| %s | %.0f MiB | %.0f MiB | %.0f MiB | %.2f |\n", d, c / 1048576, a / 1048576, r / 1048576, t }'
done
echo
awk -v s="$t_small" -v b="$t_big" -v r="$(get big.json bytes_read)" -v a="$(get big.info allocated)" 'BEGIN {
  printf "16 GiB sparse / 256 MiB disk export time: %.2fx; bytes read / allocated: %.3f\n", b / s, r / a }'
