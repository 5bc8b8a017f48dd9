#!/usr/bin/env bash
# export_phase_failure.sh - a rank that fails before the work starts (no
# room to receive the plan, disk readers that cannot be opened) ends the
# export on every rank with a non-zero exit, rank 0 telling that rank's own
# message, and no output (faults injected with OVATOOL_TEST_FAIL_RANK=R:POINT).
source "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ovatool-e2e.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
qemu-img create -q -f vmdk -o subformat=monolithicSparse disk.vmdk 64M
qemu-io -f vmdk -c 'write -P 0x5a 1M 3M' disk.vmdk > /dev/null
write_vmx vm.vmx disk.vmdk

for case in "2 1 export.plan no room to receive the plan" \
            "3 2 export.readers injected failure opening the disk readers" \
            "2 0 export.readers injected failure opening the disk readers"; do
  set -- $case
  n=$1 bad=$2 point=$3; shift 3
  want="$*"
  note "$n rank(s), rank $bad fails at $point"
  set +e
  OVATOOL_TEST_FAIL_RANK=$bad:$point run_ranks "$n" export vm.vmx -o out.ova > log 2>&1
  rc=$?
  set -e
  cat log
  [ "$rc" != 0 ] || fail "export succeeded although rank $bad failed at $point"
  grep -q "error: .*$want" log || fail "rank 0 does not tell the failing rank's own message"
  if [ "$bad" != 0 ]; then grep -q "error: rank $bad on " log || fail "the message does not name rank $bad"; fi
  [ ! -e out.ova ] || fail "output left behind"
  if ls -A | grep -q '\.part$'; then fail "temporary file left behind"; fi
done
pass "failures before the work starts stop the job cleanly, with the failing rank's message"
