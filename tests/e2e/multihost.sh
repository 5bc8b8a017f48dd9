#!/usr/bin/env bash
# multihost.sh - ranks on three "hosts" (network namespaces joined by a
# bridge, TCP between them, shared file system as on a cluster): the OVA
# must equal the single-process one, and a failure on a remote host must
# stop every rank with a message naming that host and no output; a fleet
# of VMs over the same ranks gives the single-process OVAs, with work on
# every host and each VM's writer named; `import` over the same ranks (a
# two-disk OVA, a gzip-then-chunked one) gives the single-process files, and
# a worker failing on a remote rank is named with its host, nothing left.
# Needs root (ip netns); reported as SKIP otherwise.
source "$(dirname "$0")/lib.sh"
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || ! command -v unshare >/dev/null; then
  skip "multi-host test needs root, ip and unshare"
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ovatool-e2e.XXXXXX")
tag=$$
sw=ovs$tag
cleanup() {
  for i in 1 2 3; do ip netns del "ova$tag-$i" 2>/dev/null || true; done
  ip netns del "$sw" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
# a private /24 that exists only inside these namespaces
net=10.231.$((tag % 200 + 20))
ip netns add "$sw" || skip "cannot create network namespaces here"
ip netns exec "$sw" ip link add br0 type bridge
ip netns exec "$sw" ip link set br0 up
for i in 1 2 3; do
  ip netns add "ova$tag-$i"
  ip link add "v$tag-$i" netns "$sw" type veth peer name eth0 netns "ova$tag-$i"
  ip netns exec "$sw" ip link set "v$tag-$i" master br0 up
  ip netns exec "ova$tag-$i" ip addr add "$net.$i/24" dev eth0
  ip netns exec "ova$tag-$i" ip link set eth0 up
  ip netns exec "ova$tag-$i" ip link set lo up
done
# mpirun's ssh stand-in: run the command in that host's namespace, with its
# own hostname (Open MPI's shared-memory files are named after it)
cat > nsrsh <<SH
#!/bin/sh
host=\$1; shift
i=\${host##*.}
exec ip netns exec ova$tag-\$i unshare --uts sh -c "hostname node\$i; \$*"
SH
chmod +x nsrsh
printf '%s slots=2\n' "$net.1" "$net.2" "$net.3" > hosts

truncate -s 100M src.raw
text 6000000 "multi-host export test data" | dd of=src.raw conv=notrunc status=none
head -c 40000000 /dev/urandom | dd of=src.raw bs=1M seek=60 conv=notrunc status=none
qemu-img convert -q -f raw -O vmdk -o subformat=monolithicFlat src.raw disk.vmdk
write_vmx vm.vmx disk.vmdk
mkdir r1 r6
"$OVATOOL" export vm.vmx -o r1/vm.ova -q

mpi6() {  # mpi6 ARGS...: 6 ranks over the 3 hosts, mpirun itself on host 1
  ip netns exec "ova$tag-1" unshare --uts sh -c "hostname node1; \
    $MPIEXEC --hostfile hosts -n 6 --map-by node --bind-to none -x OVATOOL_TEST_FAIL_RANK \
      --mca plm_rsh_agent $WORK/nsrsh --mca oob_tcp_if_include $net.0/24 \
      --mca btl_tcp_if_include $net.0/24 --mca btl self,vader,tcp $*"
}
note "6 ranks on 3 hosts"
OVATOOL_TEST_FAIL_RANK= mpi6 "$OVATOOL" export vm.vmx -o r6/vm.ova --threads 1 2>&1 | grep -v setpgid
cmp r1/vm.ova r6/vm.ova || fail "the 6-rank, 3-host OVA differs from the single-process one"
check_ova r6/vm.ova src.raw

# distributed writing (README "Scaling past one node"): auto engages over
# three hosts; on and off give the same bytes, and with it every host writes
note "6 ranks on 3 hosts: distributed writing auto, on, off"
mkdir rauto ron roff
OVATOOL_TEST_FAIL_RANK= mpi6 "$OVATOOL" export vm.vmx -o rauto/vm.ova --threads 1 --json > auto.json 2> log \
  || { cat log; fail "auto over 3 hosts"; }
cmp r1/vm.ova rauto/vm.ova || fail "auto over 3 hosts: the OVA differs from the single-process one"
grep -q '"distributed_write":true' auto.json || fail "auto did not engage over 3 hosts: $(cat auto.json) $(cat log)"
OVATOOL_TEST_FAIL_RANK= mpi6 "$OVATOOL" export vm.vmx -o ron/vm.ova --threads 1 --mem-limit 8M --json \
  --distributed-write on > on.json 2> log || { cat log; fail "on over 3 hosts"; }
cmp r1/vm.ova ron/vm.ova || fail "distributed writing over 3 hosts: the OVA differs from the single-process one"
python3 - on.json <<'PY' || fail "the JSON summary of distributed writing: $(cat on.json)"
import json, sys
s = json.load(open(sys.argv[1]))
w = s["rank_bytes_written"]
assert s["distributed_write"] is True and s["ranks"] == 6 and len(w) == 6, s
assert sum(w) == s["bytes_out"], s
# --map-by node: ranks 0 and 3 on node1, 1 and 4 on node2, 2 and 5 on node3
for host, ranks in (("node2", (1, 4)), ("node3", (2, 5))):
    assert sum(w[r] for r in ranks) > 0, (host, w)
print("bytes written by rank:", w)
PY
OVATOOL_TEST_FAIL_RANK= mpi6 "$OVATOOL" export vm.vmx -o roff/vm.ova --threads 1 --json \
  --distributed-write off > off.json 2> log || { cat log; fail "off over 3 hosts"; }
cmp r1/vm.ova roff/vm.ova || fail "rank-0 writing over 3 hosts: the OVA differs from the single-process one"
grep -q '"distributed_write":false' off.json || fail "off engaged: $(cat off.json)"

note "rank 4 (on host 2) fails to write its unit"
set +e
OVATOOL_TEST_FAIL_RANK=4:export.dwrite mpi6 "$OVATOOL" export vm.vmx -o ron/fail.ova --threads 1 --mem-limit 8M \
  --distributed-write on > log 2>&1
rc=$?
set -e
grep -v setpgid log
[ "$rc" != 0 ] || fail "the export succeeded although rank 4 could not write"
grep -q "rank 4 on node2: .*fail.ova.*part: injected write failure" log || fail "the message does not name rank 4, its host and the file"
[ ! -e ron/fail.ova ] || fail "output left behind"
if ls -A ron | grep -q '\.part$'; then fail "temporary file left behind"; fi

note "rank 4 (on host 2) fails"
# The hook fails a rank's first unit, so rank 4 must get one: units are
# handed to whoever asks first, and at 32 MiB this disk (46 MB of data) has
# only 2 units for 6 ranks. --mem-limit 8M makes 2 MiB units, over 20 of
# them (with 4 MB of random data, 5: rank 4 often got none and the export
# succeeded).
set +e
OVATOOL_TEST_FAIL_RANK=4 mpi6 "$OVATOOL" export vm.vmx -o r6/fail.ova --threads 1 --mem-limit 8M > log 2>&1
rc=$?
set -e
grep -v setpgid log
[ "$rc" != 0 ] || fail "the export succeeded although rank 4 failed"
grep -q "rank 4 on node2: .*disk.vmdk" log || fail "the message does not name rank 4, its host and the disk"
[ ! -e r6/fail.ova ] || fail "output left behind"
if ls -A r6 | grep -q '\.part$'; then fail "temporary file left behind"; fi
note "a fleet of 4 VMs and a broken one, 6 ranks on 3 hosts"
# VMs of different sizes; each OVA must equal the single-process export of
# its VM, and the summary must show every host compressing and the writers
# spread over the hosts
for v in f1:48 f2:24 f3:8 f4:2; do
  n=${v%%:*}; mib=${v#*:}
  mkdir -p $n
  truncate -s ${mib}M $n/src.raw
  text $(( mib * 300000 )) "fleet $n" | dd of=$n/src.raw conv=notrunc status=none
  head -c $(( mib * 30000 )) /dev/urandom | dd of=$n/src.raw bs=1M seek=$(( mib / 2 )) conv=notrunc status=none
  qemu-img convert -q -f raw -O vmdk -o subformat=monolithicSparse $n/src.raw $n/disk.vmdk
  rm $n/src.raw
  write_vmx $n/vm.vmx disk.vmdk "vm-$n"
  "$OVATOOL" export $n/vm.vmx -o r1 -q
done
mkdir broken && write_vmx broken/vm.vmx gone.vmdk "vm-broken"
mkdir fleet
printf 'f3/vm.vmx\nbroken/vm.vmx\nf1/vm.vmx\n# a comment\nf4/vm.vmx\nf2/vm.vmx\n' > fleet.list
set +e
OVATOOL_TEST_FAIL_RANK= mpi6 "$OVATOOL" export --list $WORK/fleet.list -o fleet --threads 1 --mem-limit 8M --json \
  > fleet.json 2> log
rc=$?
set -e
grep -v setpgid log
[ "$rc" = 1 ] || fail "the fleet with a broken VM exited $rc, not 1"
for n in f1 f2 f3 f4; do
  cmp r1/vm-$n.ova fleet/vm-$n.ova || fail "fleet OVA of $n differs from the single-process one"
done
grep -q "broken/vm.vmx: not exported: .*gone.vmdk" log || fail "the broken VM is not reported with its file"
[ ! -e fleet/vm-broken.ova ] || fail "output of the broken VM left behind"
if ls -A fleet | grep -q '\.part$'; then fail "temporary file left behind"; fi
python3 - fleet.json <<'PY' || fail "the fleet's JSON summary"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["ranks"] == 6 and s["vms_failed"] == 1, s
ok = [v for v in s["vms"] if v["status"] == "ok"]
assert len(ok) == 4, s["vms"]
work = s["rank_work"]
hosts = {r["host"] for r in work if r["units"] > 0 and r["bytes_compressed"] > 0}
assert hosts == {"node1", "node2", "node3"}, work
writers = {v["writer_host"] for v in ok}
assert writers == {"node1", "node2", "node3"}, ok
for v in ok:
    w = work[v["writer_rank"]]
    assert w["host"] == v["writer_host"] and w["vms_written"] >= 1, (v, w)
print("\n".join("%s: rank %d on %s" % (v["vmx"], v["writer_rank"], v["writer_host"]) for v in ok))
PY
# import (README "Import"): every rank opens the input and the output's
# temporary files by the same paths, here the shared file system; the
# files must equal a single-process import's. A two-disk VM (the 100 MiB
# flat disk and 64 MiB of random data: 16 grain batches, enough for the
# remote ranks' workers), and a gzip-then-chunked OVA from another
# producer (chunked and gzip members go through rank 0's own reader).
note "import, 6 ranks on 3 hosts"
head -c $((64 * 1048576)) /dev/urandom > rnd.raw
qemu-img convert -q -f raw -O vmdk -o subformat=monolithicSparse rnd.raw rnd.vmdk
rm rnd.raw
write_vmx two.vmx disk.vmdk "vm-two"
printf 'scsi0:1.present = "TRUE"\nscsi0:1.fileName = "rnd.vmdk"\n' >> two.vmx
"$OVATOOL" export two.vmx -o r1/two.ova -q
source "$(dirname "$0")/foreign_ova.sh"
fova_gzip_chunked src.raw gzc.ova
for ova in r1/two.ova gzc.ova; do
  name=$(basename "$ova" .ova)
  mkdir "imp1-$name" "imp6-$name"
  "$OVATOOL" import "$ova" -o "imp1-$name/" --progress 0 -q
  OVATOOL_TEST_FAIL_RANK= mpi6 "$OVATOOL" import "$WORK/$ova" -o "$WORK/imp6-$name/" --threads 1 --progress 0 \
    --json > "imp-$name.json" 2> log || { cat log; fail "import of $ova over 3 hosts"; }
  [ "$(cd "imp1-$name" && ls -A)" = "$(cd "imp6-$name" && ls -A)" ] \
    || fail "$ova: the 6-rank import wrote $(ls -A "imp6-$name"), the single-process one $(ls -A "imp1-$name")"
  for f in $(cd "imp1-$name" && ls -A); do
    cmp "imp1-$name/$f" "imp6-$name/$f" || fail "$ova: $f of the 6-rank, 3-host import differs from the single-process one"
  done
  # the summary is the whole job's: six ranks, whose grain bytes add up to
  # what was written (which ranks get batches depends on timing)
  python3 - "imp-$name.json" <<'PY' || fail "$ova: the import's JSON summary: $(cat "imp-$name.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["bytes_in"] > 0 and s["bytes_read"] > 0 and s["bytes_written"] > 0, s
w = s["rank_bytes_written"]
assert s["ranks"] == 6 and len(w) == 6 and sum(w) == s["bytes_written"], s
print("grain bytes per rank:", w)
PY
done
[ "$(ls imp1-two | grep -c '\.vmdk$')" = 2 ] || fail "the two-disk import wrote $(ls imp1-two)"
# work on a remote host: the remote ranks' workers get batches, so a worker
# failing on rank 4 (host 2) fails the import, named, and nothing is left
note "import: a worker on rank 4 (host 2) fails"
mkdir impf
set +e
OVATOOL_TEST_FAIL_RANK=4:import.batch mpi6 "$OVATOOL" import "$WORK/r1/two.ova" -o "$WORK/impf/" --threads 1 \
  --progress 0 > log 2>&1
rc=$?
set -e
grep -v setpgid log
[ "$rc" = 1 ] || fail "the import with a failing worker on rank 4 exited $rc, not 1"
grep -q "rank 4 on node2: .*injected read error" log || fail "the message does not name rank 4 and its host"
[ -z "$(ls -A impf)" ] || fail "left in the folder: $(ls -A impf)"
pass "multi-host"
