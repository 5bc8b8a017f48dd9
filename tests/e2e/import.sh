#!/usr/bin/env bash
# import.sh CASE - `ovatool import` end to end, disks made by qemu-img.
#   SUBFORMAT (monolithicSparse | monolithicFlat | twoGbMaxExtentSparse |
#        twoGbMaxExtentFlat | streamOptimized): a VM with one disk of that
#        subformat is exported, the OVA imported with 1, 2 and 3 ranks (the
#        files identical), the imported disk judged by qemu-img compare
#        against the source, qemu-img check and vmdkinfo, and the imported VM
#        exported again to the same name: byte-identical to the first OVA;
#   multidisk: disks on SCSI (pvscsi), SATA and NVMe, an empty CD-ROM, two
#        NICs: the same round trip, disk by disk;
#   formats: --disk-format twoGbMaxExtentSparse and monolithicFlat (the
#        round trip too), the unpacked-folder input (vm.ovf), --dry-run,
#        --overwrite, --json, --target-hw;
#   layouts: the disk member replaced by open-vmdk's stream layout (grain
#        tables first; tests/e2e/stream_meta_first.c) with a SHA-1 manifest
#        placed last, and by qemu-img's stream: imported with 1 and 2 ranks,
#        the disk judged against the source;
#   corrupt: a digest mismatch, a truncated member, a bad grain (1 and 2
#        ranks), a worker failing on rank 0 or 1 (test fault import.batch),
#        SIGTERM mid-way (import.slow; 1 and 2 ranks), SIGINT (1 rank):
#        exit non-zero (1 for the signals), the member (or the rank) named,
#        nothing left in the folder; a worker rank frozen and then killed:
#        nothing left either.
source "$(dirname "$0")/lib.sh"
case_=$1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ovatool-e2e.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
export SOURCE_DATE_EPOCH=1700000000
command -v qemu-img >/dev/null || skip "qemu-img not installed"

make_raw() {  # make_raw FILE SIZE: text, random data, a partial run, the last sector
  truncate -s "$2" "$1"
  text 3000000 "some text in the first grain table" | dd of="$1" conv=notrunc status=none
  head -c 1048576 /dev/urandom | dd of="$1" bs=1M seek=20 conv=notrunc status=none
  head -c 700000 /dev/urandom | dd of="$1" bs=1k seek=32800 conv=notrunc status=none
  printf 'last sector' | dd of="$1" bs=512 seek=$(($2 / 512 - 1)) conv=notrunc status=none
}

judge_disk() {  # judge_disk RAW VMDK
  qemu-img check -q -f vmdk "$2" || fail "qemu-img check failed on $2"
  local out; out=$(qemu-img compare -f raw -F vmdk "$1" "$2") || fail "qemu-img compare $2: $out"
  if command -v vmdkinfo >/dev/null; then
    vmdkinfo "$2" >/dev/null || fail "vmdkinfo rejects $2"
  else
    skip_part "vmdkinfo (not installed)"
  fi
}

# same_files A B: the folders hold the same files with the same bytes. Big
# (flat, sparse) files are compared as raw images by qemu-img, which skips
# their holes: reading 4.5 GiB of holes with cmp takes a minute.
same_files() {
  [ "$(cd "$1" && ls -A)" = "$(cd "$2" && ls -A)" ] || return 1
  local f
  for f in $(cd "$1" && ls -A); do
    if [ "$(stat -c %s "$1/$f")" -gt $((256 * 1048576)) ]; then
      [ "$(stat -c %s "$1/$f")" = "$(stat -c %s "$2/$f")" ] || return 1
      qemu-img compare -q -f raw -F raw "$1/$f" "$2/$f" || return 1
    else
      cmp -s "$1/$f" "$2/$f" || return 1
    fi
  done
}

# roundtrip OVA RAW...: import with 1, 2, 3 ranks (3: with --buffered-io,
# the others O_DIRECT where the folder takes it); identical files; each disk
# judged; export of the import to the OVA's own name gives the OVA back.
roundtrip() {
  local ova=$1; shift
  local name; name=$(basename "$ova" .ova)
  local io
  for n in 1 2 3; do
    io=(); [ "$n" = 3 ] && io=(--buffered-io)
    note "import with $n rank(s) ${io[*]}"
    rm -rf "i$n"; mkdir "i$n"
    run_ranks "$n" import "$ova" -o "i$n/" --progress 0 "${io[@]}" "${IMPORT_OPTS[@]}"
  done
  same_files i1 i2 && same_files i1 i3 || fail "imports with 1, 2 and 3 ranks (--buffered-io) differ"
  [ -f "i1/$name.vmx" ] || fail "no $name.vmx"
  local k=1
  for raw in "$@"; do
    judge_disk "$raw" "i1/$name-disk$k.vmdk"
    k=$((k + 1))
  done
  [ "$(ls -A i1 | grep -c '^\.')" = 0 ] || fail "temporary files left: $(ls -A i1)"
  note "export of the imported VM"
  rm -rf again; mkdir again
  "$OVATOOL" export "i1/$name.vmx" -o "again/$name.ova" --progress 0
  cmp "$ova" "again/$name.ova" || {
    mkdir -p xa xb; tar -C xa -xf "$ova"; tar -C xb -xf "again/$name.ova"; diff xa/*.ovf xb/*.ovf || true
    fail "export(import(OVA)) is not the OVA"
  }
}

IMPORT_OPTS=()
size=$((40 * 1048576 + 3 * 512))
case $case_ in
  monolithicSparse|monolithicFlat|streamOptimized)
    make_raw src.raw $size
    qemu-img convert -q -f raw -O vmdk -o subformat="$case_" src.raw disk.vmdk
    write_vmx vm.vmx disk.vmdk
    mkdir r && "$OVATOOL" export vm.vmx -o r/vm.ova --progress 0
    roundtrip r/vm.ova src.raw ;;
  twoGbMaxExtentSparse|twoGbMaxExtentFlat)
    big=$((4608 * 1048576 + 3 * 512))
    make_raw src.raw $big
    head -c 200000 /dev/urandom | dd of=src.raw bs=1 seek=$((2048 * 1048576 - 100000)) conv=notrunc status=none
    qemu-img convert -q -f raw -O vmdk -o subformat="$case_" src.raw disk.vmdk
    write_vmx vm.vmx disk.vmdk
    mkdir r && "$OVATOOL" export vm.vmx -o r/vm.ova --progress 0
    roundtrip r/vm.ova src.raw ;;
  multidisk)
    make_raw a.raw $size
    make_raw b.raw $((8 * 1048576))
    make_raw c.raw $((24 * 1048576))
    qemu-img convert -q -f raw -O vmdk -o subformat=monolithicSparse a.raw a.vmdk
    qemu-img convert -q -f raw -O vmdk -o subformat=monolithicFlat b.raw b.vmdk
    qemu-img convert -q -f raw -O vmdk -o subformat=streamOptimized c.raw c.vmdk
    cat > vm.vmx <<'VMX'
.encoding = "UTF-8"
config.version = "8"
virtualHW.version = "19"
displayName = "e2e import multi"
guestOS = "debian11-64"
numvcpus = "4"
cpuid.coresPerSocket = "2"
memsize = "4096"
firmware = "efi"
scsi0.present = "TRUE"
scsi0.virtualDev = "pvscsi"
scsi0:0.present = "TRUE"
scsi0:0.fileName = "a.vmdk"
sata0.present = "TRUE"
sata0:1.present = "TRUE"
sata0:1.fileName = "b.vmdk"
sata0:2.present = "TRUE"
sata0:2.deviceType = "cdrom-image"
sata0:2.fileName = "none.iso"
sata0:2.startConnected = "FALSE"
nvme0.present = "TRUE"
nvme0:0.present = "TRUE"
nvme0:0.fileName = "c.vmdk"
ethernet0.present = "TRUE"
ethernet0.virtualDev = "vmxnet3"
ethernet0.connectionType = "nat"
ethernet1.present = "TRUE"
ethernet1.virtualDev = "e1000e"
ethernet1.connectionType = "bridged"
VMX
    mkdir r && "$OVATOOL" export vm.vmx -o r/multi.ova --progress 0
    roundtrip r/multi.ova a.raw b.raw c.raw ;;
  formats)
    make_raw src.raw $((4608 * 1048576 + 512))
    qemu-img convert -q -f raw -O vmdk -o subformat=monolithicSparse src.raw disk.vmdk
    write_vmx vm.vmx disk.vmdk
    mkdir r && "$OVATOOL" export vm.vmx -o r/vm.ova --progress 0
    for fmt in twoGbMaxExtentSparse monolithicFlat; do
      note "--disk-format $fmt"
      IMPORT_OPTS=(--disk-format "$fmt")
      roundtrip r/vm.ova src.raw
      grep -q "createType=\"$fmt\"" i1/vm-disk1.vmdk || fail "vm-disk1.vmdk is not $fmt"
      if [ "$fmt" = monolithicFlat ]; then
        [ "$(stat -c %s i1/vm-disk1-flat.vmdk)" = $((4608 * 1048576 + 512)) ] || fail "flat file size"
        [ "$(du -k i1/vm-disk1-flat.vmdk | cut -f1)" -lt 65536 ] || fail "the flat file is not sparse"
      else
        [ -f i1/vm-disk1-s003.vmdk ] && [ ! -e i1/vm-disk1-s004.vmdk ] || fail "expected 3 extents"
      fi
      mv i1 "keep-$fmt"
    done
    IMPORT_OPTS=()
    note "the default: monolithicSparse, thin"
    mkdir d && "$OVATOOL" import r/vm.ova -o d/ --progress 0
    judge_disk src.raw d/vm-disk1.vmdk
    [ "$(stat -c %s d/vm-disk1.vmdk)" -lt $((16 * 1048576)) ] || fail "the sparse disk is not thin"
    note "the unpacked folder: vm.ovf with its files"
    mkdir un && tar -C un -xf r/vm.ova
    mkdir f && "$OVATOOL" import un/vm.ovf -o f/ --progress 0
    same_files d f || fail "import of vm.ovf differs from import of vm.ova"
    note "--dry-run writes nothing"
    mkdir dr && "$OVATOOL" import r/vm.ova -o dr/ --dry-run > dry.txt
    [ -z "$(ls -A dr)" ] || fail "--dry-run wrote $(ls -A dr)"
    grep -q "would write dr/vm.vmx" dry.txt && grep -q "dr/vm-disk1.vmdk" dry.txt || { cat dry.txt; fail "--dry-run output"; }
    note "--overwrite"
    if "$OVATOOL" import r/vm.ova -o d/ --progress 0 2> err.txt; then fail "an existing VM was replaced"; fi
    grep -q "d/vm.vmx exists; use --overwrite" err.txt || { cat err.txt; fail "the refusal does not say why"; }
    "$OVATOOL" import r/vm.ova -o d/ --progress 0 --overwrite --json --target-hw 14 > j.json
    python3 - j.json <<'PY' || fail "--json summary"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["vmx"] == "d/vm.vmx" and j["hw_version"] == 14 and j["digests_checked"] == 2, j
d = j["disks"][0]
assert d["member"] == "vm-disk1.vmdk" and d["capacity"] == 4608 * 1048576 + 512 and 0 < d["allocated"] < 16 << 20, d
assert j["bytes_written"] == d["allocated"] and j["ranks"] == 1 and "rank_bytes_written" not in j, j
PY
    grep -qx 'virtualHW.version = "14"' d/vm.vmx || fail "--target-hw 14 not in the VMX"
    judge_disk src.raw d/vm-disk1.vmdk ;;
  layouts)
    [ -x "${STREAM_META_FIRST:-}" ] || fail "STREAM_META_FIRST (the test writer) is not set or not built"
    make_raw src.raw $size
    qemu-img convert -q -f raw -O vmdk -o subformat=monolithicFlat src.raw disk.vmdk
    write_vmx vm.vmx disk.vmdk
    mkdir r && "$OVATOOL" export vm.vmx -o r/vm.ova --progress 0
    "$STREAM_META_FIRST" src.raw meta.vmdk
    qemu-img convert -q -f raw -O vmdk -o subformat=streamOptimized src.raw q.vmdk
    # with_disk VMDK OVA ALG MEMBERS...: the export with VMDK as its disk
    # member, ovf:size and the manifest (digests ALG) redone
    with_disk() {
      local disk=$1 out=$2 alg=$3; shift 3
      rm -rf x && mkdir x && tar -C x -xf r/vm.ova
      cp "$disk" x/vm-disk1.vmdk
      local size; size=$(stat -c %s x/vm-disk1.vmdk)
      sed -i -E "/ovf:href=\"vm-disk1.vmdk\"/ s/ovf:size=\"[0-9]+\"/ovf:size=\"$size\"/" x/vm.ovf
      [ "$(ovf_file_size x/vm.ovf vm-disk1.vmdk file1)" = "$size" ] || fail "could not patch ovf:size"
      (cd x && for f in vm.ovf vm-disk1.vmdk; do
        echo "${alg^^}($f)= $("${alg}sum" "$f" | cut -d' ' -f1)"; done) > x/vm.mf
      (cd x && tar --format=ustar -cf "../$out" "$@")
    }
    with_disk meta.vmdk meta.ova sha1 vm.ovf vm-disk1.vmdk vm.mf
    with_disk q.vmdk qemu.ova sha256 vm.ovf vm.mf vm-disk1.vmdk
    for ova in meta.ova qemu.ova; do
      for n in 1 2; do
        note "$ova with $n rank(s)"
        rm -rf "o$n" && mkdir "o$n"
        run_ranks "$n" import "$ova" -o "o$n/" --progress 0 --json > "o$n.json"
        grep -q '"digests_checked":2' "o$n.json" || { cat "o$n.json"; fail "$ova: digests not checked"; }
        python3 - "o$n.json" "$n" <<'PY' || fail "$ova: --json with $n rank(s)"
import json, sys
j, n = json.load(open(sys.argv[1])), int(sys.argv[2])
assert j["ranks"] == n, j
assert j["bytes_written"] == sum(d["allocated"] for d in j["disks"]) > 0, j
if n > 1:  # every rank's share, adding up to the whole
    assert len(j["rank_bytes_written"]) == n and sum(j["rank_bytes_written"]) == j["bytes_written"], j
PY
      done
      same_files o1 o2 || fail "$ova: 1 and 2 ranks differ"
      judge_disk src.raw o1/vm-disk1.vmdk
    done ;;
  corrupt)
    make_raw src.raw $size
    qemu-img convert -q -f raw -O vmdk -o subformat=monolithicSparse src.raw disk.vmdk
    write_vmx vm.vmx disk.vmdk
    mkdir r && "$OVATOOL" export vm.vmx -o r/vm.ova --progress 0
    # offset of the disk member's data in the OVA
    off=$(python3 - r/vm.ova <<'PY'
import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    print([m for m in t.getmembers() if m.name == "vm-disk1.vmdk"][0].offset_data)
PY
)
    expect_fail() {  # expect_fail OVA RANKS PATTERN
      rm -rf o; mkdir o
      if run_ranks "$2" import "$1" -o o/ --progress 0 2> err.txt; then fail "$1 imported"; fi
      grep -q -- "$3" err.txt || { cat err.txt; fail "no '$3' in the error"; }
      [ -z "$(ls -A o)" ] || fail "left in the folder: $(ls -A o)"
    }
    note "digest mismatch"
    cp r/vm.ova dg.ova
    python3 - dg.ova <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
i = b.index(b"SHA256(vm-disk1.vmdk)= ") + len("SHA256(vm-disk1.vmdk)= ")
b[i] = ord("0") if b[i] != ord("0") else ord("1")
open(sys.argv[1], "wb").write(b)
PY
    expect_fail dg.ova 1 "vm-disk1.vmdk: SHA256 digest does not match the manifest"
    note "truncated member"
    cp r/vm.ova tr.ova && truncate -s $((off + 1000000)) tr.ova
    expect_fail tr.ova 1 "vm-disk1.vmdk"
    note "bad grain (manifest made to match)"
    cp r/vm.ova bad.ova
    python3 - bad.ova "$off" <<'PY'
import hashlib, re, sys, tarfile
path, off = sys.argv[1], int(sys.argv[2])
b = bytearray(open(path, "rb").read())
size = [m for m in tarfile.open(path).getmembers() if m.name == "vm-disk1.vmdk"][0].size
g = off + 128 * 512          # the first grain record: marker, then zlib data
b[g + 12 + 40:g + 12 + 48] = b"\xff" * 8
d = hashlib.sha256(b[off:off + size]).hexdigest().encode()
i = b.index(b"SHA256(vm-disk1.vmdk)= ") + len("SHA256(vm-disk1.vmdk)= ")
b[i:i + 64] = d
open(path, "wb").write(b)
PY
    expect_fail bad.ova 1 "vm-disk1.vmdk: bad grain at LBA 0"
    expect_fail bad.ova 2 "bad grain at LBA 0"
    note "a worker on another rank fails (test fault import.batch)"
    # 64 MiB of random data: 16 batches, so rank 1's two workers get some
    head -c $((64 * 1048576)) /dev/urandom > big.raw
    qemu-img convert -q -f raw -O vmdk -o subformat=monolithicSparse big.raw big.vmdk
    write_vmx big.vmx big.vmdk
    mkdir rb && "$OVATOOL" export big.vmx -o rb/vm.ova --progress 0 -q
    OVATOOL_TEST_FAIL_RANK=1:import.batch expect_fail rb/vm.ova 2 "rank 1 on .*injected read error"
    OVATOOL_TEST_FAIL_RANK=0:import.batch expect_fail r/vm.ova 1 "vm-disk1.vmdk: injected read error"
    note "SIGTERM, SIGINT mid-way (test fault import.slow): stopped, exit 1, nothing left"
    for run in 1:TERM 2:TERM 1:INT; do
      n=${run%%:*}; sig=${run#*:}
      rm -rf o; mkdir o
      # not through run_ranks: $! must be the process the signal is for
      launch=("$OVATOOL")
      [ "$n" = 1 ] || launch=("$MPIEXEC" -n "$n" --oversubscribe "$OVATOOL")
      OVATOOL_TEST_FAIL_RANK=0:import.slow "${launch[@]}" import rb/vm.ova -o o/ --progress 0 2> err.txt &
      pid=$!
      for _ in $(seq 100); do [ -n "$(ls -A o)" ] && break; sleep 0.1; done
      [ -n "$(ls -A o)" ] || fail "the import wrote no temporary file"
      sleep 0.5
      if [ "$n" = 1 ]; then
        kill -"$sig" "$pid"
      else
        # every rank gets the signal, as Slurm signals every task; a SIGTERM
        # to Open MPI 4.1's mpirun kills its ranks before their handlers run
        # (export_signal.sh)
        pkill -"$sig" -P "$pid" || fail "no rank processes under mpirun ($pid)"
      fi
      rc=0; wait "$pid" || rc=$?
      [ "$rc" = 1 ] || { cat err.txt; fail "the import stopped by SIG$sig exited $rc, not 1"; }
      grep -q "stopped by SIG$sig; removed the partial import" err.txt || { cat err.txt; fail "no stop message"; }
      [ -z "$(ls -A o)" ] || fail "left after SIG$sig with $n rank(s): $(ls -A o)"
    done
    note "a worker rank dies (frozen, then SIGKILL): rank 0 removes its temporary files"
    # rank 1 is frozen once rank 0 has begun, so a batch of rank 1's never
    # comes back; when rank 1 is killed, mpirun sends rank 0 SIGTERM and,
    # a second later, SIGKILL: rank 0's graceful stop waits for that batch
    # and never gets to remove its files, so its signal handler must
    rm -rf o; mkdir o
    OVATOOL_TEST_FAIL_RANK=0:import.slow "$MPIEXEC" -n 2 --oversubscribe "$OVATOOL" import rb/vm.ova -o o/ \
      --progress 0 --threads 1 > err.txt 2>&1 &
    pid=$!
    for _ in $(seq 100); do [ -n "$(ls -A o)" ] && break; sleep 0.1; done
    [ -n "$(ls -A o)" ] || fail "the import wrote no temporary file"
    r1=""
    for p in $(pgrep -P "$pid" -x ovatool); do
      if tr '\0' '\n' < "/proc/$p/environ" | grep -qx OMPI_COMM_WORLD_RANK=1; then r1=$p; fi
    done
    [ -n "$r1" ] || fail "rank 1 not found under mpirun ($pid)"
    kill -STOP "$r1"
    sleep 2
    kill -KILL "$r1"
    rc=0; wait "$pid" || rc=$?
    [ "$rc" != 0 ] || fail "mpirun exited 0 after rank 1 was killed"
    [ -z "$(ls -A o)" ] || { cat err.txt; fail "left after rank 1 was killed: $(ls -A o)"; } ;;
  *) fail "unknown case $case_" ;;
esac
pass "import.$case_"
