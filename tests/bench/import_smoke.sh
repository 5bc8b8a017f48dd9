#!/usr/bin/env bash
# import_smoke.sh OVATOOL - run import_bench.sh the way README tells a user
# to, once (REPS=1), on a 24 MiB VM in place of the 6 GiB benchmark image,
# so that a change to ovatool or to the script that breaks the script
# fails a test (ctest -L bench) instead of the next benchmark run. Checks
# the lines README quotes are printed with plausible numbers, and that the
# script cleans up after itself. Prints "SKIP: ..." and exits 77 when
# qemu-img is missing (tests/check_skips.sh: CI fails on a skip).
set -euo pipefail
[ $# = 1 ] || { echo "usage: import_smoke.sh OVATOOL" >&2; exit 2; }
ova=$1
[ -x "$ova" ] || { echo "FAIL: $ova not built" >&2; exit 1; }
command -v qemu-img >/dev/null || { echo "SKIP: qemu-img not installed (apt-get install qemu-utils)"; exit 77; }
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/import-smoke.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# the benchmark image's layout (make_image.sh): DIR/vm/bench.vmx and its
# disk; text, random bytes and holes, so the OVA has stored, compressed
# and absent grains
mkdir "$tmp/vm"
qemu-img create -q -f raw "$tmp/d.raw" 24M
(yes "Dec  2 06:00:00 host kernel: a line of log text" || true) | head -c 4M |
  dd of="$tmp/d.raw" bs=1M iflag=fullblock conv=notrunc status=none
head -c 3M /dev/urandom | dd of="$tmp/d.raw" bs=1M seek=12 conv=notrunc status=none
qemu-img convert -q -f raw -O vmdk -o subformat=monolithicSparse "$tmp/d.raw" "$tmp/vm/bench.vmdk"
cat > "$tmp/vm/bench.vmx" <<'EOF'
.encoding = "UTF-8"
virtualHW.version = "19"
displayName = "bench"
guestOS = "debian12-64"
memsize = "512"
scsi0.present = "TRUE"
scsi0.virtualDev = "pvscsi"
scsi0:0.present = "TRUE"
scsi0:0.fileName = "bench.vmdk"
EOF

# BUILD is the folder holding ovatool, as for a build tree
out=$(BUILD=$(dirname "$ova") REPS=1 OUT="$tmp/out" bash "$here/import_bench.sh" "$tmp") ||
  fail "import_bench.sh exited $?"
echo "$out"
size=$(stat -c %s "$tmp/import-bench.ova")
echo "$out" | grep -q "^OVA: $size bytes; ovatool import read [1-9][0-9]* bytes" || fail "no OVA line"
for label in "ovatool import:" "ovatool import --buffered-io:" "tar x + qemu-img convert (sparse):"; do
  echo "$out" | grep -F "$label" | grep -Eq "median [0-9]+\.[0-9]{3} s of 1 \([0-9.]+ \)$" ||
    fail "no median for '$label'"
done
echo "$out" | grep -Eq '^ratio: [0-9]+\.[0-9]{2}x$' || fail "no ratio line"
echo "$out" | grep -Eq '^O_DIRECT against --buffered-io: [0-9]+\.[0-9]{2}x$' || fail "no O_DIRECT line"
# what it leaves: the OVA it made (reused by the next run), nothing else
[ ! -e "$tmp/out" ] && [ ! -e "$tmp/out.json" ] || fail "import_bench.sh left its output behind"
left=$(cd "$tmp" && ls -A | grep -v -x -e vm -e d.raw -e import-bench.ova || true)
[ -z "$left" ] || fail "import_bench.sh left: $left"
echo "PASS"
