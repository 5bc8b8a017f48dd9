/* wire.c - little-endian records between ovatool's own processes (wire.h). */
#include "format/wire.h"

#include "format/vmdk_stream.h"

void ova_wire_put32(ova_buf *b, uint32_t v)
{
    unsigned char x[4];
    ova_put_le32(x, v);
    ova_buf_append(b, x, 4);
}

void ova_wire_put64(ova_buf *b, uint64_t v)
{
    unsigned char x[8];
    ova_put_le64(x, v);
    ova_buf_append(b, x, 8);
}

const unsigned char *ova_wire_take(ova_wire *r, size_t n)
{
    if (r->bad || n > r->left) {
        r->bad = 1;
        return NULL;
    }
    const unsigned char *q = r->p;
    r->p += n;
    r->left -= n;
    return q;
}

uint32_t ova_wire_get32(ova_wire *r)
{
    const unsigned char *q = ova_wire_take(r, 4);
    return q != NULL ? ova_get_le32(q) : 0;
}

uint64_t ova_wire_get64(ova_wire *r)
{
    const unsigned char *q = ova_wire_take(r, 8);
    return q != NULL ? ova_get_le64(q) : 0;
}
