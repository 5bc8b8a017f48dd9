/* vmdk_stream.c - formatting the header, markers, tables and footer of a
 * streamOptimized VMDK. Layout and the reasons for each value are in
 * vmdk_stream.h and docs/formats.md section 3. */
#include "format/vmdk_stream.h"

#include <string.h>

#include "ovatool/buf.h"

uint64_t ova_stream_sectors(uint64_t capacity) { return capacity / OVA_SECTOR + (capacity % OVA_SECTOR != 0); }

uint64_t ova_stream_grains(uint64_t capacity)
{
    return capacity / OVA_GRAIN_SIZE + (capacity % OVA_GRAIN_SIZE != 0);
}

uint64_t ova_stream_gts(uint64_t capacity)
{
    return capacity / OVA_GT_COVERAGE + (capacity % OVA_GT_COVERAGE != 0);
}

void ova_stream_header(unsigned char out[OVA_SECTOR], uint64_t capacity, uint64_t gd_offset)
{
    const ova_sparse_fields f = {
        .version = 3,                             /* ESXi refuses older streams */
        .flags = OVA_SPARSE_FLAG_NL_TEST | OVA_SPARSE_FLAG_COMPRESSED | OVA_SPARSE_FLAG_MARKERS, /* 0x30001 */
        .capacity = ova_stream_sectors(capacity),
        .grain = OVA_GRAIN_SECTORS,
        .desc_offset = 1,                         /* descriptor right after the header */
        .desc_size = OVA_STREAM_DESC_SECTORS,
        .gtes = OVA_GT_ENTRIES,
        .rgd_offset = 0,                          /* no redundant GD in a stream */
        .gd_offset = gd_offset,
        .overhead = OVA_STREAM_OVERHEAD,
        .unclean = 0,                             /* cleanly closed */
        .nl_ok = true,
        .compress = 1,                            /* deflate (zlib streams) */
    };
    ova_sparse_header_encode(out, &f);
}

/* A value we put inside double quotes in the descriptor. */
static int quotable(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p == '"' || *p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

ova_status ova_stream_head(const ova_stream_info *info, unsigned char *out, ova_err *err)
{
    const char *tools = info->tools_version ? info->tools_version : "2147483647";
    if (!quotable(info->extent_name) || !quotable(info->adapter_type) || !quotable(tools) ||
        (info->tools_install_type && !quotable(info->tools_install_type)))
        return ova_err_set(err, OVA_E_USAGE, "%s: a descriptor value contains a quote or control character",
                           info->extent_name);

    uint64_t sectors = ova_stream_sectors(info->capacity);
    /* BIOS geometry as VMware creators write it: IDE 16 heads, else 255. */
    int ide = strcmp(info->adapter_type, "ide") == 0;
    uint64_t heads = ide ? 16 : 255, spt = 63;
    uint64_t cyl = (sectors + heads * spt - 1) / (heads * spt);
    uint64_t cyl_max = ide ? 16383 : 65535;
    if (cyl > cyl_max)
        cyl = cyl_max;

    ova_buf d = OVA_BUF_INIT;
    ova_buf_printf(&d,
                   "# Disk DescriptorFile\n"
                   "version=1\n"
                   "encoding=\"UTF-8\"\n"
                   "CID=%08x\n"
                   "parentCID=ffffffff\n"
                   "createType=\"streamOptimized\"\n"
                   "\n"
                   "# Extent description\n"
                   "RW %llu SPARSE \"%s\"\n"
                   "\n"
                   "# The Disk Data Base\n"
                   "#DDB\n"
                   "\n"
                   "ddb.adapterType = \"%s\"\n"
                   "ddb.geometry.cylinders = \"%llu\"\n"
                   "ddb.geometry.heads = \"%llu\"\n"
                   "ddb.geometry.sectors = \"%llu\"\n"
                   "ddb.longContentID = \"%08x%08x%08x%08x\"\n",
                   info->cid, (unsigned long long)sectors, info->extent_name, info->adapter_type,
                   (unsigned long long)cyl, (unsigned long long)heads, (unsigned long long)spt,
                   info->cid ^ 0x5a5a5a5au, info->cid ^ 0xa5a5a5a5u, ~info->cid, info->cid);
    if (info->tools_install_type)
        ova_buf_printf(&d, "ddb.toolsInstallType = \"%s\"\n", info->tools_install_type);
    ova_buf_printf(&d, "ddb.toolsVersion = \"%s\"\n", tools);
    ova_buf_puts(&d, "ddb.virtualHWVersion = \"4\"\n");
    if (ova_buf_failed(&d)) {
        ova_buf_free(&d);
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory building the descriptor", info->extent_name);
    }
    if (d.len > OVA_STREAM_DESC_SECTORS * OVA_SECTOR) {
        ova_buf_free(&d);
        return ova_err_set(err, OVA_E_USAGE, "%s: embedded descriptor larger than %u bytes",
                           info->extent_name, OVA_STREAM_DESC_SECTORS * OVA_SECTOR);
    }
    memset(out, 0, (size_t)OVA_STREAM_OVERHEAD * OVA_SECTOR);
    ova_stream_header(out, info->capacity, OVA_GD_AT_END);
    memcpy(out + OVA_SECTOR, d.data, d.len);
    ova_buf_free(&d);
    return OVA_OK;
}

size_t ova_grain_record_max(void)
{
    /* Worst case of zlib's deflateBound / libdeflate's zlib bound for
     * 64 KiB stays far below 64 KiB + 1 KiB; round the record to sectors. */
    size_t raw = OVA_GRAIN_MARKER_SIZE + OVA_GRAIN_SIZE + 1024;
    return (raw + OVA_SECTOR - 1) / OVA_SECTOR * OVA_SECTOR;
}

size_t ova_grain_record_finish(unsigned char *rec, uint64_t lba, uint32_t clen)
{
    ova_put_le64(rec, lba);
    ova_put_le32(rec + 8, clen);
    size_t used = OVA_GRAIN_MARKER_SIZE + (size_t)clen;
    size_t padded = (used + OVA_SECTOR - 1) / OVA_SECTOR * OVA_SECTOR;
    memset(rec + used, 0, padded - used);
    return padded;
}

void ova_stream_marker(unsigned char out[OVA_SECTOR], uint64_t val, uint32_t type)
{
    memset(out, 0, OVA_SECTOR);
    ova_put_le64(out, val);
    ova_put_le32(out + 8, 0);  /* size 0 tells a metadata marker from a grain */
    ova_put_le32(out + 12, type);
}

void ova_stream_gt_block(unsigned char out[OVA_GT_BLOCK_SIZE], const uint32_t gt[OVA_GT_ENTRIES])
{
    ova_stream_marker(out, 4, OVA_MARKER_GT);
    for (unsigned i = 0; i < OVA_GT_ENTRIES; i++)
        ova_put_le32(out + OVA_SECTOR + 4u * i, gt[i]);
}

static uint64_t gd_sectors(uint64_t n_gds) { return (n_gds * 4 + OVA_SECTOR - 1) / OVA_SECTOR; }

size_t ova_stream_tail_size(uint64_t n_gds)
{
    return (size_t)(1 + gd_sectors(n_gds) + 1 + 1 + 1) * OVA_SECTOR;
}

void ova_stream_tail(unsigned char *out, uint64_t capacity, const uint32_t *gd, uint64_t n_gds,
                     uint64_t gd_sector)
{
    uint64_t gs = gd_sectors(n_gds);
    memset(out, 0, ova_stream_tail_size(n_gds));
    ova_stream_marker(out, gs, OVA_MARKER_GD);
    unsigned char *p = out + OVA_SECTOR;
    for (uint64_t i = 0; i < n_gds; i++)
        ova_put_le32(p + 4 * i, gd[i]);
    p += gs * OVA_SECTOR;
    ova_stream_marker(p, 1, OVA_MARKER_FOOTER);
    p += OVA_SECTOR;
    ova_stream_header(p, capacity, gd_sector);
    p += OVA_SECTOR;
    ova_stream_marker(p, 0, OVA_MARKER_EOS);
}
