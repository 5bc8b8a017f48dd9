#!/usr/bin/env bash
# demo.sh - the main job on the built-in demo VM: set up, build, create the
# demo VM, export it with `mpirun -n 2`, and check the OVA with independent
# tools (tar, sha256sum, xmllint, qemu-img, vmdkinfo).
set -euo pipefail
cd "$(dirname "$0")/.."
bash jobs/setup.sh build
source jobs/env.sh

out=${DEMO_DIR:-demo-out}
rm -rf "$out" && mkdir -p "$out"
./build/ovatool demo "$out/vm" >/dev/null
mpirun -n 2 ./build/ovatool export "$out/vm/demo.vmx" -o "$out/demo.ova"

echo "== checking $out/demo.ova"
tar -tvf "$out/demo.ova"
mkdir -p "$out/x" && tar -C "$out/x" -xf "$out/demo.ova"
(cd "$out/x" && sed -E 's/^SHA256\(([^)]+)\)= ([0-9a-f]+)$/\2  \1/' demo.mf | sha256sum -c -)
schema=../shared/ovf-schema
if [ -d "$schema" ]; then
  XML_CATALOG_FILES="$schema/catalog.xml" xmllint --noout --nonet --schema "$schema/dsp8023_1.1.1.xsd" \
    "$out/x/demo.ovf" 2>&1 | grep -v 'Skipping import'
else
  echo "(OVF schema check skipped: $schema not found)"
fi
qemu-img check "$out/x/demo-disk1.vmdk"
qemu-img compare -f vmdk -F vmdk "$out/vm/demo.vmdk" "$out/x/demo-disk1.vmdk"
vmdkinfo "$out/x/demo-disk1.vmdk" | sed -n '1,12p'
echo "== demo OK: $out/demo.ova"
