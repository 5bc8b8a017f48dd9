#!/usr/bin/env bash
# export_dwrite.sh - distributed writing (--distributed-write, README
# "Scaling past one node") on one host: with 2 and 3 ranks forced on, each
# rank writes the units it compressed and rank 0 the rest, and the OVA is
# byte for byte the single-process one, for sparse, flat, stream and
# split-extent disks, a VM of three disks and every manifest digest; the
# JSON summary counts the bytes each rank wrote; a write failure on a rank
# other than 0 stops the job with a message naming that rank, its host and
# the file, and leaves nothing; so does a failure of rank 0 after every
# result is in, while rank 1 holds units; auto stays off on one host; the options it
# cannot be combined with are usage errors; a thread compresses its next
# unit while the holder still has its last; a rank whose thread cannot set
# up ends the job.
source "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ovatool-e2e.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

head -c 3000000 /dev/urandom > rnd.bin
qemu-img create -q -f raw src.raw $((48 * 1048576))
qemu-io -f raw -c 'write -P 0x11 0 5M' -c 'write -s rnd.bin 9M 3000000' -c 'write -P 0x22 30M 64k' \
  -c 'write -s rnd.bin 40M 3000000' -c 'write -P 0x33 50330624 512' src.raw >/dev/null
one_disk_vm() {  # one_disk_vm NAME SUBFORMAT: NAME/vm.vmx over src.raw as SUBFORMAT
  mkdir -p "$1"
  qemu-img convert -q -f raw -O vmdk -o subformat="$2" src.raw "$1/disk.vmdk"
  write_vmx "$1/vm.vmx" disk.vmdk "dwrite $2"
}
for f in monolithicSparse monolithicFlat streamOptimized twoGbMaxExtentSparse; do one_disk_vm "$f" "$f"; done

# a VM of three disks of different subformats and sizes
mkdir multi
qemu-img create -q -f vmdk -o subformat=monolithicSparse multi/a.vmdk $((40 * 1048576 + 3 * 512))
qemu-io -f vmdk -c 'write -P 0x11 0 3M' -c 'write -s rnd.bin 20M 3000000' -c 'write -P 0x33 41941504 1536' \
  multi/a.vmdk >/dev/null
qemu-img create -q -f vmdk -o subformat=monolithicFlat multi/b.vmdk $((7 * 1048576))
qemu-io -f vmdk -c 'write -s rnd.bin 1M 3000000' -c 'write -P 0x55 6M 1M' multi/b.vmdk >/dev/null
qemu-img create -q -f raw multi/c0.raw $((24 * 1048576))
qemu-io -f raw -c 'write -P 0x66 1M 5M' -c 'write -s rnd.bin 17M 3000000' multi/c0.raw >/dev/null
qemu-img convert -q -f raw -O vmdk -o subformat=streamOptimized multi/c0.raw multi/c.vmdk
for d in a b c; do qemu-img convert -q -f vmdk -O raw multi/$d.vmdk multi/$d.raw; done
cat > multi/vm.vmx <<VMX
.encoding = "UTF-8"
config.version = "8"
virtualHW.version = "19"
displayName = "e2e distributed write"
guestOS = "ubuntu-64"
memsize = "1024"
scsi0.present = "TRUE"
scsi0.virtualDev = "lsilogic"
scsi0:0.present = "TRUE"
scsi0:0.fileName = "a.vmdk"
scsi0:1.present = "TRUE"
scsi0:1.fileName = "b.vmdk"
scsi0:2.present = "TRUE"
scsi0:2.fileName = "c.vmdk"
VMX

no_leftovers() {  # no_leftovers DIR
  local left; left=$(find "$1" -name '*.part' | head -5)
  [ -z "$left" ] || fail "left behind in $1: $left"
}

# json_check JSON: engaged, one figure per rank, adding up to the OVA, and
# some written by a rank other than 0
json_check() {
  python3 - "$1" <<'PY' || fail "$1: $(cat "$1")"
import json, sys
j = json.load(open(sys.argv[1]))
w = j["rank_bytes_written"]
assert j["distributed_write"] is True, "not engaged"
assert len(w) == j["ranks"], "not one figure per rank"
assert sum(w) == j["bytes_out"], "the figures do not add up to the OVA"
assert sum(w[1:]) > 0, "no rank other than 0 wrote"
PY
}

# export NAME RANKS SHA: the single-process OVA, then RANKS ranks forced on
export_pair() {
  local name=$1 n=$2 sha=$3
  mkdir -p "$name/one-$sha" "$name/d$n-$sha"
  run_ranks 1 export "$name/vm.vmx" -o "$name/one-$sha/vm.ova" -q --sha "$sha"
  # 1 MiB units (a small --mem-limit), so that every rank gets some
  run_ranks "$n" export "$name/vm.vmx" -o "$name/d$n-$sha/vm.ova" --progress 0 --threads 1 --mem-limit 8M \
    --sha "$sha" --distributed-write on --json > "$name.$n.$sha.json" 2> "$name.$n.$sha.log" \
    || { cat "$name.$n.$sha.log"; fail "$name: $n ranks, $sha"; }
  grep -q "distributed writing: every rank writes" "$name.$n.$sha.log" || fail "$name: not engaged: $(cat "$name.$n.$sha.log")"
  cmp "$name/one-$sha/vm.ova" "$name/d$n-$sha/vm.ova" || fail "$name: $n ranks, $sha: differs from one process"
  json_check "$name.$n.$sha.json"
}

for f in monolithicSparse monolithicFlat streamOptimized twoGbMaxExtentSparse; do
  note "$f, 3 ranks, distributed writing on"
  export_pair "$f" 3 sha256
done
check_ova monolithicSparse/d3-sha256/vm.ova src.raw
note "three disks, 2 and 3 ranks, sha256 / sha1 / sha512"
export_pair multi 2 sha256
export_pair multi 3 sha1
export_pair multi 3 sha512
check_ova multi/d2-sha256/vm.ova multi/a.raw multi/b.raw multi/c.raw

note "auto on one host: rank 0 writes"
mkdir auto
run_ranks 2 export multi/vm.vmx -o auto/vm.ova --progress 0 --threads 1 --json > auto.json 2> auto.log \
  || { cat auto.log; fail "auto"; }
grep -q '"distributed_write":false' auto.json || fail "auto engaged on one host: $(cat auto.json)"
cmp multi/one-sha256/vm.ova auto/vm.ova || fail "auto: differs from one process"

# fails_on RANK FAULT RANKS DIR PATTERN [VMX ARGS...]: with FAULT armed on
# rank RANK the export of VMX (default multi/vm.vmx, with --mem-limit 8M)
# exits 1 within two minutes (124: it hung), with a message matching
# PATTERN, and leaves nothing in DIR
fails_on() {
  local rank=$1 fault=$2 n=$3 dir=$4 pattern=$5 rc
  shift 5
  [ $# -gt 0 ] || set -- multi/vm.vmx --mem-limit 8M
  mkdir "$dir"
  set +e
  OVATOOL_TEST_FAIL_RANK=$rank:$fault timeout 120 "$MPIEXEC" -n "$n" --oversubscribe "$OVATOOL" export "$@" \
    -o "$dir/vm.ova" --progress 0 --threads 1 --distributed-write on > "$dir.log" 2>&1
  rc=$?
  set -e
  [ "$rc" = 1 ] || { cat "$dir.log"; fail "$fault on rank $rank exited $rc, not 1 (124: hung)"; }
  grep -q "$pattern" "$dir.log" || fail "$fault: the message does not name what failed: $(cat "$dir.log")"
  [ ! -e "$dir/vm.ova" ] || fail "$fault: output left behind"
  no_leftovers "$dir"
}

note "a write failure on rank 1: the message names the rank, its host and the file"
fails_on 1 export.dwrite 3 faildir "rank 1 on .*: .*vm.ova.*part: injected write failure"
note "rank 1's compression thread cannot set up: the job ends (it hung: the holder waited for the thread)"
fails_on 1 export.thread 2 thread "rank 1 on .*: cannot set up compression thread"
note "rank 0 fails after every result is in: the units rank 1 holds are dropped (it hung: its holder waited)"
# 2 units of 32 MiB (default memory: room for both at rank 0): rank 0, slowed,
# makes unit 0 and rank 1 unit 1, which it holds; rank 1's thread then
# stops, so rank 0's service loop ends before its writer fails (with more
# units rank 1 would wait, two held, and the loop would still run)
fails_on 0 export.late 2 late "vm.ova: injected write failure (test fault export.late)" monolithicSparse/vm.vmx

note "two units per thread: rank 1 compresses its next unit while rank 0 has not yet written its last"
# rank 0's thread takes a second a unit (export.slow), rank 1's none; as
# every unit is written in order, rank 1's thread waits for the writer: with
# one unit held it gets every second unit (9 of 18), with two held two of
# every three (12). 8 MiB units of random data (each the same size), and a
# window of 4 (--mem-limit 32M), room for the two.
head -c $((18 * 8 * 1048576)) /dev/urandom > two.raw
mkdir -p two
qemu-img convert -q -f raw -O vmdk -o subformat=monolithicSparse two.raw two/disk.vmdk
write_vmx two/vm.vmx disk.vmdk "dwrite two units"
OVATOOL_TEST_FAIL_RANK=0:export.slow run_ranks 2 export two/vm.vmx -o two/vm.ova --progress 0 --threads 1 \
  --mem-limit 32M --distributed-write on --json > two.json 2> two.log || { cat two.log; fail "two units"; }
grep -q "as 18 units" two.log || fail "two units: not the 18 units of 8 MiB the check counts on: $(cat two.log)"
python3 - two.json <<'PY' || fail "two units: rank 1 did not get two units of every three: $(cat two.json)"
import json, sys
j = json.load(open(sys.argv[1]))
w = j["rank_bytes_written"]
assert w[1] / j["bytes_out"] > 0.6, w
PY
check_ova two/vm.ova two.raw

note "usage errors"
for bad in "--resume" "--parallel-disks on"; do
  set +e
  # shellcheck disable=SC2086
  run_ranks 1 export multi/vm.vmx -o faildir/u.ova --distributed-write on $bad > usage.log 2>&1
  rc=$?
  set -e
  [ "$rc" = 2 ] || fail "--distributed-write on with $bad exited $rc, not 2: $(cat usage.log)"
  grep -q "cannot be used with ${bad%% *}" usage.log || fail "no reason given for $bad: $(cat usage.log)"
done
set +e
run_ranks 1 export multi/vm.vmx -o faildir/u.ova --distributed-write sometimes > usage.log 2>&1
rc=$?
set -e
[ "$rc" = 2 ] || fail "--distributed-write sometimes exited $rc, not 2"
grep -q "takes auto, on or off" usage.log || fail "no reason given for a bad mode: $(cat usage.log)"
set +e
run_ranks 1 export multi/vm.vmx monolithicFlat/vm.vmx -o faildir/ --distributed-write on > usage.log 2>&1
rc=$?
set -e
[ "$rc" = 2 ] || fail "--distributed-write on with a fleet exited $rc, not 2"
grep -q "is for one VM" usage.log || fail "no reason given for a fleet: $(cat usage.log)"
no_leftovers faildir
pass dwrite
