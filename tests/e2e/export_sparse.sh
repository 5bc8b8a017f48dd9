#!/usr/bin/env bash
# export_sparse.sh CASE - export hosted sparse disks, streamOptimized input
# and snapshot chains made by qemu-img/qemu-io, with 1 and 3 ranks; the OVAs
# must be byte-identical and match `qemu-img convert -O raw` of the disk the
# VMX names (lib.sh check_ova).
#   CASE monolithicSparse | monolithicFlat | twoGbMaxExtentSparse |
#        twoGbMaxExtentFlat | streamOptimized: one disk of that subformat
#        (the split ones over 4 GiB: extents of different sizes);
#   chain1 | chain2 | chain3: snapshot chains of that depth, mixed layouts;
#   footer: re-export of a disk ovatool wrote (streamOptimized with the
#        grain directory at the end, found through the footer);
#   multidisk: a sparse disk on scsi0:0, a flat one on sata0:1 and a
#        snapshotted one on nvme0:0, compared disk by disk;
#   selfextent: a streamOptimized and a monolithicSparse disk whose embedded
#        descriptors name their extent "disk", as open-vmdk's vmdk-convert
#        writes it (no file of that name exists: the extent is the file);
#   huge: a 3 TiB monolithicSparse disk holding a few MiB: the plan lists
#        only the units that hold data (--json's units, 1 and 3 ranks), and
#        the OVA's disk is the source (qemu-img compare).
#   monolithicSparse also runs 3 ranks of 3 threads with --mem-limit 4M, so
#   that results wait at their senders until rank 0 has room (README
#   "Bounded memory").
source "$(dirname "$0")/lib.sh"
case_=$1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ovatool-e2e.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

# A raw image of SIZE bytes: text, random data, a partial last grain.
make_raw() {  # make_raw FILE SIZE
  truncate -s "$2" "$1"
  text 3000000 "some text in the first grain table" | dd of="$1" conv=notrunc status=none
  head -c 1048576 /dev/urandom | dd of="$1" bs=1M seek=20 conv=notrunc status=none
  head -c 700000 /dev/urandom | dd of="$1" bs=1k seek=32800 conv=notrunc status=none
  printf 'last sector' | dd of="$1" bs=512 seek=$(($2 / 512 - 1)) conv=notrunc status=none
}

# Writes into a snapshot child: a partial grain, zeros over data, a run over
# two grain tables.
child_writes() {  # child_writes VMDK SEED
  qemu-io -f vmdk -c "write -P $((0x40 + $2)) $((4096 * $2)) 512" -c "write -z $(($2))M 64k" \
    -c "write -P $((0x50 + $2)) $((31 + $2))M 2M" -c "write -z $((20 * 1048576 + 65536 * $2)) 128k" "$1" >/dev/null
}

snap() {  # snap PARENT CHILD [qemu-img -o options]
  qemu-img create -q -f vmdk ${3:+-o "$3"} -b "$1" -F vmdk "$2"
}

export_check() {  # export_check VMX RAW...
  local vmx=$1; shift
  for n in 1 3; do
    note "export with $n rank(s)"
    rm -rf "r$n"; mkdir -p "r$n"
    run_ranks "$n" export "$vmx" -o "r$n/vm.ova" --progress 0
  done
  cmp r1/vm.ova r3/vm.ova || fail "1-rank and 3-rank OVAs differ"
  note "checking the OVA"
  check_ova r1/vm.ova "$@"
}

size=$((40 * 1048576 + 3 * 512))
case $case_ in
  monolithicSparse|monolithicFlat|streamOptimized)
    make_raw src.raw $size
    qemu-img convert -q -f raw -O vmdk -o subformat="$case_" src.raw disk.vmdk
    qemu-img info disk.vmdk | grep -q "create type: $case_" || fail "qemu-img did not make a $case_ disk"
    write_vmx vm.vmx disk.vmdk
    export_check vm.vmx src.raw
    if [ "$case_" = monolithicSparse ]; then
      note "3 ranks of 3 threads, --mem-limit 4M"
      mkdir -p rm
      run_ranks 3 export vm.vmx -o rm/vm.ova --progress 0 --threads 3 --mem-limit 4M
      cmp r1/vm.ova rm/vm.ova || fail "the OVA with results waiting at their senders differs"
    fi ;;
  huge)
    qemu-img create -q -f vmdk -o subformat=monolithicSparse disk.vmdk 3T
    head -c 3145728 /dev/urandom > rnd.bin
    T=$((1 << 40))
    qemu-io -f vmdk -c "write -P 0x41 0 1M" -c "write -s rnd.bin $((T + 65536)) 3M" \
      -c "write -P 0x42 $((2 * T + 5 * 1048576 + 512)) 4k" -c "write -z $((2 * T + 64 * 1048576)) 1M" \
      -c "write -P 0x43 $((3 * T - 1048576)) 1M" disk.vmdk >/dev/null
    write_vmx vm.vmx disk.vmdk
    for n in 1 3; do
      note "export with $n rank(s)"
      mkdir -p "r$n"
      run_ranks "$n" export vm.vmx -o "r$n/vm.ova" --progress 0 --json > "r$n/json"
      units=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["units"])' "r$n/json") \
        || { cat "r$n/json"; fail "no units in --json"; }
      # one unit for each place with data (4 MiB units with 1 rank, 32 MiB
      # with 3), the zeros written at 2 TiB + 64 MiB one more if qemu-io
      # allocated them. Without the data map: 786,432 or 98,304 units.
      [ "$units" -ge 4 ] && [ "$units" -le 5 ] || fail "$units units planned with $n rank(s), expected 4 or 5"
    done
    cmp r1/vm.ova r3/vm.ova || fail "1-rank and 3-rank OVAs differ"
    mkdir x && tar -C x -xf r1/vm.ova
    out=$(qemu-img compare -f vmdk -F vmdk disk.vmdk x/vm-disk1.vmdk) || fail "qemu-img compare: $out" ;;
  twoGbMaxExtentSparse|twoGbMaxExtentFlat)
    big=$((4608 * 1048576 + 3 * 512))
    make_raw src.raw $big
    head -c 200000 /dev/urandom | dd of=src.raw bs=1 seek=$((2048 * 1048576 - 100000)) conv=notrunc status=none
    qemu-img convert -q -f raw -O vmdk -o subformat="$case_" src.raw disk.vmdk
    [ "$(grep -c '^RW ' disk.vmdk)" = 3 ] || fail "expected 3 extents in disk.vmdk"
    write_vmx vm.vmx disk.vmdk
    export_check vm.vmx src.raw ;;
  chain1|chain2|chain3)
    depth=${case_#chain}
    make_raw src.raw $size
    # Workstation naming: disk.vmdk <- disk-000001.vmdk <- ...
    base_fmt=(x monolithicSparse monolithicFlat twoGbMaxExtentSparse)
    qemu-img convert -q -f raw -O vmdk -o subformat="${base_fmt[$depth]}" src.raw disk.vmdk
    parent=disk.vmdk
    opts=("" "subformat=twoGbMaxExtentSparse,zeroed_grain=on" "zeroed_grain=on")
    for k in $(seq 1 "$depth"); do
      child=$(printf 'disk-%06d.vmdk' "$k")
      snap "$parent" "$child" "${opts[$(((k + depth) % 3))]}"
      child_writes "$child" "$k"
      parent=$child
    done
    qemu-img convert -q -f vmdk -O raw "$parent" top.raw
    write_vmx vm.vmx "$parent"
    export_check vm.vmx top.raw ;;
  footer)
    make_raw src.raw $size
    qemu-img convert -q -f raw -O vmdk -o subformat=monolithicSparse src.raw disk.vmdk
    write_vmx vm.vmx disk.vmdk
    mkdir -p r0 in
    "$OVATOOL" export vm.vmx -o r0/vm.ova --progress 0
    tar -C in -xf r0/vm.ova
    stream=$(cd in && ls *.vmdk)
    [ "$(od -An -tx1 -j 56 -N 8 "in/$stream" | tr -d ' ')" = ffffffffffffffff ] \
      || fail "ovatool's stream does not have the grain directory at the end"
    write_vmx in.vmx "in/$stream"
    export_check in.vmx src.raw ;;
  multidisk)
    make_raw a.raw $size
    truncate -s 7M b.raw
    head -c 3000000 /dev/urandom | dd of=b.raw bs=1k seek=1000 conv=notrunc status=none
    make_raw c.raw $size
    qemu-img convert -q -f raw -O vmdk -o subformat=twoGbMaxExtentSparse a.raw sparse.vmdk
    qemu-img convert -q -f raw -O vmdk -o subformat=monolithicFlat b.raw flat.vmdk
    qemu-img convert -q -f raw -O vmdk c.raw snap.vmdk
    snap snap.vmdk snap-000001.vmdk zeroed_grain=on
    child_writes snap-000001.vmdk 1
    snap snap-000001.vmdk snap-000002.vmdk
    child_writes snap-000002.vmdk 2
    qemu-img convert -q -f vmdk -O raw snap-000002.vmdk c-top.raw
    # listed out of order on purpose: the OVA orders disks ide < scsi < sata < nvme
    cat > vm.vmx <<VMX
.encoding = "UTF-8"
config.version = "8"
virtualHW.version = "19"
displayName = "e2e multi disk"
guestOS = "ubuntu-64"
memsize = "1024"
nvme0.present = "TRUE"
nvme0:0.present = "TRUE"
nvme0:0.fileName = "snap-000002.vmdk"
sata0.present = "TRUE"
sata0:1.present = "TRUE"
sata0:1.fileName = "flat.vmdk"
scsi0.present = "TRUE"
scsi0.virtualDev = "pvscsi"
scsi0:0.present = "TRUE"
scsi0:0.fileName = "sparse.vmdk"
ethernet0.present = "TRUE"
ethernet0.virtualDev = "vmxnet3"
ethernet0.connectionType = "nat"
VMX
    export_check vm.vmx a.raw b.raw c-top.raw ;;
  selfextent)
    make_raw src.raw $size
    for fmt in streamOptimized monolithicSparse; do
      qemu-img convert -q -f raw -O vmdk -o subformat=$fmt src.raw $fmt.vmdk
      # qemu-img cannot rename an extent: a python3 edit of the embedded
      # descriptor of the qemu-made file, NUL-padded to the length it had
      python3 - "$fmt.vmdk" <<'PY'
import struct, sys
p = sys.argv[1]
with open(p, "r+b") as f:
    h = f.read(512)
    off, size = struct.unpack_from("<QQ", h, 28)
    f.seek(off * 512)
    area = f.read(size * 512)
    old = b'"' + p.encode() + b'"'
    assert area.count(old) == 1, area[:400]
    new = area.replace(old, b'"disk"')
    new += b"\0" * (len(area) - len(new))
    f.seek(off * 512)
    f.write(new)
PY
      grep -qa 'SPARSE "disk"' $fmt.vmdk || fail "the edit of $fmt.vmdk did not take"
      [ ! -e disk ] || fail "a file named disk exists"
      out=$(qemu-img compare -f raw -F vmdk src.raw $fmt.vmdk) || fail "qemu-img compare, edited $fmt: $out"
    done
    write_vmx vm.vmx streamOptimized.vmdk
    printf '%s\n' 'scsi0:1.present = "TRUE"' 'scsi0:1.fileName = "monolithicSparse.vmdk"' >> vm.vmx
    export_check vm.vmx src.raw src.raw ;;
  *) fail "unknown case $case_" ;;
esac
pass "$case_"
