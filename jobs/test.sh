#!/usr/bin/env bash
# test.sh - set up, build and run the whole test suite, as CI does, in three
# builds (all with warnings as errors):
#   build          RelWithDebInfo: every test, including the install test and
#                  the Slurm jobs on a local one-node cluster
#   build-release  Release (-O3, NDEBUG, what users build): unit and end-to-end
#   build-asan     AddressSanitizer + UBSan: unit tests with leak checks, the
#                  end-to-end tests but the 6 GiB ones, the benchmark tools
#                  on a small image
#   build-fuzz     clang, libFuzzer + ASan/UBSan: every fuzz target of
#                  tests/fuzz for 60 s (its seeds and regressions run as
#                  unit tests in the three builds above)
# A test that cannot run reports SKIP; with CI=true any skip that
# tests/skips-allowed.txt does not list fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

# only the tests need these: a Slurm cluster, a modules system for the
# modulefile, man/groff to check the man page, clang with its libFuzzer
# runtime and llvm-symbolizer for the fuzz targets, python3 for the e2e
# scripts that read JSON and XML
export EXTRA_PKGS="slurm-wlm slurmctld slurmd slurm-client munge environment-modules man-db groff-base
                   clang libclang-rt-14-dev llvm-14 python3"
source jobs/env.sh

# run_ctest BUILD_DIR [ctest args]: ctest, then the skip check on its output
run_ctest() {
  local dir=$1; shift
  local log; log=$(mktemp)
  set +e
  (cd "$dir" && ctest --output-on-failure -j2 "$@") 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  set -e
  [ "$rc" = 0 ] || { rm -f "$log"; echo "test.sh: ctest failed in $dir ($*)" >&2; exit "$rc"; }
  bash tests/check_skips.sh "$log" || { rm -f "$log"; exit 1; }
  rm -f "$log"
}

echo "== RelWithDebInfo build: every test"
bash jobs/setup.sh build
run_ctest build

echo "== Release build: unit and end-to-end tests"
bash jobs/setup.sh build-release -DCMAKE_BUILD_TYPE=Release
run_ctest build-release -L 'unit|e2e' -LE slurm -E 'install'

echo "== AddressSanitizer/UBSan build"
bash jobs/setup.sh build-asan -DOVATOOL_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Unit tests run with leak detection. The end-to-end tests run MPI, whose
# plugins are unloaded before LeakSanitizer looks, so their leaks cannot be
# attributed or suppressed: there ASan checks memory errors only.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0 \
  run_ctest build-asan -L unit
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 run_ctest build-asan -L e2e -LE slurm -E 'tail6g|install'
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 run_ctest build-asan -L bench

echo "== Fuzzing: every target of tests/fuzz for 60 s (clang, libFuzzer, ASan/UBSan)"
# Only the fuzz targets are built here (the tool and the unit tests ran in the
# builds above); any crash, sanitizer report, leak or timeout fails the run
# and leaves the input in build-fuzz/fuzz-run/TARGET/ (tests/fuzz/README.md).
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOVATOOL_WERROR=ON -DOVATOOL_FUZZ=ON \
  -DCMAKE_C_COMPILER=clang >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_all
bash tests/fuzz/run.sh build-fuzz 60
echo "== all test runs passed"
