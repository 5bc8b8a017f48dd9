#!/usr/bin/env bash
# validate_layouts.sh - `ovatool validate` judges stream layouts other than
# ovftool's as importers do (docs/formats.md 3.12):
#   - open-vmdk's layout (GD and GTs before the grains, gdOffset in the
#     header, an EOS, no footer), written by tests/e2e/stream_meta_first.c and
#     proven a real stream by qemu-img and vmdkinfo: VALID with a NOTE, exit 0
#     whatever the target;
#   - qemu-img's stream: VALID with its RISK named (exit 0), INVALID (exit 3)
#     with --target esxi, --target workstation and --strict;
#   - damage in that layout, and qemu-img's EOS-less empty disk: exit 3.
# Each OVA is an ovatool export of the same raw image whose disk member is
# replaced, with ovf:size and the manifest redone.
source "$(dirname "$0")/lib.sh"
[ -x "${STREAM_META_FIRST:-}" ] || fail "STREAM_META_FIRST (the test writer) is not set or not built"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ovatool-e2e.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

# 40 MiB, two grain-table groups: text, random data, zeros, a second group
# and a last grain
raw=$WORK/src.raw
qemu-img create -q -f raw "$raw" 40M
text 1048576 "open-vmdk layout, grain after grain" | dd of="$raw" conv=notrunc status=none
head -c 300000 /dev/urandom | dd of="$raw" bs=1k seek=5120 conv=notrunc status=none
text 200000 "the second grain-table group" | dd of="$raw" bs=1M seek=33 conv=notrunc status=none
printf 'the last grain' | dd of="$raw" bs=512 seek=$((40 * 2048 - 3)) conv=notrunc status=none
qemu-img convert -q -f raw -O vmdk -o subformat=monolithicFlat "$raw" disk.vmdk
write_vmx vm.vmx disk.vmdk
run_ranks 1 export vm.vmx -o vm.ova --progress 0 -q

schema_args=(--schema "$SCHEMA")
# validate N OVA [args]: run with N ranks; stdout in out.N, exit code in $rc
validate() {
  local n=$1 ova=$2; shift 2
  set +e
  run_ranks "$n" validate "$ova" "${schema_args[@]}" "$@" > "out.$n" 2> "err.$n"
  rc=$?
  set -e
}
expect_rc() {  # expect_rc WANT WHAT
  [ "$rc" = "$1" ] || { cat out.1 err.1; fail "$2: exit $rc, expected $1"; }
}
unpack() { rm -rf x && mkdir x && tar -C x -xf "$1"; }
fix_mf() {
  (cd x && for f in vm.ovf vm-disk1.vmdk; do echo "SHA256($f)= $(sha256sum "$f" | cut -d' ' -f1)"; done) > x/vm.mf
}
fix_ovf_size() {
  local size; size=$(stat -c %s x/vm-disk1.vmdk)
  sed -i -E "/ovf:href=\"vm-disk1.vmdk\"/ s/ovf:size=\"[0-9]+\"/ovf:size=\"$size\"/" x/vm.ovf
  [ "$(ovf_file_size x/vm.ovf vm-disk1.vmdk file1)" = "$size" ] || fail "could not patch ovf:size to $size"
}
pack() { local out=$1; shift; (cd x && tar --format=ustar -cf "../$out" "$@"); }
# with_disk VMDK OVA [MEMBERS...]: the export with VMDK as its disk member
with_disk() {
  local disk=$1 out=$2; shift 2
  [ $# -gt 0 ] || set -- vm.ovf vm.mf vm-disk1.vmdk
  unpack vm.ova
  cp "$disk" x/vm-disk1.vmdk
  fix_ovf_size
  fix_mf
  pack "$out" "$@"
}
expect_problem() {  # expect_problem OVA PATTERN [args]
  local ova=$1 pat=$2; shift 2
  validate 1 "$ova" "$@"
  cat out.1
  expect_rc 3 "$ova"
  grep -E "^PROBLEM: .*$pat" out.1 > /dev/null || fail "$ova: no PROBLEM line matching '$pat'"
}

note "the test writer's stream is a real stream (qemu-img compare, qemu-img check, vmdkinfo)"
mkdir -p m
"$STREAM_META_FIRST" "$raw" m/vm-disk1.vmdk
meta=$WORK/m/vm-disk1.vmdk
qemu-img compare -q -f raw -F vmdk "$raw" "$meta" || fail "qemu-img compare: the stream does not read back as the raw image"
qemu-img check -q -f vmdk "$meta" || fail "qemu-img check finds errors in the stream"
qemu-img info --output=json "$meta" > info.json
python3 - info.json <<'PY' || fail "qemu-img info does not see a streamOptimized vmdk of 40 MiB"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["format"] == "vmdk" and d["virtual-size"] == 40 << 20, d
ext = d["format-specific"]["data"]["extents"][0]
assert d["format-specific"]["data"]["create-type"] == "streamOptimized" and ext["compressed"], d
PY
vmdkinfo "$meta" > vmdkinfo.txt 2>&1 || { cat vmdkinfo.txt; fail "vmdkinfo cannot read the stream"; }
cat vmdkinfo.txt
grep -qi 'stream' vmdkinfo.txt || fail "vmdkinfo does not call it stream-optimized"
grep -q '41943040 bytes' vmdkinfo.txt || fail "vmdkinfo does not give the 40 MiB size"
od -A d -t u8 -j 56 -N 8 "$meta" | head -1 | grep -qE ' 21$' || fail "the header's gdOffset is not 21"
tail -c 512 "$meta" | cmp -s - <(head -c 512 /dev/zero) || fail "the stream does not end in an EOS"

note "open-vmdk's layout: VALID with a NOTE, whatever the target"
with_disk "$meta" meta.ova
validate 1 meta.ova
cat out.1 err.1
expect_rc 0 "open-vmdk layout"
grep -q '^VALID: ' out.1 || fail "no VALID summary"
grep -qE '^NOTE: vm-disk1.vmdk: grain directory and tables before the grains \(header gdOffset 21\)' out.1 \
  || fail "the layout is not named in a NOTE line"
grep -qE '^(PROBLEM|RISK): ' out.1 && fail "open-vmdk's layout gets PROBLEM or RISK lines"
for t in esxi workstation virtualbox any; do
  validate 1 meta.ova --target "$t"
  expect_rc 0 "open-vmdk layout, --target $t"
done
validate 1 meta.ova --strict
expect_rc 0 "open-vmdk layout, --strict"
for n in 1 3; do
  validate "$n" meta.ova --deep
  [ "$rc" = 0 ] || { cat "out.$n" "err.$n"; fail "--deep with $n ranks exited $rc"; }
  grep -qE '^VALID: .*, [1-9][0-9]* inflated' "out.$n" || fail "--deep with $n ranks inflated nothing"
done
cmp out.1 out.3 || fail "--deep output differs between 1 and 3 ranks"
validate 1 meta.ova --json
expect_rc 0 "--json"
python3 -c '
import json; d = json.load(open("out.1"))
assert d["valid"] is True and d["problems"] == [] and d["risks"] == [] and d["risk_count"] == 0, d
assert any("before the grains" in n for n in d["notes"]), d' || fail "--json of the open-vmdk layout"

note "manifest last: a NOTE, not a problem"
with_disk "$meta" mflast.ova vm.ovf vm-disk1.vmdk vm.mf
validate 1 mflast.ova
cat out.1
expect_rc 0 "manifest last"
grep -q '^NOTE: vm.mf: the manifest is the last member' out.1 || fail "no NOTE for the manifest placed last"

note "qemu-img's stream: VALID with its RISK named; INVALID for esxi, workstation and --strict"
qemu-img convert -q -f raw -O vmdk -o subformat=streamOptimized "$raw" q.vmdk
qemu-img compare -q -f raw -F vmdk "$raw" q.vmdk || fail "qemu-img's own stream does not compare"
with_disk q.vmdk qemu.ova
validate 1 qemu.ova
cat out.1 err.1
expect_rc 0 "qemu-img stream"
grep -q '^VALID: .*1 risk(s)' out.1 || fail "no VALID summary counting the risk"
grep -qE '^RISK: vm-disk1.vmdk: \[ESXi/vCenter \(ovftool included\), Workstation/Fusion\] [0-9]+ zero bytes follow the end-of-stream marker at sector [0-9]+' out.1 \
  || fail "the trailing-zeros risk is not named with its importers"
grep -q 'home-assistant/operating-system#2121' out.1 || fail "the risk does not cite its evidence"
grep -q '^NOTE: vm-disk1.vmdk: grain directory and tables before the grains (header gdOffset 30)' out.1 \
  || fail "qemu-img's layout is not noted"
grep -q '^NOTE: vm-disk1.vmdk: redundant grain directory (flags 0x00030003, rgdOffset 21)' out.1 \
  || fail "qemu-img's redundant GD is not noted"
grep -q '^PROBLEM: ' out.1 && fail "qemu-img's stream gets PROBLEM lines"
for t in esxi workstation; do
  validate 1 qemu.ova --target "$t"
  cat out.1
  expect_rc 3 "qemu-img stream, --target $t"
  grep -q '^INVALID: .*no problem, but' out.1 || fail "--target $t: no INVALID summary"
  grep -q '^RISK: ' out.1 || fail "--target $t: no RISK line"
done
validate 1 qemu.ova --target virtualbox
expect_rc 0 "qemu-img stream, --target virtualbox (the risk does not name it)"
validate 1 qemu.ova --strict
expect_rc 3 "qemu-img stream, --strict"
validate 1 qemu.ova -q --strict
expect_rc 3 "qemu-img stream, -q --strict"
grep -q '^RISK: ' out.1 || fail "-q hides RISK lines"
grep -q '^NOTE: ' out.1 && fail "-q shows NOTE lines"
for n in 1 3; do
  validate "$n" qemu.ova --deep
  [ "$rc" = 0 ] || { cat "out.$n" "err.$n"; fail "qemu-img stream, --deep with $n ranks exited $rc"; }
  grep -qE '^VALID: .*, [1-9][0-9]* inflated' "out.$n" || fail "--deep with $n ranks inflated nothing"
done
cmp out.1 out.3 || fail "--deep output differs between 1 and 3 ranks"
validate 3 qemu.ova --deep --target esxi
[ "$rc" = 3 ] || { cat out.3 err.3; fail "--deep --target esxi with 3 ranks exited $rc, expected 3"; }
validate 1 qemu.ova --json --target esxi
expect_rc 3 "--json --target esxi"
python3 -c '
import json; d = json.load(open("out.1"))
assert d["valid"] is False and d["problem_count"] == 0 and d["risk_count"] == 1 and d["target"] == "esxi", d
assert "zero bytes follow the end-of-stream marker" in d["risks"][0], d' || fail "--json of the qemu-img stream"
set +e
run_ranks 1 validate qemu.ova "${schema_args[@]}" --target hyperv > out.1 2> err.1
rc=$?
set -e
expect_rc 2 "--target hyperv"
grep -q "must be esxi, workstation, virtualbox or any" err.1 || fail "no message for an unknown --target"

note "qemu-img's empty disk: no end-of-stream marker, a problem (qemu gitlab 1357)"
qemu-img create -q -f vmdk -o subformat=streamOptimized empty.vmdk 40M
with_disk empty.vmdk empty.ova
expect_problem empty.ova 'no end-of-stream marker after the last grain: ESXi.*1357'

note "damage in open-vmdk's layout is still caught"
# patch FILE SECTOR BYTE VALUE-LE32: write a 32-bit value into a copy
patch32() {
  python3 - "$1" "$2" "$3" <<'PY'
import struct, sys
with open(sys.argv[1], 'r+b') as f:
    f.seek(int(sys.argv[2]))
    f.write(struct.pack('<I', int(sys.argv[3])))
PY
}
cp "$meta" d.vmdk && truncate -s -512 d.vmdk
with_disk d.vmdk noeos.ova
expect_problem noeos.ova 'no end-of-stream marker after the last grain'
# GD at 21 (1 sector), GTs at 22 and 26; grain 0's entry is the first of GT 0
cp "$meta" d.vmdk && patch32 d.vmdk $((22 * 512)) 99999999
with_disk d.vmdk gtout.ova
expect_problem gtout.ova 'grain table of group 0 \(sector 22\): 1 entries point outside the grains'
cp "$meta" d.vmdk && patch32 d.vmdk $((21 * 512 + 4)) 0
with_disk d.vmdk nogt.ova
expect_problem nogt.ova 'grains of grain-table group 1 have no grain table'
cp "$meta" d.vmdk && patch32 d.vmdk $((21 * 512)) 5000000
with_disk d.vmdk gdout.ova
expect_problem gdout.ova 'grain directory \(sector 21\): 1 entries do not name a grain table'
cp "$meta" d.vmdk && patch32 d.vmdk $((22 * 512)) 0
with_disk d.vmdk gtmiss.ova
expect_problem gtmiss.ova 'grain table of group 0 \(sector 22\) disagrees with the grain markers'
expect_problem gtmiss.ova 'grain table of group 0 \(sector 22\) disagrees' --deep
cp "$meta" d.vmdk && printf 'junk' >> d.vmdk && truncate -s %512 d.vmdk
with_disk d.vmdk junk.ova
expect_problem junk.ova 'end-of-stream marker at sector [0-9]+ is not the last sector: non-zero data'
# one flipped byte inside the first grain's zlib data: the digest, and --deep
overhead=$(od -A n -t u8 -j 64 -N 8 "$meta" | tr -d ' ')
cp "$meta" d.vmdk
with_disk d.vmdk flip.ova
python3 - flip.ova "$overhead" <<'PY'
import struct, sys
data = bytearray(open(sys.argv[1], 'rb').read())
off = 0
while True:
    h = data[off:off + 512]
    name = h[:100].split(b'\0')[0].decode()
    size = int(h[124:136].split(b'\0')[0], 8)
    if name.endswith('.vmdk'):
        break
    off += 512 + (size + 511) // 512 * 512
rec = off + 512 + int(sys.argv[2]) * 512
lba, csize = struct.unpack('<QI', data[rec:rec + 12])
assert lba == 0 and 0 < csize < 131072, (lba, csize)
data[rec + 12 + csize // 2] ^= 0x5a
open(sys.argv[1], 'wb').write(data)
PY
expect_problem flip.ova 'vm-disk1.vmdk: SHA256 digest does not match' --deep
grep -qE '^PROBLEM: .*grain at LBA 0 .*(does not inflate|inflates to)' out.1 || fail "--deep does not find the bad grain"
pass "validate_layouts"
