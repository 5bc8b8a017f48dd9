#!/usr/bin/env bash
# smoke.sh CODEC_RATE INTAKE_RATE STORE_RATE - run the benchmark tools
# briefly, the way bench.sh runs them, on an image small enough for the sanitizer build
# (ctest -L bench; a few seconds under ASan). Fails if a tool fails or
# its key=value line is missing or wrong; prints "SKIP: ..." and exits 77
# when qemu-img or mpiexec is missing, and after all the other checks when
# the isal codec is not built in (tests/check_skips.sh: CI fails on a skip).
#
# The image is 8 MiB: 1 MiB of random data, 1 MiB of text and two short
# strings, so 34 non-zero grains, then zeros to the end. With SAMPLE_MIB 1
# (16 grains) codec_rate samples every 3rd non-zero grain, 12 of them, and
# 3 does not divide 34: that is the case where it used to read the grains
# after the last sampled one past the end of its sample buffer.
#
# Environment: MPIEXEC (default mpirun), TMPDIR. Leak detection: codec_rate
# runs with detect_leaks=1 and the MPI run with detect_leaks=0 (MPI's
# plugins are unloaded before LeakSanitizer looks, as in the e2e tests),
# whatever ASAN_OPTIONS says otherwise.
set -euo pipefail
[ $# = 4 ] || { echo "usage: smoke.sh CODEC_RATE INTAKE_RATE STORE_RATE UNIT_SIZE" >&2; exit 2; }
codec_rate=$1 intake_rate=$2 store_rate=$3 unit_size=$4
mpiexec=${MPIEXEC:-mpirun}
for t in "$codec_rate" "$intake_rate" "$store_rate" "$unit_size"; do
  [ -x "$t" ] || { echo "FAIL: $t not built" >&2; exit 1; }
done
command -v qemu-img >/dev/null || { echo "SKIP: qemu-img not installed (apt-get install qemu-utils)"; exit 77; }
command -v "$mpiexec" >/dev/null || { echo "SKIP: $mpiexec not found (apt-get install openmpi-bin)"; exit 77; }
here=$(cd "$(dirname "$0")" && pwd)
# 3 ranks on a 2-core machine (ctest sets this too, as for the e2e tests)
export OMPI_MCA_rmaps_base_oversubscribe=${OMPI_MCA_rmaps_base_oversubscribe:-1}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-smoke.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# bench.sh's own parser of the tools' key=value lines, so a change of either
# side that breaks bench.sh breaks this test
eval "$(sed -n '/^kv() {/,/^}/p' "$here/bench.sh")"
declare -F kv >/dev/null || fail "no kv() found in bench.sh"

img=$tmp/img.raw
qemu-img create -q -f raw "$img" 8M
head -c 1M /dev/urandom | dd of="$img" conv=notrunc status=none                        # grains 0-15
(yes "Dec  1 12:00:00 host sshd[4242]: session opened for user u17" || true) | head -c 1M |
  dd of="$img" bs=64K seek=48 iflag=fullblock conv=notrunc status=none                 # grains 48-63
printf 'a short string' | dd of="$img" bs=1 seek=$((5 * 1048576 + 100)) conv=notrunc status=none  # grain 81
printf 'another one\n' | dd of="$img" bs=1 seek=$((6 * 1048576 + 7)) conv=notrunc status=none       # grain 96
[ "$(stat -c %s "$img")" = 8388608 ] || fail "image is not 8 MiB"

asan_leaks_on="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
asan_leaks_off="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

# cr EXPECTED_SAMPLE ARGS...: codec_rate IMAGE ARGS..., checked
cr() {
  local want=$1 line; shift
  line=$(ASAN_OPTIONS=$asan_leaks_on timeout -k 10 120 "$codec_rate" "$img" "$@") ||
    fail "codec_rate $* exited $?"
  echo "codec_rate $*: $line"
  [ "$(echo "$line" | wc -l)" = 1 ] || fail "codec_rate printed more than one line"
  local codec; codec=$(echo "$line" | tr ' ' '\n' | sed -n 's/^codec=//p')
  [ "$codec" = "$1" ] || fail "codec=$codec, expected $1"
  [ "$(kv "$line" level)" = "$2" ] || fail "wrong level"
  [ "$(kv "$line" threads)" = "$3" ] || fail "wrong threads"
  [ "$(kv "$line" grains_total)" = 128 ] || fail "grains_total is not 128"
  [ "$(kv "$line" grains_nonzero)" = 34 ] || fail "grains_nonzero is not 34"
  [ "$(kv "$line" sample_grains)" = "$want" ] || fail "sample_grains is not $want"
  [ "$(kv "$line" f)" = 0.2656 ] || fail "f is not 34/128"
  # bench.sh's inputs: f, per_core_mb_s, threads_mb_s; all positive, and the
  # ratio of random + text data somewhere between all-text and all-random
  awk -v r="$(kv "$line" ratio)" -v p="$(kv "$line" per_core_mb_s)" -v t="$(kv "$line" threads_mb_s)" \
    'BEGIN { exit !(r > 0.05 && r < 1.01 && p > 0 && t > 0) }' || fail "implausible ratio or rates"
}

# codec_rate: the sample cap that overflowed, bench.sh's ceiling call
# (THREADS cores, SAMPLE_MIB 256: the whole image) and its paired call
cr 12 libdeflate 6 2 1
cr 34 zlib 6 2 256
cr 34 libdeflate 6 1 128
cr 12 zlib 1 3 1
probe=$(ASAN_OPTIONS=$asan_leaks_on "$codec_rate" "$img" isal 1 1 1 2>&1 >/dev/null || true)
skipped=""
if [[ $probe == *"not available"* ]]; then
  echo "SKIP: isal codec not built in (its codec_rate case; the rest runs)"
  skipped=isal
else
  cr 12 isal 1 2 1
fi
# and it refuses what it cannot measure
set +e
ASAN_OPTIONS=$asan_leaks_on "$codec_rate" "$img" libdeflate 6 2 0 2>/dev/null
[ $? = 2 ] || fail "codec_rate accepted SAMPLE_MIB 0"
qemu-img create -q -f raw "$tmp/zero.raw" 1M
ASAN_OPTIONS=$asan_leaks_on "$codec_rate" "$tmp/zero.raw" libdeflate 6 1 1 2>/dev/null
[ $? = 1 ] || fail "codec_rate did not fail on an image with no data"
set -e

# store_rate detector the way bench.sh runs it (SAMPLE_MIB 256: all 34
# non-zero grains): the 16 random grains end above 97% with libdeflate 6 and
# are stored, the text and the two short strings are neither
line=$(ASAN_OPTIONS=$asan_leaks_on timeout -k 10 120 "$store_rate" detector "$img" libdeflate 6 256) ||
  fail "store_rate detector exited $?"
echo "store_rate detector: $line"
[ "$(echo "$line" | wc -l)" = 1 ] || fail "store_rate detector printed more than one line"
[ "$(kv "$line" sample_grains)" = 34 ] || fail "store_rate: sample_grains is not 34"
[ "$(kv "$line" above97)" = 16 ] || fail "store_rate: above97 is not 16"
[ "$(kv "$line" stored)" = 16 ] || fail "store_rate: stored is not 16"
[ "$(kv "$line" false_store)" = 0 ] && [ "$(kv "$line" missed)" = 0 ] || fail "store_rate: errors on plain data"
for k in detector_us_per_grain store_us_per_grain codec_us_per_grain out_delta_pct codec_time_saved_pct; do
  kv "$line" "$k" > /dev/null || fail "store_rate: no $k"
done
# store_rate candidates: 2 truth lines, then 7 thresholds per candidate
out=$(ASAN_OPTIONS=$asan_leaks_on timeout -k 10 120 "$store_rate" candidates "$img" 1 h0:32x128d \
        'h0:32x128d@0.95+ld1:32x256d' h2:16x256 ld1:1x4096) || fail "store_rate candidates exited $?"
[ "$(echo "$out" | grep -c '^truth ')" = 2 ] || fail "store_rate candidates: not 2 truth lines"
[ "$(echo "$out" | grep -c '^cand=')" = 28 ] || fail "store_rate candidates: not 4 x 7 candidate lines"
l=$(echo "$out" | grep '^cand=h0:32x128d thr=0.970')
[ "$(kv "$l" random_stored_pct)" = 100.0 ] || fail "store_rate: h0:32x128d does not store random grains: $l"
set +e
ASAN_OPTIONS=$asan_leaks_on "$store_rate" candidates "$img" 1 h0:3x100 >/dev/null 2>&1
[ $? = 2 ] || fail "store_rate accepted a malformed candidate"
ASAN_OPTIONS=$asan_leaks_on "$store_rate" detector "$img" libdeflate 13 >/dev/null 2>&1
[ $? = 2 ] || fail "store_rate accepted libdeflate level 13"
set -e

# intake_rate the way bench.sh runs it (the engine's 512-grain units), with
# 2 senders x 2 units; the OVA it writes is removed at the end
out=$tmp/intake.ova
line=$(ASAN_OPTIONS=$asan_leaks_off timeout -k 10 180 "$mpiexec" -n 3 "$intake_rate" "$out" 64) ||
  fail "intake_rate exited $?"
echo "intake_rate: $line"
[ "$(echo "$line" | wc -l)" = 1 ] || fail "intake_rate printed more than one line"
[ "$(kv "$line" senders)" = 2 ] || fail "senders is not 2"
bytes=$(kv "$line" bytes)
# 4 units of 32 MiB of text, each compressed to between 10% and 100%
awk -v b="$bytes" -v r="$(kv "$line" intake_mb_s)" -v s="$(kv "$line" seconds)" \
  'BEGIN { u = 4 * 33554432; exit !(b > u / 10 && b < u && r > 0 && s > 0) }' || fail "implausible bytes or rate"
[ ! -e "$out" ] || fail "intake_rate left $out behind"
leftover=$(find "$tmp" -name '*.part' | head -1)
[ -z "$leftover" ] || fail "intake_rate left a temporary file: $leftover"
# the serial mode (receive and hash in turn), as scale.sh runs it
line=$(ASAN_OPTIONS=$asan_leaks_off timeout -k 10 180 "$mpiexec" -n 3 "$intake_rate" "$out" 64 512 serial) ||
  fail "intake_rate serial exited $?"
[[ " $line " == *" mode=serial "* ]] && [ "$(kv "$line" bytes)" = "$bytes" ] || fail "intake_rate serial: $line"
line=$(ASAN_OPTIONS=$asan_leaks_off timeout -k 10 180 "$mpiexec" -n 3 "$intake_rate" "$out" 64 128 distributed) ||
  fail "intake_rate distributed exited $?"
[[ " $line " == *" mode=distributed "* ]] && [ "$(kv "$line" bytes)" = "$bytes" ] || fail "intake_rate distributed: $line"
[ ! -e "$out" ] || fail "intake_rate distributed left $out behind"
set +e
ASAN_OPTIONS=$asan_leaks_off "$mpiexec" -n 3 "$intake_rate" "$out" 1 >/dev/null 2>&1
[ $? != 0 ] || fail "intake_rate accepted MIB_PER_SENDER 1 (less than one unit)"
ASAN_OPTIONS=$asan_leaks_off "$mpiexec" -n 3 "$intake_rate" "$out" 64 512 fast >/dev/null 2>&1
[ $? = 2 ] || fail "intake_rate accepted a mode other than serial and distributed"
set -e

# unit_size: the planner's units for 64 x 16 threads are at least 8 MiB
line=$(ASAN_OPTIONS=$asan_leaks_on "$unit_size" 64 16)
echo "unit_size 64 16: $line"
[ "$(kv "$line" unit_grains)" -ge 128 ] || fail "unit_size 64 16: $line"
set +e
"$unit_size" 0 16 >/dev/null 2>&1
[ $? = 2 ] || fail "unit_size accepted 0 ranks"
set -e
echo "bench smoke: codec_rate, store_rate, intake_rate and unit_size OK"
[ -z "$skipped" ] || exit 77
