#!/usr/bin/env bash
# slurm_resume.sh SLURM_DIR - long jobs under Slurm (README "Long jobs"):
# export-vm.sbatch with RESUME=1 and a time limit too short for the export
# (1 minute). Slurm's warning signal (--signal=B:USR1@120, so at its first
# check under a 1-minute limit) or, failing that, the SIGTERM at the limit
# reaches the export, which stops at a durable point (exit 75) and keeps
# OUT.partial and OUT.journal; the job requeues itself once
# (RESUME_MAX_REQUEUES=1), and the requeued run (after Slurm's requeue
# delay, about 2 minutes) continues and stops again the same way. A second job,
# submitted with a longer limit, finishes the export; the OVA is identical
# (cmp) to an uninterrupted export made outside Slurm, and nothing is left
# beside it. Same cluster handling as slurm.sh (slurm_lib.sh).
source "$(dirname "$0")/lib.sh"
SLURM_DIR=$(cd "${1:?usage: slurm_resume.sh SLURM_DIR}" && pwd)
: "${OVATOOL:?set OVATOOL to the ovatool binary}"
source "$(dirname "$0")/slurm_lib.sh"
cd "$WORK"
export SOURCE_DATE_EPOCH=1700000000

# 512 MiB of text: 128 units of 4 MiB on one rank, each made a second
# longer by the test hook export.slow (util/fault.h), so the export takes
# over two minutes on any machine and a 1-minute limit cuts it
mkdir vm out
(cd vm && qemu-img create -q -f vmdk -o subformat=monolithicFlat slow.vmdk 512M)
text $((512 << 20)) "slurm resume test $(head -c 100 /dev/urandom | base64 -w0)" |
  dd of=vm/slow-flat.vmdk conv=notrunc status=none
write_vmx vm/slow.vmx slow.vmdk slow
ARGS="--threads 1"
SLOW=OVATOOL_TEST_FAIL_RANK=0:export.slow

t=$SECONDS
submit --time=1 -c 1 \
  "--export=ALL,VMX=$WORK/vm/slow.vmx,OUT=$WORK/out/slow.ova,RESUME=1,RESUME_MAX_REQUEUES=1,$SLOW,OVATOOL_ARGS=$ARGS" \
  "$SLURM_DIR/export-vm.sbatch"
log=$JOBS/ovatool-export-$JOB.out
cat "$log"
[ ! -e out/slow.ova ] || fail "the export finished within the time limit: the VM is too fast for this test"
[ -f out/slow.ova.partial ] && [ -f out/slow.ova.journal ] || { ls -la out; fail "job $JOB left no partial output and journal"; }
grep -q "stopped on request at a durable point" "$log" || fail "job $JOB did not stop at a durable point"
grep -q "requeueing job $JOB" "$log" || fail "job $JOB did not requeue itself"
[ "$(grep -c "resuming the export" "$log")" -ge 1 ] || fail "the requeued run of job $JOB did not resume"
note "job $JOB: stopped, requeued, resumed and stopped again in $((SECONDS - t)) s; $(stat -c %s out/slow.ova.partial) bytes durable"

t=$SECONDS
submit --time=10 -c 1 "--export=ALL,VMX=$WORK/vm/slow.vmx,OUT=$WORK/out/slow.ova,RESUME=1,$SLOW,OVATOOL_ARGS=$ARGS" \
  "$SLURM_DIR/export-vm.sbatch"
log2=$JOBS/ovatool-export-$JOB.out
[ "$RC" = 0 ] || { cat "$log2"; fail "the second job $JOB failed ($RC)"; }
[ "$(state "$JOB")" = COMPLETED ] || { cat "$log2"; fail "the second job $JOB is not COMPLETED"; }
grep -q "resuming the export" "$log2" || { cat "$log2"; fail "the second job did not resume"; }
[ "$(ls -A out)" = slow.ova ] || { ls -la out; fail "files left beside the OVA"; }
note "job $JOB finished it in $((SECONDS - t)) s"

mkdir ref
"$OVATOOL" export vm/slow.vmx -o ref/slow.ova -q
cmp ref/slow.ova out/slow.ova || fail "the OVA resumed under Slurm differs from an uninterrupted export"
SUBMITTED=()
pass "a time-limited Slurm job stops at a durable point and a second job finishes it identically"
