#!/usr/bin/env bash
# export_hostile.sh - hostile input and faults while reading the source:
# each case must end `export` (and `info`) with exit 1, a message naming the
# file and the problem, no output left behind, and within seconds.
#   - a FIFO named as the disk (VMX fileName), as an extent and as the OVA
#     to validate
#   - a flat extent truncated while a (slow) export reads it
#   - ZERO disks above the capacity limit validate applies (64 TiB)
#   - disk files outside the VM's folder: an extent ../../etc/passwd and an
#     absolute fileName; refused with --confine, a warning without; a file
#     that is not a disk is refused without quoting it
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

note "a FIFO named as the OVA to validate"
mkfifo pipe.ova
refused "FIFO OVA (validate)" validate pipe.ova -- "pipe\.ova" "FIFO"
refused "FIFO OVA (validate --deep)" validate pipe.ova --deep -- "pipe\.ova" "FIFO"

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

note "an extent ../../etc/passwd"
mkdir vmdir
(cd vmdir && qemu-img create -q -f vmdk -o subformat=monolithicFlat d.vmdk 512)
up=$(pwd | sed -E 's|/[^/]+|../|g')   # from vmdir/ up to /, and one more
sed -i -E "s|^RW 1 FLAT \"d-flat\.vmdk\" 0$|RW 1 FLAT \"../${up}etc/passwd\" 0|" vmdir/d.vmdk
grep -q 'etc/passwd' vmdir/d.vmdk || fail "sed did not edit the extent line"
write_vmx vmdir/vm.vmx d.vmdk
refused "extent outside the folder (export --confine)" export vmdir/vm.vmx -o out.ova --confine -- \
  "extent [^ ]*etc/passwd resolves to /etc/passwd, outside the VM's folder" "--confine"
refused "extent outside the folder (info --confine)" info vmdir/vm.vmx --confine -- \
  "extent [^ ]*etc/passwd resolves to /etc/passwd, outside the VM's folder"
# without --confine the path stays allowed (linked clones need that), with a warning
"$OVATOOL" export vmdir/vm.vmx -o out.ova > log 2>&1 || { cat log; fail "export without --confine failed"; }
cat log
grep -q "warning: .*extent [^ ]*etc/passwd resolves to /etc/passwd, outside the VM's folder" log \
  || fail "no warning naming the extent outside the folder"
rm -f out.ova
"$OVATOOL" info vmdir/vm.vmx --json > json 2> log || { cat log; fail "info without --confine failed"; }
grep -q "warning: .*etc/passwd resolves to /etc/passwd" log || fail "info: no warning naming the extent"
python3 -c 'import json, sys; json.load(open(sys.argv[1]))' json || fail "info --json: the warning reached stdout"

note "/etc/passwd named as the disk"
write_vmx passwd.vmx /etc/passwd
echo 'scsi0:0.deviceType = "scsi-hardDisk"' >> passwd.vmx   # a disk whatever its name
refused "/etc/passwd as the disk" export passwd.vmx -o out.ova -- \
  "/etc/passwd: not a VMDK disk: neither a sparse extent .* nor a text descriptor"
grep -q 'root:' log && fail "the message quotes /etc/passwd"
refused "/etc/passwd as the disk (info)" info passwd.vmx -- "/etc/passwd: not a VMDK disk"
grep -q 'root:' log && fail "info's message quotes /etc/passwd"
refused "/etc/passwd as the disk (--confine)" export passwd.vmx -o out.ova --confine -- \
  "disk /etc/passwd resolves to /etc/passwd, outside the VM's folder"

note "a flat extent truncated during the export"
# 256 MiB of base64 text: zlib level 9 takes about 15 s for it here on one
# thread; the file is cut to 128 MiB once the first progress line shows that
# the export is under way (20-40 MiB in). With 2 ranks, rank 1 (which got
# the plan, not the file's identity, from rank 0) reads half the units.
qemu-img create -q -f vmdk -o subformat=monolithicFlat big.vmdk 256M
write_vmx big.vmx big.vmdk
for n in 1 2; do
  # a log of its own per run: the next run must not see this one's lines
  log=log.$n
  rm -f "$log"
  head -c 192M /dev/urandom | base64 -w0 | dd of=big-flat.vmdk conv=notrunc status=none
  set +e
  run_ranks "$n" export big.vmx -o out.ova --threads 1 --codec zlib --level 9 --progress 1 > "$log" 2>&1 &
  pid=$!
  set -e
  for _ in $(seq 600); do
    grep -qs 'progress:' "$log" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  grep -q 'progress:' "$log" || { cat "$log"; fail "no progress line from the export ($n ranks)"; }
  grep -q 'progress: 0\.0[0-9] of 0\.25 GiB' "$log" \
    || { cat "$log"; fail "the export ($n ranks) is too far along to cut the file behind it"; }
  truncate -s 128M big-flat.vmdk
  set +e
  wait "$pid"
  rc=$?
  set -e
  cat "$log"
  [ "$rc" = 1 ] || fail "export ($n ranks) of a flat extent truncated during the export exited $rc, not 1"
  grep -q 'big-flat\.vmdk shrank from 268435456 to 134217728 bytes during the export' "$log" \
    || fail "the message ($n ranks) does not name the file and say that it shrank"
  [ ! -e out.ova ] || fail "output left behind after the source shrank ($n ranks)"
  if ls -A | grep -q '\.part$'; then fail "temporary file left behind after the source shrank ($n ranks)"; fi
done

pass "hostile input refused"
