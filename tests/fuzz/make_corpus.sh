#!/usr/bin/env bash
# make_corpus.sh [BUILD_DIR] - regenerate the seed corpora in tests/fuzz/corpus/
# from real tools, so no seed is bytes someone typed: the VMX fixtures,
# disks of every subformat qemu-img makes (with data written by qemu-io),
# snapshot chains, OVAs that BUILD_DIR/ovatool (default: build) exports, and
# tars GNU tar writes. Each run replaces corpus/*/ entirely (qemu-img picks
# random CIDs, so the bytes change; commit the result only when the seeds
# should change). Needs qemu-img, qemu-io, tar, sha256sum/sha1sum, od, dd.
# tests/fuzz/regress/ is never touched.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
ovatool=$build/ovatool
[ -x "$ovatool" ] || { echo "make_corpus: no $ovatool (build first, or name the build dir)" >&2; exit 2; }
for t in qemu-img qemu-io tar sha256sum sha1sum od dd; do
  command -v "$t" >/dev/null || { echo "make_corpus: $t not found" >&2; exit 2; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SOURCE_DATE_EPOCH=1700000000   # tar mtimes in the OVAs

c=$here/corpus
for t in vmx descriptor disk_sparse disk_chain vmdk_walk tar_walk ovf import_desc manifest validate journal; do
  rm -rf "${c:?}/$t"
  mkdir -p "$c/$t"
done

# mk DIR FILE SUBFORMAT SIZE [more qemu-img create args]: a disk, made in DIR
mk() { local d=$1 f=$2 sf=$3 size=$4; shift 4; mkdir -p "$d"
       (cd "$d" && qemu-img create -q -f vmdk -o subformat="$sf" "$@" "$f" "$size"); }
# wr DIR FILE CMD...: qemu-io commands ("write -P 0xab 0 64k") on a disk in DIR
wr() { local d=$1 f=$2; shift 2; local args=(); for cmd in "$@"; do args+=(-c "$cmd"); done
       (cd "$d" && qemu-io -f vmdk "${args[@]}" "$f" >/dev/null); }
# desc_of FILE: the descriptor embedded in a sparse file (header fields at
# bytes 28 and 36: its sector and size), NUL padding dropped
desc_of() { local off size
            off=$(od -An -t u8 -j 28 -N 8 "$1" | tr -d ' '); size=$(od -An -t u8 -j 36 -N 8 "$1" | tr -d ' ')
            dd if="$1" bs=512 skip="$off" count="$size" status=none | tr -d '\0'; }
# pack OUT FIRST [MORE...]: a multi-file input of fuzz_disk_chain (fuzz.h: the
# FUZZ_FILE_SEP line "\n#FUZZFILE NAME\n" before each further file)
pack() { local out=$1 first=$2; shift 2
         { cat "$first"; for f in "$@"; do printf '\n#FUZZFILE %s\n' "$(basename "$f")"; cat "$f"; done; } > "$out"; }

# ---- disks: every subformat qemu-img makes, 64 KiB of data each ----
d=$work/disks
mk "$d/sparse" disk.vmdk monolithicSparse 1M;      wr "$d/sparse" disk.vmdk 'write -P 0xab 0 64k'
mk "$d/zeroed" disk.vmdk monolithicSparse 1M -o zeroed_grain=on
wr "$d/zeroed" disk.vmdk 'write -P 0xab 64k 64k' 'write -z 0 64k'
mk "$d/stream" disk.vmdk streamOptimized 1M;       wr "$d/stream" disk.vmdk 'write -P 0xab 0 64k'
mk "$d/flat" disk.vmdk monolithicFlat 64K;         wr "$d/flat" disk.vmdk 'write -P 0xab 0 16k'
mk "$d/2gbflat" disk.vmdk twoGbMaxExtentFlat 64K;  wr "$d/2gbflat" disk.vmdk 'write -P 0xab 0 16k'
mk "$d/2gbsparse" disk.vmdk twoGbMaxExtentSparse 1M; wr "$d/2gbsparse" disk.vmdk 'write -P 0xab 0 64k'
# a snapshot chain: flat base <- sparse mid <- sparse top (disk.vmdk)
mk "$d/chain" base.vmdk monolithicFlat 64K;        wr "$d/chain" base.vmdk 'write -P 0xab 0 16k'
(cd "$d/chain" && qemu-img create -q -f vmdk -b base.vmdk -F vmdk mid.vmdk)
wr "$d/chain" mid.vmdk 'write -P 0xcd 4k 4k'
(cd "$d/chain" && qemu-img create -q -f vmdk -b mid.vmdk -F vmdk disk.vmdk)
wr "$d/chain" disk.vmdk 'write -P 0xef 8k 4k'
# a streamOptimized file the way qemu-img convert writes one
qemu-img create -q -f raw "$work/raw.img" 1M
qemu-io -f raw -c 'write -P 0xab 0 64k' "$work/raw.img" >/dev/null
qemu-img convert -O vmdk -o subformat=streamOptimized "$work/raw.img" "$work/converted.vmdk"
# and the way open-vmdk's vmdk-convert lays one out (GD and GTs first, no footer),
# by the test-side writer the build makes (tests/e2e/stream_meta_first.c)
"$build/tests/e2e/stream_meta_first" "$work/raw.img" "$work/meta-first.vmdk"

# ---- OVAs exported by ovatool (named fuzz.ova: members fuzz.ovf, fuzz.mf,
# fuzz-disk1.vmdk, ..., the names fuzz_ovf's fixed members use) ----
o=$work/ova1
"$ovatool" demo "$o" --size 8 >/dev/null
cp "$o/demo.vmdk" "$work/demo-descriptor.vmdk"
rm -f "$o"/demo*.vmdk
mk "$o" demo.vmdk monolithicSparse 1M;  wr "$o" demo.vmdk 'write -P 0xab 0 64k'
"$ovatool" export "$o/demo.vmx" -o "$o/fuzz.ova" -q
mkdir -p "$work/ova1-sha1" "$work/ova1-sha512"
"$ovatool" export "$o/demo.vmx" -o "$work/ova1-sha1/fuzz.ova" --sha sha1 -q
"$ovatool" export "$o/demo.vmx" -o "$work/ova1-sha512/fuzz.ova" --sha sha512 -q
# four disks on NVMe, SATA and IDE (a VMX fixture), one a snapshot child
o2=$work/ova2
mkdir -p "$o2"
cp "$root/tests/fixtures/vmx/ovf-sata-nvme-ide.vmx" "$o2/mix.vmx"
mk "$o2" "Storage Mix.vmdk" streamOptimized 1M;     wr "$o2" "Storage Mix.vmdk" 'write -P 0xab 0 64k'
mk "$o2" "Storage Mix-nvme3.vmdk" monolithicFlat 64K; wr "$o2" "Storage Mix-nvme3.vmdk" 'write -P 0xab 0 16k'
mk "$o2" "Storage Mix-base.vmdk" monolithicSparse 1M; wr "$o2" "Storage Mix-base.vmdk" 'write -P 0xab 0 64k'
(cd "$o2" && qemu-img create -q -f vmdk -b "Storage Mix-base.vmdk" -F vmdk "Storage Mix-sata2.vmdk")
wr "$o2" "Storage Mix-sata2.vmdk" 'write -P 0xcd 64k 4k'
mk "$o2" "Storage Mix-ide.vmdk" twoGbMaxExtentFlat 64K; wr "$o2" "Storage Mix-ide.vmdk" 'write -P 0xab 0 16k'
"$ovatool" export "$o2/mix.vmx" -o "$o2/fuzz.ova" -q
for x in ova1 ova1-sha1 ova1-sha512 ova2; do
  mkdir -p "$work/$x/x"
  tar -xf "$work/$x/fuzz.ova" -C "$work/$x/x"
done

# ---- resume journals (fuzz_journal): exports with --resume killed by the
# test fault hooks (a build with the tests), at a point inside a disk, at a
# disk boundary and before the OVF is written; a seed is a journal without
# its 32-byte checksum, which the target appends ----
o3=$work/journal
"$ovatool" demo "$o3/one" --size 96 >/dev/null
journal_seed() {  # journal_seed NAME VMX POINT
  local out=$o3/$1/fuzz.ova
  mkdir -p "$o3/$1"
  OVATOOL_TEST_JOURNAL_SECS=0 OVATOOL_TEST_FAIL_RANK=0:$3 "$ovatool" export "$2" -o "$out" --resume -q 2>/dev/null || true
  [ -f "$out.journal" ] || { echo "make_corpus: no journal from $3 (a build without the test hooks?)" >&2; exit 2; }
  head -c -32 "$out.journal" > "$c/journal/$1"
}
journal_seed inside-disk "$o3/one/demo.vmx" resume.kill.first
journal_seed disk-boundary "$o2/mix.vmx" resume.kill.boundary
journal_seed all-disks "$o2/mix.vmx" resume.kill.finish

# ---- tars GNU tar writes: ustar, GNU long names, PAX ----
t=$work/tars
mkdir -p "$t/in"
echo "descriptor" > "$t/in/a.ovf"
echo "manifest" > "$t/in/a.mf"
echo "long" > "$t/in/$(printf 'n%.0s' $(seq 1 120)).vmdk"
(cd "$t/in" && tar --format=ustar -cf "$t/ustar.tar" a.ovf a.mf)
(cd "$t/in" && tar --format=gnu -cf "$t/gnu-longname.tar" ./*)
(cd "$t/in" && tar --format=posix -cf "$t/pax.tar" ./*)

# ---- the corpora ----
cp "$root"/tests/fixtures/vmx/*.vmx "$o/demo.vmx" "$c/vmx/"

cp "$d/flat/disk.vmdk" "$c/descriptor/monolithicFlat.txt"
cp "$d/2gbflat/disk.vmdk" "$c/descriptor/twoGbMaxExtentFlat.txt"
cp "$d/2gbsparse/disk.vmdk" "$c/descriptor/twoGbMaxExtentSparse.txt"
cp "$work/demo-descriptor.vmdk" "$c/descriptor/ovatool-demo.txt"
desc_of "$d/sparse/disk.vmdk" > "$c/descriptor/monolithicSparse.txt"
desc_of "$d/zeroed/disk.vmdk" > "$c/descriptor/zeroed-grain.txt"
desc_of "$d/stream/disk.vmdk" > "$c/descriptor/streamOptimized.txt"
desc_of "$d/chain/disk.vmdk" > "$c/descriptor/snapshot-child.txt"
desc_of "$work/ova1/x/fuzz-disk1.vmdk" > "$c/descriptor/ovatool-stream.txt"

cp "$d/sparse/disk.vmdk" "$c/disk_sparse/monolithicSparse.vmdk"
cp "$d/zeroed/disk.vmdk" "$c/disk_sparse/zeroed-grain.vmdk"
cp "$d/stream/disk.vmdk" "$c/disk_sparse/streamOptimized.vmdk"
cp "$work/ova1/x/fuzz-disk1.vmdk" "$c/disk_sparse/ovatool-stream.vmdk"
cp "$d/flat/disk.vmdk" "$c/disk_sparse/flat-without-extent.vmdk"

pack "$c/disk_chain/monolithicFlat" "$d/flat/disk.vmdk" "$d/flat/disk-flat.vmdk"
pack "$c/disk_chain/twoGbMaxExtentFlat" "$d/2gbflat/disk.vmdk" "$d/2gbflat"/disk-f*.vmdk
pack "$c/disk_chain/twoGbMaxExtentSparse" "$d/2gbsparse/disk.vmdk" "$d/2gbsparse"/disk-s*.vmdk
pack "$c/disk_chain/chain-depth2" "$d/chain/disk.vmdk" "$d/chain/mid.vmdk" "$d/chain/base.vmdk" \
     "$d/chain/base-flat.vmdk"

cp "$work/ova1/x/fuzz-disk1.vmdk" "$c/vmdk_walk/ovatool-stream.vmdk"
cp "$work/converted.vmdk" "$c/vmdk_walk/qemu-img-convert.vmdk"
cp "$work/meta-first.vmdk" "$c/vmdk_walk/open-vmdk-layout.vmdk"

cp "$work/ova1/fuzz.ova" "$c/tar_walk/ovatool.ova"
cp "$t/ustar.tar" "$t/gnu-longname.tar" "$t/pax.tar" "$c/tar_walk/"

cp "$work/ova1/x/fuzz.ovf" "$c/ovf/one-disk.ovf"
cp "$work/ova2/x/fuzz.ovf" "$c/ovf/four-disks.ovf"
cp "$c/ovf/one-disk.ovf" "$c/ovf/four-disks.ovf" "$c/import_desc/"

cp "$work/ova1/x/fuzz.mf" "$c/manifest/sha256.mf"
cp "$work/ova1-sha1/x/fuzz.mf" "$c/manifest/sha1.mf"
cp "$work/ova1-sha512/x/fuzz.mf" "$c/manifest/sha512.mf"
cp "$work/ova2/x/fuzz.mf" "$c/manifest/four-disks.mf"
(cd "$work/ova1/x" && sha256sum --tag fuzz.ovf) > "$c/manifest/bsd-tag.txt"
(cd "$work/ova1/x" && sha1sum fuzz.ovf fuzz.mf) > "$c/manifest/coreutils.txt"

cp "$work/ova1/fuzz.ova" "$c/validate/one-disk.ova"
cp "$work/ova2/fuzz.ova" "$c/validate/four-disks.ova"

du -sh "$c"/* | sed 's|'"$c"'/||'
