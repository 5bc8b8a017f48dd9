#!/usr/bin/env bash
# export_store.sh - grains that will not compress are stored (issue 15):
# a disk of random data (an encrypted guest) and a half-random disk, each
# exported with 1, 2 and 3 ranks, give byte-identical OVAs that pass
# check_ova (tar, manifest, schema, qemu-img check and compare, vmdkinfo)
# and `validate --deep` (1 and 2 ranks); --json reports stored grains (all
# of the random disk's, some of the half disk's); every preset stores the
# same grains (the decision does not depend on the codec); --compress-all
# stores none and gives another, still valid, OVA of about the same size.
source "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ovatool-e2e.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
export SOURCE_DATE_EPOCH=1700000000

# random: 24 MiB and a partial last grain of random bytes (384 grains + 1)
truncate -s $((24 * 1048576 + 8192)) random.raw
head -c $((24 * 1048576 + 8192)) /dev/urandom | dd of=random.raw conv=notrunc status=none
# half: 16 MiB alternating 1 MiB of random bytes and 1 MiB of text; after
# zeros (not written at all), 16 grains that are half random, half text,
# and 16 grains of random bytes with one zero in every 128
truncate -s 40M half.raw
for i in $(seq 0 15); do
  if [ $((i % 2)) = 0 ]; then
    head -c 1048576 /dev/urandom
  else
    text 1048576 "line $i: text compresses well, random data does not"
  fi | dd of=half.raw bs=1M seek="$i" conv=notrunc status=none
done
for g in $(seq 0 15); do  # grains 512-527 (MiB 32-33): the first half random, the second text
  head -c 32768 /dev/urandom | dd of=half.raw bs=32K seek=$((1024 + 2 * g)) conv=notrunc status=none
  text 32768 "half a grain of text $g" | dd of=half.raw bs=32K seek=$((1025 + 2 * g)) conv=notrunc status=none
done
python3 - <<'PY'
import random
# grains 544-559 (MiB 34-35): pseudo-random bytes (a fixed seed: the same
# decisions every run) with one zero byte in every 128, predicted at about
# 993 per mille: stored
with open("half.raw", "r+b") as f:
    f.seek(34 * 1048576)
    b = bytearray(random.Random(15).randbytes(1048576))
    for i in range(0, len(b), 128):
        b[i] = 0
    f.write(b)
PY

for d in random half; do
  qemu-img convert -q -f raw -O vmdk -o subformat=monolithicFlat "$d.raw" "$d.vmdk"
  write_vmx "$d.vmx" "$d.vmdk" "$d"
done

# json FILE KEY: a number or boolean from an export's --json line
json() { python3 -c 'import json,sys; print(str(json.load(open(sys.argv[1]))[sys.argv[2]]).lower())' "$1" "$2"; }

for d in random half; do
  note "$d: 1, 2 and 3 ranks, the default (balanced, storing on)"
  # the same output name each time (member names come from it)
  for n in 1 2 3; do
    mkdir -p "r$n"
    run_ranks "$n" export "$d.vmx" -o "r$n/$d.ova" --progress 0 --json > "$d.$n.json" 2> "$d.$n.log"
  done
  cmp "r1/$d.ova" "r2/$d.ova" || fail "$d: 1-rank and 2-rank OVAs differ"
  cmp "r1/$d.ova" "r3/$d.ova" || fail "$d: 1-rank and 3-rank OVAs differ"
  for n in 2 3; do
    [ "$(json "$d.$n.json" grains_stored)" = "$(json "$d.1.json" grains_stored)" ] ||
      fail "$d: $n ranks stored another number of grains"
  done
  check_ova "r1/$d.ova" "$d.raw"
  for n in 1 2; do
    run_ranks "$n" validate "r1/$d.ova" --schema "$SCHEMA" --deep > "v.$n" 2>&1 ||
      { cat "v.$n"; fail "$d: validate --deep with $n ranks"; }
  done
  [ "$(json "$d.1.json" store_incompressible)" = true ] || fail "$d: store_incompressible is not true by default"
  stored=$(json "$d.1.json" grains_stored) written=$(json "$d.1.json" grains_written)
  [ "$(json "$d.1.json" bytes_stored)" = $((stored * 65536)) ] || fail "$d: bytes_stored is not grains_stored x 64 KiB"
  grep -q "$stored of $written grains ([0-9.]* MiB) stored, not compressed" "$d.1.log" ||
    { cat "$d.1.log"; fail "$d: the summary line does not report the stored grains"; }
  grep -q "incompressible grains stored" "$d.1.log" || { cat "$d.1.log"; fail "$d: the plan line does not say so"; }
  note "$d: $stored of $written grains stored, $(stat -c %s "r1/$d.ova") bytes"
done

# the random disk: every full grain stored; the partial last grain (8 KiB of
# random bytes, then zeros) is compressed
[ "$(json random.1.json grains_written)" = 385 ] || fail "random: grains_written is not 385"
[ "$(json random.1.json grains_stored)" = 384 ] || fail "random: $(json random.1.json grains_stored) grains stored, not 384"
# the half disk: the 8 random MiB (128 grains) and the 16 grains of random
# bytes with a zero in every 128 are stored; text and half-text grains are not
[ "$(json half.1.json grains_written)" = 288 ] || fail "half: grains_written is not 288"
[ "$(json half.1.json grains_stored)" = 144 ] || fail "half: $(json half.1.json grains_stored) grains stored, not 144"

note "every preset and codec stores the same grains"
for args in "--compression fast" "--compression max" "--codec zlib --level 1"; do
  if [ "$args" = "--compression fast" ] && ! "$OVATOOL" export --help | grep -q isal; then
    skip_part "the fast preset's isal codec (not built in)"
    continue
  fi
  # shellcheck disable=SC2086
  "$OVATOOL" export half.vmx -o preset.ova --overwrite $args -q --json > preset.json
  [ "$(json preset.json grains_stored)" = "$(json half.1.json grains_stored)" ] ||
    fail "half with $args: $(json preset.json grains_stored) grains stored, not $(json half.1.json grains_stored)"
  check_ova preset.ova half.raw
done

note "--compress-all: no grain stored, another OVA, just as valid"
for d in random half; do
  for n in 1 3; do
    mkdir -p "all$n"
    run_ranks "$n" export "$d.vmx" -o "all$n/$d.ova" --compress-all -q --json > "$d.all$n.json"
  done
  cmp "all1/$d.ova" "all3/$d.ova" || fail "$d --compress-all: 1-rank and 3-rank OVAs differ"
  [ "$(json "$d.all1.json" store_incompressible)" = false ] || fail "$d: --compress-all did not turn storing off"
  [ "$(json "$d.all1.json" grains_stored)" = 0 ] || fail "$d: --compress-all stored grains"
  [ "$(json "$d.all1.json" bytes_stored)" = 0 ] || fail "$d: --compress-all reports stored bytes"
  ! cmp -s "r1/$d.ova" "all1/$d.ova" || fail "$d: --compress-all wrote the same OVA as the default"
  check_ova "all1/$d.ova" "$d.raw"
  "$OVATOOL" validate "all1/$d.ova" --schema "$SCHEMA" --deep > v.all 2>&1 || { cat v.all; fail "$d --compress-all: validate --deep"; }
  # storing costs at most 0.5% of size on these disks (16 bytes of stream per grain, and what little
  # the codec gets out of random bytes)
  on=$(stat -c %s "r1/$d.ova") off=$(stat -c %s "all1/$d.ova")
  python3 -c "import sys; on, off = $on, $off; sys.exit(0 if on <= off * 1.005 else 1)" ||
    fail "$d: storing made the OVA more than 0.5% larger ($on against $off bytes)"
  note "$d: $on bytes stored, $off bytes with --compress-all"
done
pass export_store
