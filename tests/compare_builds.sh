#!/usr/bin/env bash
# compare_builds.sh REF_BIN NEW_BIN [WORKDIR] - do two ovatool binaries write
# the same bytes? For a refactoring that must not change output: build the
# reference from the commit before, the new one from the branch, and run
#   bash tests/compare_builds.sh /tmp/ref-build/ovatool build/ovatool
# Inputs: the demo VM (made by both binaries, the files compared too); one
# disk of every VMDK subformat qemu-img can create (monolithicSparse,
# monolithicFlat, twoGbMaxExtentSparse, twoGbMaxExtentFlat, streamOptimized;
# the split ones over 2 GiB so they have two extents), a snapshot chain of
# depth 2 and a two-disk VM, data written with qemu-io. Each is exported by
# both binaries as one process and under `mpirun -n 2`, with a fixed
# SOURCE_DATE_EPOCH, and the OVAs compared with cmp; `validate` (text,
# --json, --deep, --deep on 2 ranks) and `info` (text, --json) of both
# binaries on the same files are compared with diff, exit status included.
# Prints each comparison, then how many were made and how many were
# identical; exits 1 on any difference, 2 on a usage error. Not a ctest: it
# needs a second build. WORKDIR (default: a temporary folder, removed) keeps
# inputs and outputs for a look after a difference.
set -euo pipefail
usage() { echo "usage: compare_builds.sh REF_BIN NEW_BIN [WORKDIR]" >&2; exit 2; }
if [ $# -lt 2 ] || [ $# -gt 3 ]; then usage; fi
root=$(cd "$(dirname "$0")/.." && pwd)
# mpirun as root needs the variables jobs/env.sh sets; the two below are
# the e2e tests' settings for a small machine (tests/e2e/CMakeLists.txt)
source "$root/jobs/env.sh"
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=${OMPI_MCA_btl:-self,vader}
MPIEXEC=${MPIEXEC:-mpirun}
for b in "$1" "$2"; do [ -x "$b" ] || { echo "compare_builds: $b is not an executable" >&2; usage; }; done
declare -A BIN=([ref]=$(realpath "$1") [new]=$(realpath "$2"))
for t in qemu-img qemu-io "$MPIEXEC" cmp; do
  command -v "$t" >/dev/null || { echo "compare_builds: $t not installed" >&2; exit 1; }
done
if [ $# = 3 ]; then
  W=$(mkdir -p "$3" && cd "$3" && pwd)
else
  W=$(mktemp -d "${TMPDIR:-/tmp}/compare_builds.XXXXXX")
  trap 'rm -rf "$W"' EXIT
fi
# tar mtimes from a fixed epoch, not from the inputs' mtimes, which differ
# between runs of this script
export SOURCE_DATE_EPOCH=1700000000
SCHEMA=$root/src/schema  # one schema for both: the binaries are compared, not their copies

total=0 same=0 differ=""
# verdict LABEL STATUS: record one comparison (STATUS 0: identical)
verdict() {
  total=$((total + 1))
  if [ "$2" = 0 ]; then
    same=$((same + 1)); echo "same       $1"
  else
    differ="$differ
  $1"; echo "DIFFERENT  $1"
  fi
}

# ---- inputs -------------------------------------------------------------
# rnd FILE BYTES SEED: pseudo-random bytes, the same on every run (AES-CTR
# of zeros), so a difference found can be reproduced
rnd() {
  if command -v openssl >/dev/null; then
    head -c "$2" /dev/zero | openssl enc -aes-128-ctr -nosalt -pbkdf2 -iter 1 -pass "pass:$3" > "$1"
  else
    head -c "$2" /dev/urandom > "$1"
  fi
}
# fill VMDK SIZE SEED: qemu-io writes text, random data, zeros over data, a
# partial grain and the last sector (SIZE over 34 MiB)
fill() {
  local f=$1 size=$2 s=$3
  rnd "$W/r1" 1048576 "$s-1"; rnd "$W/r2" 700416 "$s-2"
  qemu-io -f vmdk -c "write -P 0x61 0 3M" -c "write -s $W/r1 20M 1M" -c "write -s $W/r2 $((size - 8 * 1048576)) 700416" \
    -c "write -z 1M 64k" -c "write -P 0x$((40 + s)) $((33 * 1048576 + 512)) 512" \
    -c "write -P 0x7a $((size - 512)) 512" "$f" > "$W/qemu-io.log" || { cat "$W/qemu-io.log" >&2; exit 1; }
}
vmx() {  # vmx FILE NAME DEV:DISK... (DEV scsi0:0 | sata0:1 ...)
  local f=$1 name=$2; shift 2
  printf '.encoding = "UTF-8"\nconfig.version = "8"\nvirtualHW.version = "19"\ndisplayName = "%s"\n' "$name" > "$f"
  printf 'guestOS = "ubuntu-64"\nnumvcpus = "2"\nmemsize = "2048"\n' >> "$f"
  local d dev
  for d in "$@"; do
    dev=${d%%=*}
    grep -q "^${dev%%:*}.present" "$f" || printf '%s.present = "TRUE"\n' "${dev%%:*}" >> "$f"
    [[ $dev != scsi* ]] || grep -q "^${dev%%:*}.virtualDev" "$f" ||
      printf '%s.virtualDev = "lsilogic"\n' "${dev%%:*}" >> "$f"
    printf '%s.present = "TRUE"\n%s.fileName = "%s"\n' "$dev" "$dev" "${d#*=}" >> "$f"
  done
  printf 'ethernet0.present = "TRUE"\nethernet0.virtualDev = "vmxnet3"\nethernet0.connectionType = "nat"\n' >> "$f"
}

echo "== building inputs in $W"
rm -rf "$W/in" "$W/out" && mkdir -p "$W/in" "$W/out"
small=$((48 * 1048576 + 3 * 512))   # odd size: a partial last grain
big=$((2048 * 1048576 + 48 * 1048576 + 3 * 512))   # two extents when split at 2 GiB
cases=()

# the demo VM, made by each binary: the generated files must be the same too
for b in ref new; do "${BIN[$b]}" demo "$W/in/demo.$b" >/dev/null; done
rc=0
for f in $(cd "$W/in/demo.ref" && ls); do cmp "$W/in/demo.ref/$f" "$W/in/demo.new/$f" || rc=1; done
[ "$(ls "$W/in/demo.ref")" = "$(ls "$W/in/demo.new")" ] || rc=1
verdict "demo: files made by 'ovatool demo'" $rc
mv "$W/in/demo.ref" "$W/in/demo" && rm -rf "$W/in/demo.new" && mv "$W/in/demo/demo.vmx" "$W/in/demo/vm.vmx"
cases+=(demo)

seed=1
for fmt in monolithicSparse monolithicFlat twoGbMaxExtentSparse twoGbMaxExtentFlat streamOptimized; do
  d=$W/in/$fmt; mkdir -p "$d"
  size=$small; [[ $fmt != twoGb* ]] || size=$big
  if [ $fmt = streamOptimized ]; then
    # qemu writes a stream only once per grain, in order: write a sparse disk
    # with qemu-io, then let qemu-img make the stream of it
    qemu-img create -q -f vmdk -o subformat=monolithicSparse "$d/src.vmdk" $size
    fill "$d/src.vmdk" $size $seed
    qemu-img convert -q -f vmdk -O vmdk -o subformat=streamOptimized "$d/src.vmdk" "$d/disk.vmdk"
    rm -f "$d/src.vmdk"
  else
    qemu-img create -q -f vmdk -o subformat=$fmt "$d/disk.vmdk" $size
    fill "$d/disk.vmdk" $size $seed
    # data across the 2 GiB extent boundary
    [[ $fmt != twoGb* ]] || { rnd "$W/r3" 262144 "$seed-3"
      qemu-io -f vmdk -c "write -s $W/r3 $((2048 * 1048576 - 131072)) 262144" "$d/disk.vmdk" > "$W/qemu-io.log"; }
  fi
  qemu-img info "$d/disk.vmdk" | grep -q "create type: $fmt" || { echo "compare_builds: qemu-img made no $fmt disk" >&2; exit 1; }
  vmx "$d/vm.vmx" "compare $fmt" scsi0:0=disk.vmdk
  cases+=("$fmt"); seed=$((seed + 1))
done

# a snapshot chain of depth 2, mixed layouts: base <- child1 <- child2
d=$W/in/chain; mkdir -p "$d"
qemu-img create -q -f vmdk -o subformat=monolithicSparse "$d/disk.vmdk" $small
fill "$d/disk.vmdk" $small $seed
qemu-img create -q -f vmdk -o subformat=twoGbMaxExtentSparse,zeroed_grain=on -b disk.vmdk -F vmdk "$d/disk-000001.vmdk"
rnd "$W/r4" 2097152 chain-1
qemu-io -f vmdk -c "write -P 0x41 4096 512" -c "write -z 1M 64k" -c "write -s $W/r4 31M 2M" "$d/disk-000001.vmdk" > "$W/qemu-io.log"
qemu-img create -q -f vmdk -b disk-000001.vmdk -F vmdk "$d/disk-000002.vmdk"
qemu-io -f vmdk -c "write -P 0x42 8192 512" -c "write -z 20M 128k" -c "write -P 0x43 40M 1M" "$d/disk-000002.vmdk" > "$W/qemu-io.log"
vmx "$d/vm.vmx" "compare chain" scsi0:0=disk-000002.vmdk
cases+=(chain)

# two disks: sparse on SCSI, flat on SATA
d=$W/in/twodisk; mkdir -p "$d"
qemu-img create -q -f vmdk -o subformat=monolithicSparse "$d/a.vmdk" $small
fill "$d/a.vmdk" $small 7
qemu-img create -q -f vmdk -o subformat=monolithicFlat "$d/b.vmdk" $((40 * 1048576 + 512))
fill "$d/b.vmdk" $((40 * 1048576 + 512)) 8
vmx "$d/vm.vmx" "compare two disks" scsi0:0=a.vmdk sata0:1=b.vmdk
cases+=(twodisk)
rm -f "$W"/r[0-9] "$W/qemu-io.log"

# ---- run both binaries --------------------------------------------------
# run_ranks BIN N ARGS...: as a plain process (N=1) or under mpirun
run_ranks() {
  local bin=$1 n=$2; shift 2
  if [ "$n" = 1 ]; then "$bin" "$@"; else "$MPIEXEC" -n "$n" "$bin" "$@"; fi
}
# same_output LABEL DIR N ARGS...: run both binaries in DIR, compare stdout,
# stderr and exit status
same_output() {
  local label=$1 dir=$2 n=$3; shift 3
  local b
  for b in ref new; do
    set +e
    (cd "$dir" && run_ranks "${BIN[$b]}" "$n" "$@") > "$W/out/o.$b" 2> "$W/out/e.$b"
    echo "exit $?" >> "$W/out/o.$b"
    set -e
  done
  local rc=0
  diff "$W/out/o.ref" "$W/out/o.new" > "$W/out/$label.diff" && diff "$W/out/e.ref" "$W/out/e.new" >> "$W/out/$label.diff" || rc=1
  [ $rc = 1 ] || rm -f "$W/out/$label.diff"
  verdict "$label: ovatool $* ($n rank(s))" $rc
}

for c in "${cases[@]}"; do
  echo "== $c"
  same_output "$c.info" "$W/in/$c" 1 info vm.vmx
  same_output "$c.info-json" "$W/in/$c" 1 info vm.vmx --json
  for n in 1 2; do
    for b in ref new; do
      # the same output path for both (the OVA's member names come from it)
      o=$W/out/$b.$n; mkdir -p "$o"
      # stderr kept aside: its warnings carry timestamps, so are not compared
      run_ranks "${BIN[$b]}" $n export "$W/in/$c/vm.vmx" -o "$o/$c.ova" -q 2> "$o/$c.err" \
        || { cat "$o/$c.err" >&2; echo "compare_builds: $b export of $c with $n rank(s) failed" >&2; }
    done
    rc=0
    [ -f "$W/out/ref.$n/$c.ova" ] && [ -f "$W/out/new.$n/$c.ova" ] && cmp "$W/out/ref.$n/$c.ova" "$W/out/new.$n/$c.ova" || rc=1
    verdict "$c: OVA exported with $n rank(s)" $rc
  done
  # validate the reference's OVA with both binaries
  if [ -f "$W/out/ref.1/$c.ova" ]; then
    same_output "$c.validate" "$W/out/ref.1" 1 validate "$c.ova" --schema "$SCHEMA"
    same_output "$c.validate-json" "$W/out/ref.1" 1 validate "$c.ova" --json --schema "$SCHEMA"
    same_output "$c.validate-deep" "$W/out/ref.1" 1 validate "$c.ova" --deep --schema "$SCHEMA"
    same_output "$c.validate-deep2" "$W/out/ref.1" 2 validate "$c.ova" --deep --schema "$SCHEMA"
  fi
done

echo "compare_builds: $total comparisons, $same identical"
if [ -n "$differ" ]; then
  echo "compare_builds: different:$differ" >&2
  echo "(outputs in $W/out; keep them with a WORKDIR argument)" >&2
  exit 1
fi
