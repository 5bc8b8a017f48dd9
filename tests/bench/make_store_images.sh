#!/usr/bin/env bash
# make_store_images.sh DIR - the two disks bench.sh uses to measure storing
# grains that will not compress (issue 15), beside make_image.sh's image:
#   DIR/random/random-flat.vmdk  2 GiB of AES-128-CTR keystream with a fixed
#                                key (the same bytes on every machine): an
#                                encrypted guest (LUKS, BitLocker)
#   DIR/half/half-flat.vmdk      1 GiB, alternating 1 MiB of that keystream
#                                and 1 MiB of the benchmark image's data that
#                                compresses (the image's MiBs, in disk order,
#                                that zlib level 1 brings below 90%: OS files
#                                and logs, not its gzip archives)
# each with a monolithicFlat descriptor (NAME.vmdk) and NAME.vmx. The flat
# files are raw images, which store_rate reads directly. Needs DIR/disk.raw
# (make_image.sh), qemu-img, openssl and python3. STORE_MIB (default 2048)
# sets the random disk's size, the half disk is half of it (small for tests).
set -euo pipefail
dir=$1
mib=${STORE_MIB:-2048}
[[ $mib =~ ^[1-9][0-9]*$ ]] && [ $((mib % 2)) = 0 ] || { echo "STORE_MIB must be an even number, not '$mib'" >&2; exit 1; }
cd "$dir"
[ -f disk.raw ] || { echo "make_store_images.sh: no $dir/disk.raw; run make_image.sh first" >&2; exit 1; }
if [ -f random/random.vmx ] && [ -f half/half.vmx ]; then
  echo "store images exist: $dir/random, $dir/half"
  exit 0
fi
rm -rf random half
mkdir -p random half

# vm NAME SIZE: an empty monolithicFlat disk NAME/NAME.vmdk + NAME-flat.vmdk and its VMX
vm() {
  qemu-img create -q -f vmdk -o subformat=monolithicFlat "$1/$1.vmdk" "$2"
  sed -i "s/^CID=.*/CID=0badc0de/" "$1/$1.vmdk"   # qemu-img picks a random one
  sed -e "s/bench.vmdk/$1.vmdk/" -e "s/\"bench\"/\"$1\"/" vm/bench.vmx > "$1/$1.vmx"
}

vm random "${mib}M"
# openssl ends on SIGPIPE when head has enough (pipefail would report it)
(openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f -iv 00000000000000000000000000000000 -in /dev/zero 2>/dev/null || true) |
  head -c $((mib << 20)) | dd of=random/random-flat.vmdk bs=4M iflag=fullblock conv=notrunc status=none
[ "$(stat -c %s random/random-flat.vmdk)" = $((mib << 20)) ] || { echo "random disk is not $mib MiB" >&2; exit 1; }

vm half "$((mib / 2))M"
HALF_MIB=$((mib / 2)) python3 - <<'PY'
import os
import zlib
MIB = 1 << 20
with open("random/random-flat.vmdk", "rb") as rnd, open("disk.raw", "rb") as img, \
        open("half/half-flat.vmdk", "r+b") as out:
    for k in range(int(os.environ["HALF_MIB"]) // 2):
        out.write(rnd.read(MIB))
        while True:  # the image's next MiB that compresses
            chunk = img.read(MIB)
            if len(chunk) < MIB:
                raise SystemExit("disk.raw has too few MiB that compress")
            if chunk.count(0) != MIB and len(zlib.compress(chunk, 1)) < 0.9 * MIB:
                break
        out.write(chunk)
PY
echo "store images ready: $dir/random, $dir/half"
