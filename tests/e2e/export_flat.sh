#!/usr/bin/env bash
# export_flat.sh SUBFORMAT LAYOUT - export a flat disk made by qemu-img as a
# plain process, with 2 ranks and with 3 ranks; the three OVAs must be
# byte-identical and pass every independent check (lib.sh check_ova).
#   LAYOUT small: 1 MiB; odd: 33 MiB + one sector (partial last grain, two
#   grain tables); tail6g: 6 GiB with data only near the end (64-bit offsets,
#   empty grain tables).
source "$(dirname "$0")/lib.sh"
fmt=$1 layout=$2
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ovatool-e2e.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

raw=$WORK/src.raw
case $layout in
  small)
    truncate -s 1M "$raw"
    text 262144 "the quick brown fox jumps over the lazy dog" | dd of="$raw" conv=notrunc status=none
    head -c 131072 /dev/urandom | dd of="$raw" bs=1k seek=512 conv=notrunc status=none ;;
  odd)
    truncate -s $((33 * 1048576 + 512)) "$raw"
    text 3000000 "some text in the first grain table" | dd of="$raw" conv=notrunc status=none
    head -c 1048576 /dev/urandom | dd of="$raw" bs=1M seek=20 conv=notrunc status=none
    head -c 700000 /dev/urandom | dd of="$raw" bs=1k seek=32800 conv=notrunc status=none
    printf 'last sector' | dd of="$raw" bs=512 seek=$((33 * 2048)) conv=notrunc status=none ;;
  tail6g)
    truncate -s 6G "$raw"
    head -c 1048576 /dev/urandom | dd of="$raw" bs=1M seek=$((6 * 1024 - 3)) conv=notrunc status=none
    printf 'the very end' | dd of="$raw" bs=512 seek=$((6 * 2097152 - 1)) conv=notrunc status=none ;;
  *) fail "unknown layout $layout" ;;
esac

qemu-img convert -q -f raw -O vmdk -o subformat="$fmt" "$raw" disk.vmdk
qemu-img info disk.vmdk | grep -q "create type: $fmt" || fail "qemu-img did not make a $fmt disk"
write_vmx vm.vmx disk.vmdk

# same file name in three folders: member names derive from it
for n in 1 2 3; do
  note "export with $n rank(s)"
  mkdir -p "r$n"
  run_ranks "$n" export vm.vmx -o "r$n/vm.ova" --progress 0
  if ls -A "r$n" | grep -q '\.part$'; then fail "temporary file left behind"; fi
done
cmp r1/vm.ova r2/vm.ova || fail "1-rank and 2-rank OVAs differ"
cmp r1/vm.ova r3/vm.ova || fail "1-rank and 3-rank OVAs differ"
note "checking the OVA"
check_ova r1/vm.ova "$raw"
pass "$fmt $layout"
