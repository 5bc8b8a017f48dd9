#!/usr/bin/env bash
# no_mpi.sh CC SRC_DIR BUILD_DIR [CFLAGS...] - the library builds without MPI.
# Only the MPI driver files (named mpi_*.c, README "Code map") may call MPI,
# so the rest of the library must compile where no mpi.h can be found, and
# only the public headers that declare the MPI entry points may include it.
# This keeps the layers testable and usable without mpirun and keeps
# <mpi.h> out of programs that only want the formats.
#   1. every .c under SRC_DIR/src but src/cli/ and mpi_*.c, -fsyntax-only,
#      with -Iinclude -I<build>/include -Isrc and the pkg-config cflags of
#      libxml-2.0, hwloc and libdeflate (never MPI's include directories);
#   2. every public header include/ovatool/*.h (source and build tree),
#      compiled alone the same way and searched for an #include of mpi.h,
#      but export_mpi.h, validate_mpi.h and import_mpi.h, the MPI entry points.
# Files are globbed now, so a new file is covered without editing this.
# Extra CFLAGS (the build's -D options) are passed through.
set -euo pipefail
skip() { echo "SKIP: $*"; exit 77; }
cc=${1:?usage: no_mpi.sh CC SRC_DIR BUILD_DIR [CFLAGS...]}
src=${2:?}
build=${3:?}
shift 3
command -v pkg-config >/dev/null || skip "pkg-config not installed"
# shellcheck disable=SC2207
pc=($(pkg-config --cflags libxml-2.0 hwloc libdeflate)) || skip "pkg-config knows no libxml-2.0/hwloc/libdeflate"
flags=(-std=c11 -D_GNU_SOURCE -fsyntax-only -I"$src/include" -I"$build/include" -I"$src/src" "${pc[@]}" "$@")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/no_mpi.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The check means something only if mpi.h really is out of reach with
# these flags (it is not on Debian's default path; MPI's wrappers add it).
echo '#include <mpi.h>' > "$tmp/probe.c"
if "$cc" "${flags[@]}" "$tmp/probe.c" 2>/dev/null; then
  skip "mpi.h is on the compiler's default include path here: cannot compile without it"
fi

bad="" n=0
# a file: compile it; on failure keep the first errors for the report
try() {  # try LABEL FILE
  n=$((n + 1))
  if ! "$cc" "${flags[@]}" "$2" > "$tmp/err" 2>&1; then
    local why="does not compile without MPI"
    grep -q "mpi\.h" "$tmp/err" && why="needs mpi.h"
    bad="$bad
  $1: $why
$(grep -m3 -E 'error|fatal' "$tmp/err" | sed 's/^/      /')"
  fi
}

while IFS= read -r f; do
  try "${f#"$src"/}" "$f"
done < <(find "$src/src" -name '*.c' ! -path "$src/src/cli/*" ! -name 'mpi_*.c' | sort)
nsrc=$n

# the public headers, the generated ones (version.h) included
for h in "$src"/include/ovatool/*.h "$build"/include/ovatool/*.h; do
  [ -f "$h" ] || continue
  case ${h##*/} in export_mpi.h | validate_mpi.h | import_mpi.h) continue ;; esac
  printf '#include "ovatool/%s"\n' "${h##*/}" > "$tmp/h_${h##*/}.c"
  try "include/ovatool/${h##*/}" "$tmp/h_${h##*/}.c"
  # also an include the compiler skipped (#if __has_include(<mpi.h>), ...)
  if grep -qE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]mpi\.h[>"]' "$h"; then
    grep -qF "include/ovatool/${h##*/}:" <<<"$bad" || bad="$bad
  include/ovatool/${h##*/}: includes mpi.h"
  fi
done

[ "$nsrc" -gt 0 ] || { echo "FAIL: no library sources found under $src/src" >&2; exit 1; }
if [ -n "$bad" ]; then
  echo "FAIL: compiled without mpi.h on the include path (${flags[*]}):$bad" >&2
  exit 1
fi
echo "PASS: $nsrc library sources and $((n - nsrc)) public headers compile without mpi.h"
