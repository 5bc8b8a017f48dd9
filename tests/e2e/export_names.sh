#!/usr/bin/env bash
# export_names.sh - strings from the VMX cannot break the XML or the archive:
# a display name with quotes, &, <, >, non-ASCII letters and |22 escapes
# round-trips into a valid OVF; exporting into a folder names the OVA after
# the VM with safe member names (no '/', no leading '.', no control
# characters, a fallback for an empty name).
source "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ovatool-e2e.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
truncate -s 2M src.raw
head -c 200000 /dev/urandom | dd of=src.raw conv=notrunc status=none
qemu-img convert -q -f raw -O vmdk -o subformat=monolithicFlat src.raw disk.vmdk

name_vmx='Büro |22Lab|22 & <Test> café'
name_xml='Büro "Lab" & <Test> café'
write_vmx vm.vmx disk.vmdk "$name_vmx"
echo 'annotation = "line one|0Aline <two> & |22three|22"' >> vm.vmx
mkdir out
"$OVATOOL" export vm.vmx -o out/ -q
ova=$(ls out/*.ova)
[ "$ova" = "out/B__ro__Lab_____Test__caf__.ova" ] || fail "unexpected OVA name: $ova"
tar -tf "$ova" > list
grep -q / list && fail "a member name contains a slash"
"$OVATOOL" validate "$ova" --schema "$SCHEMA" || fail "validate rejects the OVA"
check_ova "$ova" src.raw
mkdir x && tar -C x -xf "$ova"
python3 - x/*.ovf "$name_xml" <<'PY'
import sys, xml.etree.ElementTree as ET
ns = {"o": "http://schemas.dmtf.org/ovf/envelope/1",
      "vssd": "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"}
root = ET.parse(sys.argv[1]).getroot()
want = sys.argv[2]
name = root.find("o:VirtualSystem/o:Name", ns).text
assert name == want, (name, want)
ident = root.find(".//vssd:VirtualSystemIdentifier", ns).text
assert ident == want, ident
ann = root.find(".//o:AnnotationSection/o:Annotation", ns).text
assert ann == 'line one\nline <two> & "three"', repr(ann)
PY

note "hostile names: path separators, dots, control characters, empty"
for n in '../../etc/passwd' '..' '|0A|09' ''; do
  rm -rf out && mkdir out
  write_vmx vm2.vmx disk.vmdk "$n"
  "$OVATOOL" export vm2.vmx -o out -q
  [ "$(ls out | wc -l)" = 1 ] || fail "name '$n': expected one file in the folder"
  f=$(ls out)
  case $f in .*|*/*) fail "name '$n' gave unsafe file $f" ;; esac
  tar -tf "out/$f" | grep -Eq '^\.|/|[[:cntrl:]]' && fail "name '$n' gave unsafe member names"
  "$OVATOOL" validate "out/$f" --schema "$SCHEMA" -q || fail "name '$n': invalid OVA"
done
pass "names"
