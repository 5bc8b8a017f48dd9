#!/usr/bin/env bash
# symbols.sh ARCHIVE - every global symbol the library defines carries the
# project prefix (ova_ / OVA_). libovacore.a is linked into other programs
# (the tests, the fuzz targets, a site's own tools); an unprefixed global
# can collide with theirs or with a system library's and be silently
# interposed. Offenders are listed with the object file that defines them.
set -euo pipefail
skip() { echo "SKIP: $*"; exit 77; }
archive=${1:?usage: symbols.sh ARCHIVE}
command -v nm >/dev/null || skip "nm not installed"
[ -f "$archive" ] || { echo "FAIL: no archive at $archive" >&2; exit 1; }

# POSIX format with -A: "libovacore.a[buf.c.o]: NAME TYPE VALUE SIZE"
syms=$(nm -A -g --defined-only --format=posix "$archive")
total=0 bad=""
while read -r where name type _; do
  [ -n "$name" ] || continue
  total=$((total + 1))
  case $name in
    ova_* | OVA_*) ;;
    # AddressSanitizer's ODR indicator for a global: its own symbol, the
    # global itself, is checked by name like any other
    __odr_asan.*) ;;
    *) bad="$bad
  $name ($type) in ${where%:}" ;;
  esac
done <<< "$syms"
# an archive with nothing defined means nm read the wrong file, not a pass
[ "$total" -gt 0 ] || { echo "FAIL: nm found no defined global symbols in $archive" >&2; exit 1; }
if [ -n "$bad" ]; then
  echo "FAIL: global symbols without the ova_/OVA_ prefix in $(basename "$archive"):$bad" >&2
  exit 1
fi
echo "PASS: all $total defined global symbols of $(basename "$archive") start with ova_ or OVA_"
