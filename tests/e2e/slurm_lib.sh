# slurm_lib.sh - the cluster and job helpers of the Slurm tests (sourced
# after lib.sh, with SLURM_DIR and OVATOOL set): skips without Slurm,
# starts the local one-node cluster when none answers (and stops it at the
# end), and defines submit, state and WORK. slurm.sh says how the states
# are read.
for b in sbatch sinfo scontrol; do
  command -v "$b" >/dev/null || skip "no $b (install slurm-client)"
done
command -v slurmd >/dev/null || [ -x /usr/sbin/slurmd ] || skip "no slurmd (install slurmd)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ovatool-slurm.XXXXXX")
STARTED=0
SUBMITTED=()
cleanup() {
  local rc=$?
  # jobs of ours still queued or running (a failed assertion) go first
  [ "${#SUBMITTED[@]}" = 0 ] || scancel "${SUBMITTED[@]}" 2>/dev/null || true
  if [ "$STARTED" = 1 ]; then
    sh "$SLURM_DIR/local-down.sh" || true
  fi
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

T0=$SECONDS
# scontrol ping answers at once; sinfo retries for 9 s when no controller is up
if timeout 30 scontrol ping >/dev/null 2>&1 && timeout 30 sinfo -h -o %T >/dev/null 2>&1; then
  note "using the Slurm cluster that is already up: $(sinfo -h -o '%N cpus=%c %T' | head -n1)"
else
  [ "$(id -u)" = 0 ] || skip "no Slurm cluster answers sinfo, and starting one needs root"
  STARTED=1
  sh "$SLURM_DIR/local-up.sh" || fail "local-up.sh could not start a cluster"
fi
COMPLOG=$(scontrol show config | sed -n 's/^JobCompLoc *= *//p')
COMPTYPE=$(scontrol show config | sed -n 's/^JobCompType *= *//p')
if [ "$COMPTYPE" != jobcomp/filetxt ] || [ ! -r "$COMPLOG" ]; then
  [ "$STARTED" = 1 ] && fail "local-up.sh set up no readable jobcomp/filetxt log ($COMPTYPE, $COMPLOG)"
  skip "the running cluster keeps no readable jobcomp/filetxt log (JobCompType=$COMPTYPE); restart it with $SLURM_DIR/local-up.sh"
fi
COMP_OFF=$(stat -c %s "$COMPLOG")
note "cluster ready after $((SECONDS - T0)) s"

# jobs find ovatool on PATH, like an installed one
BIN=$(cd "$(dirname "$OVATOOL")" && pwd)
[ "$(basename "$OVATOOL")" = ovatool ] || fail "OVATOOL must be a file named ovatool (the jobs look it up on PATH)"
OVA_BIN=$BIN/ovatool
JOBS=$WORK/jobs
mkdir -p "$JOBS"

# final_rc JOB: the exit status `sbatch --wait` stands for (the job's; 1 for
# a job ended by a signal; the highest of an array's tasks), read from
# scontrol once no record of the job is pending, running or completing.
# sbatch --wait itself takes the exit code as soon as the job's state is
# final, and a job past its time limit is TIMEOUT (and COMPLETING) at once,
# before its batch script has been killed and reported: polled then, it
# says 0 (seen here once). Fails if scontrol no longer knows the job.
final_rc() {
  local out i
  for i in $(seq 300); do
    out=$(scontrol -o show job "$1" 2>/dev/null) || return 1
    if ! grep -qE 'JobState=(PENDING|CONFIGURING|RUNNING|COMPLETING|SUSPENDED|REQUEUED)' <<< "$out"; then
      sed -n 's/.* ExitCode=\([0-9]*\):\([0-9]*\).*/\1 \2/p' <<< "$out" \
        | awk '{ c = $2 != 0 ? 1 : $1; if (c > m) m = c } END { print m + 0 }'
      return 0
    fi
    sleep 0.2
  done
  return 1
}

# submit ARGS... : sbatch --wait from JOBS with ovatool on PATH and OVATOOL
# unset; sets JOB (the job id) and RC (the job's exit status, as sbatch
# --wait gives it, checked by final_rc). sbatch's own messages (such as
# "no longer found" for a job purged before it looked) are shown.
submit() {
  local out
  RC=0
  out=$(env -u OVATOOL PATH="$BIN:$PATH" sbatch --parsable --wait --chdir "$JOBS" "$@" 2> "$WORK/sbatch.err") \
    || RC=$?
  cat "$WORK/sbatch.err" >&2
  JOB=${out%%;*}
  JOB=${JOB%%$'\n'*}
  [[ "$JOB" =~ ^[0-9]+$ ]] || fail "sbatch $*: no job id (got '$out', exit $RC)"
  SUBMITTED+=("$JOB")
  local final
  final=$(final_rc "$JOB") \
    || fail "job $JOB: scontrol does not know it any more, so its exit status is unknown (sbatch said $RC); use a cluster with a longer MinJobAge (local-up.sh: 300 s)"
  [ "$final" = "$RC" ] || note "job $JOB: sbatch --wait said $RC, the job's final exit status is $final"
  RC=$final
}

# state JOBID [TASK]: the JobState jobcomp logged for a job or an array task
# since this test began (waits up to 10 s for the line)
state() {
  local line i
  for i in $(seq 50); do
    if [ $# = 2 ]; then
      line=$(tail -c +$((COMP_OFF + 1)) "$COMPLOG" | grep -F " ArrayJobId=$1 ArrayTaskId=$2 " | tail -n1 || true)
    else
      line=$(tail -c +$((COMP_OFF + 1)) "$COMPLOG" | grep "^JobId=$1 " | grep -v ' ArrayJobId=' | tail -n1 || true)
    fi
    [ -z "$line" ] || { printf '%s\n' "$line" | sed -n 's/.* JobState=\([A-Z_]*\) .*/\1/p'; return; }
    sleep 0.2
  done
  echo NONE
}

