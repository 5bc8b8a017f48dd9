#!/usr/bin/env bash
# export_lock.sh - a .lck folder beside the VMX or a disk means the VM is
# running: export refuses (non-zero, message, no output) unless --force,
# which exports with a warning.
source "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ovatool-e2e.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
truncate -s 2M src.raw
head -c 100000 /dev/urandom | dd of=src.raw conv=notrunc status=none
qemu-img convert -q -f raw -O vmdk -o subformat=monolithicFlat src.raw disk.vmdk
write_vmx vm.vmx disk.vmdk

for lock in vm.vmx.lck disk.vmdk.lck disk-flat.vmdk.lck; do
  mkdir "$lock"
  note "$lock, no --force"
  set +e
  run_ranks 2 export vm.vmx -o out.ova > log 2>&1
  rc=$?
  set -e
  cat log
  [ "$rc" != 0 ] || fail "exported although $lock exists"
  grep -q "$lock exists" log || fail "the message does not name $lock"
  [ ! -e out.ova ] || fail "output written although the VM is running"
  note "$lock, --force"
  run_ranks 2 export vm.vmx -o out.ova --force > log 2>&1 || { cat log; fail "--force did not export"; }
  grep -q "warning: .*$lock" log || fail "--force gave no warning"
  check_ova out.ova src.raw
  rm -rf "$lock" out.ova
done
pass "lock folders"
