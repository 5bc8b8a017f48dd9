#!/usr/bin/env bash
# validate.sh - `ovatool validate` on an exported OVA: it must pass (plain
# and --deep, with 1 and 3 ranks, same output), and each corrupted copy must
# exit 3 with a PROBLEM line that says what is wrong.
source "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ovatool-e2e.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

# 3 MiB + 64 KiB: text, random data, zeros (grains left out) and a last grain
raw=$WORK/src.raw
truncate -s $((3 * 1048576 + 65536)) "$raw"
text 400000 "validate me: the quick brown fox" | dd of="$raw" conv=notrunc status=none
head -c 300000 /dev/urandom | dd of="$raw" bs=1k seek=1024 conv=notrunc status=none
printf 'the last grain' | dd of="$raw" bs=512 seek=$((3 * 2048 + 100)) conv=notrunc status=none
qemu-img convert -q -f raw -O vmdk -o subformat=monolithicFlat "$raw" disk.vmdk
write_vmx vm.vmx disk.vmdk
run_ranks 1 export vm.vmx -o vm.ova --progress 0 -q

# the built binary finds the schema the build tree keeps beside it; this
# run names the repository's copy, as --schema DIR would
schema_args=(--schema "$SCHEMA")

# validate N OVA [args]: run with N ranks; stdout in out.N, exit code in $rc
validate() {
  local n=$1 ova=$2; shift 2
  set +e
  run_ranks "$n" validate "$ova" "${schema_args[@]}" "$@" > "out.$n" 2> "err.$n"
  rc=$?
  set -e
}

note "a valid OVA passes"
validate 1 vm.ova
cat out.1 err.1
[ "$rc" = 0 ] || fail "validate of a fresh export exited $rc"
grep -q '^VALID: ' out.1 || fail "no VALID summary"
grep -q 'OVF schema checked' out.1 || fail "the schema was not checked"
for n in 1 3; do
  validate "$n" vm.ova --deep
  [ "$rc" = 0 ] || { cat "out.$n" "err.$n"; fail "validate --deep with $n ranks exited $rc"; }
  grep -q 'inflated' "out.$n" || fail "--deep with $n ranks did not inflate grains"
done
cmp out.1 out.3 || fail "--deep output differs between 1 and 3 ranks"
validate 1 vm.ova --json
[ "$rc" = 0 ] || fail "--json exited $rc"
python3 -c 'import json,sys; d=json.load(open("out.1")); assert d["valid"] is True and d["problems"]==[] and d["disks"]==1, d' \
  || fail "--json output is not the expected object"

# Helpers to take the OVA apart and put it back together.
unpack() { rm -rf x && mkdir x && tar -C x -xf "$1"; }
# Rewrite the manifest for the current files (so only the intended defect remains).
fix_mf() {
  (cd x && for f in vm.ovf vm-disk1.vmdk; do echo "SHA256($f)= $(sha256sum "$f" | cut -d' ' -f1)"; done) > x/vm.mf
}
# set_ovf_size SIZE: the References/File of vm-disk1.vmdk gets ovf:size=SIZE.
# A textual edit (an XML rewrite would change more than the one defect),
# addressed by the line that names the member whatever the attribute order,
# then read back through XPath so a patch that missed fails loudly.
set_ovf_size() {
  sed -i -E "/ovf:href=\"vm-disk1.vmdk\"/ s/ovf:size=\"[0-9]+\"/ovf:size=\"$1\"/" x/vm.ovf
  [ "$(ovf_file_size x/vm.ovf vm-disk1.vmdk file1)" = "$1" ] || fail "could not patch ovf:size to $1"
}
fix_ovf_size() { set_ovf_size "$(stat -c %s x/vm-disk1.vmdk)"; }
pack() { local out=$1; shift; (cd x && tar --format=ustar -cf "../$out" "$@"); }

# expect_problem OVA PATTERN RANKS [args]: exit 3 and a PROBLEM line matching
expect_problem() {
  local ova=$1 pat=$2 n=$3; shift 3
  validate "$n" "$ova" "$@"
  cat "out.$n"
  [ "$rc" = 3 ] || { cat "err.$n"; fail "$ova: exit $rc, expected 3"; }
  grep -E "^PROBLEM: .*$pat" "out.$n" > /dev/null || fail "$ova: no PROBLEM line matching '$pat'"
  grep -q '^INVALID: ' "out.$n" || fail "$ova: no INVALID summary"
}

note "the re-tarred original is still valid (tests the helpers)"
unpack vm.ova
fix_mf
pack retar.ova vm.ovf vm.mf vm-disk1.vmdk
validate 1 retar.ova --deep
[ "$rc" = 0 ] || { cat out.1; fail "a re-tarred copy of the OVA does not validate"; }

note "one flipped byte inside a compressed grain"
# first grain record at sector 128 (overHead): 12-byte marker, then zlib data
python3 - vm.ova flipped.ova <<'PY'
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
rec = off + 512 + 128 * 512
lba, csize = struct.unpack('<QI', data[rec:rec + 12])
assert lba == 0 and 0 < csize < 131072, (lba, csize)
data[rec + 12 + csize // 2] ^= 0x5a
open(sys.argv[2], 'wb').write(data)
PY
expect_problem flipped.ova 'vm-disk1.vmdk: SHA256 digest does not match' 1
grep -q 'inflate' out.1 && fail "without --deep no grain is inflated"
expect_problem flipped.ova 'grain at LBA 0 .*(does not inflate|inflates to)' 1 --deep
expect_problem flipped.ova 'grain at LBA 0 .*(does not inflate|inflates to)' 3 --deep
cmp out.1 out.3 || fail "--deep problems differ between 1 and 3 ranks"
validate 1 flipped.ova --deep --json
[ "$rc" = 3 ] || fail "--json on a bad OVA exited $rc"
python3 -c 'import json; d=json.load(open("out.1")); assert d["valid"] is False and len(d["problems"])==2 and d["problem_count"]==2, d' \
  || fail "--json output of a bad OVA is not the expected object"

note "wrong digest in the manifest"
unpack vm.ova
sed -i -E '2s/= (.)/= \1\1/; 2s/.$//' x/vm.mf  # keep the length, change the first hex digit
head -c 200 x/vm.mf; echo
pack baddigest.ova vm.ovf vm.mf vm-disk1.vmdk
expect_problem baddigest.ova 'vm-disk1.vmdk: SHA256 digest does not match the manifest' 1
grep -c '^PROBLEM' out.1 | grep -qx 1 || fail "a wrong digest gives more than one problem"

note "truncated OVA"
head -c $(( $(stat -c %s vm.ova) - 4096 )) vm.ova > truncated.ova
expect_problem truncated.ova 'truncated' 1
head -c 300000 vm.ova > truncated2.ova
expect_problem truncated2.ova 'archive ends inside this member' 1

note ".ovf not the first member"
unpack vm.ova
pack order.ova vm.mf vm.ovf vm-disk1.vmdk
expect_problem order.ova 'vm.ovf: the .ovf descriptor must be the first member' 1

note "wrong ovf:size in References"
unpack vm.ova
set_ovf_size 123
fix_mf
pack badsize.ova vm.ovf vm.mf vm-disk1.vmdk
expect_problem badsize.ova 'References/File vm-disk1.vmdk: ovf:size is 123' 1
grep -c '^PROBLEM' out.1 | grep -qx 1 || fail "a wrong ovf:size gives more than one problem"

note "missing end-of-stream marker"
unpack vm.ova
truncate -s -512 x/vm-disk1.vmdk
fix_ovf_size
fix_mf
pack noeos.ova vm.ovf vm.mf vm-disk1.vmdk
expect_problem noeos.ova 'vm-disk1.vmdk: no end-of-stream marker' 1
grep -c '^PROBLEM' out.1 | grep -qx 1 || fail "a missing EOS gives more than one problem"

note "grain marker with a wrong LBA"
# patch_lba NEW: write NEW into the LBA of the first grain marker (sector 128)
patch_lba() {
  unpack vm.ova
  python3 - x/vm-disk1.vmdk "$1" <<'PY'
import struct, sys
with open(sys.argv[1], 'r+b') as f:
    f.seek(128 * 512)
    lba, csize = struct.unpack('<QI', f.read(12))
    assert lba == 0 and csize > 0
    f.seek(128 * 512)
    f.write(struct.pack('<Q', int(sys.argv[2])))
PY
  fix_mf
  pack "$2" vm.ovf vm.mf vm-disk1.vmdk
}
patch_lba 5 badlba.ova
expect_problem badlba.ova 'grain marker at sector 128: LBA 5 is not a multiple of the grain size' 1
grep -qE '^PROBLEM: .*grain table of group 0 .*disagree with the grain markers' out.1 \
  || fail "the grain table disagreement is not reported"
expect_problem badlba.ova 'LBA 5 is not a multiple' 3 --deep
# a grain-aligned LBA of a later grain: the order breaks
patch_lba $((7 * 128)) badlba2.ova
expect_problem badlba2.ova 'grain markers at sectors 129..134: 6 LBAs not above the previous grain' 1

note "not an OVA at all, and a missing file"
head -c 10000 /dev/urandom > random.ova
expect_problem random.ova 'not a tar archive' 1
set +e
"$OVATOOL" validate "$WORK/does-not-exist.ova" > out.x 2> err.x
rc=$?
"$OVATOOL" validate > /dev/null 2>&1
rc2=$?
set -e
[ "$rc" = 1 ] || fail "a missing file exited $rc, expected 1"
grep -q 'cannot open' err.x || fail "no message for a missing file"
[ "$rc2" = 2 ] || fail "a usage error exited $rc2, expected 2"
pass "validate"
