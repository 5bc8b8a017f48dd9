#!/usr/bin/env bash
# import_foreign.sh - `ovatool import` of OVAs other producers make (issue 16
# item 4): every builder of tests/e2e/foreign_ova.sh, from one raw image,
# imported with 1 and 2 ranks (the files identical), the disk judged against
# the image by qemu-img compare, qemu-img check and vmdkinfo, every manifest
# line checked. The chunked and gzip disks are read in order through the
# member reader and their batches carry their bytes to the workers. The .cert
# is reported as not verified, VirtualBox's vbox:Machine section ignored; a
# manifest line for a chunked file as a whole is checked beside its chunks'.
# Damaged variants (a wrong chunk digest, a missing chunk, a cut gzip member)
# exit 1 naming the member, with nothing left in the folder.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/foreign_ova.sh"
command -v qemu-img > /dev/null || skip "qemu-img not installed"
[ -x "${STREAM_META_FIRST:-}" ] || fail "STREAM_META_FIRST (the test writer) is not set or not built"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ovatool-e2e.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

# 1 GiB (whole GiB units for the ovftool-style OVF), sparse: 12 MiB of random
# data at the start (a few hundred grains: many batches, so both ranks'
# workers get carried ones), text in the middle, a last grain
raw=$WORK/src.raw
qemu-img create -q -f raw "$raw" 1G
head -c $((12 * 1048576)) /dev/urandom | dd of="$raw" conv=notrunc status=none
text 1000000 "foreign producers, grain after grain" | dd of="$raw" bs=1M seek=600 conv=notrunc status=none
printf 'the last grain' | dd of="$raw" bs=512 seek=$((1024 * 2048 - 3)) conv=notrunc status=none

judge_disk() {  # judge_disk VMDK: the image's bytes, a clean sparse extent
  qemu-img check -q -f vmdk "$1" || fail "qemu-img check failed on $1"
  local out; out=$(qemu-img compare -f raw -F vmdk "$raw" "$1") || fail "qemu-img compare $1: $out"
  if command -v vmdkinfo > /dev/null; then
    vmdkinfo "$1" > /dev/null || fail "vmdkinfo rejects $1"
  else
    skip_part "vmdkinfo (not installed)"
  fi
}
same_files() {  # same_files A B: the same names, the same bytes
  [ "$(cd "$1" && ls -A)" = "$(cd "$2" && ls -A)" ] || return 1
  local f
  for f in $(cd "$1" && ls -A); do cmp -s "$1/$f" "$2/$f" || return 1; done
}
# import_ok OVA LINES: imported with 1 and 2 ranks into o1/, o2/; LINES
# manifest lines checked (--json); the disk judged
import_ok() {
  local ova=$1 lines=$2 n
  for n in 1 2; do
    rm -rf "o$n" && mkdir "o$n"
    run_ranks "$n" import "$ova" -o "o$n/" --progress 0 --json > "j$n" 2> "e$n" \
      || { cat "e$n"; fail "$ova: import with $n rank(s) failed"; }
    grep -q "\"digests_checked\":$lines[,}]" "j$n" || { cat "j$n"; fail "$ova: $lines manifest lines not checked"; }
  done
  same_files o1 o2 || fail "$ova: imports with 1 and 2 ranks differ"
  [ -f o1/vm.vmx ] || fail "$ova: no vm.vmx"
  judge_disk o1/vm-disk1.vmdk
}
# repack OUT DIR MEMBER...: a ustar archive of DIR's members in that order
repack() { local out=$1 dir=$2; shift 2; (cd "$dir" && tar --format=ustar -cf "$WORK/$out" "$@"); }
# expect_fail OVA PATTERN: exit 1 with 1 and 2 ranks, PATTERN in the error, nothing left
expect_fail() {
  local ova=$1 pat=$2 n rc
  for n in 1 2; do
    rm -rf o && mkdir o
    rc=0
    run_ranks "$n" import "$ova" -o o/ --progress 0 2> err.txt || rc=$?
    [ "$rc" = 1 ] || { cat err.txt; fail "$ova: exit $rc with $n rank(s), expected 1"; }
    grep -qE -- "$pat" err.txt || { cat err.txt; fail "$ova: no '$pat' in the error ($n rank(s))"; }
    [ -z "$(ls -A o)" ] || fail "$ova: left in the folder with $n rank(s): $(ls -A o)"
  done
}

fova_qemu_gib "$raw" gib.ova
fova_meta_first "$raw" meta.ova
fova_ovf2 "$raw" ovf2.ova
fova_chunked "$raw" chunked.ova
fova_gzip "$raw" gzip.ova
fova_gzip_chunked "$raw" gzchunked.ova
fova_mf_last "$raw" mflast.ova
fova_cert "$raw" cert.ova
fova_vbox "$raw" vbox.ova
mapfile -t chunks < <(tar -tf chunked.ova | grep '^vm-disk1.vmdk\.')
mapfile -t gzchunks < <(tar -tf gzchunked.ova | grep '^vm-disk1.vmdk.gz\.')
[ "${#chunks[@]}" -ge 3 ] && [ "${#gzchunks[@]}" -ge 3 ] || fail "fewer than 3 chunks: ${chunks[*]} / ${gzchunks[*]}"

for ova in gib meta ovf2 gzip mflast cert vbox; do
  note "$ova.ova"
  import_ok "$ova.ova" 2
  mv o1 "keep-$ova"
done
note "chunked.ova: ${#chunks[@]} chunks, each chunk's digest checked"
import_ok chunked.ova $((1 + ${#chunks[@]}))
grep -q 'vm-disk1.vmdk: reading its chunks in order' e1 || { cat e1; fail "chunked: no note of the read"; }
python3 - j1 <<'PY' || fail "chunked: the --json disk"
import json, sys
d = json.load(open(sys.argv[1]))["disks"][0]
assert d["member"] == "vm-disk1.vmdk" and d["capacity"] == 1 << 30 and d["allocated"] > 0, d
PY
note "gzchunked.ova: gzip, then ${#gzchunks[@]} chunks"
import_ok gzchunked.ova $((1 + ${#gzchunks[@]}))
grep -q 'vm-disk1.vmdk.gz: reading its chunks in order, inflating' e1 || { cat e1; fail "gzchunked: no note"; }
note "a small --mem-limit: one thread, one carried batch at a time, the same disk"
rm -rf m && mkdir m
"$OVATOOL" import gzchunked.ova -o m/ --progress 0 --mem-limit 16M 2> e.txt || { cat e.txt; fail "--mem-limit 16M"; }
same_files o1 m || fail "gzchunked: --mem-limit 16M gives other files"

note "carried batches reach the other rank: a worker failing there (test fault import.batch) is named"
rm -rf o && mkdir o
rc=0
OVATOOL_TEST_FAIL_RANK=1:import.batch run_ranks 2 import gzchunked.ova -o o/ --progress 0 -t 1 2> err.txt || rc=$?
[ "$rc" = 1 ] && grep -q 'rank 1 on .*vm-disk1.vmdk.gz: injected read error' err.txt \
  || { cat err.txt; fail "gzchunked: rank 1 ran no carried batch (exit $rc)"; }
[ -z "$(ls -A o)" ] || fail "gzchunked: left in the folder after rank 1 failed: $(ls -A o)"

note "a chunked or gzip disk imports to the same files as the same stream stored plainly"
# (each qemu-img run writes its own CID into the stream: compare with the
# builder's own stream, put back as one plain member)
rm -rf d && mkdir d && tar -C d -xf gzchunked.ova
(cd d && cat "${gzchunks[@]}" | gzip -dc > vm-disk1.vmdk && rm "${gzchunks[@]}")
sed -i -E 's/ovf:chunkSize="[0-9]+" ovf:compression="gzip" ovf:href="vm-disk1.vmdk.gz"/ovf:href="vm-disk1.vmdk"/' d/vm.ovf
sed -i -E "s/ovf:size=\"[0-9]+\"/ovf:size=\"$(stat -c %s d/vm-disk1.vmdk)\"/" d/vm.ovf
grep -q 'ovf:href="vm-disk1.vmdk"' d/vm.ovf || fail "could not make the plain OVF"
fova_mf SHA256 d vm.ovf vm-disk1.vmdk > d/vm.mf
repack plain.ova d vm.ovf vm.mf vm-disk1.vmdk
rm -rf p && mkdir p
"$OVATOOL" import plain.ova -o p/ --progress 0 2> e.txt || { cat e.txt; fail "plain.ova"; }
same_files o1 p || fail "gzchunked.ova and the same stream stored plainly import to different files"

note "files beside an .ovf: a gzip disk as from the OVA; a chunked one refused, naming it"
rm -rf f && mkdir f && tar -C f -xf gzip.ova
rm -rf fo && mkdir fo
"$OVATOOL" import f/vm.ovf -o fo/ --progress 0 2> e.txt || { cat e.txt; fail "gzip beside vm.ovf"; }
same_files keep-gzip fo || fail "gzip beside vm.ovf: not the files of the OVA's import"
rm -rf f && mkdir f && tar -C f -xf chunked.ova
rm -rf fo && mkdir fo
rc=0; "$OVATOOL" import f/vm.ovf -o fo/ --progress 0 2> e.txt || rc=$?
[ "$rc" = 1 ] && grep -q 'vm-disk1.vmdk: split into chunks .*imported from an OVA only' e.txt \
  || { cat e.txt; fail "chunked beside vm.ovf: exit $rc"; }
[ -z "$(ls -A fo)" ] || fail "chunked beside vm.ovf: left $(ls -A fo)"

note "the .cert is reported as not verified; the vbox section ignored"
rm -rf c && mkdir c
"$OVATOOL" import cert.ova -o c/ --progress 0 2> e.txt || { cat e.txt; fail "cert.ova"; }
grep -q 'vm.cert: signing certificate not verified' e.txt || { cat e.txt; fail "no word on the .cert"; }
grep -qi 'vbox\|Machine' keep-vbox/vm.vmx && fail "the vbox section reached the VMX"
diff keep-mflast/vm.vmx keep-vbox/vm.vmx || fail "vbox: the VMX is not the one of the same OVF without vbox:Machine"

note "damage: a wrong chunk digest names the chunk"
rm -rf d && cp -r chunked.ova.d d
sed -i '3s/= 0/= 1/; t; 3s/= ./= 0/' d/vm.mf
cmp -s d/vm.mf chunked.ova.d/vm.mf && fail "the manifest line was not changed"
repack baddigest.ova d vm.ovf vm.mf "${chunks[@]}"
expect_fail baddigest.ova "${chunks[1]}: SHA256 digest does not match the manifest"

note "a manifest line for the whole chunked file (beside the chunks' lines) is checked too"
rm -rf d && cp -r chunked.ova.d d
echo "SHA1(vm-disk1.vmdk)= $(cat "${chunks[@]/#/d/}" | sha1sum | cut -d' ' -f1)" >> d/vm.mf
repack wholeline.ova d vm.ovf vm.mf "${chunks[@]}"
import_ok wholeline.ova $((2 + ${#chunks[@]}))
sed -i '$s/= 0/= 1/; t; $s/= ./= 0/' d/vm.mf
repack wholebad.ova d vm.ovf vm.mf "${chunks[@]}"
expect_fail wholebad.ova 'vm-disk1.vmdk: SHA1 digest does not match the manifest \(manifest [0-9a-f]+, chunks joined'

note "damage: a missing chunk is named"
repack missing.ova chunked.ova.d vm.ovf vm.mf "${chunks[0]}" "${chunks[@]:2}"
expect_fail missing.ova "vm-disk1.vmdk.000000001: chunk missing from the archive"

note "a stream naming a parent disk (a snapshot delta) is refused, naming it"
rm -rf d && cp -r gib.ova.d d
at=$(grep -abo 'parentCID=ffffffff' d/vm-disk1.vmdk | head -1 | cut -d: -f1)
[ -n "$at" ] || fail "no parentCID line in the qemu-img stream"
printf 'parentCID=0000002a' | dd of=d/vm-disk1.vmdk bs=1 seek="$at" conv=notrunc status=none
fova_mf SHA1 d vm.ovf vm-disk1.vmdk > d/vm.mf
repack delta.ova d vm.ovf vm.mf vm-disk1.vmdk
expect_fail delta.ova 'vm-disk1.vmdk: the embedded descriptor names a parent disk \(parentCID=0000002a\)'
rc=0; "$OVATOOL" validate delta.ova > v.txt 2>&1 || rc=$?
[ "$rc" = 3 ] && grep -q 'vm-disk1.vmdk: embedded descriptor names a parent disk' v.txt \
  || { cat v.txt; fail "validate passes a delta stream (exit $rc)"; }

note "damage: a cut gzip member is named"
rm -rf d && cp -r gzip.ova.d d
truncate -s -2000 d/vm-disk1.vmdk.gz
sed -i "s/ovf:size=\"[0-9]*\"/ovf:size=\"$(stat -c %s d/vm-disk1.vmdk.gz)\"/" d/vm.ovf
fova_mf SHA256 d vm.ovf vm-disk1.vmdk.gz > d/vm.mf
repack gzcut.ova d vm.ovf vm.mf vm-disk1.vmdk.gz
expect_fail gzcut.ova 'vm-disk1.vmdk.gz: gzip stream cut short'

note "damage: a cut chunk of a gzip file (the archive ends inside it)"
cp gzchunked.ova gzcutchunk.ova
truncate -s $(($(stat -c %s gzchunked.ova) - 10240 - 3000)) gzcutchunk.ova
expect_fail gzcutchunk.ova "vm-disk1.vmdk.gz.0000000[0-9][0-9]"

pass "import_foreign"
