# foreign_ova.sh - sourceable builders of OVAs made the way producers other
# than ovatool make them, for `validate` and `import` tests (issue 16 item 4).
# Disks come from qemu-img or the test-side metadata-first writer
# (STREAM_META_FIRST, tests/e2e/stream_meta_first.c); the OVF text is written
# here by hand, after the producers' own output (ovftool 4.x, VirtualBox 6/7).
#
# Every builder takes the raw image and the output path:
#   fova_qemu_gib     RAW OUT  qemu-img stream, ovftool-style OVF, capacity
#                              in GiB units ("byte * 2^30"), SHA-1 manifest
#   fova_meta_first   RAW OUT  open-vmdk's metadata-first stream, SHA-256
#   fova_ovf2         RAW OUT  an OVF 2.0 envelope (DSP0243 2.x namespace
#                              http://schemas.dmtf.org/ovf/envelope/2), SHA-512
#   fova_chunked      RAW OUT [CHUNK]  the disk split with ovf:chunkSize into
#                              NAME.000000000, .000000001, ...; the manifest
#                              lists every chunk (ovf:size: all chunks)
#   fova_gzip         RAW OUT  the disk as NAME.vmdk.gz, ovf:compression="gzip",
#                              ovf:size the compressed size (DSP0243)
#   fova_gzip_chunked RAW OUT [CHUNK]  gzip, then chunked (DSP0243 order)
#   fova_mf_last      RAW OUT  SHA-1 manifest as the last member
#   fova_cert         RAW OUT  a .cert member after the manifest: ovftool's
#                              form, the manifest's signature then the PEM
#                              certificate (openssl; a self-signed key)
#   fova_vbox         RAW OUT  VirtualBox's OVF: capacity in bytes, a
#                              vbox:Machine section, SHA-256 manifest
# The raw image must be a whole number of GiB for fova_qemu_gib. Each
# builder leaves its unpacked members in OUT.d/ (the tests damage copies).
# Needs: qemu-img, tar, gzip, split, sha1sum/sha256sum/sha512sum, openssl
# (fova_cert only); `fail` from lib.sh.

FOVA_FORMAT="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"

# fova_envelope NS FILE_ATTRS DISK_ATTRS [EXTRA_NS] [MACHINE_XML]: the OVF text
# of one VM with one disk on an LSI Logic SCSI controller, as ovftool lays it
# out (VirtualBox's adds its Machine section last in VirtualSystem).
fova_envelope() {
  local ns=$1 file_attrs=$2 disk_attrs=$3 extra_ns=${4:-} machine=${5:-}
  cat <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="$ns" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" xmlns:ovf="$ns" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"$extra_ns>
  <References>
    <File $file_attrs/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk $disk_attrs ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="$FOVA_FORMAT"/>
  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
    <Network ovf:name="nat">
      <Description>The nat network</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="vm">
    <Info>A virtual machine</Info>
    <Name>vm</Name>
    <OperatingSystemSection ovf:id="101" vmw:osType="otherLinux64Guest">
      <Info>The kind of installed guest operating system</Info>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>vm</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-14</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
        <rasd:Description>Number of Virtual CPUs</rasd:Description>
        <rasd:ElementName>1 virtual CPU(s)</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>1</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:Description>Memory Size</rasd:Description>
        <rasd:ElementName>512MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>512</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Description>SCSI Controller</rasd:Description>
        <rasd:ElementName>SCSI Controller 0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>lsilogic</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:ElementName>Hard Disk 1</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
    </VirtualHardwareSection>$machine
  </VirtualSystem>
</Envelope>
EOF
}

# fova_mf ALG DIR MEMBER...: the manifest lines, ALG(member)= hex, ovftool's form
fova_mf() {
  local alg=$1 dir=$2; shift 2
  local tool
  case $alg in
    SHA1) tool=sha1sum ;; SHA256) tool=sha256sum ;; SHA512) tool=sha512sum ;;
    *) fail "fova_mf: unknown algorithm $alg" ;;
  esac
  local f
  for f in "$@"; do
    echo "$alg($f)= $("$tool" "$dir/$f" | cut -d' ' -f1)"
  done
}

# fova_pack OUT MEMBER...: a ustar archive of OUT.d's members in that order
fova_pack() {
  local out=$1 abs; shift
  abs=$(realpath -m "$out")
  (cd "$out.d" && tar --format=ustar --owner=0 --group=0 -cf "$abs" "$@") || fail "tar cannot pack $out"
}

# fova_start OUT: a clean OUT.d
fova_start() { rm -rf "$1.d" && mkdir -p "$1.d"; }

fova_qemu_stream() {  # RAW VMDK
  qemu-img convert -q -f raw -O vmdk -o subformat=streamOptimized "$1" "$2" || fail "qemu-img cannot write $2"
}

fova_bytes() { stat -c %s "$1"; }

fova_qemu_gib() {
  local raw=$1 out=$2 size gib
  size=$(fova_bytes "$raw")
  [ $((size % (1 << 30))) = 0 ] || fail "fova_qemu_gib: $raw is not a whole number of GiB"
  gib=$((size >> 30))
  fova_start "$out"
  fova_qemu_stream "$raw" "$out.d/vm-disk1.vmdk"
  fova_envelope "http://schemas.dmtf.org/ovf/envelope/1" \
    "ovf:href=\"vm-disk1.vmdk\" ovf:id=\"file1\" ovf:size=\"$(fova_bytes "$out.d/vm-disk1.vmdk")\"" \
    "ovf:capacity=\"$gib\" ovf:capacityAllocationUnits=\"byte * 2^30\"" > "$out.d/vm.ovf"
  fova_mf SHA1 "$out.d" vm.ovf vm-disk1.vmdk > "$out.d/vm.mf"
  fova_pack "$out" vm.ovf vm.mf vm-disk1.vmdk
}

fova_meta_first() {
  local raw=$1 out=$2
  [ -x "${STREAM_META_FIRST:-}" ] || fail "STREAM_META_FIRST (the test writer) is not set or not built"
  fova_start "$out"
  "$STREAM_META_FIRST" "$raw" "$out.d/vm-disk1.vmdk" || fail "stream_meta_first failed"
  fova_envelope "http://schemas.dmtf.org/ovf/envelope/1" \
    "ovf:href=\"vm-disk1.vmdk\" ovf:id=\"file1\" ovf:size=\"$(fova_bytes "$out.d/vm-disk1.vmdk")\"" \
    "ovf:capacity=\"$(fova_bytes "$raw")\" ovf:capacityAllocationUnits=\"byte\"" > "$out.d/vm.ovf"
  fova_mf SHA256 "$out.d" vm.ovf vm-disk1.vmdk > "$out.d/vm.mf"
  fova_pack "$out" vm.ovf vm.mf vm-disk1.vmdk
}

fova_ovf2() {
  local raw=$1 out=$2
  fova_start "$out"
  fova_qemu_stream "$raw" "$out.d/vm-disk1.vmdk"
  fova_envelope "http://schemas.dmtf.org/ovf/envelope/2" \
    "ovf:href=\"vm-disk1.vmdk\" ovf:id=\"file1\" ovf:size=\"$(fova_bytes "$out.d/vm-disk1.vmdk")\"" \
    "ovf:capacity=\"$(($(fova_bytes "$raw") >> 20))\" ovf:capacityAllocationUnits=\"byte * 2^20\"" > "$out.d/vm.ovf"
  fova_mf SHA512 "$out.d" vm.ovf vm-disk1.vmdk > "$out.d/vm.mf"
  fova_pack "$out" vm.ovf vm.mf vm-disk1.vmdk
}

# fova_split FILE CHUNK: FILE.000000000, ... (nine digits, from 0), FILE removed;
# prints the chunk names
fova_split() {
  local file=$1 chunk=$2
  (cd "$(dirname "$file")" && split -a 9 -d -b "$chunk" "$(basename "$file")" "$(basename "$file")." &&
     rm "$(basename "$file")" && ls "$(basename "$file")".[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9])
}

fova_chunked() {
  local raw=$1 out=$2 chunk=${3:-1048576} size
  fova_start "$out"
  fova_qemu_stream "$raw" "$out.d/vm-disk1.vmdk"
  size=$(fova_bytes "$out.d/vm-disk1.vmdk")
  [ "$size" -gt "$chunk" ] || fail "fova_chunked: the disk ($size bytes) fits one chunk of $chunk"
  local -a chunks
  mapfile -t chunks < <(fova_split "$out.d/vm-disk1.vmdk" "$chunk")
  fova_envelope "http://schemas.dmtf.org/ovf/envelope/1" \
    "ovf:chunkSize=\"$chunk\" ovf:href=\"vm-disk1.vmdk\" ovf:id=\"file1\" ovf:size=\"$size\"" \
    "ovf:capacity=\"$(fova_bytes "$raw")\" ovf:capacityAllocationUnits=\"byte\"" > "$out.d/vm.ovf"
  fova_mf SHA256 "$out.d" vm.ovf "${chunks[@]}" > "$out.d/vm.mf"
  fova_pack "$out" vm.ovf vm.mf "${chunks[@]}"
}

fova_gzip() {
  local raw=$1 out=$2
  fova_start "$out"
  fova_qemu_stream "$raw" "$out.d/vm-disk1.vmdk"
  gzip -n -6 "$out.d/vm-disk1.vmdk" || fail "gzip failed"
  fova_envelope "http://schemas.dmtf.org/ovf/envelope/1" \
    "ovf:compression=\"gzip\" ovf:href=\"vm-disk1.vmdk.gz\" ovf:id=\"file1\" ovf:size=\"$(fova_bytes "$out.d/vm-disk1.vmdk.gz")\"" \
    "ovf:capacity=\"$(fova_bytes "$raw")\"" > "$out.d/vm.ovf"
  fova_mf SHA256 "$out.d" vm.ovf vm-disk1.vmdk.gz > "$out.d/vm.mf"
  fova_pack "$out" vm.ovf vm.mf vm-disk1.vmdk.gz
}

fova_gzip_chunked() {
  local raw=$1 out=$2 chunk=${3:-262144} size
  fova_start "$out"
  fova_qemu_stream "$raw" "$out.d/vm-disk1.vmdk"
  gzip -n -6 "$out.d/vm-disk1.vmdk" || fail "gzip failed"
  size=$(fova_bytes "$out.d/vm-disk1.vmdk.gz")
  [ "$size" -gt "$chunk" ] || fail "fova_gzip_chunked: the gzip stream ($size bytes) fits one chunk of $chunk"
  local -a chunks
  mapfile -t chunks < <(fova_split "$out.d/vm-disk1.vmdk.gz" "$chunk")
  fova_envelope "http://schemas.dmtf.org/ovf/envelope/1" \
    "ovf:chunkSize=\"$chunk\" ovf:compression=\"gzip\" ovf:href=\"vm-disk1.vmdk.gz\" ovf:id=\"file1\" ovf:size=\"$size\"" \
    "ovf:capacity=\"$(fova_bytes "$raw")\"" > "$out.d/vm.ovf"
  fova_mf SHA256 "$out.d" vm.ovf "${chunks[@]}" > "$out.d/vm.mf"
  fova_pack "$out" vm.ovf vm.mf "${chunks[@]}"
}

fova_mf_last() {
  local raw=$1 out=$2
  fova_qemu_gib_like "$raw" "$out"
  fova_mf SHA1 "$out.d" vm.ovf vm-disk1.vmdk > "$out.d/vm.mf"
  fova_pack "$out" vm.ovf vm-disk1.vmdk vm.mf
}

# the members of an ovftool-style OVA in bytes units, unpacked only
fova_qemu_gib_like() {
  local raw=$1 out=$2
  fova_start "$out"
  fova_qemu_stream "$raw" "$out.d/vm-disk1.vmdk"
  fova_envelope "http://schemas.dmtf.org/ovf/envelope/1" \
    "ovf:href=\"vm-disk1.vmdk\" ovf:id=\"file1\" ovf:size=\"$(fova_bytes "$out.d/vm-disk1.vmdk")\"" \
    "ovf:capacity=\"$(fova_bytes "$raw")\" ovf:capacityAllocationUnits=\"byte\"" > "$out.d/vm.ovf"
}

fova_cert() {
  local raw=$1 out=$2
  command -v openssl > /dev/null || fail "fova_cert needs openssl"
  fova_qemu_gib_like "$raw" "$out"
  fova_mf SHA256 "$out.d" vm.ovf vm-disk1.vmdk > "$out.d/vm.mf"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$out.d/key.pem" -out "$out.d/cert.pem" -days 2 \
    -subj "/CN=foreign_ova test signer" 2> /dev/null || fail "openssl cannot make a test certificate"
  # ovftool's .cert: SHA256(NAME.mf)= hex of the signature of the manifest, then the certificate
  { echo "SHA256(vm.mf)= $(openssl dgst -sha256 -sign "$out.d/key.pem" "$out.d/vm.mf" | xxd -p | tr -d '\n')"
    cat "$out.d/cert.pem"; } > "$out.d/vm.cert"
  rm -f "$out.d/key.pem" "$out.d/cert.pem"
  fova_pack "$out" vm.ovf vm.mf vm.cert vm-disk1.vmdk
}

fova_vbox() {
  local raw=$1 out=$2
  fova_start "$out"
  fova_qemu_stream "$raw" "$out.d/vm-disk1.vmdk"
  local machine
  machine=$(cat <<'EOF'

    <vbox:Machine ovf:required="false" version="1.16-linux" uuid="{9f3c2a10-6d1b-4c55-9a0e-3b1f2d4c5e6f}" name="vm">
      <ovf:Info>Complete VirtualBox machine configuration in VirtualBox format</ovf:Info>
      <Hardware>
        <CPU count="1"/>
        <Memory RAMSize="512"/>
        <StorageControllers>
          <StorageController name="SCSI" type="LsiLogic" PortCount="16">
            <AttachedDevice type="HardDisk" port="0" device="0">
              <Image uuid="{1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d}"/>
            </AttachedDevice>
          </StorageController>
        </StorageControllers>
      </Hardware>
    </vbox:Machine>
EOF
)
  fova_envelope "http://schemas.dmtf.org/ovf/envelope/1" \
    "ovf:href=\"vm-disk1.vmdk\" ovf:id=\"file1\"" \
    "ovf:capacity=\"$(fova_bytes "$raw")\" vbox:uuid=\"1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d\"" \
    ' xmlns:vbox="http://www.virtualbox.org/ovf/machine"' "$machine" > "$out.d/vm.ovf"
  fova_mf SHA256 "$out.d" vm.ovf vm-disk1.vmdk > "$out.d/vm.mf"
  fova_pack "$out" vm.ovf vm.mf vm-disk1.vmdk
}
