/* validate_ovf.c - the OVF checks of `ovatool validate`: libxml2 parses the
 * descriptor straight out of the archive, validates it against the DMTF
 * schema (DSP8023 1.1.1) when the schema folder is there, and the
 * References/Disk facts are checked against the members (docs/ovf.md
 * section 3, docs/formats.md 3.11: OVF capacity >= VMDK capacity). */
#include "ovatool/validate.h"
#include "validate/validate_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlIO.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlschemas.h>

#include "format/ovf_units.h"
#include "format/sparse_header.h"
#include "format/vmdk_stream.h"
#include "util/grow.h"

#define SCHEMA_FILE "dsp8023_1.1.1.xsd"
/* Schema errors listed per descriptor; one mistake often causes several. */
#define MAX_SCHEMA_ERRORS 10u

/* The OVF member as a libxml2 input: read in place from the OVA. */
typedef struct member_io {
    int fd;
    const ova_vmember *m;
    uint64_t done;
    ova_err *err;
    ova_status st;
} member_io;

static int io_read(void *ctx, char *buf, int len)
{
    member_io *io = ctx;
    uint64_t left = io->m->size - io->done;
    size_t n = len < 0 ? 0 : (size_t)len;
    if (n > left)
        n = (size_t)left;
    if (n == 0)
        return 0;
    io->st = ova_vpread(io->fd, buf, n, io->m->offset + io->done, io->m->name, io->err);
    if (io->st != OVA_OK)
        return -1;
    io->done += n;
    return (int)n;
}

static int io_close(void *ctx)
{
    (void)ctx;
    return 0;
}

/* Schema errors become problems; warnings ("Skipping import ...", which
 * every run prints, src/schema/README.md) are dropped. */
typedef struct schema_errs {
    ova_vlist *probs;
    const char *member;
    unsigned n;
    char first[512];           /* the first error while compiling the schema */
} schema_errs;

static void trimmed(const char *msg, char *out, size_t cap)
{
    snprintf(out, cap, "%s", msg ? msg : "(no message)");
    size_t l = strlen(out);
    while (l > 0 && (out[l - 1] == '\n' || out[l - 1] == ' '))
        out[--l] = '\0';
}

static void on_valid_error(void *ctx, xmlErrorPtr e)
{
    schema_errs *s = ctx;
    if (e == NULL || e->level < XML_ERR_ERROR)
        return;
    s->n++;
    if (s->n > MAX_SCHEMA_ERRORS)
        return;
    char msg[512];
    trimmed(e->message, msg, sizeof msg);
    ova_vlist_add(s->probs, s->member, "line %d: schema: %s", e->line, msg);
}

static void on_schema_error(void *ctx, xmlErrorPtr e)
{
    schema_errs *s = ctx;
    if (e == NULL || e->level < XML_ERR_ERROR || s->first[0])
        return;
    trimmed(e->message, s->first, sizeof s->first);
}

/* ns: the envelope's namespace (OVA_OVF1_NS or OVA_OVF2_NS), which every ovf:
 * element and attribute of the descriptor shares */
static bool is_el(const xmlNode *n, const char *ns, const char *name)
{
    return n->type == XML_ELEMENT_NODE && n->ns != NULL && n->ns->href != NULL &&
           strcmp((const char *)n->ns->href, ns) == 0 && strcmp((const char *)n->name, name) == 0;
}

static char *attr(const xmlNode *n, const char *ns, const char *name)
{
    return (char *)xmlGetNsProp(n, (const xmlChar *)name, (const xmlChar *)ns);
}

typedef struct ref_file {
    char *id, *href;
    xmlNode *node;
    ssize_t member;            /* the one member holding it; -1 if none (or chunked) */
    ova_ovf_file spec;         /* how it is stored (href borrowed) */
    bool readable;             /* its member(s) are in the archive, whole */
} ref_file;

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

/* Validate doc against DIR/dsp8023_1.1.1.xsd; a missing folder is a note,
 * a schema that does not compile an error of the check itself. */
static ova_status schema_check(xmlDocPtr doc, const char *dir, const char *member, ova_validation *v, ova_err *err)
{
    char xsd[4096];
    struct stat sb;
    if (dir == NULL || dir[0] == '\0') {
        ova_buf_puts(&v->notes, "OVF schema check skipped: no schema folder given (--schema DIR)\n");
        return OVA_OK;
    }
    snprintf(xsd, sizeof xsd, "%s/%s", dir, SCHEMA_FILE);
    if (stat(xsd, &sb) != 0) {
        ova_buf_printf(&v->notes, "OVF schema check skipped: %s not found\n", xsd);
        return OVA_OK;
    }
    /* no network: the CIM imports of the same namespace are skipped by
     * libxml2 (src/schema/README.md); anything else must not reach out either */
    xmlExternalEntityLoader old = xmlGetExternalEntityLoader();
    xmlSetExternalEntityLoader(xmlNoNetExternalEntityLoader);
    schema_errs se = { &v->problems, member, 0, "" };
    ova_status st = OVA_OK;
    xmlSchemaValidCtxtPtr vc = NULL;
    xmlSchemaPtr schema = NULL;
    xmlSchemaParserCtxtPtr pc = xmlSchemaNewParserCtxt(xsd);
    if (pc == NULL) {
        st = ova_err_set(err, OVA_E_NOMEM, "%s: out of memory loading the schema", xsd);
        goto out;
    }
    xmlSchemaSetParserStructuredErrors(pc, on_schema_error, &se);
    schema = xmlSchemaParse(pc);
    if (schema == NULL) {
        st = ova_err_set(err, OVA_E_FORMAT, "%s: the OVF schema does not compile: %s", xsd,
                         se.first[0] ? se.first : "unknown error");
        goto out;
    }
    vc = xmlSchemaNewValidCtxt(schema);
    if (vc == NULL) {
        st = ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", xsd);
        goto out;
    }
    xmlSchemaSetValidStructuredErrors(vc, on_valid_error, &se);
    int rc = xmlSchemaValidateDoc(vc, doc);
    if (rc != 0 && se.n == 0)
        ova_vlist_add(&v->problems, member, "does not validate against the DMTF OVF schema");
    if (se.n > MAX_SCHEMA_ERRORS)
        ova_vlist_add(&v->problems, member, "%u more schema errors", se.n - MAX_SCHEMA_ERRORS);
    v->schema_checked = true;
out:
    if (vc)
        xmlSchemaFreeValidCtxt(vc);
    if (schema)
        xmlSchemaFree(schema);
    if (pc)
        xmlSchemaFreeParserCtxt(pc);
    xmlSetExternalEntityLoader(old);
    return st;
}

/* The VMDK header capacity of file r in sectors; false if it has none. A
 * plain member is read in place (an OVF may hold a million Disk entries); a
 * chunked or gzip disk through the member reader, as its own bytes (the
 * first sector only). */
static bool vmdk_capacity(int fd, const ova_vmember *m, size_t n, const ref_file *r, uint64_t *sectors,
                          ova_status *st, ova_err *err)
{
    unsigned char h[OVA_SECTOR];
    ova_sparse_fields hf;
    if (r->spec.chunk_size == 0 && !r->spec.gzip) {
        const ova_vmember *mb = &m[r->member];
        if (mb->size < OVA_SECTOR || mb->truncated)
            return false;
        if ((*st = ova_vpread(fd, h, sizeof h, mb->offset, mb->name, err)) != OVA_OK)
            return false;
    } else {
        ova_member_reader *rd;
        ova_err scratch = { 0 };
        /* a file the reader cannot open is reported where its References are */
        if (ova_member_reader_open(fd, m, n, &r->spec, NULL, NULL, &rd, &scratch) != OVA_OK)
            return false;
        size_t have = 0, got = 1;
        ova_status rs = OVA_OK;
        while (rs == OVA_OK && have < sizeof h && got > 0) {
            rs = ova_member_reader_read(rd, h + have, sizeof h - have, &got, &scratch);
            have += got;
        }
        ova_member_reader_close(&rd);
        if (rs == OVA_E_IO || rs == OVA_E_NOMEM) {
            *st = ova_err_set(err, rs, "%s", scratch.msg);
            return false;
        }
        if (rs != OVA_OK || have < sizeof h)
            return false; /* a bad gzip stream is reported by the member's read */
    }
    if (!ova_sparse_header_decode(h, &hf))
        return false;
    *sectors = hf.capacity;
    return true;
}

/* ovf:chunkSize and ovf:compression of a File: how it is stored. false
 * with a problem when they hold something no reader can follow. */
static bool storage_of(ref_file *r, const char *ns, const char *on, ova_vlist *p)
{
    char *cs = attr(r->node, ns, "chunkSize"), *comp = attr(r->node, ns, "compression");
    bool ok = true;
    r->spec.href = r->href;
    r->spec.chunk_size = 0;
    r->spec.gzip = false;
    if (cs != NULL && (!ova_ovf_parse_u64(cs, &r->spec.chunk_size) || r->spec.chunk_size == 0)) {
        ova_vlist_add(p, on, "References/File %s: ovf:chunkSize \"%s\" is not a positive number", r->href, cs);
        ok = false;
    }
    if (comp != NULL && strcmp(comp, "gzip") == 0)
        r->spec.gzip = true;
    else if (comp != NULL && strcmp(comp, "identity") != 0 && comp[0] != '\0') {
        ova_vlist_add(p, on, "References/File %s: ovf:compression \"%s\" cannot be read (DSP0243 defines gzip and "
                      "identity)", r->href, comp);
        ok = false;
    }
    xmlFree(cs);
    xmlFree(comp);
    return ok;
}

/* VirtualBox adds its own copy of the machine, vbox:Machine, at the end of
 * VirtualSystem, where DSP8023 1.1.1 allows no element of another
 * namespace; every other importer skips it (ovf:required="false"), and so
 * does this check: the element is dropped before the schema sees the
 * document, with a note. Nothing after the schema reads VirtualSystem. */
#define VBOX_NS "http://www.virtualbox.org/ovf/machine"

static void drop_vbox_machine(xmlNode *root, const char *ns, const char *member, ova_validation *v)
{
    for (xmlNode *vs = root->children; vs; vs = vs->next) {
        if (!is_el(vs, ns, "VirtualSystem"))
            continue;
        for (xmlNode *c = vs->children, *next; c; c = next) {
            next = c->next;
            if (c->type != XML_ELEMENT_NODE || c->ns == NULL || c->ns->href == NULL ||
                strcmp((const char *)c->ns->href, VBOX_NS) != 0 || strcmp((const char *)c->name, "Machine") != 0)
                continue;
            ova_vlist_add(&v->layout_notes, member, "line %ld: vbox:Machine, VirtualBox's own copy of the machine "
                          "configuration: ignored, as importers other than VirtualBox ignore it (the schema check "
                          "ran without it)", (long)xmlGetLineNo(c));
            xmlUnlinkNode(c);
            xmlFreeNode(c);
        }
    }
}

/* Every lookup goes through a sorted index (validate.h, ova_vkey): an OVF
 * within the size limit may hold over a million References/File entries,
 * and a scan per entry made 80,000 of them take 32 s. */
static ova_status cross_check(int fd, xmlNode *root, const char *ns, const ova_vmember *m, size_t n,
                              size_t ovf_index, ova_validation *v, ova_vfile **stored, size_t *n_stored,
                              ova_err *err)
{
    size_t cap_stored = 0, tried = 0; /* chunked or gzip Files looked up: each costs a scan of the members */
    const char *on = m[ovf_index].name;
    ova_vlist *p = &v->problems;
    ref_file *files = NULL;
    size_t nf = 0, capf = 0, nh = 0, ni = 0;
    ova_vkey *members = NULL, *by_href = NULL, *by_id = NULL;
    ssize_t *described = NULL;  /* per member: the first References/File naming it */
    ova_status st = OVA_OK;

    for (xmlNode *sec = root->children; sec; sec = sec->next) {
        if (!is_el(sec, ns, "References"))
            continue;
        for (xmlNode *f = sec->children; f; f = f->next) {
            if (!is_el(f, ns, "File"))
                continue;
            ref_file *nfp = ova_grow(files, &capf, nf + 1, sizeof *nfp);
            if (nfp == NULL) {
                st = ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", on);
                goto out;
            }
            files = nfp;
            ref_file *r = &files[nf++];
            r->id = attr(f, ns, "id");
            r->href = attr(f, ns, "href");
            r->node = f;
            r->member = -1;
            r->readable = false;
            r->spec = (ova_ovf_file){ NULL, 0, false };
        }
    }
    members = ova_vmember_index(m, n);
    by_href = malloc((nf ? nf : 1) * sizeof *by_href);
    by_id = malloc((nf ? nf : 1) * sizeof *by_id);
    described = malloc((n ? n : 1) * sizeof *described);
    if (members == NULL || by_href == NULL || by_id == NULL || described == NULL) {
        st = ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", on);
        goto out;
    }
    for (size_t k = 0; k < nf; k++) {
        if (files[k].href != NULL)
            by_href[nh++] = (ova_vkey){ files[k].href, k };
        if (files[k].id != NULL)
            by_id[ni++] = (ova_vkey){ files[k].id, k };
    }
    ova_vkeys_sort(by_href, nh);
    ova_vkeys_sort(by_id, ni);
    for (size_t i = 0; i < n; i++)
        described[i] = -1;

    /* in document order, as a reader meets them */
    for (size_t k = 0; k < nf; k++) {
        ref_file *r = &files[k];
        char *size = attr(r->node, ns, "size");
        if (r->href == NULL) {
            ova_vlist_add(p, on, "line %ld: References/File without ovf:href", (long)xmlGetLineNo(r->node));
        } else {
            /* once for each entry that repeats an earlier one's href */
            if (ova_vkeys_find(by_href, nh, r->href) != (ssize_t)k)
                ova_vlist_add(p, on, "References name %s twice", r->href);
            bool plain = storage_of(r, ns, on, p) && r->spec.chunk_size == 0;
            uint64_t sz, stored_size = 0;
            if (r->spec.chunk_size > 0 || r->spec.gzip) {
                /* a chunk or gzip member per file at least: more such files
                 * than members cannot all be there (and each costs a scan) */
                if (tried++ >= n) {
                    if (tried == n + 1)
                        ova_vlist_add(p, on, "References/File %s: more chunked or gzip files than members; this "
                                      "one and the ones after it are not read", r->href);
                    xmlFree(size);
                    continue;
                }
                ova_member_reader *rd;
                ova_err why = { 0 };
                ova_status rs = ova_member_reader_open(fd, m, n, &r->spec, NULL, NULL, &rd, &why);
                if (rs == OVA_E_FORMAT) {
                    ova_vlist_add(p, on, "References/File %s: %s", r->href, why.msg);
                    /* its chunks are described, if unreadable: one problem, not one per chunk */
                    for (size_t i = 0; i < n && r->spec.chunk_size > 0; i++) {
                        unsigned c;
                        if (described[i] < 0 && ova_vchunk_number(m[i].name, r->href, strlen(r->href), &c))
                            described[i] = (ssize_t)k;
                    }
                } else if (rs != OVA_OK) {
                    st = ova_err_set(err, rs, "%s", why.msg);
                    xmlFree(size);
                    goto out;
                } else {
                    const size_t *parts;
                    size_t np = ova_member_reader_parts(rd, &parts);
                    for (size_t j = 0; j < np; j++)
                        if (described[parts[j]] < 0)
                            described[parts[j]] = (ssize_t)k;
                    if (r->spec.chunk_size == 0)
                        r->member = (ssize_t)parts[0];
                    stored_size = ova_member_reader_stored(rd);
                    ova_member_reader_close(&rd);
                    r->readable = true;
                    ova_vfile *nsf = ova_grow(*stored, &cap_stored, *n_stored + 1, sizeof *nsf);
                    if (nsf == NULL) {
                        st = ova_err_set(err, OVA_E_NOMEM, "%s: out of memory", on);
                        xmlFree(size);
                        goto out;
                    }
                    *stored = nsf;
                    ova_vfile *sf = &nsf[(*n_stored)++];
                    snprintf(sf->href, sizeof sf->href, "%s", r->href);
                    sf->chunk_size = r->spec.chunk_size;
                    sf->gzip = r->spec.gzip;
                }
            } else if (plain) {
                r->member = ova_vkeys_find(members, n, r->href);
                if (r->member < 0)
                    ova_vlist_add(p, on, "References/File %s is not a member of the archive", r->href);
                else {
                    r->readable = !m[r->member].truncated;
                    stored_size = m[r->member].size;
                    if (described[r->member] < 0)
                        described[r->member] = (ssize_t)k;
                }
            }
            /* ovf:size is the stored size: of the gzip stream when
             * compressed, of all chunks together when chunked (DSP0243) */
            if (!r->readable && !(plain && r->member >= 0))
                ; /* not there: said above */
            else if (size != NULL && !ova_ovf_parse_u64(size, &sz))
                ova_vlist_add(p, on, "References/File %s: ovf:size \"%s\" is not a number", r->href, size);
            else if (size != NULL && sz != stored_size)
                ova_vlist_add(p, on, "References/File %s: ovf:size is %llu, the %s %llu bytes", r->href,
                              (unsigned long long)sz,
                              r->spec.chunk_size > 0 ? "chunks hold" : "member has", (unsigned long long)stored_size);
        }
        if (r->id != NULL && ova_vkeys_find(by_id, ni, r->id) != (ssize_t)k)
            ova_vlist_add(p, on, "References use ovf:id %s twice", r->id);
        xmlFree(size);
    }

    for (xmlNode *sec = root->children; sec; sec = sec->next) {
        if (!is_el(sec, ns, "DiskSection"))
            continue;
        for (xmlNode *d = sec->children; d; d = d->next) {
            if (!is_el(d, ns, "Disk"))
                continue;
            char *id = attr(d, ns, "diskId"), *ref = attr(d, ns, "fileRef"), *cap = attr(d, ns, "capacity");
            char *units = attr(d, ns, "capacityAllocationUnits");
            const char *dn = id ? id : "(no ovf:diskId)";
            ref_file *rf = NULL;
            if (ref != NULL) {
                /* the last File with that id (a repeated id is reported above) */
                size_t first, end;
                ova_vkeys_range(by_id, ni, ref, &first, &end);
                if (first < end)
                    rf = &files[by_id[end - 1].pos];
                else
                    ova_vlist_add(p, on, "Disk %s: ovf:fileRef %s names no References/File", dn, ref);
            }
            uint64_t c, mult, sectors = 0;
            if (cap == NULL) {
                ova_vlist_add(p, on, "Disk %s: no ovf:capacity", dn);
            } else if (!ova_ovf_parse_u64(cap, &c)) {
                ova_vlist_add(p, on, "Disk %s: ovf:capacity \"%s\" is not a number", dn, cap);
            } else if (!ova_ovf_parse_units(units, &mult)) {
                ova_vlist_add(p, on, "Disk %s: ovf:capacityAllocationUnits \"%s\" is not byte, byte * 2^N or "
                              "byte * 10^N", dn, units);
            } else if (c != 0 && mult > UINT64_MAX / c) {
                ova_vlist_add(p, on, "Disk %s: capacity %s x %s does not fit in 64 bits", dn, cap, units);
            } else if (rf != NULL && rf->readable && vmdk_capacity(fd, m, n, rf, &sectors, &st, err)) {
                uint64_t bytes = c * mult;
                /* compare in sectors: the header rounds a byte capacity up */
                uint64_t ovf_sectors = bytes / OVA_SECTOR + (bytes % OVA_SECTOR != 0);
                if (ovf_sectors < sectors)
                    ova_vlist_add(p, on, "Disk %s: ovf:capacity is %llu bytes, less than the %llu bytes of %s's "
                                  "VMDK header (importers fail)", dn, (unsigned long long)bytes,
                                  (unsigned long long)(sectors * OVA_SECTOR), rf->href);
            }
            xmlFree(id);
            xmlFree(ref);
            xmlFree(cap);
            xmlFree(units);
            if (st != OVA_OK)
                goto out;
        }
    }

    /* every file of the archive is described, in References order */
    size_t next_ref = 0;
    bool order_ok = true;
    for (size_t i = 0; i < n; i++) {
        if (i == ovf_index || ends_with(m[i].name, ".mf") || ends_with(m[i].name, ".cert"))
            continue;
        if (described[i] < 0) {
            ova_vlist_add(p, m[i].name, "not listed in the OVF References");
            continue;
        }
        size_t k = (size_t)described[i];
        if (k < next_ref)
            order_ok = false;
        next_ref = k; /* the chunks of one file follow each other */
    }
    if (!order_ok)
        ova_vlist_add(p, on, "the archive does not hold the files in References order");
out:
    for (size_t k = 0; k < nf; k++) {
        xmlFree(files[k].id);
        xmlFree(files[k].href);
    }
    free(files);
    free(members);
    free(by_href);
    free(by_id);
    free(described);
    return st;
}

ova_status ova_vovf_check(int fd, const ova_vmember *members, size_t n_members, size_t ovf_index,
                          const char *schema_dir, ova_validation *v, ova_vfile **stored, size_t *n_stored,
                          ova_err *err)
{
    const ova_vmember *om = &members[ovf_index];
    if (om->truncated)
        return OVA_OK; /* reported by the tar walk */
    if (om->size > OVA_VALIDATE_MAX_OVF_BYTES) {
        ova_vlist_add(&v->problems, om->name, "descriptor of %llu bytes is larger than the limit of %llu bytes; "
                      "not parsed", (unsigned long long)om->size, (unsigned long long)OVA_VALIDATE_MAX_OVF_BYTES);
        return OVA_OK;
    }
    xmlInitParser();
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if (ctxt == NULL)
        return ova_err_set(err, OVA_E_NOMEM, "%s: out of memory for the XML parser", om->name);
    member_io io = { fd, om, 0, err, OVA_OK };
    /* no network, no entity expansion, no libxml2 chatter on stderr */
    xmlDocPtr doc = xmlCtxtReadIO(ctxt, io_read, io_close, &io, om->name, NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    ova_status st = io.st;
    if (st != OVA_OK)
        goto out;
    if (doc == NULL) {
        xmlErrorPtr e = xmlCtxtGetLastError(ctxt);
        char msg[512];
        trimmed(e ? e->message : NULL, msg, sizeof msg);
        ova_vlist_add(&v->problems, om->name, "line %d: not well-formed XML: %s", e ? e->line : 0, msg);
        goto out;
    }
    xmlNode *root = xmlDocGetRootElement(doc);
    bool v2 = root != NULL && is_el(root, OVA_OVF2_NS, "Envelope");
    const char *ns = v2 ? OVA_OVF2_NS : OVA_OVF1_NS;
    if (root == NULL || !is_el(root, ns, "Envelope")) {
        ova_vlist_add(&v->problems, om->name, "the root element is not an OVF 1.x Envelope (namespace %s) nor a 2.x "
                      "one (%s)", OVA_OVF1_NS, OVA_OVF2_NS);
        goto out;
    }
    drop_vbox_machine(root, ns, om->name, v);
    if (v2) {
        /* DSP8023 1.1.1 has only the 1.x namespace: every element would be
         * "not expected"; the References and Disk checks below still run */
        ova_buf_printf(&v->notes, "OVF schema check skipped: %s is an OVF 2.x envelope (%s); the schema folder "
                       "holds DSP8023 1.1.1, the OVF 1.x schema\n", om->name, OVA_OVF2_NS);
    } else if ((st = schema_check(doc, schema_dir, om->name, v, err)) != OVA_OK)
        goto out;
    st = cross_check(fd, root, ns, members, n_members, ovf_index, v, stored, n_stored, err);
out:
    if (doc)
        xmlFreeDoc(doc);
    xmlFreeParserCtxt(ctxt);
    return st;
}

void ova_validate_global_cleanup(void)
{
    xmlCleanupParser();
}
