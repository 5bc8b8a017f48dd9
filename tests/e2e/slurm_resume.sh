#!/usr/bin/env bash
# slurm_resume.sh SLURM_DIR - long jobs under Slurm (README "Long jobs"):
# export-vm.sbatch with RESUME=1 and a time limit too short for the export
# (1 minute). Slurm's warning signal (--signal=B:USR1@120, so at once under
# a 1-minute limit) or, failing that, the SIGTERM at the limit reaches the
# export, which stops at a durable point (exit 75) and keeps OUT.partial and
# OUT.journal; the job requeues itself once (RESUME_MAX_REQUEUES=1), the
# requeued run continues and stops again the same way. A second job,
# submitted with a longer limit, finishes the export; the OVA is identical
# (cmp) to an uninterrupted export made outside Slurm, and nothing is left
# beside it. Same cluster handling as slurm.sh (slurm_lib.sh).
source "$(dirname "$0")/lib.sh"
SLURM_DIR=$(cd "${1:?usage: slurm_resume.sh SLURM_DIR}" && pwd)
: "${OVATOOL:?set OVATOOL to the ovatool binary}"
source "$(dirname "$0")/slurm_lib.sh"
cd "$WORK"
export SOURCE_DATE_EPOCH=1700000000

# 512 MiB, 16 grain-table groups, each starting with 4 MiB of random bytes
# from a two-letter alphabet (zlib level 9: about 0.4 MiB/s per core, see
# slurm.sh (c)): some 10 s of one core per group, 160 s in all
mkdir vm out
(cd vm && qemu-img create -q -f vmdk -o subformat=monolithicFlat slow.vmdk 512M)
set2=$(printf 'ab%.0s' $(seq 128))
for g in $(seq 0 15); do
  head -c $((4 << 20)) /dev/urandom | tr '\000-\377' "$set2" |
    dd of=vm/slow-flat.vmdk bs=1M seek=$((g * 32)) conv=notrunc status=none
done
write_vmx vm/slow.vmx slow.vmdk slow
ARGS="--threads 1 --codec zlib --level 9"

t=$SECONDS
submit --time=1 -c 1 \
  "--export=ALL,VMX=$WORK/vm/slow.vmx,OUT=$WORK/out/slow.ova,RESUME=1,RESUME_MAX_REQUEUES=1,OVATOOL_ARGS=$ARGS" \
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
submit --time=10 -c 1 "--export=ALL,VMX=$WORK/vm/slow.vmx,OUT=$WORK/out/slow.ova,RESUME=1,OVATOOL_ARGS=$ARGS" \
  "$SLURM_DIR/export-vm.sbatch"
log2=$JOBS/ovatool-export-$JOB.out
[ "$RC" = 0 ] || { cat "$log2"; fail "the second job $JOB failed ($RC)"; }
[ "$(state "$JOB")" = COMPLETED ] || { cat "$log2"; fail "the second job $JOB is not COMPLETED"; }
grep -q "resuming the export" "$log2" || { cat "$log2"; fail "the second job did not resume"; }
[ "$(ls -A out)" = slow.ova ] || { ls -la out; fail "files left beside the OVA"; }
note "job $JOB finished it in $((SECONDS - t)) s"

mkdir ref
"$OVATOOL" export vm/slow.vmx -o ref/slow.ova -q --codec zlib --level 9 --threads 2
cmp ref/slow.ova out/slow.ova || fail "the OVA resumed under Slurm differs from an uninterrupted export"
SUBMITTED=()
pass "a time-limited Slurm job stops at a durable point and a second job finishes it identically"
