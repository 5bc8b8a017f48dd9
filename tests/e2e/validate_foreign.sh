#!/usr/bin/env bash
# validate_foreign.sh - `ovatool validate` reads OVAs other producers make
# (issue 16 item 4) as importers do: each OVA of tests/e2e/foreign_ova.sh,
# built from one raw image, is VALID (exit 0) with and without --deep, with
# 1 and 3 ranks, and the builders' output is first proven to be what it
# claims (chunks that reassemble to a qemu-img stream, a gzip stream of it,
# schema-valid OVFs). Damaged variants exit 3 with a PROBLEM naming the
# member: a wrong chunk digest, a missing chunk, a truncated gzip member, a
# corrupt gzip member.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/foreign_ova.sh"
[ -x "${STREAM_META_FIRST:-}" ] || fail "STREAM_META_FIRST (the test writer) is not set or not built"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ovatool-e2e.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

# 1 GiB (whole GiB units for the ovftool-style OVF), sparse: random data at
# the start, text in the middle, a last grain; the streams are a few MiB
raw=$WORK/src.raw
qemu-img create -q -f raw "$raw" 1G
head -c 3000000 /dev/urandom | dd of="$raw" conv=notrunc status=none
text 1000000 "foreign producers, grain after grain" | dd of="$raw" bs=1M seek=600 conv=notrunc status=none
printf 'the last grain' | dd of="$raw" bs=512 seek=$((1024 * 2048 - 3)) conv=notrunc status=none

validate() {  # validate N OVA [args]: stdout in out.N, exit code in $rc
  local n=$1 ova=$2; shift 2
  set +e
  run_ranks "$n" validate "$ova" --schema "$SCHEMA" "$@" > "out.$n" 2> "err.$n"
  rc=$?
  set -e
}
expect_valid() {  # expect_valid OVA: exit 0 plain and --deep, 1 and 3 ranks, same verdict
  local ova=$1
  validate 1 "$ova"
  [ "$rc" = 0 ] || { cat out.1 err.1; fail "$ova: exit $rc, expected 0"; }
  grep -q '^PROBLEM: ' out.1 && { cat out.1; fail "$ova: PROBLEM lines"; }
  for n in 1 3; do
    validate "$n" "$ova" --deep
    [ "$rc" = 0 ] || { cat "out.$n" "err.$n"; fail "$ova: --deep with $n ranks exited $rc"; }
    grep -qE '^VALID: .*, [1-9][0-9]* grains, [1-9][0-9]* inflated' "out.$n" \
      || { cat "out.$n"; fail "$ova: --deep with $n ranks inflated nothing"; }
  done
  cmp out.1 out.3 || fail "$ova: --deep output differs between 1 and 3 ranks"
  local g i
  g=$(sed -nE 's/^VALID: .*, ([0-9]+) grains, ([0-9]+) inflated.*/\1 \2/p' out.1)
  read -r g i <<< "$g"
  [ "$g" = "$i" ] || fail "$ova: $g grains walked but $i inflated"
}
expect_problem() {  # expect_problem OVA PATTERN [args]: exit 3 and a PROBLEM line matching
  local ova=$1 pat=$2; shift 2
  validate 1 "$ova" "$@"
  cat out.1
  [ "$rc" = 3 ] || { cat err.1; fail "$ova: exit $rc, expected 3"; }
  grep -E "^PROBLEM: .*$pat" out.1 > /dev/null || fail "$ova: no PROBLEM line matching '$pat'"
}
# repack OUT DIR MEMBER...: a ustar archive of DIR's members in that order
repack() { local out=$1 dir=$2; shift 2; (cd "$dir" && tar --format=ustar -cf "$WORK/$out" "$@"); }
schema_ok() {
  XML_CATALOG_FILES="$SCHEMA/catalog.xml" xmllint --noout --nonet --schema "$SCHEMA/dsp8023_1.1.1.xsd" "$1" \
    2> xmllint.err || { cat xmllint.err; fail "$1 does not validate against DSP8023 1.1.1"; }
}

note "the builders' disks are what they claim"
fova_qemu_gib "$raw" gib.ova
qemu-img compare -q -f raw -F vmdk "$raw" gib.ova.d/vm-disk1.vmdk || fail "the qemu-img stream does not compare"
grep -q 'ovf:capacity="1" ovf:capacityAllocationUnits="byte \* 2^30"' gib.ova.d/vm.ovf || fail "no GiB units"
head -c 5 gib.ova.d/vm.mf | grep -q '^SHA1(' || fail "the ovftool-style manifest is not SHA-1"
schema_ok gib.ova.d/vm.ovf
fova_meta_first "$raw" meta.ova
qemu-img compare -q -f raw -F vmdk "$raw" meta.ova.d/vm-disk1.vmdk || fail "the metadata-first stream does not compare"
fova_chunked "$raw" chunked.ova
mapfile -t chunks < <(tar -tf chunked.ova | grep '^vm-disk1.vmdk\.')
[ "${#chunks[@]}" -ge 3 ] || fail "fewer than 3 chunks: ${chunks[*]}"
[ "${chunks[0]}" = vm-disk1.vmdk.000000000 ] || fail "first chunk named ${chunks[0]}"
(cd chunked.ova.d && cat "${chunks[@]}") > joined.vmdk
qemu-img compare -q -f raw -F vmdk "$raw" joined.vmdk || fail "the chunks do not reassemble to the stream"
[ "$(wc -l < chunked.ova.d/vm.mf)" = $((1 + ${#chunks[@]})) ] || fail "the manifest does not list every chunk"
schema_ok chunked.ova.d/vm.ovf
fova_gzip "$raw" gzip.ova
gzip -t gzip.ova.d/vm-disk1.vmdk.gz || fail "not a gzip stream"
gzip -dc gzip.ova.d/vm-disk1.vmdk.gz > gunzipped.vmdk
qemu-img compare -q -f raw -F vmdk "$raw" gunzipped.vmdk || fail "the gzip member does not inflate to the stream"
schema_ok gzip.ova.d/vm.ovf
fova_gzip_chunked "$raw" gzchunked.ova
fova_ovf2 "$raw" ovf2.ova
grep -q 'xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/2"' ovf2.ova.d/vm.ovf || fail "not an OVF 2 envelope"
fova_mf_last "$raw" mflast.ova
[ "$(tar -tf mflast.ova | tail -1)" = vm.mf ] || fail "the manifest is not last"
fova_cert "$raw" cert.ova
openssl x509 -noout -in cert.ova.d/vm.cert || fail "the .cert holds no certificate"
fova_vbox "$raw" vbox.ova

note "each is VALID, --deep too, with 1 and 3 ranks"
for ova in gib meta chunked gzip gzchunked ovf2 mflast cert vbox; do
  echo "-- $ova.ova"
  expect_valid "$ova.ova"
done

note "what each is told"
validate 1 ovf2.ova
grep -q 'OVF schema check skipped: vm.ovf is an OVF 2.x envelope (http://schemas.dmtf.org/ovf/envelope/2)' err.1 \
  || { cat out.1 err.1; fail "OVF 2.0: no note that the 1.x schema was not applied"; }
grep -q 'OVF schema not checked' out.1 || fail "OVF 2.0: the summary claims a schema check"
validate 1 cert.ova
grep -q '^NOTE: vm.cert: a certificate .*present, not verified' out.1 || { cat out.1; fail "no NOTE for the .cert"; }
validate 1 vbox.ova
grep -q '^NOTE: vm.ovf: line [0-9]*: vbox:Machine, .*ignored' out.1 || { cat out.1; fail "no NOTE for vbox:Machine"; }
grep -q 'OVF schema checked' out.1 || fail "vbox: the schema check did not run"
validate 1 mflast.ova
grep -q '^NOTE: vm.mf: the manifest is the last member' out.1 || fail "no NOTE for the manifest placed last"

note "GiB units are honoured: a capacity 1 GiB short of the disk is a problem"
rm -rf d && cp -r gib.ova.d d
sed -i 's/ovf:capacity="1" ovf:capacityAllocationUnits="byte \* 2^30"/ovf:capacity="1" ovf:capacityAllocationUnits="byte * 2^29"/' d/vm.ovf
fova_mf SHA1 d vm.ovf vm-disk1.vmdk > d/vm.mf
repack small.ova d vm.ovf vm.mf vm-disk1.vmdk
expect_problem small.ova 'vm.ovf: Disk vmdisk1: ovf:capacity is 536870912 bytes, less than the 1073741824 bytes'

note "damage: a wrong chunk digest names the chunk"
rm -rf d && cp -r chunked.ova.d d
sed -i '3s/= 0/= 1/; t; 3s/= ./= 0/' d/vm.mf
cmp -s d/vm.mf chunked.ova.d/vm.mf && fail "the manifest line was not changed"
repack baddigest.ova d vm.ovf vm.mf "${chunks[@]}"
expect_problem baddigest.ova "${chunks[1]}: SHA256 digest does not match the manifest" --deep

note "a manifest line for the whole chunked file (DSP0243 allows it beside the chunks' lines) is checked"
rm -rf d && cp -r chunked.ova.d d
echo "SHA1(vm-disk1.vmdk)= $(cat "${chunks[@]/#/d/}" | sha1sum | cut -d' ' -f1)" >> d/vm.mf
repack wholeline.ova d vm.ovf vm.mf "${chunks[@]}"
expect_valid wholeline.ova
sed -i '$s/= 0/= 1/; t; $s/= ./= 0/' d/vm.mf
repack wholebad.ova d vm.ovf vm.mf "${chunks[@]}"
expect_problem wholebad.ova 'vm-disk1.vmdk: SHA1 digest of the chunks joined does not match the manifest'

note "damage: a missing chunk is named"
rm -rf d && cp -r chunked.ova.d d
repack missing.ova d vm.ovf vm.mf "${chunks[0]}" "${chunks[@]:2}"
expect_problem missing.ova "vm-disk1.vmdk.000000001: chunk missing from the archive"
grep -q '^PROBLEM: vm.mf: line 3 names "vm-disk1.vmdk.000000001", which is not a member' out.1 \
  || fail "the manifest line of the missing chunk is not reported"

note "damage: a chunk of the wrong size is named"
rm -rf d && cp -r chunked.ova.d d
truncate -s -512 "d/${chunks[0]}"
sed -i "s/ovf:size=\"[0-9]*\"/ovf:size=\"$(cat d/vm-disk1.vmdk.0* | wc -c)\"/" d/vm.ovf
fova_mf SHA256 d vm.ovf "${chunks[@]}" > d/vm.mf
repack shortchunk.ova d vm.ovf vm.mf "${chunks[@]}"
expect_problem shortchunk.ova "${chunks[0]}: chunk of [0-9]+ bytes, must hold exactly 1048576"

# gzip_damage NAME: the gzip OVA with its member damaged by the commands on
# stdin (run in d/), ovf:size and the manifest redone
gzip_damage() {
  rm -rf d && cp -r gzip.ova.d d
  (cd d && bash -e) || fail "damaging $1"
  sed -i "s/ovf:size=\"[0-9]*\"/ovf:size=\"$(stat -c %s d/vm-disk1.vmdk.gz)\"/" d/vm.ovf
  fova_mf SHA256 d vm.ovf vm-disk1.vmdk.gz > d/vm.mf
  repack "$1" d vm.ovf vm.mf vm-disk1.vmdk.gz
}
note "damage: a truncated gzip member is named"
gzip_damage gzcut.ova <<< 'truncate -s -2000 vm-disk1.vmdk.gz'
expect_problem gzcut.ova 'vm-disk1.vmdk.gz: gzip stream cut short' --deep
note "damage: a corrupt gzip member is named"
gzip_damage gzbad.ova <<< 'printf "\377\377\377\377\377\377\377\377" | dd of=vm-disk1.vmdk.gz bs=1 seek=200000 conv=notrunc status=none'
expect_problem gzbad.ova 'vm-disk1.vmdk.gz: gzip stream does not inflate' --deep
note "damage: a gzip member whose inflated stream is cut is a VMDK problem"
gzip_damage gzshort.ova <<< 'gzip -dc vm-disk1.vmdk.gz | head -c 1000000 | gzip -n > t && mv t vm-disk1.vmdk.gz'
expect_problem gzshort.ova 'vm-disk1.vmdk.gz: ' --deep

note "a gzip file that is no disk is inflated too: its stream is checked"
rm -rf d && cp -r gzip.ova.d d
text 200000 "nvram of the foreign VM" | gzip -n > d/vm.nvram.gz
sed -i "s|    <File ovf:compression=\"gzip\" ovf:href=\"vm-disk1.vmdk.gz\".*|&\n    <File ovf:compression=\"gzip\" ovf:href=\"vm.nvram.gz\" ovf:id=\"file2\" ovf:size=\"$(stat -c %s d/vm.nvram.gz)\"/>|" d/vm.ovf
grep -q 'ovf:href="vm.nvram.gz"' d/vm.ovf || fail "could not add the nvram File"
fova_mf SHA256 d vm.ovf vm-disk1.vmdk.gz vm.nvram.gz > d/vm.mf
repack nvram.ova d vm.ovf vm.mf vm-disk1.vmdk.gz vm.nvram.gz
expect_valid nvram.ova
truncate -s -8 d/vm.nvram.gz   # the CRC-32 and length trailer gone
sed -i -E "s|(ovf:href=\"vm.nvram.gz\" ovf:id=\"file2\" ovf:size=)\"[0-9]+\"|\1\"$(stat -c %s d/vm.nvram.gz)\"|" d/vm.ovf
fova_mf SHA256 d vm.ovf vm-disk1.vmdk.gz vm.nvram.gz > d/vm.mf
repack nvramcut.ova d vm.ovf vm.mf vm-disk1.vmdk.gz vm.nvram.gz
expect_problem nvramcut.ova 'vm.nvram.gz: gzip stream cut short'
grep -q '^PROBLEM: vm.ovf' out.1 && fail "the cut nvram stream also upset the OVF checks"

pass "validate_foreign"
