#!/usr/bin/env bash
# info.sh - `ovatool info` shows the VM and its disks (controller, bus:unit,
# type, capacity, allocated bytes, snapshot depth) as text and as JSON, and
# what a migration needs checked: annotation, encryption and vTPM, each
# disk's fileName as written and mode, each CD-ROM's kind and connection,
# each NIC's MAC, the optional devices and the devices left out; the
# warnings about them reach stderr from info and export alike.
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
# what a migration needs checked (new keys; the ones above are unchanged)
python3 - json <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["annotation"] is None and d["encryption"] == "none" and d["vtpm"] is False, d
a, b = d["disks"]
assert (a["file_name"], a["foreign_path"], a["mode"]) == ("a.vmdk", False, "persistent"), a
c = d["cdroms"][0]
assert (c["kind"], c["start_connected"]) == ("iso", True), c
n = d["nics"][0]
assert (n["address_type"], n["mac"]) == ("generated", None), n
assert d["optional_devices"] == [] and d["left_out"] == [], d
PY
grep -q '^           ISO image, connected at start$' text || fail "CD-ROM kind line"
grep -q '^           fileName "a.vmdk", mode persistent$' text || fail "disk fileName/mode line"

# A Workstation 17 VM from the field: partially encrypted with a vTPM, a
# SCSI tape, a disk path of the Windows host it came from, an independent
# disk, a client and a host CD-ROM, a static MAC, USB, sound and floppy.
cat > field.vmx <<'VMX'
.encoding = "UTF-8"
displayName = "Field VM"
guestOS = "windows11-64"
virtualHW.version = "21"
firmware = "efi"
annotation = "Line one|0Aline two"
encryption.type = "partial"
encryption.keySafe = "vmware:key/list/(pair/(phrase/abc))"
encryption.data = "U2FsdGVkX1+vupppZksvRf5p"
vtpm.present = "TRUE"
scsi0.present = "TRUE"
scsi0.virtualDev = "lsisas1068"
scsi0:0.present = "TRUE"
scsi0:0.fileName = "E:\VMs\Field VM\a.vmdk"
scsi0:0.mode = "independent-persistent"
scsi0:1.present = "TRUE"
scsi0:1.deviceType = "scsi-passthru"
scsi0:1.fileName = "/dev/sg2"
ide1:0.present = "TRUE"
ide1:0.deviceType = "cdrom-raw"
ide1:0.fileName = "auto detect"
ide1:0.clientDevice = "TRUE"
ide1:1.present = "TRUE"
ide1:1.deviceType = "atapi-cdrom"
ide1:1.fileName = "/dev/sr0"
ide1:1.startConnected = "FALSE"
ethernet0.present = "TRUE"
ethernet0.virtualDev = "vmxnet3"
ethernet0.addressType = "static"
ethernet0.address = "00:50:56:3f:12:34"
usb.present = "TRUE"
ehci.present = "TRUE"
sound.present = "TRUE"
sound.virtualDev = "hdaudio"
floppy0.present = "TRUE"
VMX
"$OVATOOL" info field.vmx > field.txt 2> field.err || { cat field.err; fail "info of field.vmx failed"; }
cat field.txt field.err
grep -q '^Notes:     Line one$' field.txt && grep -q '^           line two$' field.txt || fail "annotation lines"
grep -q '^Encrypted: partially' field.txt || fail "encryption line"
grep -q '^vTPM:      present; not part of the OVA' field.txt || fail "vTPM line"
grep -qF 'fileName "E:\VMs\Field VM\a.vmdk" (a path on another host: the file beside the VMX is used), mode independent-persistent' field.txt \
  || fail "foreign fileName and mode line"
grep -qx '           a.vmdk' field.txt || fail "resolved path of the foreign disk (beside the VMX)"
grep -q '^CD-ROM ide1:0: exported as an empty drive, was auto detect$' field.txt || fail "client CD-ROM line"
[ "$(grep -A1 '^CD-ROM ide1:0' field.txt | tail -1)" = "           client device, connected at start" ] || fail "client CD-ROM kind"
[ "$(grep -A1 '^CD-ROM ide1:1' field.txt | tail -1)" = "           host device, not connected at start" ] || fail "host CD-ROM kind"
grep -q '^           MAC 00:50:56:3f:12:34 (static; the OVF carries no MAC)$' field.txt || fail "MAC line"
grep -q '^Optional:  USB 2 controller, sound card (hdaudio), floppy drive$' field.txt || fail "optional devices line"
grep -q '^Left out:  scsi0:1 (deviceType scsi-passthru, /dev/sg2): a passthrough device, not a disk$' field.txt \
  || fail "left-out line"
# the warnings, on stderr: one each
grep -q 'warning: .*field.vmx: scsi0:1: SCSI passthrough device (/dev/sg2) left out: not a disk' field.err \
  || fail "passthrough warning"
grep -q 'warning: .*field.vmx: the VM is partially encrypted' field.err || fail "encryption warning"
grep -qF 'scsi0:0: fileName "E:\VMs\Field VM\a.vmdk" is a path on another host; using ' field.err \
  || fail "foreign path warning"
"$OVATOOL" info field.vmx --json > field.json
python3 - field.json <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["annotation"] == "Line one\nline two", d["annotation"]
assert d["encryption"] == "partial" and d["vtpm"] is True
(a,) = d["disks"]
assert a["file_name"] == "E:\\VMs\\Field VM\\a.vmdk" and a["foreign_path"] is True, a
assert a["path"] == "a.vmdk" and a["mode"] == "independent-persistent", a
c0, c1 = d["cdroms"]
assert (c0["device"], c0["kind"], c0["start_connected"]) == ("ide1:0", "client", True), c0
assert (c1["device"], c1["kind"], c1["start_connected"]) == ("ide1:1", "host", False), c1
(n,) = d["nics"]
assert (n["address_type"], n["mac"]) == ("static", "00:50:56:3f:12:34"), n
assert [o["name"] for o in d["optional_devices"]] == ["usb", "sound", "floppy0"], d["optional_devices"]
assert all(o["exported"] for o in d["optional_devices"])
assert d["left_out"] == [{"device": "scsi0:1", "type": "scsi-passthru", "file": "/dev/sg2"}], d["left_out"]
PY
# export gives the same warnings and exports the disk beside the VMX
"$OVATOOL" export field.vmx -o field.ova --progress 0 2> export.err || { cat export.err; fail "export of field.vmx"; }
for w in 'SCSI passthrough device (/dev/sg2) left out' 'the VM is partially encrypted' 'is a path on another host'; do
  grep -qF "$w" export.err || { cat export.err; fail "export lacks the warning: $w"; }
done
mkdir -p fx && tar -C fx -xf field.ova
out=$(qemu-img compare -f raw -F vmdk a.raw fx/field-disk1.vmdk) || fail "qemu-img compare: $out"

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
