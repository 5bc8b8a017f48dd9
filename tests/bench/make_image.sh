#!/usr/bin/env bash
# make_image.sh DIR - build the benchmark's realistic disk: a 6 GiB ext4 file
# system (made with mkfs.ext4 -d, no mounting) holding an OS tree, text
# logs, already-compressed files and free space: the image README.md's
# "Performance" section describes (an earlier reference image used
# debootstrap; this uses the machine's own /usr so it needs no network):
#   ~750 MB OS files (binaries, libraries, docs) from /usr
#   ~300 MB synthetic logs (seeded awk, deterministic)
#   ~440 MB already-compressed data (gzip -6 of /usr/share and /usr/lib pieces)
#   the rest of the 6 GiB free (zeros)
# Writes DIR/disk.raw and DIR/vm/{bench.vmx,bench.vmdk,bench-flat.vmdk}.
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
if [ -f disk.raw ] && [ -f vm/bench.vmx ]; then
  echo "image exists: $dir/disk.raw"
  exit 0
fi
rm -rf stage && mkdir -p stage/usr stage/var/log stage/srv/packages

# OS files: hard links (no copies) of /usr files, up to a byte budget
take() {  # take SRC_DIR BUDGET_BYTES
  find "$1" -xdev -type f -size -64M -printf '%s %p\n' 2>/dev/null | sort -k2 > stage.list || true
  # the path is everything after the size (it may hold spaces)
  awk -v b="$2" '{ if (s + $1 > b) exit; s += $1; sub(/^[0-9]+ /, ""); print }' stage.list > stage.take
  # one cp per batch of files, not a mkdir and a ln per file: the fork per
  # file took most of an hour on a loaded 2-core host; where a hard link
  # is refused (another file system), the second pass copies what is missing
  xargs -d '\n' -a stage.take cp -l --parents -t stage 2>/dev/null ||
    xargs -d '\n' -a stage.take cp -n --parents -t stage
  rm -f stage.list stage.take
}
take /usr/bin 250000000
take /usr/lib/x86_64-linux-gnu 300000000
take /usr/share/doc 100000000
take /usr/share/man 60000000
take /usr/share/perl 40000000

# logs: deterministic syslog/nginx-like lines
awk 'BEGIN { srand(42);
  split("sshd cron systemd kernel nginx postgres dockerd", prog, " ");
  split("GET POST PUT DELETE", meth, " ");
  split("/ /api/v1/items /login /static/app.js /metrics /health /search?q=disk", path, " ");
  for (i = 0; i < 2600000; i++) {
    t = 1700000000 + i * 3;
    if (i % 3 == 0)
      printf "%d.%03d host%02d %s[%d]: session %08x opened for user u%d from 10.%d.%d.%d\n", t, i % 1000,
        i % 17, prog[1 + int(rand() * 7)], int(rand() * 65535), int(rand() * 4294967295), int(rand() * 500),
        int(rand() * 255), int(rand() * 255), int(rand() * 255);
    else
      printf "10.%d.%d.%d - - [%d] \"%s %s HTTP/1.1\" %d %d \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\"\n",
        int(rand() * 255), int(rand() * 255), int(rand() * 255), t, meth[1 + int(rand() * 4)],
        path[1 + int(rand() * 7)], (rand() < 0.9 ? 200 : 404), int(rand() * 50000);
  } }' > stage/var/log/access.log

# already-compressed data
(tar -cf - -C / usr/share 2>/dev/null || true) | gzip -6 | head -c 240000000 > stage/srv/packages/share.tar.gz || true
(tar -cf - -C / usr/lib/x86_64-linux-gnu 2>/dev/null || true) | gzip -6 | head -c 200000000 \
  > stage/srv/packages/lib.tar.gz || true

rm -f disk.raw
truncate -s 6G disk.raw
mkfs.ext4 -q -F -E lazy_itable_init=0,nodiscard -d stage disk.raw
rm -rf stage

mkdir -p vm
rm -f vm/bench.vmdk vm/bench-flat.vmdk
qemu-img convert -q -f raw -O vmdk -o subformat=monolithicFlat disk.raw vm/bench.vmdk
cat > vm/bench.vmx <<VMX
.encoding = "UTF-8"
virtualHW.version = "19"
displayName = "bench"
guestOS = "debian12-64"
numvcpus = "2"
memsize = "2048"
scsi0.present = "TRUE"
scsi0.virtualDev = "pvscsi"
scsi0:0.present = "TRUE"
scsi0:0.fileName = "bench.vmdk"
ethernet0.present = "TRUE"
ethernet0.virtualDev = "vmxnet3"
ethernet0.connectionType = "nat"
VMX
echo "image ready: $dir/disk.raw"
