#!/usr/bin/env bash
# test.sh - set up, build, and run the whole test suite twice: a normal
# -Werror build (unit + end-to-end tests), and an AddressSanitizer/UBSan
# build (unit tests and the smaller end-to-end tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash jobs/setup.sh build
source jobs/env.sh
(cd build && ctest --output-on-failure -j2)

bash jobs/setup.sh build-asan -DOVATOOL_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Unit tests run with leak detection. The end-to-end tests run MPI, whose
# plugins are unloaded before LeakSanitizer looks, so their leaks cannot be
# attributed or suppressed: there ASan checks memory errors only.
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
   LSAN_OPTIONS=suppressions=$PWD/../tests/lsan.supp:print_suppressions=0 \
   ctest --output-on-failure -j2 -L unit)
(cd build-asan && ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 ctest --output-on-failure -j2 -L e2e -E tail6g)
