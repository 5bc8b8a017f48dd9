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
#  (c) ENOSPC: the output on a 4 MiB tmpfs, a disk that compresses to 16 MiB;
#      1 and 3 ranks, O_DIRECT and --buffered-io: exit 1, "FOLDER: disk full
#      after writing X of about Y" naming the temporary file and "No space
#      left on device", the tmpfs empty afterwards.
#  (d) EACCES, as user nobody: an output folder it cannot write, an extent
#      and a descriptor it cannot read; 1 and 2 ranks: exit 1, the error
#      names the file or folder and says which user cannot read or write
#      it, nothing written.
#  (e) kill -9 of rank 1 and of rank 0 of a 3-rank mpirun job: mpirun exits
#      non-zero and every process of the job is gone within 30 s; rank 1:
#      rank 0 removes its temporary file (it gets SIGTERM from mpirun);
#      rank 0: its temporary file stays, and the next export to the same
#      target names it as left behind by an interrupted export.
# Exit statuses: ovatool 1 for every failure (README "Exit status"); mpirun
# passes on 1, or 128 + 9 when the rank it first saw end was SIGKILLed.
# The same kills under srun are a case of slurm.sh.
# Needs root (mknod, mount, setpriv); exit 77 (skipped) otherwise.
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (mknod, mount, setpriv)"
# In /tmp, not TMPDIR (the build tree): part (d) runs as user nobody, who
# must reach this folder, and a clone in a private folder (/root, a
# `mktemp -d`) would hide the build tree from every other user.
WORK=$(mktemp -d "/tmp/ovatool-faults.XXXXXX")
BG=()  # background exports, stopped at exit
cleanup() {
  local p
  for p in "${BG[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  if mountpoint -q "$WORK/full" 2>/dev/null; then umount "$WORK/full" || umount -l "$WORK/full" || true; fi
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
# an ordinary OVA is still written, and replaced by the next export with --overwrite
"$OVATOOL" export vm/vm.vmx -o out/ok.ova -q || fail "export to out/ok.ova failed"
"$OVATOOL" export vm/vm.vmx -o out/ok.ova --overwrite -q || fail "export over the existing out/ok.ova failed"
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
"$OVATOOL" export slow/slow.vmx -o out-b/vm.ova --overwrite "${SLOW[@]}" -q 2> slow.log &
slow=$!; BG+=("$slow")
running=$(wait_part out-b)
"$OVATOOL" export vm/vm.vmx -o out-b/vm.ova --overwrite -q 2> log || { cat log; fail "(b) export beside a running one failed"; }
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

# ---- (c) ENOSPC on the output -------------------------------------------------
t=$SECONDS
mkdir big full
head -c $((16 << 20)) /dev/urandom > big/big.raw   # random: the OVA holds about 16 MiB
qemu-img convert -q -f raw -O vmdk -o subformat=monolithicFlat big/big.raw big/big.vmdk
rm big/big.raw
write_vmx big/big.vmx big.vmdk big
if mount -t tmpfs -o size=4m,mode=0755 ovatool-faults "$WORK/full"; then
  enospc() {  # enospc RANKS [--buffered-io]
    local n=$1 rc=0; shift
    run_ranks "$n" export big/big.vmx -o full/big.ova --progress 0 "$@" > log 2>&1 || rc=$?
    [ "$rc" = 1 ] || { cat log; fail "(c) ENOSPC, $n rank(s) $*: exit $rc, not 1"; }
    grep -qE 'ovatool: error: full: disk full after writing [0-9.]+ (bytes|KiB|MiB) of about [0-9.]+ MiB \(full/\.big\.ova\.[A-Za-z0-9]{6}\.part: No space left on device\)$' log \
      || { cat log; fail "(c) ENOSPC, $n rank(s) $*: no 'disk full' error naming the folder and the file"; }
    [ "$(grep -c 'ovatool: error:' log)" = 1 ] || { cat log; fail "(c) ENOSPC, $n rank(s) $*: not exactly one error line"; }
    [ -z "$(ls -A full)" ] || { ls -la full; fail "(c) ENOSPC, $n rank(s) $*: files left on the full file system"; }
    if [ "${1:-}" = --buffered-io ]; then
      grep -q 'output through the page cache' log || { cat log; fail "(c) --buffered-io did not write through the page cache"; }
    elif ! grep -q 'output with O_DIRECT' log; then
      skip_part "(c) ENOSPC with O_DIRECT, $n rank(s): this kernel's tmpfs refuses O_DIRECT"
    fi
    note "(c) ENOSPC, $n rank(s) ${*:-(O_DIRECT)}: exit $rc: $(grep 'ovatool: error:' log | sed 's/^\[[^]]*\] //')"
  }
  enospc 1
  enospc 1 --buffered-io
  enospc 3
  enospc 3 --buffered-io
  umount "$WORK/full"
  note "(c) ENOSPC: $((SECONDS - t)) s"
else
  skip_part "(c) ENOSPC (cannot mount a tmpfs here)"
fi

# ---- (d) EACCES, as an unprivileged user -------------------------------------
t=$SECONDS
NB=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
mkdir -m 0755 acc acc/vm acc/ro
mkdir -m 0777 acc/w
mkdir -m 1777 acc/tmp                       # nobody's TMPDIR (mpirun's session folder)
chmod 0755 "$WORK"
# the tool as nobody can reach it (the build tree may sit in a private folder)
mkdir -m 0755 nbbin && cp "$OVATOOL" nbbin/ovatool && chmod 0755 nbbin/ovatool
NBTOOL=$WORK/nbbin/ovatool
truncate -s 4M acc/vm/src.raw
head -c 1048576 /dev/urandom | dd of=acc/vm/src.raw bs=1M seek=1 conv=notrunc status=none
qemu-img convert -q -f raw -O vmdk -o subformat=monolithicFlat acc/vm/src.raw acc/vm/acc.vmdk
rm acc/vm/src.raw
write_vmx acc/vm/acc.vmx acc.vmdk acc
chmod 0644 acc/vm/*
if ! "${NB[@]}" test -x "$NBTOOL" -a -r acc/vm/acc.vmx -a -w acc/w; then
  skip_part "(d) EACCES as nobody (nobody cannot reach $NBTOOL or $WORK)"
else
  # denied RANKS OUT WANT_RE: the export as nobody exits 1 with one error matching WANT_RE
  denied() {
    local n=$1 out=$2 want=$3 rc=0
    if [ "$n" = 1 ]; then
      "${NB[@]}" env HOME=/ TMPDIR="$WORK/acc/tmp" "$NBTOOL" export acc/vm/acc.vmx -o "$out" --progress 0 > log 2>&1 || rc=$?
    else
      "${NB[@]}" env HOME=/ TMPDIR="$WORK/acc/tmp" "$MPIEXEC" -n "$n" --oversubscribe "$NBTOOL" export acc/vm/acc.vmx -o "$out" --progress 0 > log 2>&1 || rc=$?
    fi
    [ "$rc" = 1 ] || { cat log; fail "(d) $n rank(s), -o $out: exit $rc, not 1"; }
    grep -qE "ovatool: error: $want\$" log || { cat log; fail "(d) $n rank(s), -o $out: no error matching '$want'"; }
    [ "$(grep -c 'ovatool: error:' log)" = 1 ] || { cat log; fail "(d) $n rank(s): not exactly one error line"; }
    [ -z "$(find acc/ro acc/w -mindepth 1)" ] || { ls -la acc/ro acc/w; fail "(d) $n rank(s), -o $out: files left behind"; }
    note "(d) $n rank(s) as nobody, -o $out: exit $rc: $(grep 'ovatool: error:' log | sed 's/^\[[^]]*\] //')"
  }
  # the output folder
  nb="user nobody \(uid $(id -u nobody)\)"
  denied 1 acc/ro/acc.ova "acc/ro: not writable by $nb \(the folder of -o acc/ro/acc\.ova\); run as a user who can write there, fix its permissions or choose another folder"
  denied 2 acc/ro/acc.ova "acc/ro: not writable by $nb \(the folder of -o acc/ro/acc\.ova\); .*"
  # a source disk's extent, then its descriptor
  chmod 0600 acc/vm/acc-flat.vmdk
  denied 1 acc/w/acc.ova ".*acc/vm/acc-flat\.vmdk: not readable by $nb; run as a user who can read it or fix its permissions"
  denied 2 acc/w/acc.ova ".*acc/vm/acc-flat\.vmdk: not readable by $nb; run as a user who can read it or fix its permissions"
  chmod 0644 acc/vm/acc-flat.vmdk
  chmod 0600 acc/vm/acc.vmdk
  denied 1 acc/w/acc.ova ".*acc/vm/acc\.vmdk: not readable by $nb; run as a user who can read it or fix its permissions"
  chmod 0644 acc/vm/acc.vmdk
  # and with everything readable, nobody's export works
  "${NB[@]}" env HOME=/ TMPDIR="$WORK/acc/tmp" "$NBTOOL" export acc/vm/acc.vmx -o acc/w/acc.ova -q \
    || fail "(d) nobody cannot export a readable VM into a writable folder"
  note "(d) EACCES: $((SECONDS - t)) s"
fi

# ---- (e) kill -9 of a rank under mpirun ------------------------------------------
t=$SECONDS
# rank_pid OUT RANK: the pid of rank RANK of the mpirun job exporting to OUT
# (its environment says which rank it is; mpirun's own command line matches
# too, but has no rank)
rank_pid() {
  local i p
  for i in $(seq 300); do
    for p in $(pgrep -f -- "-o $1 " || true); do
      if tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2"; then echo "$p"; return; fi
    done
    sleep 0.1
  done
  fail "rank $2 of the export to $1 did not show up within 30 s"
}
# kill_rank RANK: a 3-rank export of the slow VM to out-eRANK/k.ova (by its
# absolute path: the processes are found by it); once it writes, SIGKILL rank
# RANK; mpirun must end non-zero and take every other process of the job with
# it within 30 s
kill_rank() {
  local r=$1 out=$WORK/out-e$1/k.ova
  mkdir "out-e$r"
  # ten seconds between mpirun's SIGTERM and its SIGKILL of the other ranks
  # (one by default): under load rank 0 can be inside a write that long, and
  # then dies before it removes its .part (README Robustness)
  "$MPIEXEC" -n 3 --oversubscribe --mca odls_base_sigkill_timeout 10 "$OVATOOL" export slow/slow.vmx -o "$out" \
    "${SLOW[@]}" > "kill$r.log" 2>&1 &
  local mp=$! i rc=0
  BG+=("$mp")
  wait_part "out-e$r" > /dev/null
  local pid; pid=$(rank_pid "$out" "$r")
  local t0=$SECONDS
  kill -9 "$pid"
  for i in $(seq 300); do
    kill -0 "$mp" 2>/dev/null || pgrep -f -- "-o $out " >/dev/null || break
    sleep 0.1
  done
  if pgrep -f -- "-o $out " >/dev/null; then
    pgrep -fa -- "-o $out "; cat "kill$r.log"; fail "(e) processes of the job remain 30 s after rank $r was killed"
  fi
  wait "$mp" || rc=$?
  [ "$rc" != 0 ] || { cat "kill$r.log"; fail "(e) mpirun exit 0 after rank $r was killed"; }
  note "(e) kill -9 of rank $r (pid $pid): mpirun exit $rc, the job gone after $((SECONDS - t0)) s"
}
kill_rank 1
[ -z "$(ls -A out-e1)" ] || { ls -la out-e1; cat kill1.log; fail "(e) files left after rank 1 was killed"; }
grep -E '^ovatool: stopped by SIGTERM .*; removed partial output ' kill1.log | grep -qF "output $WORK/out-e1/.k.ova." \
  || { cat kill1.log; fail "(e) rank 0 did not remove its temporary file after rank 1 was killed"; }
kill_rank 0
left=$(find out-e0 -mindepth 1 -printf '%f\n')
[[ "$left" =~ ^\.k\.ova\.[A-Za-z0-9]{6}\.part$ ]] || { ls -la out-e0; fail "(e) after rank 0 was killed, expected one .part file, found: $left"; }
"$OVATOOL" export vm/vm.vmx -o "$WORK/out-e0/k.ova" -q 2> log || { cat log; fail "(e) the export after the killed one failed"; }
cat log
grep -F "warning: $WORK/out-e0/$left: left behind by an interrupted export to k.ova (" log \
  | grep -qE '\([0-9]+ bytes, last written [^)]*\); no running export holds it; it can be deleted$' \
  || fail "(e) the next export did not name the killed export's $left"
rm "out-e0/$left"
[ "$(ls -A out-e0)" = k.ova ] || { ls -la out-e0; fail "(e) out-e0 should hold only k.ova"; }
note "(e) kill -9 under mpirun: $((SECONDS - t)) s"

note "all parts in $((SECONDS - T0)) s"
pass faults
