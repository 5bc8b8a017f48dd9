#!/usr/bin/env bash
# export_fleet.sh - several VMs in one job (README "Fleets"): with 3 ranks,
# 4 VMs of different sizes and one broken VM, every good OVA equals a
# single-process export of the same VM, the broken one is reported by its
# file and reason with nothing left of it, and the exit status is 1; the
# --list file, name clashes, --overwrite per VM, --dry-run and --json; a
# read failure on one rank fails only the VM it hit; a rank whose
# compression threads cannot set up leaves the VMs to the other's threads,
# and with no thread that works every VM fails.
source "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ovatool-e2e.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
command -v python3 >/dev/null || skip "needs python3 for the JSON checks"

# mkvm DIR NAME MIB [FORMAT]: a VM of MIB MiB with text and random data
mkvm() {
  mkdir -p "$1"
  truncate -s "$3M" "$1/src.raw"
  text $(( $3 * 300000 )) "fleet vm $2" | dd of="$1/src.raw" conv=notrunc status=none
  head -c $(( $3 * 20000 )) /dev/urandom | dd of="$1/src.raw" bs=1M seek=$(( $3 / 2 )) conv=notrunc status=none
  qemu-img convert -q -f raw -O vmdk -o subformat="${4:-monolithicSparse}" "$1/src.raw" "$1/disk.vmdk"
  rm "$1/src.raw"
  write_vmx "$1/vm.vmx" disk.vmdk "$2"
}
mkvm a "alpha" 40
mkvm b "bravo" 8 monolithicFlat
mkvm c "charlie" 120
mkvm d "delta" 1
# broken: its disk is missing
mkdir e && write_vmx e/vm.vmx missing.vmdk "echo"

mkdir ref
for v in a b c d; do
  "$OVATOOL" export $v/vm.vmx -o ref -q   # ref/<VM name>.ova, as the fleet names it
done
name_of() { case $1 in a) echo alpha;; b) echo bravo;; c) echo charlie;; d) echo delta;; esac; }

note "3 ranks, 4 good VMs and a broken one, operands"
mkdir out
set +e
run_ranks 3 export a/vm.vmx b/vm.vmx e/vm.vmx c/vm.vmx d/vm.vmx -o out --threads 1 --mem-limit 16M --json \
  > sum.json 2> log
rc=$?
set -e
cat log
[ "$rc" = 1 ] || fail "exit status $rc with a broken VM, not 1"
for v in a b c d; do
  cmp "ref/$(name_of $v).ova" "out/$(name_of $v).ova" || fail "VM $v: the fleet's OVA differs from the single export"
done
grep -q "e/vm.vmx: not exported: .*missing.vmdk" log || fail "the broken VM is not reported with its file"
[ ! -e out/echo.ova ] || fail "output of the broken VM left behind"
if ls -A out | grep -q '\.part$'; then fail "temporary file left behind"; fi
python3 - sum.json <<'PY' || fail "JSON summary"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["fleet"] and s["vms_total"] == 5 and s["vms_failed"] == 1, s
st = {v["vmx"]: v for v in s["vms"]}
assert st["e/vm.vmx"]["status"] == "failed" and "missing.vmdk" in st["e/vm.vmx"]["error"], st["e/vm.vmx"]
for k in "abcd":
    v = st[k + "/vm.vmx"]
    assert v["status"] == "ok" and v["bytes_out"] > 0 and 0 <= v["writer_rank"] < 3, v
# largest first: charlie (120M) is queued first, delta last
assert st["c/vm.vmx"]["queue_order"] == 0 and st["d/vm.vmx"]["queue_order"] == 3, s["vms"]
# the writers are spread: four VMs over three ranks use every rank
assert {st[k + "/vm.vmx"]["writer_rank"] for k in "abcd"} == {0, 1, 2}, s["vms"]
work = s["rank_work"]
assert len(work) == 3 and all(r["units"] > 0 for r in work), work
assert sum(r["vms_written"] for r in work) == 4, work
PY

note "--list with comments and paths relative to the list's folder; existing outputs refused per VM"
mkdir lists
printf '# the fleet\n\n../a/vm.vmx\n  ../d/vm.vmx  \n# ../c/vm.vmx\n' > lists/fleet.list
set +e
run_ranks 3 export --list lists/fleet.list -o out --threads 1 2> log
rc=$?
set -e
[ "$rc" = 1 ] || fail "existing outputs were not refused (exit $rc)"
grep -q "alpha.ova exists; use --overwrite" log || { cat log; fail "no refusal of the existing alpha.ova"; }
run_ranks 3 export --list lists/fleet.list -o out --threads 1 --overwrite -q
cmp ref/alpha.ova out/alpha.ova && cmp ref/delta.ova out/delta.ova || fail "the --list export differs"

note "two VMs with the same name get their VMX files' names"
mkdir -p twin/x twin/y clash
cp a/disk.vmdk twin/x/ && write_vmx twin/x/one.vmx disk.vmdk "same"
cp d/disk.vmdk twin/y/ && write_vmx twin/y/two.vmx disk.vmdk "same"
cp d/disk.vmdk twin/ && write_vmx twin/two.vmx disk.vmdk "same"
run_ranks 2 export twin/x/one.vmx twin/y/two.vmx twin/two.vmx -o clash/ --threads 1 -q
ls clash
[ -f clash/one.ova ] && [ -f clash/two.ova ] && [ -f clash/two-2.ova ] && [ ! -e clash/same.ova ] \
  || fail "clashing names are not one.ova, two.ova, two-2.ova"
"$OVATOOL" export twin/y/two.vmx -o ref/two.ova -q --overwrite
cmp ref/two.ova clash/two.ova || fail "clash/two.ova differs from a single export to two.ova"

note "clones whose display name is their VMX file's name: the first given keeps the plain name"
# VMware's default; it came out reversed (a -> web-2.ova, b -> web.ova)
mkdir -p web/a web/b webs
cp d/disk.vmdk web/a/ && write_vmx web/a/web.vmx disk.vmdk "web"
cp a/disk.vmdk web/b/ && write_vmx web/b/web.vmx disk.vmdk "web"
run_ranks 2 export web/a/web.vmx web/b/web.vmx -o webs/ --threads 1 -q
[ "$(ls -A webs | tr '\n' ' ')" = "web-2.ova web.ova " ] || fail "webs holds $(ls -A webs), not web.ova and web-2.ova"
"$OVATOOL" export web/a/web.vmx -o ref/web.ova -q
"$OVATOOL" export web/b/web.vmx -o ref/web-2.ova -q
cmp ref/web.ova webs/web.ova || fail "webs/web.ova is not web/a's (the first given)"
cmp ref/web-2.ova webs/web-2.ova || fail "webs/web-2.ova is not web/b's"

note "a two-disk VM in a fleet"
mkdir -p two td
qemu-img create -q -f vmdk -o subformat=monolithicSparse two/d1.vmdk 24M
qemu-img create -q -f vmdk -o subformat=monolithicFlat two/d2.vmdk 12M
text 3000000 "disk one" | dd of=two/d1.raw status=none && qemu-img convert -q -f raw -O vmdk two/d1.raw two/d1.vmdk
head -c 6000000 /dev/urandom | dd of=two/d2-flat.vmdk conv=notrunc status=none
write_vmx two/vm.vmx d1.vmdk "twin disks"
printf 'scsi0:1.present = "TRUE"\nscsi0:1.fileName = "d2.vmdk"\n' >> two/vm.vmx
"$OVATOOL" export two/vm.vmx -o ref -q
run_ranks 3 export two/vm.vmx a/vm.vmx -o td --threads 1 --mem-limit 8M -q
cmp ref/twin_disks.ova td/twin_disks.ova || fail "the two-disk VM's fleet OVA differs"
cmp ref/alpha.ova td/alpha.ova || fail "alpha differs beside the two-disk VM"

note "80 VMs under a limit of 48 open files: readers are closed as VMs finish"
mkdir many many/o
qemu-img create -q -f vmdk -o subformat=monolithicSparse many/base.vmdk 1M
for i in $(seq 1 80); do
  mkdir many/v$i && cp many/base.vmdk many/v$i/disk.vmdk && write_vmx many/v$i/vm.vmx disk.vmdk "many$i"
  echo "v$i/vm.vmx" >> many/list
done
(ulimit -n 48 && "$OVATOOL" export --list many/list -o many/o -q --threads 2) || fail "80 VMs did not fit in 48 open files"
[ "$(ls many/o | wc -l)" = 80 ] || fail "not 80 OVAs"

note "a long VM at the front keeps no finished VM's files open: 1 of 200 MiB + 100 of 1 MiB in 22 open files"
# Readers used to close only past a run of finished VMs at the queue's
# front, so while the large VM (first) ran, every small one that finished
# kept its files open on each rank: 20-40 VMs failed "Too many open files"
# (with the fix a rank needs about 19).
# The limit is the ranks' own (mpiexec needs more for its pipes).
mkdir -p fd/big fd/o
(seq 1 40000000 || true) | head -c 200M > fd/s.raw  # varied text: slow enough to compress
qemu-img convert -q -f raw -O vmdk fd/s.raw fd/big/disk.vmdk
(seq 1 300000 || true) | head -c 1M > fd/s.raw
qemu-img convert -q -f raw -O vmdk fd/s.raw fd/small.vmdk
rm fd/s.raw
write_vmx fd/big/vm.vmx disk.vmdk "fdbig"
echo big/vm.vmx > fd/list
for i in $(seq 1 100); do
  mkdir fd/v$i && cp fd/small.vmdk fd/v$i/disk.vmdk && write_vmx fd/v$i/vm.vmx disk.vmdk "fd$i"
  echo "v$i/vm.vmx" >> fd/list
done
set +e
timeout 300 "$MPIEXEC" -n 3 --oversubscribe bash -c 'ulimit -n 22 && exec "$0" "$@"' "$OVATOOL" export \
  --list fd/list -o fd/o --threads 2 --mem-limit 16M -q > fd.log 2>&1
rc=$?
set -e
[ "$rc" = 0 ] || { cat fd.log; fail "101 VMs over 3 ranks did not fit in 22 open files per rank (exit $rc)"; }
[ "$(ls fd/o | wc -l)" = 101 ] || fail "not 101 OVAs: $(ls fd/o | wc -l)"
"$OVATOOL" export fd/big/vm.vmx -o ref -q
"$OVATOOL" export fd/v7/vm.vmx -o ref -q
cmp ref/fdbig.ova fd/o/fdbig.ova && cmp ref/fd7.ova fd/o/fd7.ova || fail "the fd fleet's OVAs differ from single exports"

note "--dry-run writes nothing"
mkdir dry
run_ranks 2 export a/vm.vmx c/vm.vmx -o dry --dry-run > dry.txt
grep -q "alpha.ova" dry.txt && grep -q "charlie.ova" dry.txt || fail "dry run does not show both OVAs"
[ -z "$(ls -A dry)" ] || fail "dry run wrote something"

note "-o must be a folder with several VMs"
set +e
"$OVATOOL" export a/vm.vmx d/vm.vmx -o out/x.ova 2> log
rc=$?
set -e
[ "$rc" = 2 ] && grep -q "must be an existing folder" log || fail "a file as -o for several VMs was not a usage error"

note "--resume is one VM's: a fleet refuses it before anything is written"
mkdir rs
set +e
"$OVATOOL" export a/vm.vmx d/vm.vmx -o rs --resume 2> log
rc=$?
set -e
[ "$rc" = 2 ] && grep -q "resume continues one VM's export" log || fail "--resume with several VMs was not a usage error"
[ -z "$(ls -A rs)" ] || fail "a refused fleet --resume wrote something"

note "a read failure on rank 1 fails only the VM it hit"
mkdir rf
set +e
OVATOOL_TEST_FAIL_RANK=1 run_ranks 3 export a/vm.vmx b/vm.vmx c/vm.vmx d/vm.vmx -o rf --threads 1 \
  --mem-limit 16M --json > rf.json 2> log
rc=$?
set -e
cat log
[ "$rc" = 1 ] || fail "exit $rc after an injected read failure"
grep -q "rank 1 on .*injected read failure" log || fail "the failure does not name rank 1"
python3 - rf.json <<'PY' || fail "JSON after a read failure"
import json, sys
s = json.load(open(sys.argv[1]))
bad = [v for v in s["vms"] if v["status"] != "ok"]
assert len(bad) == 1, s["vms"]
PY
for v in a b c d; do
  if [ -e "rf/$(name_of $v).ova" ]; then
    cmp "ref/$(name_of $v).ova" "rf/$(name_of $v).ova" || fail "VM $v differs after another VM failed"
  fi
done
[ "$(ls rf | wc -l)" = 3 ] || fail "not three OVAs after one VM failed: $(ls rf)"
if ls -A rf | grep -q '\.part$'; then fail "temporary file left behind"; fi
# wrote_exists LOG: every OVA the log says was written is there
wrote_exists() {
  sed -n 's/^.*: wrote \(.*\.ova\): .*$/\1/p' "$1" | while read -r o; do
    [ -f "$o" ] || fail "the log says it wrote $o, which is not there"
  done
}
note "a rank whose compression threads cannot set up: the other rank's threads export every VM"
# It went unnoticed: the thread failed every unit it took, each VM was
# counted as written, exit 0 and an empty folder.
for r in 0 1; do
  mkdir th$r
  set +e
  OVATOOL_TEST_FAIL_RANK=$r:export.thread timeout 300 "$MPIEXEC" -n 2 --oversubscribe "$OVATOOL" export \
    a/vm.vmx b/vm.vmx c/vm.vmx d/vm.vmx -o th$r --threads 1 --mem-limit 16M > th$r.log 2>&1
  rc=$?
  set -e
  cat th$r.log
  [ "$rc" = 0 ] || fail "export.thread on rank $r: exit $rc (124: hung), though rank $((1 - r))'s thread works"
  grep -q "rank $r on .*: cannot set up compression thread 0 (test fault export.thread)" th$r.log \
    || fail "export.thread on rank $r: no warning naming the rank and the cause"
  wrote_exists th$r.log
  for v in a b c d; do
    cmp "ref/$(name_of $v).ova" "th$r/$(name_of $v).ova" || fail "export.thread on rank $r: VM $v differs"
  done
done
note "no compression thread of the job can set up: every VM fails with the cause, nothing is left"
mkdir thn
set +e
OVATOOL_TEST_FAIL_RANK=0:export.thread timeout 120 "$OVATOOL" export a/vm.vmx b/vm.vmx d/vm.vmx -o thn \
  --threads 2 --mem-limit 16M > thn.log 2>&1
rc=$?
set -e
cat thn.log
[ "$rc" = 1 ] || fail "no working thread: exit $rc (124: hung), not 1"
wrote_exists thn.log
! grep -q ": wrote " thn.log || fail "no working thread, yet a VM is reported written"
for v in a b d; do
  grep -q "$v/vm.vmx: not exported: rank 0 on .*: cannot set up compression thread . (test fault export.thread)" \
    thn.log || fail "VM $v: the failure does not name the rank and the cause"
done
[ -z "$(ls -A thn)" ] || fail "no working thread, yet thn holds: $(ls -A thn)"

note "a VM whose flat extent is shorter than its descriptor says fails alone"
mkdir -p t tr
qemu-img create -q -f vmdk -o subformat=monolithicFlat t/disk.vmdk 24M
head -c $((24 << 20)) /dev/urandom | dd of=t/disk-flat.vmdk conv=notrunc status=none
truncate -s 20M t/disk-flat.vmdk
write_vmx t/vm.vmx disk.vmdk "tango"
set +e
run_ranks 3 export a/vm.vmx t/vm.vmx d/vm.vmx -o tr --threads 1 --mem-limit 16M 2> log
rc=$?
set -e
cat log
[ "$rc" = 1 ] || fail "exit $rc with a truncated extent"
grep -q "t/vm.vmx: not exported: .*disk-flat.vmdk" log || fail "the truncated extent is not named"
cmp ref/alpha.ova tr/alpha.ova && cmp ref/delta.ova tr/delta.ova || fail "the good VMs differ"
[ "$(ls -A tr | tr '\n' ' ')" = "alpha.ova delta.ova " ] || fail "tr should hold alpha.ova and delta.ova only: $(ls -A tr)"
note "a writer that runs out of space fails its VM alone"
# Each VM passes the free-space check on its own, together they do not fit.
# One process writes them one after another, the larger (y) first, so the
# smaller one's OVA is the one that fills the 4 MiB tmpfs.
mkdir -p full/x full/y full/o
for v in x:2 y:3; do
  n=${v%%:*}
  head -c ${v#*:}M /dev/urandom > full/$n/s.raw
  qemu-img convert -q -f raw -O vmdk full/$n/s.raw full/$n/disk.vmdk
  rm full/$n/s.raw
  write_vmx full/$n/vm.vmx disk.vmdk "full$n"
done
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=4M tmpfs full/o 2>/dev/null; then
  set +e
  "$OVATOOL" export full/x/vm.vmx full/y/vm.vmx -o full/o --buffered-io 2> log
  rc=$?
  set -e
  cat log
  left=$(ls -A full/o | tr '\n' ' ')
  umount full/o
  [ "$rc" = 1 ] || fail "exit $rc when one OVA did not fit"
  grep -q "full/x/vm.vmx: not exported: full/o: disk full" log || fail "the full disk is not reported for x"
  [ "$left" = "fully.ova " ] || fail "after the full disk, full/o holds '$left', not fully.ova alone"
else
  skip_part "the full-disk case (needs root to mount a tmpfs)"
fi
pass "fleet"
