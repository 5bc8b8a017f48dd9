#!/usr/bin/env bash
# export_rank_failure.sh - a failure on any rank in the middle of the work
# (injected with OVATOOL_TEST_FAIL_RANK) ends the export on every rank with
# a non-zero exit, a message naming the rank and the file, and no output.
source "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ovatool-e2e.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
truncate -s 2G src.raw
head -c 8388608 /dev/urandom | dd of=src.raw bs=1M seek=40 conv=notrunc status=none
qemu-img convert -q -f raw -O vmdk -o subformat=monolithicFlat src.raw disk.vmdk
write_vmx vm.vmx disk.vmdk

for case in "1 0" "2 1" "3 2" "3 0"; do
  set -- $case
  n=$1 bad=$2
  note "$n rank(s), rank $bad fails"
  set +e
  # the hook fails the rank's first unit: 1 MiB units (2048 of them) make
  # sure every rank gets units before the mostly empty disk is done
  OVATOOL_TEST_FAIL_RANK=$bad run_ranks "$n" export vm.vmx -o out.ova --mem-limit 8M > log 2>&1
  rc=$?
  set -e
  cat log
  [ "$rc" != 0 ] || fail "export succeeded although rank $bad failed"
  grep -q "injected read failure" log || fail "the failure is not reported"
  grep -q "disk.vmdk" log || fail "the message does not name the disk"
  if [ "$bad" != 0 ]; then grep -q "rank $bad on " log || fail "the message does not name rank $bad"; fi
  [ ! -e out.ova ] || fail "output left behind"
  if ls -A | grep -q '\.part$'; then fail "temporary file left behind"; fi
done
pass "rank failures stop the job cleanly"
