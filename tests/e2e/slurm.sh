#!/usr/bin/env bash
# slurm.sh SLURM_DIR - the job scripts in SLURM_DIR, submitted unchanged to a
# real Slurm cluster, do what their headers say:
#  (a) export-vm.sbatch with 2 ranks x 1 thread (-n 2 -c 1) and with its own
#      default shape: a valid OVA identical to the source disk, and a log
#      whose "ranks x threads" line agrees with ovatool's own thread count;
#  (b) export-fleet-array.sbatch as a 4-task array of VMs that all have the same
#      display name, two of them also the same .vmx file name in different
#      folders, one with a missing disk: that task FAILED with ovatool's
#      message, the others COMPLETED with valid OVAs under 4 distinct names;
#      submitting a task again fails and leaves the existing OVA alone;
#  (b2) export-fleet.sbatch, the same VMs as one 2-rank job (fleet mode):
#      FAILED for the missing disk, which is named in the log, the other
#      three written (named after their .vmx files, as they share a display
#      name) and valid, every rank having compressed units;
#  (c) a job that hits its time limit ends TIMEOUT, leaves no OVA and no
#      .part file, and its log has ovatool's "stopped by SIGTERM" line;
#  (d) kill -9 of rank 1, then of rank 0, of a 2-rank job: the job ends
#      FAILED with every process of the step gone within 30 s, no OVA, and
#      rank 0's .part file (Slurm SIGKILLs the whole step) named by the next
#      export to the same target.
# ovatool is found on PATH (the directory of $OVATOOL first, OVATOOL itself
# unset for the jobs), as an installed ovatool would be.
#
# Needs the Slurm binaries. If no cluster answers, one is started with
# SLURM_DIR/local-up.sh (root only) and stopped again at the end; a cluster
# that was already up is used and left running. Exit 77 (skipped) when
# Slurm cannot be used here.
#
# Job states: there is no accounting (sacct), and a finished job leaves
# `scontrol show job` after MinJobAge (300 s in local-up.sh, but a cluster
# that was up already may purge sooner), so reading it after `sbatch --wait`
# returns could race. The states come from the
# jobcomp/filetxt log instead (JobCompType in local-up.sh): one line per
# finished job or array task, kept for good. Only lines written after this
# test started count: the log outlives the cluster, and a controller started
# afresh (slurmctld -c) may hand out the same job ids again.
source "$(dirname "$0")/lib.sh"
SLURM_DIR=$(cd "${1:?usage: slurm.sh SLURM_DIR}" && pwd)
: "${OVATOOL:?set OVATOOL to the ovatool binary}"
SCHEMA=${SCHEMA:-}

source "$(dirname "$0")/slurm_lib.sh"

# demo VM in DIR, its VMX renamed to NAME.vmx (display name "ovatool demo")
demo_vm() {
  mkdir -p "$(dirname "$1")"
  "$OVATOOL" demo "$1" --size 64 >/dev/null
  [ "$2" = demo ] || mv "$1/demo.vmx" "$1/$2.vmx"
}

# the threads line of the job script and ovatool's plan line agree, and match RANKS x CPUS
check_shape() {  # check_shape LOG RANKS CPUS
  local log=$1 n=$2 c=$3
  grep -q ": $n ranks x $c threads on 1 node(s); $OVA_BIN\$" "$log" \
    || { cat "$log"; fail "$log: no '$n ranks x $c threads on 1 node(s); $OVA_BIN' line"; }
  grep -q "; $n rank(s), $((n * c)) compression thread(s);" "$log" \
    || { cat "$log"; fail "$log: ovatool does not run $n rank(s) with $((n * c)) thread(s) in all"; }
}

cd "$WORK"

# ---- (a) export-vm.sbatch: -n 2 -c 1, then the default shape -------------
t=$SECONDS
demo_vm vm demo
mkdir out-a
# export_vm CASE OVA RANKS CPUS [SBATCH ARGS...]: export-vm.sbatch must give a
# valid OVA of the demo disk, with RANKS x CPUS threads
export_vm() {
  local what=$1 ova=out-a/$2 n=$3 c=$4; shift 4
  submit "$@" "--export=ALL,VMX=$WORK/vm/demo.vmx,OUT=$WORK/$ova" "$SLURM_DIR/export-vm.sbatch"
  local log=$JOBS/ovatool-export-$JOB.out
  [ "$RC" = 0 ] || { cat "$log"; fail "(a) $what: sbatch --wait exit $RC"; }
  [ "$(state "$JOB")" = COMPLETED ] || fail "(a) $what: job $JOB is $(state "$JOB"), not COMPLETED"
  check_shape "$log" "$n" "$c"
  "$OVATOOL" validate "$ova" >/dev/null || fail "(a) $what: ovatool validate rejects $ova"
  check_ova "$ova" vm/demo-flat.vmdk
}
export_vm "-n 2 -c 1" two.ova 2 1 -n 2 -c 1
export_vm "default shape" default.ova 1 2
note "(a) export-vm.sbatch, -n 2 -c 1 and the default 1 x 2: valid OVAs, $((SECONDS - t)) s"

# ---- (b) export-fleet-array.sbatch: 4 tasks, clashing names, a missing disk ------
t=$SECONDS
demo_vm site-a/web demo          # same display name and same file name ...
demo_vm site-b/web demo          # ... as this one, in another folder
demo_vm db db
demo_vm broken broken
rm broken/demo-flat.vmdk         # its disk is gone
printf '%s\n' "$WORK/site-a/web/demo.vmx" "$WORK/site-b/web/demo.vmx" "$WORK/db/db.vmx" "$WORK/broken/broken.vmx" > vms.txt
submit --array=1-4 -c 1 "--export=ALL,LIST=$WORK/vms.txt,OUTDIR=$WORK/out-b" "$SLURM_DIR/export-fleet-array.sbatch"
[ "$RC" != 0 ] || fail "(b) sbatch --wait exit 0, but one task must fail"
flog() { echo "$JOBS/ovatool-fleet-${JOB}_$1.out"; }
declare -A want=([1]=demo-1 [2]=demo-2 [3]=db [4]=broken)
for i in 1 2 3 4; do
  grep -qF -- "-> $WORK/out-b/${want[$i]}.ova" "$(flog $i)" || { cat "$(flog $i)"; fail "(b) task $i is not named ${want[$i]}.ova"; }
done
for i in 1 2 3; do
  s=$(state "$JOB" $i)
  [ "$s" = COMPLETED ] || { cat "$(flog $i)"; fail "(b) task $i is $s, not COMPLETED"; }
  check_shape "$(flog $i)" 1 1
  "$OVATOOL" validate "out-b/${want[$i]}.ova" >/dev/null || fail "(b) ovatool validate rejects ${want[$i]}.ova"
done
check_ova out-b/demo-1.ova site-a/web/demo-flat.vmdk
check_ova out-b/demo-2.ova site-b/web/demo-flat.vmdk
check_ova out-b/db.ova db/demo-flat.vmdk
s=$(state "$JOB" 4)
[ "$s" = FAILED ] || { cat "$(flog 4)"; fail "(b) the task with the missing disk is $s, not FAILED"; }
grep -q "ovatool: error: .*demo-flat.vmdk" "$(flog 4)" || { cat "$(flog 4)"; fail "(b) task 4's log lacks ovatool's error"; }
[ "$(find out-b -mindepth 1 -printf '%f\n' | sort | tr '\n' ' ')" = "db.ova demo-1.ova demo-2.ova " ] \
  || { ls -la out-b; fail "(b) out-b should hold exactly db.ova demo-1.ova demo-2.ova"; }
# an existing OVA is never replaced: task 3 again fails and names the file
sum=$(sha256sum < out-b/db.ova)
first=$JOB
submit --array=3 -c 1 "--export=ALL,LIST=$WORK/vms.txt,OUTDIR=$WORK/out-b" "$SLURM_DIR/export-fleet-array.sbatch"
[ "$RC" != 0 ] || fail "(b) exporting db again succeeded over the existing OVA"
[ "$(state "$JOB" 3)" = FAILED ] || fail "(b) exporting db again: task is $(state "$JOB" 3), not FAILED"
grep -qF "$WORK/out-b/db.ova already exists" "$(flog 3)" || { cat "$(flog 3)"; fail "(b) no 'already exists' message"; }
[ "$(sha256sum < out-b/db.ova)" = "$sum" ] || fail "(b) db.ova was changed"
note "(b) export-fleet-array.sbatch, array $first: 3 COMPLETED with valid OVAs, missing disk FAILED, no overwrite; $((SECONDS - t)) s"

# ---- (b2) export-fleet.sbatch: the same VMs in one job ---------------------
t=$SECONDS
mkdir out-b2
submit -n 2 -c 1 "--export=ALL,LIST=$WORK/vms.txt,OUTDIR=$WORK/out-b2" "$SLURM_DIR/export-fleet.sbatch"
log=$JOBS/ovatool-fleet-$JOB.out
[ "$RC" != 0 ] || { cat "$log"; fail "(b2) sbatch --wait exit 0, but one VM must fail"; }
[ "$(state "$JOB")" = FAILED ] || { cat "$log"; fail "(b2) job $JOB is $(state "$JOB"), not FAILED"; }
check_shape "$log" 2 1
grep -q "broken.vmx: not exported: .*demo-flat.vmdk" "$log" || { cat "$log"; fail "(b2) the missing disk is not reported"; }
grep -q "1 of 4 VM(s) failed, 3 exported" "$log" || { cat "$log"; fail "(b2) no closing count"; }
for r in 0 1; do
  grep -q "rank $r on .*: [1-9][0-9]* unit(s) compressed" "$log" || { cat "$log"; fail "(b2) rank $r did no work"; }
done
[ "$(find out-b2 -mindepth 1 -printf '%f\n' | sort | tr '\n' ' ')" = "db.ova demo-2.ova demo.ova " ] \
  || { ls -la out-b2; fail "(b2) out-b2 should hold exactly db.ova demo-2.ova demo.ova"; }
check_ova out-b2/demo.ova site-a/web/demo-flat.vmdk
check_ova out-b2/demo-2.ova site-b/web/demo-flat.vmdk
check_ova out-b2/db.ova db/demo-flat.vmdk
for o in demo demo-2 db; do
  "$OVATOOL" validate "out-b2/$o.ova" >/dev/null || fail "(b2) ovatool validate rejects $o.ova"
done
note "(b2) export-fleet.sbatch, job $JOB: 3 valid OVAs, the missing disk reported, FAILED; $((SECONDS - t)) s"

# ---- (c) the time limit -----------------------------------------------------
# 256 MiB of random bytes from a two-letter alphabet: zlib level 9 walks
# long match chains on it, about 0.4 MiB/s per core here (16 MiB took 43 s
# of CPU; plain random data goes 100 times faster), so one thread needs
# some 10 minutes. The limit (1 minute; slurmctld checks limits every 30 s)
# stops it after 60-90 s, at about 10%.
t=$SECONDS
mkdir slow out-c
(cd slow && qemu-img create -q -f vmdk -o subformat=monolithicFlat slow.vmdk 256M)
set2=$(printf 'ab%.0s' $(seq 128))
head -c $((256 << 20)) /dev/urandom | tr '\000-\377' "$set2" | dd of=slow/slow-flat.vmdk conv=notrunc status=none
write_vmx slow/slow.vmx slow.vmdk slow
submit --time=1 -c 1 \
  "--export=ALL,VMX=$WORK/slow/slow.vmx,OUT=$WORK/out-c/slow.ova,OVATOOL_ARGS=--threads 1 --codec zlib --level 9" \
  "$SLURM_DIR/export-vm.sbatch"
log=$JOBS/ovatool-export-$JOB.out
[ "$RC" != 0 ] || { cat "$log"; fail "(c) sbatch --wait exit 0 for a job past its time limit"; }
s=$(state "$JOB")
[ "$s" = TIMEOUT ] || { cat "$log"; fail "(c) job $JOB is $s, not TIMEOUT"; }
[ -z "$(ls -A out-c)" ] || { ls -la out-c; fail "(c) files left in the output folder after the time limit"; }
stop=$(grep -E '^ovatool: stopped by SIGTERM after [0-9]+\.[0-9]{2} GiB of 0\.25 GiB \([0-9]+%\); removed partial output ' "$log" || true)
[ -n "$stop" ] || { cat "$log"; fail "(c) no 'stopped by SIGTERM ... removed partial output' line in the log"; }
[[ "$stop" == *"removed partial output $WORK/out-c/.slow.ova."*.part ]] || fail "(c) unexpected line: $stop"
grep -q 'DUE TO TIME LIMIT' "$log" || { cat "$log"; fail "(c) Slurm did not say the time limit ended the job"; }
note "(c) time limit: TIMEOUT, nothing left, logged: $stop; $((SECONDS - t)) s"

# ---- (d) kill -9 of a rank under srun ------------------------------------------
# export-vm.sbatch with 2 ranks x 1 thread on the slow VM of (c). Once rank 0
# has created its temporary file, SIGKILL one task of the step: rank 1, then
# rank 0 (the task's PMIX_RANK, read from /proc/PID/environ of the ovatool
# processes pgrep finds by the absolute output path). The job must end
# FAILED, its log saying which task was killed, with every process of the
# step gone within 30 s. Unlike mpirun, which sends the other ranks SIGTERM
# (export_faults.sh), Slurm aborts the step with SIGKILL whichever task died
# (PMIx reports the lost task to slurmstepd): rank 0 cannot remove its
# temporary file either way. So both cases leave no OVA and exactly that
# .part file, and the next export to the same target names it as left
# behind by an interrupted export.
t=$SECONDS
OVA_REAL=$(readlink -f "$OVA_BIN")
# submit_nowait ARGS...: like submit, but returns at once (sets JOB)
submit_nowait() {
  local out
  out=$(env -u OVATOOL PATH="$BIN:$PATH" sbatch --parsable --chdir "$JOBS" "$@") || fail "sbatch $*: failed"
  JOB=${out%%;*}
  [[ "$JOB" =~ ^[0-9]+$ ]] || fail "sbatch $*: no job id (got '$out')"
  SUBMITTED+=("$JOB")
}
# task_pid OUT RANK: the pid of the ovatool task of rank RANK that writes OUT
task_pid() {
  local i p
  for i in $(seq 600); do
    for p in $(pgrep -f -- "-o $1 " || true); do
      [ "$(readlink -f "/proc/$p/exe" 2>/dev/null)" = "$OVA_REAL" ] || continue
      if tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx "PMIX_RANK=$2"; then echo "$p"; return; fi
    done
    sleep 0.1
  done
  fail "(d) rank $2 of the job writing $1 did not show up within 60 s"
}
# kill_task RANK: the job above, writing out-dRANK/k.ova; SIGKILL rank RANK
kill_task() {
  local r=$1 out=$WORK/out-d$1/k.ova i s
  mkdir "out-d$r"
  submit_nowait -n 2 -c 1 \
    "--export=ALL,VMX=$WORK/slow/slow.vmx,OUT=$out,OVATOOL_ARGS=--threads 1 --codec zlib --level 9" \
    "$SLURM_DIR/export-vm.sbatch"
  local log=$JOBS/ovatool-export-$JOB.out
  for i in $(seq 600); do
    [ -z "$(find "out-d$r" -name '.*.part')" ] || break
    sleep 0.1
  done
  [ -n "$(find "out-d$r" -name '.*.part')" ] || { cat "$log"; fail "(d) job $JOB: no temporary file within 60 s"; }
  local pid; pid=$(task_pid "$out" "$r")
  local t0=$SECONDS
  kill -9 "$pid"
  for i in $(seq 300); do
    pgrep -f -- "-o $out " >/dev/null || break
    sleep 0.1
  done
  if pgrep -f -- "-o $out " >/dev/null; then
    pgrep -fa -- "-o $out "; cat "$log"; fail "(d) processes of job $JOB remain 30 s after rank $r was killed"
  fi
  local gone=$((SECONDS - t0))
  for i in $(seq 30); do
    s=$(state "$JOB")
    [ "$s" = NONE ] || break
  done
  [ "$s" = FAILED ] || { cat "$log"; fail "(d) job $JOB is $s after rank $r was killed, not FAILED"; }
  grep -q "error: .*task $r: Killed" "$log" || { cat "$log"; fail "(d) job $JOB's log does not say task $r was killed"; }
  note "(d) kill -9 of rank $r (pid $pid): job $JOB FAILED, the step gone after $gone s; its log:"
  sed 's/^/      /' "$log"
}
demo_vm quick demo
for r in 1 0; do
  kill_task "$r"
  [ ! -e "out-d$r/k.ova" ] || fail "(d) an OVA was written although rank $r was killed"
  left=$(find "out-d$r" -mindepth 1 -printf '%f\n')
  [[ "$left" =~ ^\.k\.ova\.[A-Za-z0-9]{6}\.part$ ]] || { ls -la "out-d$r"; fail "(d) after rank $r was killed, expected one .part file, found: $left"; }
  "$OVATOOL" export quick/demo.vmx -o "$WORK/out-d$r/k.ova" -q 2> next.log || { cat next.log; fail "(d) the export after the killed job failed"; }
  cat next.log
  grep -F "warning: $WORK/out-d$r/$left: left behind by an interrupted export to k.ova (" next.log \
    | grep -qE '\([0-9]+ bytes, last written [^)]*\); no running export holds it; it can be deleted$' \
    || fail "(d) the export after rank $r was killed did not name the job's $left"
  rm "out-d$r/$left"
  [ "$(ls -A "out-d$r")" = k.ova ] || { ls -la "out-d$r"; fail "(d) out-d$r should hold only k.ova"; }
done
note "(d) kill -9 under srun: $((SECONDS - t)) s"

SUBMITTED=()
note "all cases in $((SECONDS - T0)) s"
pass slurm
