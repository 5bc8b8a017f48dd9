#!/usr/bin/env bash
# bench.sh [DATA_DIR] - ovatool's speed and memory against its peers, all
# measured in the same run on the same image (not a test; not run by ctest).
#
# Builds the realistic 6 GiB image once (make_image.sh), warms the page
# cache, then times REPS (default 3) runs of each case and prints medians,
# spreads ((max - min) / median) and ratios:
#   ovatool, 1 rank x all cores and N ranks x 1 thread, per preset and codec
#   qemu-img convert -O vmdk -o subformat=streamOptimized + tar + sha256sum
#     (what a user does without ovatool)
#   pigz -p N -6 of the raw image
# and the ceilings: each codec's per-core rate on the image's non-zero grains
# (codec_rate), rank 0's intake rate when senders deliver ready-made blocks
# (intake_rate), and a model of a 400 GB disk on 8 nodes x 16 cores.
# Memory: peak RSS per rank for a 1 GiB and a 16 GiB disk with default settings
# (median of REPS runs each).
# Storing incompressible grains (issue 15): on the image, on a 2 GiB disk of
# random data (an encrypted guest) and on a 1 GiB half-and-half disk
# (make_store_images.sh), every preset with storing on (the default) and
# with --compress-all, in alternating pairs (on/off, then off/on); medians,
# spreads, the median of the per-pair speed-ups, output sizes; the
# detector's cost per grain and its error rates against each preset's codec
# (store_rate detector); what bounds the random disk: reading + SHA-256 and
# writing to the output's disk, each alone, probed after each of its
# balanced pairs, and which of them the export is bound by; on /dev/shm,
# what a new file's fresh pages cost against rewriting one in place.
# Environment: BUILD (default ./build), REPS (3), PARTS (all; or store: only
# the storing cases).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$root/build}
data=${1:-$root/bench-data}
reps=${REPS:-3}
cores=$(nproc)
ova=$build/ovatool
parts=${PARTS:-all}
[[ $reps =~ ^[1-9][0-9]*$ ]] || { echo "REPS must be a whole number >= 1, not '$reps'" >&2; exit 1; }
[[ $parts == all || $parts == store ]] || { echo "PARTS must be all or store, not '$parts'" >&2; exit 1; }
[ -x "$ova" ] || { echo "build first: bash jobs/setup.sh" >&2; exit 1; }
for tool in codec_rate intake_rate store_rate; do
  [ -x "$build/tests/bench/$tool" ] || { echo "missing $build/tests/bench/$tool: build it first" >&2; exit 1; }
done
command -v pigz >/dev/null || { echo "pigz missing: apt-get install pigz" >&2; exit 1; }
bash "$root/tests/bench/make_image.sh" "$data" >&2
bash "$root/tests/bench/make_store_images.sh" "$data" >&2
source "$root/jobs/env.sh"
out=$data/out
rm -rf "$out" && mkdir -p "$out"
raw=$data/disk.raw vmx=$data/vm/bench.vmx flat=$data/vm/bench-flat.vmdk
cat "$flat" "$raw" > /dev/null   # warm the page cache: this measures CPU, not the disk
image_bytes=$(stat -c %s "$raw")

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
spread() { sort -g | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
                                                printf "%.0f%%", (v[NR] - v[1]) / m * 100 }'; }
now() { date +%s.%N; }
# num FILE KEY: the number after "KEY": in a --json file; fails if there is none
num() {
  local v; v=$(grep -o "\"$2\":[0-9.]*" "$1" | head -1 | cut -d: -f2)
  [[ $v =~ ^[0-9.]+$ ]] || { echo "bench.sh: no \"$2\" in $1" >&2; return 1; }
  echo "$v"
}
# kv LINE KEY: the value of KEY=... in a tool's key=value line; fails if there is none
kv() {
  local v; v=$(echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p")
  [[ $v =~ ^-?[0-9.]+$ ]] || { echo "bench.sh: no numeric $2= in: '$1'" >&2; return 1; }
  echo "$v"
}

declare -A T S O R   # median seconds, spread, output bytes, rss MiB
order=()
# case NAME OUTPUT_FILE COMMAND...   (the command writes OUTPUT_FILE; for ovatool, --json goes to $out/NAME.json)
case_() {
  local name=$1 file=$2; shift 2
  order+=("$name")
  : > "$out/$name.times"
  for ((i = 0; i < reps; i++)); do
    rm -f "$file"
    local t0 t1; t0=$(now)
    "$@"
    t1=$(now)
    awk -v a="$t1" -v b="$t0" 'BEGIN { print a - b }' >> "$out/$name.times"
  done
  T[$name]=$(median < "$out/$name.times")
  S[$name]=$(spread < "$out/$name.times")
  O[$name]=$(stat -c %s "$file")
  R[$name]=-
  if [ -f "$out/$name.json" ]; then
    local kb; kb=$(num "$out/$name.json" rss_max_kb)
    R[$name]=$(awk -v kb="$kb" 'BEGIN { printf "%.0f", kb / 1024 }')
  fi
  printf '  %-34s %8.2f s (spread %s)\n' "$name" "${T[$name]}" "${S[$name]}" >&2
}
ovatool_case() {  # ovatool_case NAME RANKS THREADS ARGS...
  local name=$1 n=$2 th=$3; shift 3
  if [ "$n" = 1 ]; then
    case_ "$name" "$out/$name.ova" sh -c "'$ova' export '$vmx' -o '$out/$name.ova' --threads $th -q --json $* > '$out/$name.json'"
  else
    case_ "$name" "$out/$name.ova" sh -c "mpirun -n $n '$ova' export '$vmx' -o '$out/$name.ova' --threads $th -q --json $* > '$out/$name.json'"
  fi
}

echo "== load before: $(cat /proc/loadavg); $cores cores; $reps runs per case" >&2
have_isal=0
"$ova" export "$vmx" -o "$out/probe.ova" --codec isal -q --progress 0 2>/dev/null && have_isal=1
rm -f "$out/probe.ova"

if [ "$parts" = all ]; then
ovatool_case "ovatool 1x$cores balanced" 1 "$cores" --compression balanced
# every grain through the codec, as before storing existed (and as codec_rate's ceiling measures)
ovatool_case "ovatool 1x$cores balanced --compress-all" 1 "$cores" --compression balanced --compress-all
[ $have_isal = 1 ] && ovatool_case "ovatool 1x$cores fast (isal 1)" 1 "$cores" --compression fast
ovatool_case "ovatool 1x$cores libdeflate 1" 1 "$cores" --codec libdeflate --level 1
ovatool_case "ovatool 1x$cores max" 1 "$cores" --compression max
ovatool_case "ovatool 1x$cores zlib 6" 1 "$cores" --codec zlib --level 6
ovatool_case "ovatool ${cores}x1 balanced" "$cores" 1 --compression balanced
[ $have_isal = 1 ] && ovatool_case "ovatool ${cores}x1 fast (isal 1)" "$cores" 1 --compression fast

printf '<?xml version="1.0"?><Envelope/>\n' > "$out/q.ovf"
case_ "qemu-img + tar + sha256sum" "$out/q.ova" sh -c "
  qemu-img convert -f vmdk -O vmdk -o subformat=streamOptimized '$data/vm/bench.vmdk' '$out/q-disk1.vmdk' &&
  tar -C '$out' -cf '$out/q.ova' q.ovf q-disk1.vmdk && sha256sum '$out/q.ova' > /dev/null"
qemu_vmdk=$(stat -c %s "$out/q-disk1.vmdk")
case_ "pigz -p $cores -6" "$out/p.gz" sh -c "pigz -p $cores -6 < '$raw' > '$out/p.gz'"

echo "== ceilings" >&2
cr_threads=$((cores < 256 ? cores : 256))   # codec_rate's limit
cr() { "$build/tests/bench/codec_rate" "$raw" "$@" "$cr_threads" 256; }
rate_ld6=$(cr libdeflate 6); echo "  $rate_ld6" >&2
rate_z6=$(cr zlib 6); echo "  $rate_z6" >&2
rate_isal="" isal=""
[ $have_isal = 1 ] && { rate_isal=$(cr isal 1); echo "  $rate_isal" >&2; isal=$(kv "$rate_isal" per_core_mb_s); }
f=$(kv "$rate_ld6" f)
ld6=$(kv "$rate_ld6" per_core_mb_s); ld6t=$(kv "$rate_ld6" threads_mb_s); z6=$(kv "$rate_z6" per_core_mb_s)
# a sender per core plus rank 0: one rank more than cores, which Open MPI
# refuses unless told (jobs/env.sh no longer allows it for every run)
intake=$(mpirun --oversubscribe -n $((cores + 1)) "$build/tests/bench/intake_rate" "$out/intake.bin" 2048)
echo "  $intake" >&2
intake_mb_s=$(kv "$intake" intake_mb_s)

# Efficiency, paired: this machine's speed drifts within a run (shared host),
# so each ovatool run is matched with a codec ceiling measured right before
# it, and the median of the per-pair ratios is reported.
echo "== efficiency: codec ceiling and ovatool balanced --compress-all, paired" >&2
# one warm-up export first (not counted): the previous step wrote 2 GB.
# --compress-all: the ceiling is the codec on every grain, so ovatool is
# measured doing the same work (storing is measured in its own section)
"$ova" export "$vmx" -o "$out/eff.ova" --overwrite --compression balanced --compress-all -q
: > "$out/eff"
for ((i = 0; i < reps; i++)); do
  rate=$("$build/tests/bench/codec_rate" "$raw" libdeflate 6 1 128)
  pc=$(kv "$rate" per_core_mb_s)
  t0=$(now)
  "$ova" export "$vmx" -o "$out/eff.ova" --overwrite --compression balanced --compress-all -q
  t1=$(now)
  awk -v pc="$pc" -v c="$cores" -v a="$t1" -v b="$t0" -v nz="$(awk -v f="$f" -v b="$image_bytes" 'BEGIN { printf "%.0f", f * b }')" \
    'BEGIN { got = nz / (a - b) / 1e6; printf "%.4f %.1f %.1f\n", got / (pc * c), got, pc }' >> "$out/eff"
  echo "  pair $((i + 1)): $(tail -1 "$out/eff")  (ratio, ovatool MB/s, codec MB/s per core)" >&2
done
eff_median=$(cut -d' ' -f1 "$out/eff" | median)
eff_spread=$(cut -d' ' -f1 "$out/eff" | spread)

echo "== memory: 1 GiB vs 16 GiB disk, default settings" >&2
for gib in 1 16; do
  d=$out/mem$gib; mkdir -p "$d"
  truncate -s ${gib}G "$d/raw"
  dd if="$raw" of="$d/raw" bs=1M count=1024 conv=notrunc,sparse status=none
  [ "$gib" = 16 ] && dd if="$raw" of="$d/raw" bs=1M skip=1024 seek=1024 count=5120 conv=notrunc,sparse status=none
  qemu-img convert -q -f raw -O vmdk -o subformat=monolithicFlat "$d/raw" "$d/m.vmdk"
  sed "s/bench.vmdk/m.vmdk/" "$vmx" > "$d/m.vmx"
  # peak RSS depends on how many results happen to be in flight at the
  # worst moment (one unit more or less is ~12% here): median of REPS runs
  : > "$out/rss$gib"
  for ((i = 0; i < reps; i++)); do
    "$ova" export "$d/m.vmx" -o "$d/m.ova" --overwrite -q --json > "$d/json"
    num "$d/json" rss_max_kb >> "$out/rss$gib"
  done
  eval "rss$gib=$(median < "$out/rss$gib")"
  echo "  ${gib} GiB disk: peak RSS KiB per run: $(tr '\n' ' ' < "$out/rss$gib")" >&2
  rm -rf "$d"
done
fi

# ---- storing incompressible grains: on (default) against --compress-all ----
store_section() {
  echo "== storing incompressible grains: on against --compress-all, $reps alternating pairs per case" >&2
  local presets=(balanced) disk v r p m i t0 t1
  [ $have_isal = 1 ] && presets+=(fast)
  presets+=(max)
  : > "$out/store.rows"
  : > "$out/store.det"
  : > "$out/bound.rows"
  # random-tmpfs: the random disk again, balanced only, with the OVA on
  # /dev/shm, so that what bounds it is the CPU (reading, hashing), not how
  # fast this machine's disk takes 2 GiB of output
  local shm="" disks="image random half" odir
  if [ -d /dev/shm ] && [ "$(df -Pk /dev/shm | awk 'NR == 2 { print $4 }')" -gt $((6 << 20)) ]; then
    shm=$(mktemp -d /dev/shm/ovatool-bench.XXXXXX)
    disks="image random random-tmpfs half"
  fi
  for disk in $disks; do
    local dpresets=("${presets[@]}")
    odir=$out
    case $disk in
      image) v=$vmx r=$raw ;;
      random-tmpfs) v=$data/random/random.vmx r=$data/random/random-flat.vmdk odir=$shm dpresets=(balanced) ;;
      *) v=$data/$disk/$disk.vmx r=$data/$disk/$disk-flat.vmdk ;;
    esac
    cat "$r" > /dev/null   # warm the page cache
    for p in "${dpresets[@]}"; do
      : > "$out/st.$disk.$p"
      for ((i = 0; i < reps; i++)); do
        local modes="on off"
        ((i % 2 == 0)) || modes="off on"
        for m in $modes; do
          local extra=""
          [ $m = off ] && extra=--compress-all
          t0=$(now)
          "$ova" export "$v" -o "$odir/st-$m.ova" --overwrite --compression "$p" --threads "$cores" -q --json $extra > "$out/st-$m.json"
          t1=$(now)
          echo "$i $m $(awk -v a="$t1" -v b="$t0" 'BEGIN { print a - b }') $(stat -c %s "$odir/st-$m.ova")" \
               "$(num "$out/st-$m.json" grains_stored) $(num "$out/st-$m.json" grains_written)" >> "$out/st.$disk.$p"
        done
        [ "$disk/$p" != random/balanced ] || bound_probe "$r" "$shm"
      done
      local on_t off_t on_s off_s ratio ratio_s row
      on_t=$(awk '$2 == "on" { print $3 }' "$out/st.$disk.$p" | median)
      off_t=$(awk '$2 == "off" { print $3 }' "$out/st.$disk.$p" | median)
      on_s=$(awk '$2 == "on" { print $3 }' "$out/st.$disk.$p" | spread)
      off_s=$(awk '$2 == "off" { print $3 }' "$out/st.$disk.$p" | spread)
      awk '{ t[$1 " " $2] = $3 } END { for (k in t) { split(k, a, " "); if (a[2] == "on") print t[a[1] " off"] / t[k] } }' \
        "$out/st.$disk.$p" > "$out/st.$disk.$p.ratios"
      ratio=$(median < "$out/st.$disk.$p.ratios")
      ratio_s=$(spread < "$out/st.$disk.$p.ratios")
      row=$(awk -v d="$disk" -v p="$p" -v ont="$on_t" -v offt="$off_t" -v ons="$on_s" -v offs="$off_s" \
                -v r="$ratio" -v rs="$ratio_s" -v bytes="$(stat -c %s "$r")" '
        $2 == "on" { on_b = $4; st = $5; wr = $6 } $2 == "off" { off_b = $4; off_st = $5 }
        END { printf "| %s | %s | %.2f | %s | %.2f | %s | **%.2fx** | %s | %.1f | %.1f | %+.3f%% | %d of %d (%.1f%%) | %.0f |\n",
                     d, p, ont, ons, offt, offs, r, rs, on_b / 1e6, off_b / 1e6, (on_b / off_b - 1) * 100, st, wr,
                     100 * st / wr, bytes / ont / 1e6
              if (off_st != 0) print "bench.sh: --compress-all stored grains" > "/dev/stderr" }' "$out/st.$disk.$p")
      echo "$row" >> "$out/store.rows"
      echo "  $row" >&2
      rm -f "$odir/st-on.ova" "$odir/st-off.ova"
      [ "$disk" != random-tmpfs ] || continue   # the same data as random: no second detector line
      # the detector against this preset's codec, on a sample of the disk's non-zero grains
      local codec level
      case $p in
        balanced) codec=libdeflate level=6 ;;
        fast) codec=isal level=1 ;;
        max) codec=libdeflate level=9 ;;
      esac
      local det; det=$("$build/tests/bench/store_rate" detector "$r" "$codec" "$level" 256)
      echo "  detector: $det" >&2
      echo "$disk $p $det" >> "$out/store.det"
    done
  done
  [ -z "$shm" ] || rm -rf "$shm"
  bound_sha_mem=$(openssl speed -bytes 16384 -seconds 2 -evp sha256 2>/dev/null | awk '/^sha256/ { v = $NF; sub(/k$/, "", v); printf "%.0f", v * 1000 / 1e6 }')
  local c
  for c in 1 2 3 4; do
    bound[$c]=$(awk -v c=$c '{ print $c }' "$out/bound.rows" | median)
    bound_s[$c]=$(awk -v c=$c '{ print $c }' "$out/bound.rows" | spread)
  done
  echo "  random disk alone (median of $reps): read + SHA-256 ${bound[1]} MB/s, read + O_DIRECT write ${bound[2]} MB/s;" \
       "/dev/shm: a new file ${bound[3]} MB/s, rewritten in place ${bound[4]} MB/s" >&2
}

# What bounds the random disk with storing on, probed after each of its
# pairs (so under the same load): reading + SHA-256 of its bytes from the
# page cache on one thread (rank 0's writer hashes every output byte on
# one thread), reading + writing them to the output's disk with O_DIRECT
# in 8 MiB writes (dd), and writing them into a new file on /dev/shm
# against rewriting that file in place: the difference is what fresh
# tmpfs pages cost (on a VM that hands freed memory back to its host,
# free page reporting, each fresh page faults on the host). One line of
# MB/s to $out/bound.rows: sha write shm_new shm_rewrite.
bound_probe() {
  local rf=$1 shm=$2 n t0 t1 a b c d=0
  n=$(stat -c %s "$rf")
  rate() { awk -v a="$2" -v b="$1" -v n="$n" 'BEGIN { printf "%.0f", n / (a - b) / 1e6 }'; }
  cat "$rf" > /dev/null
  t0=$(now); openssl dgst -sha256 "$rf" > /dev/null; t1=$(now); a=$(rate "$t0" "$t1")
  rm -f "$out/w.bin"
  t0=$(now); dd if="$rf" of="$out/w.bin" bs=8M oflag=direct status=none 2>/dev/null ||
    dd if="$rf" of="$out/w.bin" bs=8M status=none; sync "$out/w.bin"; t1=$(now); b=$(rate "$t0" "$t1")
  rm -f "$out/w.bin"
  if [ -n "$shm" ]; then
    t0=$(now); dd if="$rf" of="$shm/w.bin" bs=8M status=none; t1=$(now); c=$(rate "$t0" "$t1")
    t0=$(now); dd if="$rf" of="$shm/w.bin" bs=8M conv=notrunc status=none; t1=$(now); d=$(rate "$t0" "$t1")
    rm -f "$shm/w.bin"
  else
    c=0
  fi
  echo "$a $b $c $d" >> "$out/bound.rows"
}
store_section

# ---- report ------------------------------------------------------------------
echo
echo "### Results ($(date -u +%Y-%m-%d), $cores cores, $reps runs, median; load after: $(cut -d' ' -f1-3 /proc/loadavg))"
echo
if [ "$parts" = all ]; then
q="qemu-img + tar + sha256sum"
nonzero_bytes=$(awk -v f="$f" -v b="$image_bytes" 'BEGIN { printf "%.0f", f * b }')
echo "Image: 6 GiB ext4, $(awk -v f="$f" 'BEGIN { printf "%.1f", f * 100 }')% of grains non-zero ($(awk -v b="$nonzero_bytes" 'BEGIN { printf "%.0f", b / 1048576 }') MiB)."
echo
echo "| case | wall s | spread | image MB/s | non-zero MB/s | output MB | vs qemu-img output | speed vs qemu-img pipeline | peak RSS MiB/rank |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for n in "${order[@]}"; do
  awk -v n="$n" -v t="${T[$n]}" -v s="${S[$n]}" -v o="${O[$n]}" -v img="$image_bytes" -v nz="$nonzero_bytes" \
      -v qo="$qemu_vmdk" -v qt="${T[$q]}" -v r="${R[$n]}" -v isq="$([ "$n" = "$q" ] && echo 1 || echo 0)" \
      -v ispigz="$(case $n in pigz*) echo 1;; *) echo 0;; esac)" 'BEGIN {
    outcmp = ispigz ? "(gzip, not a VMDK)" : sprintf("%.3f", o / qo);
    printf "| %s | %.2f | %s | %.0f | %.0f | %.1f | %s | %.2fx | %s |\n", n, t, s, img / t / 1e6, nz / t / 1e6,
           o / 1e6, outcmp, qt / t, r }'
done
echo
# against the codec ceiling: the export that puts every grain through the codec, as codec_rate does
bal="ovatool 1x$cores balanced --compress-all"
awk -v ld6="$ld6" -v ld6t="$ld6t" -v z6="$z6" -v cores="$cores" -v nz="$nonzero_bytes" -v t="${T[$bal]}" \
    -v isal="$isal" -v intake="$intake_mb_s" \
    -v img="$image_bytes" -v o="${O[$bal]}" -v f="$f" -v rss1="$rss1" -v rss16="$rss16" \
    -v effm="$eff_median" -v effs="$eff_spread" -v reps="$reps" 'BEGIN {
  ceiling = ld6 * cores; got = nz / t / 1e6
  printf "Ceilings: libdeflate 6 %.0f MB/s per core, zlib 6 %.0f", ld6, z6
  if (isal != "") printf ", isal 1 %.0f", isal
  printf " (non-zero input); rank 0 intake %.0f MB/s of compressed data.\n\n", intake
  printf "Balanced with --compress-all end to end: %.0f MB/s of non-zero data = %.0f%% of the codec ceiling (%.0f MB/s x %d cores); ",
         got, 100 * got / ceiling, ld6, cores
  printf "the bare codec on %d threads reaches %.0f MB/s here, so ovatool runs at %.0f%% of that.\n\n",
         cores, ld6t, 100 * got / ld6t
  printf "Paired efficiency (each balanced --compress-all run against the codec ceiling measured just before it, %d pairs): ", reps
  printf "median %.0f%% of (per-core rate x %d cores), spread %s.\n\n", effm * 100, cores, effs
  ratio = o / img
  rc = ld6 / f * 128; ri = intake / ratio
  printf "Model, 400 GB disk of this mix on 8 nodes x 16 cores (balanced): compression allows %.1f GB/s of disk, ", rc / 1000
  printf "rank 0 intake %.1f GB/s; so about %.1f min (bound by %s).\n\n", ri / 1000, 400e3 / (rc < ri ? rc : ri) / 60,
         rc < ri ? "compression" : "rank 0 intake"
  printf "Peak RSS, default settings (median of %d runs): %.0f MiB for a 1 GiB disk, %.0f MiB for a 16 GiB disk (%+.1f%%).\n", reps,
         rss1 / 1024, rss16 / 1024, (rss16 - rss1) / rss1 * 100 }'
fi

echo
echo "Storing incompressible grains (on, the default, against --compress-all; $reps alternating pairs each;"
echo "speed-up = median of the per-pair time ratios; disks: the image, 2 GiB of AES-CTR keystream, 1 GiB half keystream half image data):"
echo
echo "| disk | preset | on s | spread | --compress-all s | spread | speed-up | spread | on MB | --compress-all MB | size | grains stored | disk MB/s on |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
cat "$out/store.rows"
echo
echo "Detector (store_rate detector, a stride sample of up to 256 MiB of each disk's non-zero grains; the truth is each"
echo "preset's codec): cost per grain against the codec's; stored although the codec would have made it < 97%;"
echo "compressed although it ended > 97%; output and codec time against compressing every grain:"
echo
echo "| disk | preset | grains > 97% | stored | stored, would be < 97% | compressed, ended > 97% | detector us/grain | codec us/grain | output | codec time saved |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
while read -r disk p det; do
  awk -v d="$disk" -v p="$p" -v line="$det" 'BEGIN { n = split(line, kv, " ")
    for (i = 1; i <= n; i++) { split(kv[i], x, "="); v[x[1]] = x[2] }
    printf "| %s | %s | %.1f%% | %.1f%% | %.2f%% | %.2f%% | %.2f | %.0f | %+.3f%% | %.1f%% |\n", d, p, v["above97_pct"],
           v["stored_pct"], v["false_store_pct"], v["missed_pct"], v["detector_us_per_grain"], v["codec_us_per_grain"],
           v["out_delta_pct"], v["codec_time_saved_pct"] }'
done < "$out/store.det"
echo
echo "What bounds the random disk (balanced), each stage alone, probed after each of its $reps pairs (median, spread):"
echo "reading + SHA-256 of it from the page cache on one thread, as rank 0's writer hashes every output byte (openssl dgst)"
echo "${bound[1]} MB/s (${bound_s[1]}; SHA-256 of 16 KiB blocks in memory ${bound_sha_mem} MB/s, openssl speed); reading + writing"
echo "it to the output's disk with O_DIRECT in 8 MiB writes (dd) ${bound[2]} MB/s (${bound_s[2]})."
if [ "${bound[3]}" != 0 ]; then
  echo "On /dev/shm: a new 2 GiB file ${bound[3]} MB/s (${bound_s[3]}), the same file rewritten in place ${bound[4]} MB/s"
  echo "(${bound_s[4]}): the random-tmpfs row pays for fresh pages at the first rate, not for ovatool's work."
fi
awk -v sha="${bound[1]}" -v wr="${bound[2]}" '
  $2 == "on" { on[++a] = $3; bytes = $4 } $2 == "off" { off[++b] = $3 }
  function med(v, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
                                  return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }
  END { ont = med(on, a); offt = med(off, b); ts = bytes / sha / 1e6; tw = bytes / wr / 1e6; tb = ts > tw ? ts : tw
        printf "For its %.1f MB of output: hashing alone %.2f s, writing alone %.2f s, so bound by %s (%.2f s, a speed-up\n",
               bytes / 1e6, ts, tw, (ts > tw ? "reading + hashing" : "writing to this disk"), tb
        printf "of at most %.2fx against --compress-all at %.2f s); the export took %.2f s, of which that bound is %.0f%%.\n",
               offt / tb, offt, ont, 100 * tb / ont }' "$out/st.random.balanced"
