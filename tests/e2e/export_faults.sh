#!/usr/bin/env bash
# export_faults.sh - outputs an export must not write, and faults it must
# survive cleanly. Every refused or failed export exits 1 (mpirun: non-zero)
# with one error line naming the file, and leaves nothing at the target or
# beside it.
#  (a) the output is an input (the VMX, a descriptor, an extent, a snapshot
#      parent; also through a hard or a symbolic link) or exists and is not
#      a regular file (a symbolic link, a device node, a FIFO): refused
#      before any work, the target and the sources as they were.
# Needs root (mknod); exit 77 (skipped) otherwise.
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (mknod, mount, setpriv)"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ovatool-faults.XXXXXX")
cleanup() { rm -rf "$WORK"; }
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

pass faults
