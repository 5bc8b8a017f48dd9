#!/usr/bin/env bash
# export_truncated.sh - a flat extent shorter than its descriptor says must
# end the export with a non-zero exit on every rank, a message naming the
# file, and no output (neither the OVA nor a temporary file).
source "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ovatool-e2e.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
qemu-img create -q -f vmdk -o subformat=monolithicFlat disk.vmdk 4M
head -c 4194304 /dev/urandom | dd of=disk-flat.vmdk conv=notrunc status=none
truncate -s 3M disk-flat.vmdk
write_vmx vm.vmx disk.vmdk

for n in 1 2 3; do
  note "export with $n rank(s)"
  set +e
  run_ranks "$n" export vm.vmx -o out.ova > log 2>&1
  rc=$?
  set -e
  cat log
  [ "$rc" != 0 ] || fail "export of a truncated disk succeeded with $n ranks"
  grep -q "disk-flat.vmdk" log || fail "the message does not name the flat extent"
  grep -q "truncated\|shorter" log || fail "the message does not say what is wrong"
  [ ! -e out.ova ] || fail "output left behind"
  if ls -A | grep -q '\.part$'; then fail "temporary file left behind"; fi
done
pass "truncated extent refused"
