#!/usr/bin/env bash
# scale.sh - the rates issue 13's scaling model is computed from, measured
# in one run on this machine (not a test; not run by ctest):
#   - the digest rate of one core, SHA-256 and SHA-512, through OpenSSL's
#     EVP interface as the writer uses it (`openssl speed -evp`, 1 MiB
#     buffers): each output file's digest is one serial stream, the one step
#     of an export that cannot be split;
#   - rank 0's intake (intake_rate: senders deliver ready-made compressed
#     units; rank 0 receives, hashes and writes them on the engine's
#     threads) at 32 MiB units and at the unit size the planner chooses for
#     8 x 16 and 64 x 16 threads (unit_size; the size depends on one rank's
#     threads and memory, so both are the same), and serially (receive and
#     hash in turn on one thread) at 32 MiB for comparison;
#   - the same senders through distributed writing (intake_rate
#     distributed: each sender keeps its unit, rank 0 gets the header,
#     hands the sender the offset and digest state, the sender hashes and
#     writes it; README "Scaling past one node"), at the same unit sizes,
#     so the rank-0 path and the distributed path compare in one run.
# Prints a table of medians of REPS runs (default 3) and each run's spread.
# Environment: BUILD (default ./build), REPS (3), SENDERS (intake senders,
# default the number of cores), MIB (disk MiB per sender, default 1024),
# SECONDS_PER (openssl speed seconds per run, default 2), TMPDIR (where
# intake_rate writes its OVA, removed by it).
#   - a fleet: FLEET_MIB (default "1536 768 384 192") demo VMs (ovatool demo:
#     text, random and zero regions) exported as one fleet job
#     (`export A B C D -o DIR/`) and one after another (one job each), both
#     with RANKS ranks (default the number of cores); MB/s of disk capacity.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$root/build}
reps=${REPS:-3}
senders=${SENDERS:-$(nproc)}
mib=${MIB:-1024}
secs=${SECONDS_PER:-2}
for v in reps senders mib secs; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "scale.sh: $v must be a whole number >= 1, not '${!v}'" >&2; exit 1; }
done
[ -x "$build/ovatool" ] || { echo "scale.sh: missing $build/ovatool: build it first" >&2; exit 1; }
for tool in intake_rate unit_size; do
  [ -x "$build/tests/bench/$tool" ] || { echo "scale.sh: missing $build/tests/bench/$tool: build it first" >&2; exit 1; }
done
command -v openssl >/dev/null || { echo "scale.sh: needs the openssl command" >&2; exit 1; }
source "$root/jobs/env.sh"
export OMPI_MCA_rmaps_base_oversubscribe=1
MPIEXEC=${MPIEXEC:-mpirun}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/scale.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# kv LINE KEY: the value of KEY=... in a key=value line
kv() { local v; v=$(tr ' ' '\n' <<< "$1" | sed -n "s/^$2=//p"); [ -n "$v" ] || { echo "scale.sh: no $2 in: $1" >&2; return 1; }; echo "$v"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
spread() { sort -g | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.0f%%", (m > 0 ? 100 * (v[NR] - v[1]) / m : 0) }'; }

rows=()
# row NAME UNIT_MIB FILE: a table row from the MB/s values in FILE
row() { rows+=("| $1 | $2 | $(median < "$3") | $(spread < "$3") |"); }

# the digest, one core
for md in sha256 sha512; do
  : > "$tmp/$md"
  for ((i = 0; i < reps; i++)); do
    line=$(openssl speed -mr -seconds "$secs" -bytes 1048576 -evp "$md" 2>/dev/null | grep "^+F:") ||
      { echo "scale.sh: openssl speed -evp $md failed" >&2; exit 1; }
    awk -F: '{ printf "%.0f\n", $NF / 1e6 }' <<< "$line" >> "$tmp/$md"
  done
  row "digest $md, 1 core (openssl speed -evp, 1 MiB buffers)" 1 "$tmp/$md"
done

# rank 0's intake at each unit size
g816=$(kv "$("$build/tests/bench/unit_size" 8 16)" unit_grains)
g6416=$(kv "$("$build/tests/bench/unit_size" 64 16)" unit_grains)
intake() {  # intake NAME GRAINS [serial]
  local f=$tmp/intake.$2.${3:-overlap}
  : > "$f"
  for ((i = 0; i < reps; i++)); do
    local line
    line=$("$MPIEXEC" -n $((senders + 1)) "$build/tests/bench/intake_rate" "$tmp/intake.ova" "$mib" "$2" ${3:-}) ||
      { echo "scale.sh: intake_rate $2 ${3:-} failed" >&2; exit 1; }
    kv "$line" intake_mb_s >> "$f"
  done
  row "$1" $(($2 / 16)) "$f"
}
intake "rank 0 intake, 32 MiB units" 512
intake "rank 0 intake, 32 MiB units, receive and hash in turn" 512 serial
intake "rank 0 intake, the planner's units for 8 x 16 threads" "$g816"
intake "rank 0 intake, the planner's units for 64 x 16 threads" "$g6416"
intake "distributed path, 32 MiB units" 512 distributed
intake "distributed path, the planner's units for 8 x 16 threads" "$g816" distributed
intake "distributed path, the planner's units for 64 x 16 threads" "$g6416" distributed

# a fleet against the same VMs one after another
ranks=${RANKS:-$(nproc)}
[[ $ranks =~ ^[1-9][0-9]*$ ]] || { echo "scale.sh: RANKS must be a whole number >= 1, not '$ranks'" >&2; exit 1; }
read -r -a fleet_mib <<< "${FLEET_MIB:-1536 768 384 192}"
vms=()
total_mib=0
for m in "${fleet_mib[@]}"; do
  [[ $m =~ ^[1-9][0-9]*$ ]] || { echo "scale.sh: FLEET_MIB sizes must be whole MiB, not '$m'" >&2; exit 1; }
  d=$tmp/vm$m
  "$build/ovatool" demo "$d" --size "$m" > /dev/null
  sed -i "s/^displayName = .*/displayName = \"fleet $m\"/" "$d/demo.vmx"
  vms+=("$d/demo.vmx")
  total_mib=$((total_mib + m))
done
run_ovatool() { if [ "$ranks" = 1 ]; then "$build/ovatool" "$@"; else "$MPIEXEC" -n "$ranks" "$build/ovatool" "$@"; fi; }
now() { date +%s.%N; }
: > "$tmp/fleet"
: > "$tmp/serial"
for ((i = 0; i < reps; i++)); do
  rm -rf "$tmp/out" && mkdir "$tmp/out"
  t0=$(now)
  run_ovatool export "${vms[@]}" -o "$tmp/out/" -q --progress 0
  t1=$(now)
  awk -v a="$t0" -v b="$t1" -v m="$total_mib" 'BEGIN { printf "%.0f\n", m * 1.048576 / (b - a) }' >> "$tmp/fleet"
  rm -rf "$tmp/out" && mkdir "$tmp/out"
  t0=$(now)
  for v in "${vms[@]}"; do run_ovatool export "$v" -o "$tmp/out/" -q --progress 0; done
  t1=$(now)
  awk -v a="$t0" -v b="$t1" -v m="$total_mib" 'BEGIN { printf "%.0f\n", m * 1.048576 / (b - a) }' >> "$tmp/serial"
done
rm -rf "$tmp/out"
row "fleet of ${#vms[@]} VMs (${FLEET_MIB:-1536 768 384 192} MiB) in one job, $ranks rank(s), MB/s of disk" - "$tmp/fleet"
row "the same VMs one after another, one job each, $ranks rank(s), MB/s of disk" - "$tmp/serial"
fleet_ratio=$(paste "$tmp/fleet" "$tmp/serial" | awk '{ print $1 / $2 }' | median | awk '{ printf "%.2f", $1 }')

echo "### Scale rates ($(date -u +%Y-%m-%d), $(nproc) cores, $senders sender(s), $reps runs, median MB/s)"
echo
echo "| measure | unit MiB | MB/s | spread |"
echo "|---|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
echo
echo "intake: MB/s of compressed data rank 0 takes in, hashes and writes; distributed path: MB/s of compressed"
echo "data the senders hash (the digest state handed on through rank 0) and write themselves;"
echo "spread = (max - min) / median"
echo "fleet against one after another: median of the paired ratios ${fleet_ratio}x"
