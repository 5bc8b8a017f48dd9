#!/bin/sh
# local-up.sh - a one-node Slurm cluster on localhost (munged, slurmctld,
# slurmd; no systemd), to try the job scripts here. Run as root; needs the
# packages slurm-wlm slurmctld slurmd slurm-client munge. Stop with local-down.sh.
# There is no accounting (no slurmdbd, so no sacct), and a finished job leaves
# scontrol after MinJobAge seconds (300, Slurm's default: `sbatch --wait`
# reads the job's exit code from the controller, and a job purged before it
# looks is "no longer found" and exits 0, as a TIMEOUT job once did here
# with MinJobAge=4 under load): every finished job (array tasks too) gets
# one line in /var/log/slurm/jobcomp.log, e.g.
#   JobId=7 UserId=root(0) ... JobState=FAILED ... ArrayJobId=5 ArrayTaskId=2 ... ExitCode=1:0
# (JobState COMPLETED, FAILED, TIMEOUT, CANCELLED, ...).
set -eu
if [ -s /run/slurmctld.pid ] && kill -0 "$(cat /run/slurmctld.pid)" 2>/dev/null; then
  echo "slurmctld already running"
  exit 0
fi
# the node's shape from the hardware; 95% of the memory, or slurmd drains the node
HW=$(slurmd -C | head -n1 | tr ' ' '\n' | grep -E '^(CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore)=' | tr '\n' ' ')
MEM=$(slurmd -C | head -n1 | tr ' ' '\n' | sed -n 's/^RealMemory=//p')
MEM=$((MEM * 95 / 100))
mkdir -p /etc/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=ovalocal
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
EnforcePartLimits=ALL
MpiDefault=pmix
ReturnToService=2
MinJobAge=300
NodeName=localhost NodeAddr=127.0.0.1 ${HW}RealMemory=${MEM} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
[ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
mkdir -p /run/munge && chown munge:munge /run/munge && chmod 0755 /run/munge
if ! { [ -s /run/munge/munged.pid ] && kill -0 "$(cat /run/munge/munged.pid)" 2>/dev/null; }; then
  runuser -u munge -- /usr/sbin/munged
fi
/usr/sbin/slurmctld -c
/usr/sbin/slurmd -N localhost
i=0
until sinfo -h -o %T 2>/dev/null | grep -qx idle; do
  i=$((i + 1))
  [ $i -le 120 ] || { echo "slurm did not come up; see /var/log/slurm/*.log" >&2; exit 1; }
  sleep 0.25
done
echo "slurm up: $(sinfo -h -o '%N cpus=%c mem=%m %T')"
