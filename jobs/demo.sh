#!/usr/bin/env bash
# demo.sh - the main job on the built-in demo VM: set up, build, create the
# demo VM, export it with `mpirun -n 2`, and check the OVA with independent
# tools (tar, sha256sum, xmllint with the DMTF schema, qemu-img, vmdkinfo)
# and with `ovatool validate --deep`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash jobs/setup.sh build
source jobs/env.sh

out=${DEMO_DIR:-demo-out}
rm -rf "$out" && mkdir -p "$out"
./build/ovatool demo "$out/vm" >/dev/null
# --oversubscribe: two ranks even on a one-core machine
mpirun -n 2 --oversubscribe ./build/ovatool export "$out/vm/demo.vmx" -o "$out/demo.ova"

echo "== checking $out/demo.ova"
tar -tvf "$out/demo.ova"
mkdir -p "$out/x" && tar -C "$out/x" -xf "$out/demo.ova"
(cd "$out/x" && sed -E 's/^SHA256\(([^)]+)\)= ([0-9a-f]+)$/\2  \1/' demo.mf | sha256sum -c -)
schema=src/schema   # the DMTF OVF schema, shipped with ovatool
XML_CATALOG_FILES="$schema/catalog.xml" xmllint --noout --nonet --schema "$schema/dsp8023_1.1.1.xsd" \
  "$out/x/demo.ovf" 2>&1 | grep -v 'Skipping import'
qemu-img check "$out/x/demo-disk1.vmdk"
qemu-img compare -f vmdk -F vmdk "$out/vm/demo.vmdk" "$out/x/demo-disk1.vmdk"
vmdkinfo "$out/x/demo-disk1.vmdk" | sed -n '1,12p'
./build/ovatool validate --deep "$out/demo.ova"
echo "== demo OK: $out/demo.ova"
