#!/usr/bin/env bash
# export_parallel_disks.sh - --parallel-disks (README "Parallel disks"): a
# VM of three disks of different subformats and sizes, exported with the
# disks interleaved and the later ones spooled, with 1, 2 and 3 ranks and a
# small --mem-limit, gives the OVA of --parallel-disks off byte for byte;
# it passes qemu-img compare per disk and validate --deep; auto does not
# engage on a small job; a failure, or SIGTERM, while spools are on disk
# leaves neither the output nor a spool behind.
source "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ovatool-e2e.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

# three disks: a sparse one of 40 MiB, a flat one of 7 MiB, a stream one of 24 MiB
head -c 700000 /dev/urandom > rnd.bin
qemu-img create -q -f vmdk -o subformat=monolithicSparse a.vmdk $((40 * 1048576 + 3 * 512))
qemu-io -f vmdk -c 'write -P 0x11 0 3M' -c 'write -s rnd.bin 20M 700000' -c 'write -P 0x22 33M 64k' \
  -c 'write -P 0x33 41941504 1536' a.vmdk >/dev/null
qemu-img create -q -f vmdk -o subformat=monolithicFlat b.vmdk $((7 * 1048576))
qemu-io -f vmdk -c 'write -P 0x44 0 512' -c 'write -s rnd.bin 1M 700000' -c 'write -P 0x55 6M 1M' b.vmdk >/dev/null
qemu-img create -q -f raw c0.raw $((24 * 1048576))
qemu-io -f raw -c 'write -P 0x66 1M 5M' -c 'write -s rnd.bin 17M 700000' -c 'write -P 0x77 23M 1M' c0.raw >/dev/null
qemu-img convert -q -f raw -O vmdk -o subformat=streamOptimized c0.raw c.vmdk
for d in a b c; do qemu-img convert -q -f vmdk -O raw $d.vmdk $d.raw; done
cat > vm.vmx <<VMX
.encoding = "UTF-8"
config.version = "8"
virtualHW.version = "19"
displayName = "e2e parallel disks"
guestOS = "ubuntu-64"
memsize = "1024"
scsi0.present = "TRUE"
scsi0.virtualDev = "lsilogic"
scsi0:0.present = "TRUE"
scsi0:0.fileName = "a.vmdk"
scsi0:1.present = "TRUE"
scsi0:1.fileName = "b.vmdk"
scsi0:2.present = "TRUE"
scsi0:2.fileName = "c.vmdk"
ethernet0.present = "TRUE"
ethernet0.virtualDev = "vmxnet3"
ethernet0.connectionType = "nat"
VMX

no_leftovers() {  # no_leftovers DIR: neither a temporary output nor a spool
  local left; left=$(find "$1" -name '*.part' | head -5)
  [ -z "$left" ] || fail "left behind in $1: $left"
}

note "reference: --parallel-disks off, 1 rank"
mkdir -p off
run_ranks 1 export vm.vmx -o off/vm.ova --progress 0 --parallel-disks off > off.log 2>&1 || { cat off.log; fail "export off"; }
check_ova off/vm.ova a.raw b.raw c.raw

note "auto on 2 threads: not engaged"
mkdir -p auto
run_ranks 1 export vm.vmx -o auto/vm.ova --progress 0 --threads 2 --json > auto.json 2> auto.log \
  || { cat auto.log; fail "export auto"; }
! grep -q "parallel disks" auto.log || fail "auto engaged on 2 threads: $(cat auto.log)"
grep -q '"parallel_disks": *false' auto.json || fail "--json does not say parallel_disks false: $(cat auto.json)"
cmp off/vm.ova auto/vm.ova || fail "auto's OVA differs"

for n in 1 2 3; do
  note "--parallel-disks on, $n rank(s), --mem-limit 4M"
  rm -rf "on$n"; mkdir -p "on$n"
  run_ranks "$n" export vm.vmx -o "on$n/vm.ova" --progress 0 --threads 2 --mem-limit 4M --parallel-disks on \
    > "on$n.log" 2>&1 || { cat "on$n.log"; fail "export on, $n ranks"; }
  grep -q "parallel disks: the 3 disks" "on$n.log" || fail "not engaged with on: $(cat "on$n.log")"
  rm "on$n/vm.ova"
  run_ranks "$n" export vm.vmx -o "on$n/vm.ova" --progress 0 --threads 2 --mem-limit 4M --parallel-disks on \
    --json > "on$n.json" 2> "on$n.log" || { cat "on$n.log"; fail "export on --json, $n ranks"; }
  grep -q '"parallel_disks": *true' "on$n.json" || fail "--json does not say parallel_disks: $(cat "on$n.json")"
  cmp off/vm.ova "on$n/vm.ova" || fail "--parallel-disks on with $n rank(s) differs from off"
  no_leftovers "on$n"
done
note "--sha sha512, 2 ranks: the same as off"
mkdir -p s off5
run_ranks 1 export vm.vmx -o off5/vm.ova --progress 0 --sha sha512 --parallel-disks off
run_ranks 2 export vm.vmx -o s/vm.ova --progress 0 --sha sha512 --parallel-disks on --mem-limit 4M
cmp off5/vm.ova s/vm.ova || fail "sha512 OVAs differ"

note "checks: each disk against its source, validate --deep"
check_ova on3/vm.ova a.raw b.raw c.raw
"$OVATOOL" validate --deep on3/vm.ova > val.log 2>&1 || { cat val.log; fail "validate --deep"; }

note "--resume: not engaged, and says why"
mkdir -p rs
run_ranks 1 export vm.vmx -o rs/vm.ova --progress 0 --parallel-disks on --resume > rs.log 2>&1 || { cat rs.log; fail "export --resume"; }
grep -q "not engaged (a journaled export" rs.log || fail "no note that --resume keeps disks in order: $(cat rs.log)"
cmp off/vm.ova rs/vm.ova || fail "the journaled OVA differs"

note "a failure while spools are on disk leaves nothing"
for n in 1 3; do
  rm -rf "f$n"; mkdir -p "f$n"
  if OVATOOL_TEST_FAIL_RANK=0:export.spool run_ranks "$n" export vm.vmx -o "f$n/vm.ova" --progress 0 \
       --parallel-disks on --mem-limit 4M > "f$n.log" 2>&1; then
    fail "the export with a failing spool succeeded"
  fi
  grep -q "injected failure reading back the spool" "f$n.log" || { cat "f$n.log"; fail "the failure is not named"; }
  [ ! -e "f$n/vm.ova" ] || fail "an output was left after the failure"
  no_leftovers "f$n"
done
note "SIGTERM while spools are on disk: the signal handler removes them with the output"
mkdir -p sig
# export.slow: every unit takes a second longer, so the export is caught mid-way
OVATOOL_TEST_FAIL_RANK=0:export.slow "$OVATOOL" export vm.vmx -o sig/vm.ova --progress 0 --parallel-disks on \
  --mem-limit 4M --threads 2 > sig.log 2>&1 &
pid=$! i=0
until [ "$(find sig -name '*.part' | wc -l)" -ge 2 ]; do
  i=$((i + 1)); [ $i -le 400 ] || { kill "$pid"; fail "no spool appeared beside the output"; }; sleep 0.05
done
kill -TERM "$pid"
set +e; wait "$pid"; rc=$?; set -e
[ "$rc" != 0 ] || fail "exit status 0 after SIGTERM"
[ -z "$(ls -A sig)" ] || { ls -la sig; fail "SIGTERM left files behind"; }
pass export_parallel_disks
