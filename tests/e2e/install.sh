#!/usr/bin/env bash
# install.sh BUILD_DIR SOURCE_DIR - what a site gets from `cmake --install`:
# the files are there, the installation still works after it is moved to
# another prefix, and with the source and build trees out of reach (hidden
# under empty file systems in a private mount namespace) the installed tool,
# loaded with `module load ovatool`, makes a demo VM, exports it as one
# process and under mpirun, and validates the OVA with its own installed
# schema. Needs root (mount namespace); reported as SKIP otherwise.
source "$(dirname "$0")/lib.sh"
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
[ "$(id -u)" = 0 ] && command -v unshare >/dev/null || skip "needs root and unshare to hide the trees"
modinit=/usr/share/modules/init/bash
[ -r "$modinit" ] || skip "environment-modules is not installed ($modinit)"

# outside both trees: they are hidden below
WORK=$(mktemp -d /tmp/ovatool-install.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
case "$WORK/" in "$src/"* | "$build/"*) fail "$WORK is inside the trees it must not need" ;; esac

note "cmake --install to a temporary prefix"
cmake --install "$build" --prefix "$WORK/first" > "$WORK/install.log" || { cat "$WORK/install.log"; fail "cmake --install"; }
p=$WORK/first
version=$("$build/ovatool" --version | awk '{print $2}')
for f in bin/ovatool share/man/man1/ovatool.1 share/ovatool/ovf-schema/dsp8023_1.1.1.xsd \
         share/ovatool/ovf-schema/catalog.xml share/ovatool/ovf-schema/README.md \
         share/ovatool/slurm/export-vm.sbatch share/ovatool/slurm/export-fleet.sbatch \
         share/ovatool/slurm/export-fleet-array.sbatch \
         "share/modulefiles/ovatool/$version"; do
  [ -s "$p/$f" ] || fail "not installed: $f"
done
for s in export-vm.sbatch export-fleet.sbatch export-fleet-array.sbatch; do
  [ -x "$p/share/ovatool/slurm/$s" ] || fail "$s is not installed executable"
  cmp -s "$src/slurm/$s" "$p/share/ovatool/slurm/$s" || fail "installed $s differs from slurm/$s"
done
for x in "$src"/src/schema/*.xsd; do
  cmp -s "$x" "$p/share/ovatool/ovf-schema/$(basename "$x")" || fail "schema file $(basename "$x") not installed as is"
done

note "the installation works when moved as a whole"
mv "$WORK/first" "$WORK/moved"
p=$WORK/moved
mkdir -p "$WORK/tmp" "$WORK/run"

# The checks run in a mount namespace where both trees are empty tmpfs
# mounts; the script is written out first, since bash reads its script as it
# goes and this one lives in the hidden source tree.
cat > "$WORK/inner.sh" <<EOF
set -euo pipefail
# the build tree first: it is often inside the source tree
mount -t tmpfs hidden "$build"
mount -t tmpfs hidden "$src"
[ ! -e "$src/src/schema" ] && [ ! -e "$build/ovatool" ] || { echo "FAIL: the trees are still visible"; exit 1; }
export TMPDIR="$WORK/tmp"
unset OVATOOL OVATOOL_SCHEMA_DIR
source "$modinit"
module use "$p/share/modulefiles"
module load ovatool
[ "\$(command -v ovatool)" = "$p/bin/ovatool" ] || { echo "FAIL: module load gives \$(command -v ovatool)"; exit 1; }
[ "\$OVATOOL_SLURM_DIR" = "$p/share/ovatool/slurm" ] || { echo "FAIL: OVATOOL_SLURM_DIR=\$OVATOOL_SLURM_DIR"; exit 1; }
[ "\$(man -w ovatool)" = "$p/share/man/man1/ovatool.1" ] || { echo "FAIL: man -w ovatool gives \$(man -w ovatool)"; exit 1; }
cd "$WORK/run"
ovatool --version
ovatool demo vm --size 8 > /dev/null
mkdir one two
ovatool export vm/demo.vmx -o one/vm.ova --progress 0
"$MPIEXEC" -n 2 --oversubscribe ovatool export vm/demo.vmx -o two/vm.ova --progress 0
cmp one/vm.ova two/vm.ova || { echo "FAIL: 1 and 2 ranks differ"; exit 1; }
ovatool validate --deep one/vm.ova | tee validate.out
grep -q 'OVF schema checked' validate.out || { echo "FAIL: the installed schema was not used"; exit 1; }
EOF
note "the installed tool, with the source and build trees hidden"
unshare -m --propagation private bash "$WORK/inner.sh" || fail "the installed ovatool does not work on its own"

note "the OVA it wrote is the demo disk, read back by qemu-img"
mkdir -p "$WORK/x" && tar -C "$WORK/x" -xf "$WORK/run/one/vm.ova"
out=$(qemu-img compare -f vmdk -F vmdk "$WORK/run/vm/demo.vmdk" "$WORK/x/vm-disk1.vmdk") || fail "qemu-img compare: $out"
pass "install"
