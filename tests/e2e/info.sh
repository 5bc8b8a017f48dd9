#!/usr/bin/env bash
# info.sh - `ovatool info` shows the VM and its disks (controller, bus:unit,
# type, capacity, allocated bytes, snapshot depth) as text and as JSON.
source "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ovatool-e2e.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
truncate -s 64M a.raw
head -c 3145728 /dev/urandom | dd of=a.raw bs=1M seek=10 conv=notrunc status=none
qemu-img convert -q -f raw -O vmdk -o subformat=monolithicFlat a.raw a.vmdk
qemu-img create -q -f vmdk -o subformat=twoGbMaxExtentFlat b.vmdk 3G
cat > vm.vmx <<'VMX'
.encoding = "UTF-8"
displayName = "Info |22test|22 VM"
guestOS = "windows9-64"
numvcpus = "4"
cpuid.coresPerSocket = "2"
memsize = "4096"
virtualHW.version = "17"
firmware = "efi"
uefi.secureBoot.enabled = "TRUE"
scsi0.present = "TRUE"
scsi0.virtualDev = "pvscsi"
scsi0:1.present = "TRUE"
scsi0:1.fileName = "a.vmdk"
sata0.present = "TRUE"
sata0:2.present = "TRUE"
sata0:2.fileName = "b.vmdk"
sata0:3.present = "TRUE"
sata0:3.deviceType = "cdrom-image"
sata0:3.fileName = "install.iso"
ethernet0.present = "TRUE"
ethernet0.virtualDev = "e1000e"
ethernet0.connectionType = "bridged"
VMX
"$OVATOOL" info vm.vmx | tee text
grep -q 'Info "test" VM' text || fail "name missing"
grep -q 'scsi0:1 (pvscsi 0, unit 1), monolithicFlat, 64.0 MiB, 3.0 MiB allocated' text || fail "scsi disk line"
grep -q 'sata0:2 (sata 0, unit 2), twoGbMaxExtentFlat, 3.00 GiB, [0-9]* KiB allocated' text || fail "sata disk line"
grep -q 'CD-ROM sata0:3' text || fail "CD-ROM line"
"$OVATOOL" info vm.vmx --json > json
python3 - json <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["name"] == 'Info "test" VM', d["name"]
assert d["cpus"] == 4 and d["cores_per_socket"] == 2 and d["memory_mb"] == 4096
assert d["firmware"] == "efi" and d["secure_boot"] is True and d["os_type"] == "windows9_64Guest"
a, b = d["disks"]
assert (a["device"], a["controller"], a["unit"], a["type"]) == ("scsi0:1", "pvscsi", 1, "monolithicFlat")
assert a["capacity"] == 64 << 20 and 3 << 20 <= a["allocated"] <= 4 << 20, a
assert (b["device"], b["type"], b["capacity"]) == ("sata0:2", "twoGbMaxExtentFlat", 3 << 30) and b["allocated"] < 1 << 20, b
assert a["snapshot_depth"] == 0 and d["running"] is False
assert d["cdroms"][0]["file"] == "install.iso" and d["nics"][0]["model"] == "e1000e"
PY
mkdir vm.vmx.lck
"$OVATOOL" info vm.vmx --json | grep -q '"running":true' || fail "lock folder not reported"
pass "info"
