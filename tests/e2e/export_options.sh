#!/usr/bin/env bash
# export_options.sh - every codec reads back bit-exact and is deterministic
# across rank counts; unit size (from --mem-limit) and thread count never
# change the bytes; --sha picks the manifest algorithm; SOURCE_DATE_EPOCH
# sets the tar mtimes; odd output names give safe member names; writing
# through the page cache (--buffered-io, or ramfs, which refuses O_DIRECT)
# gives the same bytes as O_DIRECT.
source "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ovatool-e2e.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
truncate -s 80M src.raw
text 5000000 "text compresses well, random data does not" | dd of=src.raw conv=notrunc status=none
head -c 3000000 /dev/urandom | dd of=src.raw bs=1M seek=40 conv=notrunc status=none
qemu-img convert -q -f raw -O vmdk -o subformat=monolithicFlat src.raw disk.vmdk
write_vmx vm.vmx disk.vmdk
export SOURCE_DATE_EPOCH=1700000000

codecs="zlib libdeflate"
if "$OVATOOL" export --help | grep -q isal && "$OVATOOL" export vm.vmx -o probe.ova --codec isal -q; then
  codecs="$codecs isal"
else
  skip_part "the isal codec (not built in)"
fi
rm -f probe.ova
for c in $codecs; do
  for n in 1 3; do
    mkdir -p "$c$n"
    run_ranks "$n" export vm.vmx -o "$c$n/vm.ova" --codec "$c" -q
  done
  cmp "${c}1/vm.ova" "${c}3/vm.ova" || fail "$c: 1-rank and 3-rank OVAs differ"
  [ "$c" = zlib ] || ! cmp -s zlib1/vm.ova "${c}1/vm.ova" || fail "$c wrote the same bytes as zlib: not in use?"
  check_ova "${c}1/vm.ova" src.raw
  note "$c ok: $(stat -c %s "${c}1/vm.ova") bytes"
done

note "unit size and thread count do not change the output"
mkdir -p small
run_ranks 2 export vm.vmx -o small/vm.ova --codec libdeflate --mem-limit 8M --threads 3 -q
cmp libdeflate1/vm.ova small/vm.ova || fail "--mem-limit 8M --threads 3 changed the output"
"$OVATOOL" export vm.vmx -o small/log.ova --mem-limit 8M --threads 2 2> small/log
grep -q "units of 16 grains" small/log || { cat small/log; fail "a small --mem-limit did not shrink the units"; }

note "--buffered-io: the same bytes through the page cache instead of O_DIRECT"
mkdir -p buffered
"$OVATOOL" export vm.vmx -o buffered/vm.ova --codec libdeflate --buffered-io 2> buffered/log
grep -q "output through the page cache" buffered/log || { cat buffered/log; fail "--buffered-io not in effect"; }
cmp libdeflate1/vm.ova buffered/vm.ova || fail "--buffered-io changed the output"
"$OVATOOL" export vm.vmx -o buffered/direct.ova --codec libdeflate 2> buffered/log2
grep -q "output with O_DIRECT" buffered/log2 || note "this file system refuses O_DIRECT: $(grep -o 'output [a-z ]*' buffered/log2)"

note "a file system that refuses O_DIRECT (ramfs) gets the same bytes through the page cache"
if [ "$(id -u)" = 0 ] && mkdir -p ramfs && mount -t ramfs ramfs ramfs 2>/dev/null; then
  trap 'umount "$WORK/ramfs" 2>/dev/null || true; rm -rf "$WORK"' EXIT
  "$OVATOOL" export vm.vmx -o ramfs/vm.ova --codec libdeflate 2> ramfs.log
  grep -q "output through the page cache" ramfs.log || { cat ramfs.log; fail "ramfs: not the page-cache path"; }
  cmp libdeflate1/vm.ova ramfs/vm.ova || fail "ramfs: the page-cache fallback changed the output"
  umount ramfs
else
  skip_part "the ramfs fallback check (needs root to mount ramfs)"
fi

note "SOURCE_DATE_EPOCH sets every member's mtime"
tar --full-time -tvf libdeflate1/vm.ova | awk '{print $4" "$5}' | sort -u > mtimes
[ "$(cat mtimes)" = "2023-11-14 22:13:20" ] || { cat mtimes; fail "member mtimes are not SOURCE_DATE_EPOCH"; }

note "--sha sha1 and sha512"
for alg in sha1 sha512; do
  mkdir -p "$alg" && "$OVATOOL" export vm.vmx -o "$alg/vm.ova" --sha "$alg" -q
  mkdir -p "$alg/x" && tar -C "$alg/x" -xf "$alg/vm.ova"
  label=$(echo "$alg" | tr a-z A-Z)
  [ "$(wc -l < "$alg/x/vm.mf")" = 2 ] || fail "$alg manifest line count"
  while IFS= read -r line; do
    [[ "$line" =~ ^$label\(([^\)]+)\)=\ ([0-9a-f]+)$ ]] || fail "bad $alg line: $line"
    [ "$(${alg}sum "$alg/x/${BASH_REMATCH[1]}" | cut -d' ' -f1)" = "${BASH_REMATCH[2]}" ] || fail "$alg digest"
  done < "$alg/x/vm.mf"
done

note "odd output names give safe member names"
mkdir -p names
"$OVATOOL" export vm.vmx -o "names/my vm (1) é.ova" -q
tar -tf "names/my vm (1) é.ova" > list
grep -qx 'my_vm__1____.ovf' list || { cat list; fail "unsafe or unexpected member names"; }
"$OVATOOL" export vm.vmx -o "names/.ova" -q
tar -tf "names/.ova" > list2
[ "$(head -1 list2)" = vm.ovf ] || fail "empty base name has no fallback"
pass options
