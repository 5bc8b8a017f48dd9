#!/usr/bin/env bash
# export_hostile.sh - hostile input and faults while reading the source:
# each case must end `export` (and `info`) with exit 1, a message naming the
# file and the problem, no output left behind, and within seconds.
#   - a FIFO named as the disk (VMX fileName) and as an extent
#   - a flat extent truncated while a (slow) export reads it
#   - ZERO disks above the capacity limit validate applies (64 TiB)
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

note "ZERO disks above the 64 TiB limit"
# 100 TiB exported to an OVA that validate rejected; 2^54 - 1 sectors ran for days
qemu-img create -q -f vmdk -o subformat=monolithicFlat zero.vmdk 1M
write_vmx zero.vmx zero.vmdk
for sectors in 214748364800 18014398509481983; do
  sed -i -E "s/^RW [0-9]+ (FLAT \"zero-flat\.vmdk\" 0|ZERO)$/RW $sectors ZERO/" zero.vmdk
  grep -q "^RW $sectors ZERO$" zero.vmdk || fail "sed did not edit the extent line"
  refused "ZERO disk of $sectors sectors (export)" export zero.vmx -o out.ova -- "zero\.vmdk" "limit of 64 TiB"
  refused "ZERO disk of $sectors sectors (info)" info zero.vmx -- "zero\.vmdk" "limit of 64 TiB"
done

note "a flat extent truncated during the export"
# 256 MiB of base64 text: zlib level 9 takes about 15 s for it here on one
# thread; the file is cut to 128 MiB once the first progress line shows that
# the export is under way (20-40 MiB in). With 2 ranks, rank 1 (which got
# the plan, not the file's identity, from rank 0) reads half the units.
qemu-img create -q -f vmdk -o subformat=monolithicFlat big.vmdk 256M
write_vmx big.vmx big.vmdk
for n in 1 2; do
  head -c 192M /dev/urandom | base64 -w0 | dd of=big-flat.vmdk conv=notrunc status=none
  set +e
  run_ranks "$n" export big.vmx -o out.ova --threads 1 --codec zlib --level 9 --progress 1 > log 2>&1 &
  pid=$!
  set -e
  for _ in $(seq 600); do
    grep -q 'progress:' log && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  grep -q 'progress:' log || { cat log; fail "no progress line from the export ($n ranks)"; }
  grep -q 'progress: 0\.0[0-9] of 0\.25 GiB' log \
    || { cat log; fail "the export ($n ranks) is too far along to cut the file behind it"; }
  truncate -s 128M big-flat.vmdk
  set +e
  wait "$pid"
  rc=$?
  set -e
  cat log
  [ "$rc" = 1 ] || fail "export ($n ranks) of a flat extent truncated during the export exited $rc, not 1"
  grep -q 'big-flat\.vmdk shrank from 268435456 to 134217728 bytes during the export' log \
    || fail "the message ($n ranks) does not name the file and say that it shrank"
  [ ! -e out.ova ] || fail "output left behind after the source shrank ($n ranks)"
  if ls -A | grep -q '\.part$'; then fail "temporary file left behind after the source shrank ($n ranks)"; fi
done

pass "hostile input refused"
