#!/usr/bin/env bash
# export_checks.sh - the short options, --dry-run, --overwrite, and the
# checks an export makes before the first byte of disk data (README
# "Robustness"; prepare.h ova_prepare_check):
#  (a) -c/-t are --compression/--threads: the same bytes, the thread count
#      in the plan line; --help lists both forms.
#  (b) --dry-run: exit 0, nothing written (the folder as it was), stdout
#      names the OVA, the .ovf, .mf and every disk member with its capacity
#      and allocated bytes, and a size range that holds the real OVA's size
#      (--json); with 2 ranks the same, printed once; a missing disk: exit 1
#      naming it, nothing written.
#  (c) an existing output: refused (exit 1, "FILE exists; use --overwrite to
#      replace it", the file as it was), also by a dry run and with 2 ranks;
#      with --overwrite replaced by a valid OVA.
#  (d) as user nobody: an unreadable extent, descriptor or snapshot
#      parent's extent, "FILE: not
#      readable by user nobody (uid N); run as a user who can read it or fix
#      its permissions", also in a dry run; an output folder it cannot
#      write, "FOLDER: not writable by user nobody (uid N)...".
#  (e) a missing output folder: "FOLDER: no such folder (the folder of -o
#      FILE)", not a message about a temporary file.
#  (f) a .vmdk (descriptor or sparse) or an .ova given as the VMX: a message
#      that says so, not "line 1: expected key = value".
#  (g) space, on small tmpfs mounts: refused before any write when even the
#      best case does not fit ("need about X, Y free at FOLDER"), also with
#      --overwrite when only the old file's room would make it fit (the new
#      OVA is written beside it); a warning when the likely size does not
#      fit, then ENOSPC as "FOLDER: disk full after writing X of about Y"
#      with 1 and 2 ranks, and nothing left on the file system.
# Parts (d) and (g) need root (setpriv, mount); they are skipped otherwise.
source "$(dirname "$0")/lib.sh"
# In /tmp, not TMPDIR (the build tree): part (d) runs as user nobody, who
# must reach this folder, and a clone in a private folder (/root, a
# `mktemp -d`) would hide the build tree from every other user.
WORK=$(mktemp -d "/tmp/ovatool-checks.XXXXXX")
MOUNTS=()
cleanup() {
  local m
  for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
T0=$SECONDS
ROOT=0; [ "$(id -u)" = 0 ] && ROOT=1

# A VM with one flat disk: 8 MiB, 2 MiB of text and 1 MiB of random data.
mkdir vm
truncate -s 8M vm/src.raw
text 2097152 "text compresses well, random data does not" | dd of=vm/src.raw conv=notrunc status=none
head -c 1048576 /dev/urandom | dd of=vm/src.raw bs=1M seek=4 conv=notrunc status=none
qemu-img convert -q -f raw -O vmdk -o subformat=monolithicFlat vm/src.raw vm/vm.vmdk
write_vmx vm/vm.vmx vm.vmdk "checks vm"
export SOURCE_DATE_EPOCH=1700000000

# failed WANT RC_WANT CMD...: CMD exits RC_WANT (any non-zero for "nz") with
# exactly one error line, which contains WANT (fixed string)
failed() {
  local want=$1 rcw=$2 rc=0; shift 2
  "$@" > out.log 2> err.log || rc=$?
  if [ "$rcw" = nz ]; then [ "$rc" != 0 ] || { cat err.log; fail "$*: exit 0"; }
  else [ "$rc" = "$rcw" ] || { cat out.log err.log; fail "$*: exit $rc, not $rcw"; }; fi
  grep -qF -- "ovatool: error: $want" err.log || { cat err.log; fail "$*: no error '$want'"; }
  [ "$(grep -c 'ovatool: error:' err.log)" = 1 ] || { cat err.log; fail "$*: not exactly one error line"; }
  note "refused, exit $rc: $(grep 'ovatool: error:' err.log | sed 's/^\[[^]]*\] //')"
}

# ---- (a) -c and -t ------------------------------------------------------------
"$OVATOOL" export --help > help.txt
grep -qE '^  -c, --compression PRESET ' help.txt || { cat help.txt; fail "--help has no '-c, --compression PRESET'"; }
grep -qE '^  -t, --threads N ' help.txt || { cat help.txt; fail "--help has no '-t, --threads N'"; }
grep -qE '^      --dry-run ' help.txt && grep -qE '^      --overwrite ' help.txt || fail "--help lacks --dry-run or --overwrite"
mkdir -p a/short a/long a/max  # one file name: member names derive from it
"$OVATOOL" export vm/vm.vmx -o a/short/vm.ova -c fast -t 1 2> a/log || { cat a/log; fail "-c fast -t 1 failed"; }
grep -q ' 1 compression thread(s); ' a/log || { cat a/log; fail "-t 1 did not give one thread"; }
"$OVATOOL" export vm/vm.vmx -o a/long/vm.ova --compression fast --threads 1 -q
cmp a/short/vm.ova a/long/vm.ova || fail "-c fast -t 1 and --compression fast --threads 1 differ"
"$OVATOOL" export vm/vm.vmx -o a/max/vm.ova -c max -q
! cmp -s a/short/vm.ova a/max/vm.ova || fail "-c max wrote the same bytes as -c fast"
check_ova a/short/vm.ova vm/src.raw
rc=0; "$OVATOOL" export vm/vm.vmx -o a/x.ova -c nonsense 2> err.log || rc=$?
[ "$rc" = 2 ] && grep -q -- '--compression takes fast, balanced or max' err.log || { cat err.log; fail "-c nonsense: exit $rc"; }
note "(a) -c and -t: $((SECONDS - T0)) s"

# ---- (b) --dry-run -----------------------------------------------------------
t=$SECONDS
mkdir b
"$OVATOOL" export vm/vm.vmx -o b/vm.ova --dry-run > b/out 2> b/err || { cat b/out b/err; fail "--dry-run failed"; }
cat b/out
[ -z "$(ls -A b | grep -v '^out$\|^err$')" ] || { ls -la b; fail "--dry-run wrote something"; }
grep -qx 'Output:    b/vm.ova' b/out || fail "--dry-run does not name the OVA"
grep -qE '^Members:   vm\.ovf$' b/out && grep -qxE '           vm\.mf' b/out || fail "--dry-run does not list vm.ovf and vm.mf"
grep -qE '^           vm-disk1\.vmdk: scsi0:0, capacity 8\.0 MiB, [0-9.]+ [KM]iB allocated$' b/out \
  || fail "--dry-run does not list the disk member with its capacity and allocated bytes"
grep -qx "             from vm/vm.vmdk" b/out || fail "--dry-run does not name the source disk"
grep -qE '^Size:      about [0-9.]+ [KM]iB to [0-9.]+ [KM]iB, likely [0-9.]+ [KM]iB \(libdeflate level 6\)$' b/out \
  || fail "--dry-run gives no size range"
grep -qE '^Plan:      [0-9]+ unit\(s\) of 64 grains; 1 rank\(s\)' b/out || fail "--dry-run shows no plan"
# the range holds the real size
"$OVATOOL" export vm/vm.vmx -o b/vm.ova --dry-run --json > b/json 2>/dev/null
"$OVATOOL" export vm/vm.vmx -o b/vm.ova -q
size=$(stat -c %s b/vm.ova)
best=$(grep -o '"estimate_best": *[0-9]*' b/json | grep -o '[0-9]*$')
worst=$(grep -o '"estimate_worst": *[0-9]*' b/json | grep -o '[0-9]*$')
[ -n "$best" ] && [ -n "$worst" ] || { cat b/json; fail "--dry-run --json has no estimate"; }
[ "$best" -le "$size" ] && [ "$size" -le "$worst" ] || fail "the OVA's $size bytes are outside the estimate $best..$worst"
note "(b) estimate $best..$worst bytes, the OVA $size"
# 2 ranks: the same preview, once
mkdir b2
run_ranks 2 export vm/vm.vmx -o b2/vm.ova --dry-run > b2/out 2> b2/err || { cat b2/out b2/err; fail "--dry-run with 2 ranks failed"; }
[ "$(grep -c '^Output:' b2/out)" = 1 ] || { cat b2/out; fail "--dry-run with 2 ranks: not one preview"; }
grep -qE '^Plan:      [0-9]+ unit\(s\) of 512 grains; 2 rank\(s\)' b2/out || { cat b2/out; fail "--dry-run with 2 ranks: plan"; }
[ -z "$(ls -A b2 | grep -v '^out$\|^err$')" ] || fail "--dry-run with 2 ranks wrote something"
# a missing disk
mkdir b3
write_vmx b3/gone.vmx gone.vmdk
failed "b3/gone.vmdk" 1 "$OVATOOL" export b3/gone.vmx -o b3/gone.ova --dry-run
[ ! -s out.log ] || { cat out.log; fail "a failed dry run printed a preview"; }
failed "b3/gone.vmdk" nz run_ranks 2 export b3/gone.vmx -o b3/gone.ova --dry-run
[ "$(ls -A b3)" = gone.vmx ] || { ls -la b3; fail "a failed dry run wrote something"; }
note "(b) --dry-run: $((SECONDS - t)) s"

# ---- (c) --overwrite ---------------------------------------------------------
t=$SECONDS
mkdir c
"$OVATOOL" export vm/vm.vmx -o c/vm.ova -c fast -q
cp c/vm.ova c/first.ova
failed "c/vm.ova exists; use --overwrite to replace it" 1 "$OVATOOL" export vm/vm.vmx -o c/vm.ova
failed "c/vm.ova exists; use --overwrite to replace it" 1 "$OVATOOL" export vm/vm.vmx -o c/vm.ova --dry-run
failed "c/vm.ova exists; use --overwrite to replace it" nz run_ranks 2 export vm/vm.vmx -o c/vm.ova
# -o DIR: the name the VM gives
"$OVATOOL" export vm/vm.vmx -o c -q
failed "c/checks_vm.ova exists; use --overwrite to replace it" 1 "$OVATOOL" export vm/vm.vmx -o c
cmp c/vm.ova c/first.ova || fail "a refused export changed the existing OVA"
[ -z "$(find c -name '.*.part')" ] || fail "a refused export left a .part file"
"$OVATOOL" export vm/vm.vmx -o c/vm.ova -c max --overwrite --dry-run > out.log || fail "--overwrite --dry-run failed"
grep -qE '^Output:    c/vm\.ova \(replaces the existing file of [0-9.]+ [KM]iB\)$' out.log || { cat out.log; fail "the dry run does not say it replaces the file"; }
cmp c/vm.ova c/first.ova || fail "a dry run changed the existing OVA"
"$OVATOOL" export vm/vm.vmx -o c/vm.ova -c max --overwrite -q || fail "--overwrite failed"
! cmp -s c/vm.ova c/first.ova || fail "--overwrite did not replace the OVA"
"$OVATOOL" validate c/vm.ova -q || fail "the replacing OVA does not validate"
run_ranks 2 export vm/vm.vmx -o c/vm.ova -c fast --overwrite -q || fail "--overwrite with 2 ranks failed"
cmp c/vm.ova c/first.ova || fail "--overwrite with 2 ranks: not the same bytes as the first export"
note "(c) --overwrite: $((SECONDS - t)) s"

# ---- (e) a missing output folder ------------------------------------------------
failed "nowhere: no such folder (the folder of -o nowhere/vm.ova)" 1 "$OVATOOL" export vm/vm.vmx -o nowhere/vm.ova
failed "nowhere/deeper: no such folder (the folder of -o nowhere/deeper/)" 1 "$OVATOOL" export vm/vm.vmx -o nowhere/deeper/
failed "vm/vm.vmx: not a folder (the folder of -o vm/vm.vmx/x.ova)" 1 "$OVATOOL" export vm/vm.vmx -o vm/vm.vmx/x.ova
[ ! -e nowhere ] || fail "a folder was created"

# ---- (f) not a VMX --------------------------------------------------------------
qemu-img convert -q -f raw -O vmdk -o subformat=monolithicSparse vm/src.raw sparse.vmdk
notvmx() {  # notvmx FILE WHAT: export and info of FILE say it is WHAT, not a VMX
  failed "$1: is $2, not a VMX file; give the VM's .vmx file" 1 "$OVATOOL" export "$1" -o f.ova
  failed "$1: is $2, not a VMX file; give the VM's .vmx file" 1 "$OVATOOL" info "$1"
}
notvmx vm/vm.vmdk "a VMDK disk descriptor"
notvmx sparse.vmdk "a VMDK disk (sparse extent)"
notvmx vm/vm-flat.vmdk "a VMDK disk (by its name)"
notvmx c/vm.ova "a tar archive (an OVA?)"
[ ! -e f.ova ] || fail "an export of a non-VMX wrote f.ova"
note "(e, f) folder and VMX messages: $((SECONDS - T0)) s in all"

# ---- (d) permissions, as user nobody -------------------------------------------------
t=$SECONDS
NB=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
if [ "$ROOT" != 1 ] || ! command -v setpriv >/dev/null; then
  skip_part "(d) unreadable files and an unwritable folder as user nobody (needs root and setpriv)"
else
  mkdir -m 0755 d d/vm d/ro
  mkdir -m 0777 d/w
  mkdir -m 1777 d/tmp
  chmod 0755 "$WORK"
  # the tool as nobody can reach it (the build tree may sit in a private folder)
  mkdir -m 0755 nbbin && cp "$OVATOOL" nbbin/ovatool && chmod 0755 nbbin/ovatool
  NBTOOL=$WORK/nbbin/ovatool
  cp vm/vm.vmdk vm/vm-flat.vmdk vm/vm.vmx d/vm/
  chmod 0644 d/vm/*
  uid=$(id -u nobody)
  if ! "${NB[@]}" test -x "$NBTOOL" -a -r d/vm/vm.vmx -a -w d/w; then
    skip_part "(d) as user nobody (nobody cannot reach $NBTOOL or $WORK)"
  else
    asnobody() { "${NB[@]}" env HOME=/ TMPDIR="$WORK/d/tmp" "$@"; }
    chmod 0600 d/vm/vm-flat.vmdk
    want="d/vm/vm-flat.vmdk: not readable by user nobody (uid $uid); run as a user who can read it or fix its permissions"
    failed "$want" 1 asnobody "$NBTOOL" export d/vm/vm.vmx -o d/w/vm.ova
    failed "$want" 1 asnobody "$NBTOOL" export d/vm/vm.vmx -o d/w/vm.ova --dry-run
    failed "$want" 1 asnobody "$MPIEXEC" -n 2 --oversubscribe "$NBTOOL" export d/vm/vm.vmx -o d/w/vm.ova
    chmod 0644 d/vm/vm-flat.vmdk
    chmod 0600 d/vm/vm.vmdk
    failed "d/vm/vm.vmdk: not readable by user nobody (uid $uid); run as a user who can read it" 1 \
      asnobody "$NBTOOL" export d/vm/vm.vmx -o d/w/vm.ova
    chmod 0644 d/vm/vm.vmdk
    # a snapshot parent's extent, found through the child's parentFileNameHint
    mkdir -m 0755 d/chain
    cp vm/vm.vmdk vm/vm-flat.vmdk d/chain/
    qemu-img create -q -f vmdk -b vm.vmdk -F vmdk d/chain/vm-000001.vmdk
    write_vmx d/chain/vm.vmx vm-000001.vmdk
    chmod 0644 d/chain/*
    chmod 0600 d/chain/vm-flat.vmdk
    rc=0; asnobody "$NBTOOL" export d/chain/vm.vmx -o d/w/vm.ova --dry-run > out.log 2> err.log || rc=$?
    [ "$rc" = 1 ] && grep -qE "ovatool: error: (.*/)?d/chain/vm-flat\.vmdk: not readable by user nobody \(uid $uid\); run as a user who can read it or fix its permissions\$" err.log \
      || { cat err.log; fail "(d) an unreadable snapshot parent's extent: exit $rc"; }
    note "(d) parent's extent: $(grep 'ovatool: error:' err.log | sed 's/^\[[^]]*\] //')"
    failed "d/ro: not writable by user nobody (uid $uid) (the folder of -o d/ro/vm.ova); run as a user who can write there" 1 \
      asnobody "$NBTOOL" export d/vm/vm.vmx -o d/ro/vm.ova
    failed "d/ro: not writable by user nobody (uid $uid)" 1 asnobody "$NBTOOL" export d/vm/vm.vmx -o d/ro/vm.ova --dry-run
    [ -z "$(find d/ro d/w -mindepth 1)" ] || { ls -la d/ro d/w; fail "(d) files left behind"; }
    asnobody "$NBTOOL" export d/vm/vm.vmx -o d/w/vm.ova -q || fail "(d) nobody cannot export a readable VM"
  fi
fi
note "(d) permissions: $((SECONDS - t)) s"

# ---- (g) free space ----------------------------------------------------------------
t=$SECONDS
# tmpfs_at DIR SIZE: a tmpfs of SIZE at DIR (unmounted at exit)
tmpfs_at() {
  mkdir -p "$1"
  mount -t tmpfs -o "size=$2,mode=0755" ovatool-checks "$1" || return 1
  MOUNTS+=("$WORK/$1")
}
if [ "$ROOT" != 1 ] || ! tmpfs_at g64k 64k; then
  skip_part "(g) free space and ENOSPC on small tmpfs mounts (needs root to mount tmpfs)"
else
  # 32 MiB of text: compresses to a few hundred KiB, but even the best case
  # (one sector per grain: 256 KiB) does not fit in 64 KiB
  mkdir g
  truncate -s 32M g/text.raw
  text $((32 << 20)) "the same line again and again" | dd of=g/text.raw conv=notrunc status=none
  qemu-img convert -q -f raw -O vmdk -o subformat=monolithicFlat g/text.raw g/text.vmdk
  rm g/text.raw
  write_vmx g/text.vmx text.vmdk text
  failed "g64k/text.ova: not enough space: need about " 1 "$OVATOOL" export g/text.vmx -o g64k/text.ova
  grep -qE 'need about [0-9.]+ KiB, [0-9.]+ KiB free at g64k; free some space or choose another folder$' err.log \
    || { cat err.log; fail "(g) the refusal does not say what is needed and what is free"; }
  failed "g64k/text.ova: not enough space" 1 "$OVATOOL" export g/text.vmx -o g64k/text.ova --dry-run
  failed "g64k/text.ova: not enough space" nz run_ranks 2 export g/text.vmx -o g64k/text.ova
  [ -z "$(ls -A g64k)" ] || { ls -la g64k; fail "(g) a refused export wrote to the tmpfs"; }
  # an old OVA that fills the file system: replacing it needs room beside it
  tmpfs_at g1m 1m
  head -c 900K /dev/zero > g1m/text.ova
  failed "g1m/text.ova: not enough space: need about " 1 "$OVATOOL" export g/text.vmx -o g1m/text.ova --overwrite
  grep -qF "the existing g1m/text.ova (900.0 KiB) is replaced only once the new OVA is complete" err.log \
    || { cat err.log; fail "(g) the refusal does not explain the existing file"; }
  [ "$(stat -c %s g1m/text.ova)" = 921600 ] && [ "$(ls -A g1m)" = text.ova ] || fail "(g) the old OVA changed"
  rm g1m/text.ova
  "$OVATOOL" export g/text.vmx -o g1m/text.ova -q || fail "(g) the text VM does not fit in 1 MiB once room is made"
  "$OVATOOL" validate g1m/text.ova -q || fail "(g) g1m/text.ova does not validate"
  rm g1m/text.ova
  # 16 MiB of random data: the best case fits in 1 MiB, the likely size does
  # not: a warning, then a full disk during the export
  truncate -s 16M g/rand.raw
  head -c $((16 << 20)) /dev/urandom | dd of=g/rand.raw conv=notrunc status=none
  qemu-img convert -q -f raw -O vmdk -o subformat=monolithicFlat g/rand.raw g/rand.vmdk
  rm g/rand.raw
  write_vmx g/rand.vmx rand.vmdk rand
  for n in 1 2; do
    for io in "" --buffered-io; do
      failed "g1m: disk full after writing " 1 run_ranks $n export g/rand.vmx -o g1m/rand.ova --progress 0 $io
      grep -qE 'ovatool: error: g1m: disk full after writing [0-9.]+ (bytes|KiB|MiB) of about [0-9.]+ MiB \(g1m/\.rand\.ova\.[A-Za-z0-9]{6}\.part: No space left on device\)$' err.log \
        || { cat err.log; fail "(g) ENOSPC, $n rank(s) $io: not the disk-full message"; }
      grep -qE 'warning: g1m/rand\.ova: [0-9.]+ (KiB|MiB) free at g1m, and this OVA likely needs about [0-9.]+ MiB \([0-9.]+ KiB to [0-9.]+ MiB\): the export may run out of space$' err.log \
        || { cat err.log; fail "(g) $n rank(s): no warning that the likely size does not fit"; }
      [ -z "$(ls -A g1m)" ] || { ls -la g1m; fail "(g) ENOSPC, $n rank(s) $io: files left on the full file system"; }
    done
  done
fi
note "(g) space: $((SECONDS - t)) s"

note "all parts in $((SECONDS - T0)) s"
pass checks
