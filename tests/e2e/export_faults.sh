#!/usr/bin/env bash
# export_faults.sh - outputs an export must not write, and faults it must
# survive cleanly. Every refused or failed export exits 1 (mpirun: non-zero)
# with one error line naming the file, and leaves nothing at the target or
# beside it.
#  (a) the output is an input (the VMX, a descriptor, an extent, a snapshot
#      parent; also through a hard or a symbolic link) or exists and is not
#      a regular file (a symbolic link, a device node, a FIFO): refused
#      before any work, the target and the sources as they were.
#  (b) temporary files of earlier exports to the same target: the next
#      export names each in a warning, as left by an interrupted export (and
#      deletable) or as in use by an export running now; it deletes none.
# Needs root (mknod); exit 77 (skipped) otherwise.
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (mknod, mount, setpriv)"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ovatool-faults.XXXXXX")
BG=()  # background exports, stopped at exit
cleanup() {
  local p
  for p in "${BG[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
T0=$SECONDS

# ---- (a) outputs that would destroy something -----------------------------
# A flat base disk with a sparse snapshot on top: the export reads vm.vmx,
# vm-000001.vmdk, vm.vmdk and vm-flat.vmdk.
mkdir vm out
truncate -s 8M vm/src.raw
head -c 1048576 /dev/urandom | dd of=vm/src.raw bs=1M seek=2 conv=notrunc status=none
qemu-img convert -q -f raw -O vmdk -o subformat=monolithicFlat vm/src.raw vm/vm.vmdk
qemu-img create -q -f vmdk -b vm.vmdk -F vmdk vm/vm-000001.vmdk
qemu-io -f vmdk -c "write -P 0x55 4M 64k" vm/vm-000001.vmdk >/dev/null
write_vmx vm/vm.vmx vm-000001.vmdk
rm vm/src.raw
sums() { (cd vm && sha256sum vm.vmx vm.vmdk vm-flat.vmdk vm-000001.vmdk); }
SUMS=$(sums)

# state PATH: what is at PATH, without following a link
state() { if [ -e "$1" ] || [ -L "$1" ]; then stat -c '%F %i %h %s %t:%T %N' "$1"; else echo none; fi; }

# refused RANKS OUT WANT: the export to OUT exits non-zero (1 as a plain
# process) with one error naming OUT and saying WANT; OUT, its folder and the
# VM's files are as they were
refused() {
  local n=$1 out=$2 want=$3 rc=0
  local before dir; before=$(state "$out"); dir=$(dirname "$out")
  local listing; listing=$(ls -A "$dir")
  run_ranks "$n" export vm/vm.vmx -o "$out" --progress 0 > log 2>&1 || rc=$?
  if [ "$n" = 1 ]; then
    [ "$rc" = 1 ] || { cat log; fail "-o $out: exit $rc, not 1"; }
  else
    [ "$rc" != 0 ] || { cat log; fail "-o $out with $n ranks: exit 0"; }
  fi
  grep -qF -- "ovatool: error: $out: $want" log || { cat log; fail "-o $out: no error '$out: $want'"; }
  [ "$(grep -c 'ovatool: error:' log)" = 1 ] || { cat log; fail "-o $out: not exactly one error line"; }
  [ "$(state "$out")" = "$before" ] || fail "-o $out: the target changed: $(state "$out"), was $before"
  [ "$(ls -A "$dir")" = "$listing" ] || { ls -la "$dir"; fail "-o $out: files left in $dir"; }
  [ "$(sums)" = "$SUMS" ] || fail "-o $out: a source file changed"
  note "-o $out ($n rank(s)): refused, exit $rc: $(grep 'ovatool: error:' log | sed 's/^\[[^]]*\] //')"
}

same="is the same file as"
refused 1 vm/vm.vmx "$same"
refused 1 vm/vm-000001.vmdk "$same"      # the disk the VMX names
refused 1 vm/vm.vmdk "$same"             # its snapshot parent
refused 1 vm/vm-flat.vmdk "$same"        # the parent's extent
refused 3 vm/vm-flat.vmdk "$same"
ln vm/vm-flat.vmdk out/hard.ova          # a hard link to an extent
refused 1 out/hard.ova "$same"
ln -s ../vm/vm-flat.vmdk out/sym.ova     # symbolic links: refused whatever they point to
refused 1 out/sym.ova "is a symbolic link"
echo keep > out/other.txt
ln -s other.txt out/other.ova
refused 1 out/other.ova "is a symbolic link"
ln -s nowhere out/dangling.ova
refused 1 out/dangling.ova "is a symbolic link"
mknod out/null.ova c 1 3                 # a device node (/dev/null's numbers)
refused 1 out/null.ova "is a character device, not a regular file"
mkfifo out/fifo.ova
refused 2 out/fifo.ova "is a FIFO, not a regular file"
# an ordinary OVA is still written, and replaced by the next export
"$OVATOOL" export vm/vm.vmx -o out/ok.ova -q || fail "export to out/ok.ova failed"
"$OVATOOL" export vm/vm.vmx -o out/ok.ova -q || fail "export over the existing out/ok.ova failed"
"$OVATOOL" validate out/ok.ova -q || fail "out/ok.ova does not validate"
[ -z "$(find out -name '.*.part')" ] || fail "a .part file was left in out/"
note "(a) outputs that are inputs or not regular files: refused; $((SECONDS - T0)) s"

# ---- a slow export, to catch it running ----------------------------------
# 64 MiB of random bytes from a two-letter alphabet: zlib level 9 walks long
# match chains on it (about 0.4 MiB/s per thread; see slurm.sh), so one
# thread per rank needs minutes, and a fault can be injected at leisure.
mkdir slow
qemu-img create -q -f vmdk -o subformat=monolithicFlat slow/slow.vmdk 64M
set2=$(printf 'ab%.0s' $(seq 128))
head -c $((64 << 20)) /dev/urandom | tr '\000-\377' "$set2" | dd of=slow/slow-flat.vmdk conv=notrunc status=none
write_vmx slow/slow.vmx slow.vmdk slow
SLOW=(--threads 1 --codec zlib --level 9 --progress 0)

# wait_part DIR [EXCEPT]: wait (up to 30 s) for a .part file in DIR other
# than EXCEPT; prints its name
wait_part() {
  local i f
  for i in $(seq 300); do
    f=$(find "$1" -maxdepth 1 -name '.*.part' ! -name "${2:-/}" -printf '%f\n' | head -n1)
    [ -n "$f" ] && { echo "$f"; return; }
    sleep 0.1
  done
  fail "no temporary file appeared in $1 within 30 s"
}

# ---- (b) temporary files left by earlier exports ----------------------------
t=$SECONDS
mkdir out-b
: > out-b/.vm.ova.AbC123.part      # what a SIGKILLed rank 0 leaves
: > out-b/.vm.ova.toolong1.part    # not a name mkostemps makes for vm.ova
: > out-b/.other.ova.AbC123.part   # another target's
"$OVATOOL" export vm/vm.vmx -o out-b/vm.ova -q 2> log || { cat log; fail "(b) export failed"; }
cat log
grep -qE "warning: out-b/\.vm\.ova\.AbC123\.part: left behind by an interrupted export to vm\.ova \(0 bytes, last written [0-9-]+ [0-9:]+ UTC\); no running export holds it; it can be deleted\$" log \
  || fail "(b) the leftover was not reported as left by an interrupted export"
[ "$(grep -c 'warning: .*\.part:' log)" = 1 ] || fail "(b) expected exactly one warning about a .part file"
[ -e out-b/.vm.ova.AbC123.part ] && [ -e out-b/.vm.ova.toolong1.part ] && [ -e out-b/.other.ova.AbC123.part ] \
  || fail "(b) a .part file was deleted"
rm out-b/.vm.ova.*.part out-b/.other.ova.AbC123.part
# an export running now: its temporary file is in use, not a leftover
"$OVATOOL" export slow/slow.vmx -o out-b/vm.ova "${SLOW[@]}" -q 2> slow.log &
slow=$!; BG+=("$slow")
running=$(wait_part out-b)
"$OVATOOL" export vm/vm.vmx -o out-b/vm.ova -q 2> log || { cat log; fail "(b) export beside a running one failed"; }
cat log
grep -qF "warning: out-b/$running: temporary file of another export to vm.ova, running now (it holds the file's lock)" log \
  || fail "(b) the running export's temporary file was not reported as in use"
[ "$(grep -c 'warning: .*\.part:' log)" = 1 ] || fail "(b) expected exactly one warning about a .part file"
kill -TERM "$slow"
rc=0; wait "$slow" || rc=$?
[ "$rc" != 0 ] || fail "(b) the slow export exited 0 after SIGTERM"
[ "$(ls -A out-b)" = vm.ova ] || { ls -la out-b; fail "(b) out-b should hold only vm.ova"; }
"$OVATOOL" validate out-b/vm.ova -q || fail "(b) out-b/vm.ova does not validate"
note "(b) leftovers reported, a running export's file told apart, none deleted; $((SECONDS - t)) s"

pass faults
