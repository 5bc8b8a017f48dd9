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

# Text from the VMX reaches the terminal as text: an ESC (|1B), a line break
# (|0A) or a C1 CSI (U+009B) in a value is printed as \xNN, in the info
# output and in error messages alike (the JSON escapes it its own way).
sed -e 's/^displayName = .*/displayName = "a|1B[31mred|0Afake line|C2|9B"/' \
    -e 's/^ethernet0.connectionType = .*/ethernet0.networkName = "n|1B]0;title|07"/' vm.vmx > esc.vmx
"$OVATOOL" info esc.vmx > esc.out 2> esc.err || { cat esc.err; fail "info of esc.vmx failed"; }
cat esc.out
! LC_ALL=C grep -q $'[\x01-\x09\x0b-\x1f\x7f]' esc.out esc.err || fail "info printed a control character from the VMX"
! LC_ALL=C grep -q $'\xc2\x9b' esc.out || fail "info printed a C1 control (U+009B) from the VMX"
grep -qF 'VM:        a\x1b[31mred\x0afake line\xc2\x9b' esc.out || fail "the display name is not shown escaped"
grep -qF 'on "n\x1b]0;title\x07"' esc.out || fail "the network name is not shown escaped"
"$OVATOOL" info esc.vmx --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["name"] == "a\x1b[31mred\nfake line\x9b", d["name"]'
# a missing disk whose name holds an escape: the error names it, escaped
sed -e 's/^scsi0:1.fileName = .*/scsi0:1.fileName = "gone|1B[2J.vmdk"/' vm.vmx > esc2.vmx
rc=0; "$OVATOOL" info esc2.vmx > esc2.out 2> esc2.err || rc=$?
[ "$rc" = 1 ] || { cat esc2.err; fail "info of a VMX with a missing disk: exit $rc, not 1"; }
rc=0; "$OVATOOL" export esc2.vmx -o esc2.ova 2>> esc2.err || rc=$?
[ "$rc" = 1 ] || { cat esc2.err; fail "export of a VMX with a missing disk: exit $rc, not 1"; }
cat esc2.err
! LC_ALL=C grep -q $'\x1b' esc2.out esc2.err || fail "an error message carried an ESC from the VMX"
[ "$(grep -cF 'gone\x1b[2J.vmdk' esc2.err)" = 2 ] || fail "the errors do not name the missing disk escaped"
pass "info"
