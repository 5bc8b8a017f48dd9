#!/usr/bin/env bash
# export_resume.sh - a journaled export (--resume) killed outright (SIGKILL
# of rank 0, or of another rank) at chosen points - inside the first disk,
# at the boundary between disks, inside the last disk, while the OVF and
# manifest are written - and then resumed with another number of ranks
# gives the very bytes of an uninterrupted export (cmp). The kills come
# from the test fault hooks (util/fault.h), so each run stops where the
# case says, with bytes past the last durable point in the partial file.
source "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ovatool-e2e.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
export SOURCE_DATE_EPOCH=1700000000

# two disks of several grain-table groups (32 MiB each), mixed data: some
# compressible, some random, some holes
truncate -s 160M a.raw
truncate -s 100M b.raw
text 20000000 "resume test, disk a" | dd of=a.raw bs=1M seek=3 conv=notrunc status=none
head -c 30000000 /dev/urandom | dd of=a.raw bs=1M seek=60 conv=notrunc status=none
head -c 9000000 /dev/urandom | dd of=a.raw bs=1M seek=140 conv=notrunc status=none
text 30000000 "resume test, disk b" | dd of=b.raw bs=1M seek=1 conv=notrunc status=none
head -c 20000000 /dev/urandom | dd of=b.raw bs=1M seek=70 conv=notrunc status=none
qemu-img convert -q -f raw -O vmdk -o subformat=monolithicSparse a.raw a.vmdk
qemu-img convert -q -f raw -O vmdk -o subformat=monolithicFlat b.raw b.vmdk
write_vmx vm.vmx a.vmdk
cat >> vm.vmx <<'VMX'
scsi0:1.present = "TRUE"
scsi0:1.fileName = "b.vmdk"
VMX

note "reference: an uninterrupted export, without and with the journal"
# (member names come from the OVA's name: every export here writes out.ova)
mkdir ref journaled
run_ranks 1 export vm.vmx -o ref/out.ova -q --mem-limit 16M
OVATOOL_TEST_JOURNAL_SECS=0 run_ranks 2 export vm.vmx -o journaled/out.ova -q --resume --mem-limit 16M
cmp ref/out.ova journaled/out.ova || fail "a journaled export differs from a plain one"
[ -z "$(ls -A journaled | grep -v '^out.ova$')" ] || fail "journal or partial left after success"
check_ova ref/out.ova a.raw b.raw

# kill_resume CASE RANKS_FIRST KILLED_RANK POINT RANKS_RESUME
kill_resume() {
  local name=$1 n1=$2 bad=$3 point=$4 n2=$5
  note "$name: $n1 rank(s), rank $bad killed at $point; resumed with $n2 rank(s)"
  rm -f out.ova out.ova.partial out.ova.journal
  set +e
  OVATOOL_TEST_JOURNAL_SECS=0 OVATOOL_TEST_FAIL_RANK=$bad:$point \
    run_ranks "$n1" export vm.vmx -o out.ova --resume --mem-limit 16M --progress 0 > log1 2>&1
  local rc=$?
  set -e
  [ "$rc" != 0 ] || { cat log1; fail "$name: the export was not killed"; }
  [ ! -e out.ova ] || fail "$name: an OVA appeared although the export was killed"
  [ -f out.ova.partial ] && [ -f out.ova.journal ] || { cat log1; ls -la; fail "$name: partial output or journal missing"; }
  # without --resume the journal is refused, with how to go on
  set +e
  run_ranks 1 export vm.vmx -o out.ova -q > log2 2>&1
  rc=$?
  set -e
  [ "$rc" != 0 ] || fail "$name: an export without --resume ignored the journal"
  grep -q -- "--resume" log2 && grep -q -- "--overwrite" log2 || { cat log2; fail "$name: the refusal does not say how to resume or discard"; }
  [ -f out.ova.partial ] && [ -f out.ova.journal ] || fail "$name: the refusal touched the files"
  run_ranks "$n2" export vm.vmx -o out.ova --resume --mem-limit 16M --progress 0 > log3 2>&1 || { cat log3; fail "$name: resume failed"; }
  grep -q "resuming the export" log3 || { cat log3; fail "$name: the resume did not say where it continues"; }
  cmp ref/out.ova out.ova || fail "$name: the resumed OVA differs from an uninterrupted export"
  [ ! -e out.ova.partial ] && [ ! -e out.ova.journal ] || fail "$name: partial or journal left after the resume"
}

kill_resume first-disk 1 0 resume.kill.first 3
kill_resume boundary 2 0 resume.kill.boundary 1
kill_resume last-disk 3 0 resume.kill.last 2
kill_resume finish 2 0 resume.kill.finish 1
kill_resume other-rank 3 1 export.kill 1
pass "killed exports resume to identical OVAs"
