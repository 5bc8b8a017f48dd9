#!/usr/bin/env bash
# multihost.sh - ranks on three "hosts" (network namespaces joined by a
# bridge, TCP between them, shared file system as on a cluster): the OVA
# must equal the single-process one, and a failure on a remote host must
# stop every rank with a message naming that host and no output.
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
head -c 4000000 /dev/urandom | dd of=src.raw bs=1M seek=60 conv=notrunc status=none
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

note "rank 4 (on host 2) fails"
# The hook fails a rank's first unit, so rank 4 must get one: units are
# handed to whoever asks first, and at 32 MiB this disk has only 4 units
# for 6 ranks. A small --mem-limit makes 1 MiB units, ~100 of them.
set +e
OVATOOL_TEST_FAIL_RANK=4 mpi6 "$OVATOOL" export vm.vmx -o r6/fail.ova --threads 1 --mem-limit 8M > log 2>&1
rc=$?
set -e
grep -v setpgid log
[ "$rc" != 0 ] || fail "the export succeeded although rank 4 failed"
grep -q "rank 4 on node2: .*disk.vmdk" log || fail "the message does not name rank 4, its host and the disk"
[ ! -e r6/fail.ova ] || fail "output left behind"
if ls -A r6 | grep -q '\.part$'; then fail "temporary file left behind"; fi
pass "multi-host"
