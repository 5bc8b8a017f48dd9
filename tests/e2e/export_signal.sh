#!/usr/bin/env bash
# export_signal.sh - an export interrupted by SIGINT (a user's Ctrl-C) or
# by SIGTERM to every rank (what Slurm sends at the time limit) leaves neither
# the OVA nor its temporary file behind, and does not exit 0. Rank 0 says
# so in one line: "ovatool: stopped by SIGTERM after X GiB of Y GiB (P%);
# removed partial output out/.vm.ova.XXXXXX.part".
source "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ovatool-e2e.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
truncate -s 1G src.raw
head -c 268435456 /dev/urandom | dd of=src.raw conv=notrunc status=none
qemu-img convert -q -f raw -O vmdk -o subformat=monolithicFlat src.raw disk.vmdk
write_vmx vm.vmx disk.vmdk
mkdir out

interrupt() {  # interrupt SIGNAL RANKS
  local sig=$1 n=$2
  # zlib level 9 on random data is slow enough to be caught mid-way;
  # --compress-all: stored (incompressible) grains would make it fast
  # started directly (not through a shell function) so $! is the process to signal
  if [ "$n" = 1 ]; then
    "$OVATOOL" export vm.vmx -o out/vm.ova --codec zlib --level 9 --compress-all -q 2> err.log &
  else
    "$MPIEXEC" -n "$n" --oversubscribe "$OVATOOL" export vm.vmx -o out/vm.ova --codec zlib --level 9 --compress-all -q 2> err.log &
  fi
  local pid=$! i=0
  until ls -A out | grep -q '\.part$'; do
    i=$((i + 1)); [ $i -le 200 ] || fail "no temporary file appeared"; sleep 0.05
  done
  sleep 0.5
  if [ "$n" = 1 ]; then
    kill -"$sig" "$pid"
  else
    # every rank gets the signal, as Slurm signals every task of a step at
    # its time limit. A SIGTERM to mpirun itself is not used: Open MPI 4.1's
    # mpirun then often exits at once and its ranks die without running
    # their handlers, leaving the .part that the next export reports
    # (README, Robustness).
    pkill -"$sig" -P "$pid" || fail "no rank processes under mpirun ($pid)"
  fi
  set +e
  wait "$pid"
  local rc=$?
  set -e
  [ "$rc" != 0 ] || fail "exit status 0 after SIG$sig"
  sleep 1
  [ -z "$(ls -A out)" ] || { ls -la out; fail "SIG$sig with $n rank(s) left files behind"; }
  # the stop is logged (even with -q), by rank 0 only, naming the removed file
  local re="^ovatool: stopped by SIG$sig after [0-9]+\.[0-9]{2} GiB of 1\.00 GiB \(([0-9]+)%\); "
  re+="removed partial output out/\.vm\.ova\.[A-Za-z0-9]{6}\.part\$"
  grep -Eq "$re" err.log || { cat err.log; fail "SIG$sig with $n rank(s): no 'stopped by SIG$sig' line"; }
  [ "$(grep -c 'stopped by' err.log)" = 1 ] || { cat err.log; fail "SIG$sig: more than one 'stopped by' line"; }
  note "$(grep 'stopped by' err.log)"
  note "SIG$sig with $n rank(s): exit $rc, nothing left"
}
interrupt INT 1
interrupt TERM 1
interrupt TERM 2
echo "PASS: signals"
