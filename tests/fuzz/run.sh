#!/usr/bin/env bash
# run.sh BUILD_DIR SECONDS [TARGET...] - fuzz each target (default: all) for
# SECONDS with libFuzzer, in a build configured with -DOVATOOL_FUZZ=ON
# (tests/fuzz/README.md). Each target starts from a copy of its seeds and
# saved regressions in BUILD_DIR/fuzz-run/TARGET/corpus (the source tree is
# never written) and uses tests/fuzz/TARGET.dict. Any crash, sanitizer
# report, leak, timeout (-timeout=10 s per input) or out-of-memory
# (-rss_limit_mb=2048) fails the run: the artifact is left in
# BUILD_DIR/fuzz-run/TARGET/ and the end of its log is printed.
# FUZZ_PARALLEL targets run at once, one process each (default: the number
# of cores, at most 2).
#   bash tests/fuzz/run.sh build-fuzz 60            # what CI runs
#   bash tests/fuzz/run.sh build-fuzz 3600 validate  # one target, an hour
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 2 ] || { echo "usage: $0 BUILD_DIR SECONDS [TARGET...]" >&2; exit 2; }
build=$(cd "$1" && pwd)
secs=$2
shift 2
all=(vmx descriptor disk_sparse disk_chain vmdk_walk tar_walk ovf import_desc manifest validate journal)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
par=${FUZZ_PARALLEL:-$(nproc)}
[ "$par" -le 2 ] || [ -n "${FUZZ_PARALLEL:-}" ] || par=2

for t in "${targets[@]}"; do
  bin=$build/tests/fuzz/fuzz_$t
  [ -x "$bin" ] || { echo "run.sh: no $bin (configure with -DOVATOOL_FUZZ=ON and build fuzz_all)" >&2; exit 2; }
  [ "$(nm "$bin" 2>/dev/null | grep -c LLVMFuzzerRunDriver)" -gt 0 ] ||
    { echo "run.sh: $bin is the regression runner, not a libFuzzer build (-DOVATOOL_FUZZ=ON)" >&2; exit 2; }
done

# readable stacks: ASan looks for llvm-symbolizer on PATH; Debian's llvm-14
# has it under /usr/lib/llvm-14/bin
if ! command -v llvm-symbolizer >/dev/null && [ -z "${ASAN_SYMBOLIZER_PATH:-}" ]; then
  for s in /usr/lib/llvm-*/bin/llvm-symbolizer; do [ -x "$s" ] && export ASAN_SYMBOLIZER_PATH=$s; done
fi
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

work=$build/fuzz-run
fuzz_one() {
  local t=$1 dir=$work/$1
  rm -rf "$dir"
  mkdir -p "$dir/corpus"
  find "$here/corpus/$t" "$here/regress/$t" -maxdepth 1 -type f ! -name '.*' -exec cp {} "$dir/corpus/" \;
  local rc=0
  "$build/tests/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -dict="$here/$t.dict" -artifact_prefix="$dir/" -print_final_stats=1 "$dir/corpus" \
    >"$dir/log" 2>&1 || rc=$?
  echo "$rc" > "$dir/rc"
}

start=$(date +%s)
running=0
for t in "${targets[@]}"; do
  if [ "$running" -ge "$par" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  echo "fuzzing $t for ${secs}s"
  fuzz_one "$t" &
  running=$((running + 1))
done
wait

bad=0
for t in "${targets[@]}"; do
  dir=$work/$t
  rc=$(cat "$dir/rc" 2>/dev/null || echo 99)
  # slow-unit-* files are only notes (over 10 s is a timeout-* finding)
  mapfile -t found < <(find "$dir" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
                       -o -name 'oom-*' \))
  runs=$(sed -n -E 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$dir/log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$dir/log" | tail -1)
  printf '%-12s rc=%s runs=%s %s corpus=%s\n' "$t" "$rc" "${runs:-?}" "${cov:-?}" \
    "$(find "$dir/corpus" -type f | wc -l)"
  if [ "$rc" != 0 ] || [ ${#found[@]} -gt 0 ]; then
    bad=1
    echo "---- FINDING in $t (exit $rc): ${found[*]:-no artifact}; end of $dir/log:"
    tail -n 80 "$dir/log"
    echo "---- reproduce: $build/tests/fuzz/fuzz_$t ARTIFACT; minimize: $build/tests/fuzz/fuzz_$t" \
         "-minimize_crash=1 -runs=100000 ARTIFACT; then add it to tests/fuzz/regress/$t/"
  fi
done
echo "fuzz run: ${#targets[@]} targets, ${secs}s each, $(( $(date +%s) - start ))s in all"
if [ "$bad" != 0 ]; then
  echo "fuzz run: FINDINGS (see above)" >&2
  exit 1
fi
