# lib.sh - helpers shared by the end-to-end test scripts (sourced, not run).
# Tests export real disks made by qemu-img and judge the result with
# independent tools: tar, sha256sum, xmllint, qemu-img, vmdkinfo.

set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }
# A check that cannot run here is a SKIP, never a PASS: exit 77 is ctest's
# SKIP_RETURN_CODE (tests/e2e/CMakeLists.txt), and CI fails on any skip that
# tests/skips-allowed.txt does not list. skip: the whole test cannot run.
# skip_part: one part cannot; the rest runs, and the script ends with
# `pass NAME`, which then reports SKIP instead of PASS.
SKIPPED_PARTS=""
skip() { echo "SKIP: $*"; exit 77; }
skip_part() { echo "SKIP: $*"; SKIPPED_PARTS="$SKIPPED_PARTS; $*"; }
pass() {
  if [ -n "$SKIPPED_PARTS" ]; then echo "SKIP: $1 ran, without${SKIPPED_PARTS#;}"; exit 77; fi
  echo "PASS: $1"
}
# N bytes of repeated text (yes dies of SIGPIPE, which pipefail would report)
text() { local n=$1; shift; (yes "$*" || true) | head -c "$n"; }
note() { echo "--- $*"; }

# Run ovatool under mpirun with N ranks (N=1: as a plain process).
run_ranks() {
  local n=$1; shift
  if [ "$n" = 1 ]; then
    "$OVATOOL" "$@"
  else
    "$MPIEXEC" -n "$n" --oversubscribe "$OVATOOL" "$@"
  fi
}

# A VMX with one disk on scsi0:0 (lsilogic) and one NIC.
write_vmx() {  # write_vmx VMX_PATH DISK_FILENAME [DISPLAY_NAME]
  cat > "$1" <<VMX
.encoding = "UTF-8"
config.version = "8"
virtualHW.version = "19"
displayName = "${3:-e2e test vm}"
guestOS = "ubuntu-64"
numvcpus = "2"
memsize = "2048"
scsi0.present = "TRUE"
scsi0.virtualDev = "lsilogic"
scsi0:0.present = "TRUE"
scsi0:0.fileName = "$2"
ethernet0.present = "TRUE"
ethernet0.virtualDev = "e1000"
ethernet0.connectionType = "nat"
VMX
}

# Reading the OVF by meaning, not spelling: XPath through xmllint, matching
# elements and attributes by namespace URI and local name, so any prefix,
# attribute order or layout the writer picks reads the same.
OVF_NS="http://schemas.dmtf.org/ovf/envelope/1"
# xp_lit STRING: STRING as an XPath literal (XPath 1.0 has no escapes, so
# quote with whichever quote it does not contain)
xp_lit() {
  case $1 in
    *\'*) [[ "$1" != *'"'* ]] || fail "cannot quote $1 for XPath"; printf '"%s"' "$1" ;;
    *) printf "'%s'" "$1" ;;
  esac
}
# ovf_el NAME / ovf_at NAME: an OVF-namespace element / attribute step
ovf_el() { printf "*[local-name()='%s' and namespace-uri()='%s']" "$1" "$OVF_NS"; }
ovf_at() { printf "@*[local-name()='%s' and namespace-uri()='%s']" "$1" "$OVF_NS"; }
# ovf_xpath OVF EXPR: the string value of EXPR ("" when it selects nothing)
ovf_xpath() { xmllint --nonet --xpath "string($2)" "$1" 2>/dev/null || true; }
# ovf_file_size OVF HREF ID: the size of the References/File with that href
# and id (empty if there is none, or more than one)
ovf_file_size() {
  local f; f="/$(ovf_el Envelope)/$(ovf_el References)/$(ovf_el File)"
  f="${f}[$(ovf_at href)=$(xp_lit "$2")][$(ovf_at id)=$(xp_lit "$3")]"
  [ "$(ovf_xpath "$1" "count($f)")" = 1 ] || return 0
  ovf_xpath "$1" "$f/$(ovf_at size)"
}

# Check an OVA thoroughly against the raw image(s) it was made from.
# check_ova OVA RAW1 [RAW2 ...]
check_ova() {
  local ova=$1; shift
  local x; x=$(mktemp -d "$WORK/extract.XXXXXX")
  tar -C "$x" -xf "$ova" || fail "tar cannot extract $ova"
  mapfile -t members < <(tar -tf "$ova")
  [[ "${members[0]}" == *.ovf ]] || fail "first member is ${members[0]}, not the .ovf"
  [[ "${members[1]}" == *.mf ]] || fail "second member is ${members[1]}, not the .mf"
  [ "${members[0]%.ovf}" = "${members[1]%.mf}" ] || fail ".ovf and .mf base names differ"
  [ "${#members[@]}" = $((2 + $#)) ] || fail "expected $((2 + $#)) members, got ${#members[@]}"

  # every manifest line matches sha256sum of the member, and every member is listed
  local mf="$x/${members[1]}" lines=0
  while IFS= read -r line; do
    [[ "$line" =~ ^SHA256\(([^\)]+)\)=\ ([0-9a-f]{64})$ ]] || fail "bad manifest line: $line"
    local got; got=$(sha256sum "$x/${BASH_REMATCH[1]}" | cut -d' ' -f1)
    [ "$got" = "${BASH_REMATCH[2]}" ] || fail "digest mismatch for ${BASH_REMATCH[1]}"
    lines=$((lines + 1))
  done < "$mf"
  [ "$lines" = $((1 + $#)) ] || fail "manifest has $lines lines, expected $((1 + $#))"

  # the OVF against the DMTF schema (it ships in src/schema/), with xmllint
  [ -f "$SCHEMA/dsp8023_1.1.1.xsd" ] || fail "no OVF schema in '$SCHEMA'"
  XML_CATALOG_FILES="$SCHEMA/catalog.xml" xmllint --noout --nonet --schema "$SCHEMA/dsp8023_1.1.1.xsd" \
    "$x/${members[0]}" 2>&1 | grep -v 'Skipping import' || true
  XML_CATALOG_FILES="$SCHEMA/catalog.xml" xmllint --noout --nonet --schema "$SCHEMA/dsp8023_1.1.1.xsd" \
    "$x/${members[0]}" >/dev/null 2>&1 || fail "OVF does not validate against the DMTF schema"

  # each disk: qemu-img check, compare with the source, vmdkinfo
  local i=2
  for raw in "$@"; do
    local vmdk="$x/${members[$i]}"
    qemu-img check -f vmdk "$vmdk" >/dev/null || fail "qemu-img check failed on ${members[$i]}"
    local out; out=$(qemu-img compare -f raw -F vmdk "$raw" "$vmdk") || fail "qemu-img compare: $out"
    [[ "$out" == *"Images are identical"* ]] || fail "qemu-img compare: $out"
    if command -v vmdkinfo >/dev/null; then
      vmdkinfo "$vmdk" >/dev/null || fail "vmdkinfo rejects ${members[$i]}"
    else
      skip_part "vmdkinfo (not installed)"
    fi
    # the OVF's References name the member as file<N> with its exact size
    local size; size=$(stat -c %s "$vmdk")
    [ "$(ovf_file_size "$x/${members[0]}" "${members[$i]}" "file$((i - 1))")" = "$size" ] \
      || fail "OVF References size for ${members[$i]} is not $size"
    i=$((i + 1))
  done
  rm -rf "$x"
}
