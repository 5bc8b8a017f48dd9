#!/usr/bin/env bash
# export_hostile.sh - hostile input and faults while reading the source:
# each case must end `export` (and `info`) with exit 1, a message naming the
# file and the problem, no output left behind, and within seconds.
#   - a FIFO named as the disk (VMX fileName) and as an extent
source "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ovatool-e2e.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

# refused CMD... WANT...: `ovatool CMD` (under timeout 20) must exit 1, print
# every WANT (a grep -E pattern) and leave no OVA or temporary file.
refused() {
  local what=$1; shift
  local -a cmd=()
  while [ "$1" != "--" ]; do cmd+=("$1"); shift; done
  shift
  set +e
  timeout 20 "$OVATOOL" "${cmd[@]}" > log 2>&1
  local rc=$?
  set -e
  cat log
  [ "$rc" != 124 ] || fail "$what: ovatool ${cmd[*]} still running after 20 s"
  [ "$rc" = 1 ] || fail "$what: ovatool ${cmd[*]} exited $rc, not 1"
  for want in "$@"; do
    grep -qE -- "$want" log || fail "$what: the message does not say '$want'"
  done
  [ ! -e out.ova ] || fail "$what: output left behind"
  if ls -A | grep -q '\.part$'; then fail "$what: temporary file left behind"; fi
}

note "a FIFO named as the disk"
mkfifo pipe.vmdk
write_vmx fifo-disk.vmx pipe.vmdk
refused "FIFO disk (export)" export fifo-disk.vmx -o out.ova -- "pipe\.vmdk" "FIFO"
refused "FIFO disk (info)" info fifo-disk.vmx -- "pipe\.vmdk" "FIFO"

note "a FIFO named as a flat extent"
qemu-img create -q -f vmdk -o subformat=monolithicFlat fx.vmdk 1M
rm fx-flat.vmdk && mkfifo fx-flat.vmdk
write_vmx fifo-extent.vmx fx.vmdk
refused "FIFO extent (export)" export fifo-extent.vmx -o out.ova -- "fx-flat\.vmdk" "FIFO"
refused "FIFO extent (info)" info fifo-extent.vmx -- "fx-flat\.vmdk" "FIFO"

pass "hostile input refused"
