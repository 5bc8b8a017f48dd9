#!/usr/bin/env bash
# export_resume_stop.sh - stopping a journaled export well, and refusing a
# resume that would not give the same OVA:
#  - SIGTERM to a single process, SIGUSR1 to mpirun (which forwards it to
#    the ranks; Slurm's warning signal before a time limit): the export
#    stops at a durable point with exit status 75 (EX_TEMPFAIL), keeps OUT.partial and
#    OUT.journal, says how to resume; --resume with another rank count
#    then writes an OVA identical (cmp) to an uninterrupted export
#  - without --resume, SIGTERM still removes the partial output (today's
#    clean-up, export_signal.sh)
#  - a resume after a source disk changed, with other options, or over a
#    damaged partial output is refused with the reason, and the files stay
#  - --overwrite without --resume discards them and exports afresh; a
#    second export to a target that one is writing now is refused
source "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ovatool-e2e.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
export SOURCE_DATE_EPOCH=1700000000

# 1 GiB with 600 MB of text, slow enough at level 9 on one thread to be stopped
truncate -s 1024M src.raw
text 600000000 "resume stop test: $(head -c 300 /dev/urandom | base64 -w0)" |
  dd of=src.raw bs=1M seek=8 conv=notrunc status=none
head -c 5000000 /dev/urandom | dd of=src.raw bs=1M seek=1000 conv=notrunc status=none
qemu-img convert -q -f raw -O vmdk -o subformat=monolithicFlat src.raw disk.vmdk
write_vmx vm.vmx disk.vmdk
OPTS=(--compression max --threads 1 --progress 0 --mem-limit 64M)

mkdir ref
run_ranks 1 export vm.vmx -o ref/out.ova -q "${OPTS[@]}"

# stop_run SIGNAL N: start a journaled export of N rank(s), send SIGNAL
# once its first durable point is in the journal; expect status 75
stop_run() {
  local sig=$1 n=$2
  rm -f out.ova out.ova.partial out.ova.journal
  # the signal goes to the process itself (ovatool, or mpirun), not a subshell
  if [ "$n" = 1 ]; then
    OVATOOL_TEST_JOURNAL_SECS=0 "$OVATOOL" export vm.vmx -o out.ova --resume "${OPTS[@]}" > log 2>&1 &
  else
    OVATOOL_TEST_JOURNAL_SECS=0 "$MPIEXEC" -n "$n" --oversubscribe "$OVATOOL" export vm.vmx -o out.ova --resume \
      "${OPTS[@]}" > log 2>&1 &
  fi
  local pid=$! i=0
  while [ ! -e out.ova.journal ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
  [ -e out.ova.journal ] || { kill -KILL $pid; cat log; fail "no durable point after 30 s"; }
  kill -"$sig" $pid
  set +e
  wait $pid
  local rc=$?
  set -e
  cat log
  [ "$rc" = 75 ] || fail "$sig: exit status $rc, expected 75 (stopped, resumable)"
  grep -q "stopping at the next durable point" log || fail "$sig: the signal is not reported"
  grep -q -- "--resume" log || fail "$sig: the log does not say how to resume"
  [ -f out.ova.partial ] && [ -f out.ova.journal ] && [ ! -e out.ova ] || fail "$sig: partial output and journal not kept"
}

note "SIGTERM to one process, resumed with 2 ranks"
stop_run TERM 1
run_ranks 2 export vm.vmx -o out.ova --resume "${OPTS[@]}" > log 2>&1 || { cat log; fail "resume failed"; }
cmp ref/out.ova out.ova || fail "the resumed OVA differs"

note "SIGUSR1 to mpirun with 2 ranks, resumed in one process"
stop_run USR1 2
run_ranks 1 export vm.vmx -o out.ova --resume "${OPTS[@]}" > log 2>&1 || { cat log; fail "resume failed"; }
cmp ref/out.ova out.ova || fail "the resumed OVA differs"

note "without --resume, SIGTERM removes the partial output as before"
rm -f out.ova
"$OVATOOL" export vm.vmx -o out.ova "${OPTS[@]}" > log 2>&1 &
pid=$!
sleep 1
kill -TERM $pid
set +e; wait $pid; rc=$?; set -e
[ "$rc" != 0 ] && [ "$rc" != 75 ] || fail "a plain export stopped with status $rc"
[ -z "$(ls -A | grep -E '\.part$|\.partial$|\.journal$')" ] || { ls -A; fail "a plain export left files behind"; }

# refused CASE PATTERN ARGS...: a resume that must be refused, leaving the files
refused() {
  local name=$1 pattern=$2; shift 2
  local before
  before=$(stat -c '%s %Y' out.ova.partial out.ova.journal)
  set +e
  run_ranks 1 export vm.vmx -o out.ova --resume "$@" > log 2>&1
  local rc=$?
  set -e
  cat log
  [ "$rc" = 1 ] || fail "$name: exit status $rc, expected 1"
  grep -q -- "$pattern" log || fail "$name: the reason ($pattern) is not given"
  [ "$(stat -c '%s %Y' out.ova.partial out.ova.journal)" = "$before" ] || fail "$name: the files were touched"
  [ ! -e out.ova ] || fail "$name: an OVA was written"
}

note "a second export to a target being written is refused, with --resume or --overwrite"
rm -f out.ova out.ova.partial out.ova.journal
OVATOOL_TEST_JOURNAL_SECS=0 "$OVATOOL" export vm.vmx -o out.ova --resume "${OPTS[@]}" > log 2>&1 &
pid=$!
i=0
while [ ! -e out.ova.journal ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
[ -e out.ova.journal ] || { kill -KILL $pid; fail "no durable point after 30 s"; }
for extra in --resume --overwrite; do
  set +e
  "$OVATOOL" export vm.vmx -o out.ova $extra "${OPTS[@]}" > log2 2>&1
  rc=$?
  set -e
  [ "$rc" = 1 ] && grep -q "is running now" log2 || { cat log2; kill -KILL $pid; fail "$extra: a second export was not refused"; }
done
kill -TERM $pid
set +e; wait $pid; rc=$?; set -e
[ "$rc" = 75 ] || { cat log; fail "the first export ended with $rc, not 75"; }
[ -f out.ova.partial ] && [ -f out.ova.journal ] || fail "the refused exports touched the running one's files"

note "refusals"
# a dry run names the resumable export (leftovers of this target)
"$OVATOOL" export vm.vmx -o out.ova --dry-run > log 2>&1 || true
grep -q "out.ova.journal: a resumable export to out.ova" log || { cat log; fail "the dry run does not name the journal"; }
refused other-level "level 9, now libdeflate level 6" --compression max --threads 1 --level 6
refused compress-all "(--compress-all)" "${OPTS[@]}" --compress-all
refused sha "--sha" "${OPTS[@]}" --sha sha512
SOURCE_DATE_EPOCH=1700000001 refused mtime "tar mtime" "${OPTS[@]}"
# a source file touched since (its mtime, or its size, differs)
mtime=$(stat -c %y disk-flat.vmdk)
touch disk-flat.vmdk
refused disk-changed "disk-flat.vmdk changed" "${OPTS[@]}"
touch -d "$mtime" disk-flat.vmdk
# the partial output's bytes are checked against the journal
size=$(stat -c %s out.ova.partial)
cp -p out.ova.partial keep.partial
printf 'Z' | dd of=out.ova.partial bs=1 seek=$((size - 100000)) conv=notrunc status=none
refused damaged-partial "are not those" "${OPTS[@]}"
cp -p keep.partial out.ova.partial
truncate -s 100000 out.ova.partial
refused short-partial "cut short" "${OPTS[@]}"
cp -p keep.partial out.ova.partial
printf 'garbage' > out.ova.journal.bad
cp -p out.ova.journal keep.journal
cp out.ova.journal.bad out.ova.journal
refused damaged-journal "damaged resume journal\|not an ovatool resume journal" "${OPTS[@]}"
cp -p keep.journal out.ova.journal
rm -f out.ova.journal.bad keep.journal keep.partial

note "the untouched files still resume"
run_ranks 1 export vm.vmx -o out.ova --resume "${OPTS[@]}" > log 2>&1 || { cat log; fail "resume failed"; }
cmp ref/out.ova out.ova || fail "the resumed OVA differs"

note "--overwrite discards a resumable export"
rm -f out.ova
stop_run TERM 1
run_ranks 1 export vm.vmx -o out.ova "${OPTS[@]}" --overwrite > log 2>&1 || { cat log; fail "--overwrite failed"; }
grep -q "discarded the resumable export" log || fail "the discard is not reported"
[ ! -e out.ova.partial ] && [ ! -e out.ova.journal ] || fail "--overwrite left the files"
cmp ref/out.ova out.ova || fail "the OVA differs"
pass "journaled exports stop well and refuse what they cannot continue"
