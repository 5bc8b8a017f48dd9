/* test_vmx.c - unit tests for the VMX reader: grammar, escapes, encodings, errors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "unit_skip.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovatool/vmx.h"

#define FIX(name) OVATOOL_FIXTURES "/vmx/" name

static ova_vmx *parse_len(const char *text, size_t len)
{
    ova_vmx *v = NULL;
    ova_err err;
    ova_err_clear(&err);
    ova_status st = ova_vmx_parse(text, len, "t.vmx", &v, &err);
    if (st != OVA_OK)
        fail_msg("parse failed: %s", err.msg);
    assert_non_null(v);
    return v;
}

static ova_vmx *parse(const char *text) { return parse_len(text, strlen(text)); }

/* Parse text expecting failure; the message must contain want_msg. */
static void parse_fails_len(const char *text, size_t len, ova_status want, const char *want_msg)
{
    ova_vmx *v = (ova_vmx *)1;
    ova_err err;
    ova_err_clear(&err);
    ova_status st = ova_vmx_parse(text, len, "vm.vmx", &v, &err);
    assert_int_equal(st, want);
    assert_int_equal(err.status, want);
    assert_null(v);
    if (strstr(err.msg, want_msg) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, want_msg);
}

static void parse_fails(const char *text, ova_status want, const char *want_msg)
{
    parse_fails_len(text, strlen(text), want, want_msg);
}

static ova_vmx *load_ok(const char *path)
{
    ova_vmx *v = NULL;
    ova_err err;
    ova_err_clear(&err);
    if (ova_vmx_load(path, &v, &err) != OVA_OK)
        fail_msg("load failed: %s", err.msg);
    return v;
}

static void load_fails(const char *path, ova_status want, const char *want_msg)
{
    ova_vmx *v = NULL;
    ova_err err;
    ova_err_clear(&err);
    assert_int_equal(ova_vmx_load(path, &v, &err), want);
    assert_null(v);
    if (strstr(err.msg, want_msg) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, want_msg);
}

static void test_basic(void **state)
{
    (void)state;
    ova_vmx *v = parse(".encoding = \"UTF-8\"\nconfig.version = \"8\"\ndisplayName = \"My VM\"\n");
    assert_int_equal(v->n_entries, 3);
    assert_string_equal(v->path, "t.vmx");
    assert_string_equal(v->entries[0].key, ".encoding");
    assert_string_equal(v->entries[2].key, "displayname");
    assert_string_equal(v->entries[2].value, "My VM");
    assert_int_equal(v->entries[2].line, 3);
    assert_string_equal(ova_vmx_get(v, "config.version"), "8");
    assert_null(ova_vmx_get(v, "nosuchkey"));
    ova_vmx_free(&v);
    assert_null(v);
    ova_vmx_free(&v);
    ova_vmx_free(NULL);
}

static void test_keys_case_insensitive(void **state)
{
    (void)state;
    ova_vmx *v = parse("MemSize = \"512\"\nGUESTOS = \"Ubuntu-64\"\nscsi0:0.FileName = \"a.vmdk\"\n");
    assert_string_equal(v->entries[0].key, "memsize");
    assert_string_equal(v->entries[1].key, "guestos");
    assert_string_equal(ova_vmx_get(v, "memsize"), "512");
    assert_string_equal(ova_vmx_get(v, "MEMSIZE"), "512");
    assert_string_equal(ova_vmx_get(v, "guestOS"), "Ubuntu-64"); /* values keep their case */
    assert_string_equal(ova_vmx_get(v, "SCSI0:0.filename"), "a.vmdk");
    const ova_vmx_entry *e = ova_vmx_find(v, "GuestOs");
    assert_non_null(e);
    assert_int_equal(e->line, 2);
    ova_vmx_free(&v);
}

static void test_unquoted_values(void **state)
{
    (void)state;
    ova_vmx *v = parse("sata0.present = TRUE\nmemsize=2048\nname = two words  \nempty =\nq = \"\"\n");
    assert_string_equal(ova_vmx_get(v, "sata0.present"), "TRUE");
    assert_string_equal(ova_vmx_get(v, "memsize"), "2048");
    assert_string_equal(ova_vmx_get(v, "name"), "two words");
    assert_string_equal(ova_vmx_get(v, "empty"), "");
    assert_string_equal(ova_vmx_get(v, "q"), "");
    ova_vmx_free(&v);
}

static void test_blanks_around_equals(void **state)
{
    (void)state;
    ova_vmx *v = parse("a=\"1\"\nb =\"2\"\nc= \"3\"\n   d    =    \"4\"   \n");
    assert_string_equal(ova_vmx_get(v, "a"), "1");
    assert_string_equal(ova_vmx_get(v, "b"), "2");
    assert_string_equal(ova_vmx_get(v, "c"), "3");
    assert_string_equal(ova_vmx_get(v, "d"), "4");
    ova_vmx_free(&v);
}

static void test_tabs(void **state)
{
    (void)state;
    ova_vmx *v = parse("\tmemsize\t=\t\"512\"\t\nguestOS\t= other\t\n\t# tabbed comment\n \t \n");
    assert_int_equal(v->n_entries, 2);
    assert_string_equal(ova_vmx_get(v, "memsize"), "512");
    assert_string_equal(ova_vmx_get(v, "guestos"), "other");
    ova_vmx_free(&v);
}

static void test_comments(void **state)
{
    (void)state;
    ova_vmx *v = parse("# whole-line comment = \"not a key\"\n"
                       "   # indented comment\n"
                       "memsize = \"512\" # comment after a value\n"
                       "numvcpus = 2 # comment after an unquoted value\n"
                       "x = \"a\"#no blank before the comment\n");
    assert_int_equal(v->n_entries, 3);
    assert_string_equal(ova_vmx_get(v, "memsize"), "512");
    assert_string_equal(ova_vmx_get(v, "numvcpus"), "2");
    assert_string_equal(ova_vmx_get(v, "x"), "a");
    ova_vmx_free(&v);
}

static void test_hash_inside_quotes(void **state)
{
    (void)state;
    ova_vmx *v = parse("displayName = \"VM #1 # not a comment\" # a comment\nann = \"|23 escaped\"\n");
    assert_string_equal(ova_vmx_get(v, "displayName"), "VM #1 # not a comment");
    assert_string_equal(ova_vmx_get(v, "ann"), "# escaped");
    ova_vmx_free(&v);
}

static void test_blank_lines_and_empty_input(void **state)
{
    (void)state;
    ova_vmx *v = parse("\n\n   \nmemsize = \"1\"\n\n\n");
    assert_int_equal(v->n_entries, 1);
    assert_int_equal(v->entries[0].line, 4);
    ova_vmx_free(&v);
    v = parse("");
    assert_int_equal(v->n_entries, 0);
    ova_vmx_free(&v);
    v = parse("# only a comment\n");
    assert_int_equal(v->n_entries, 0);
    ova_vmx_free(&v);
}

static void test_crlf_in_memory(void **state)
{
    (void)state;
    ova_vmx *v = parse("a = \"1\"\r\nb = 2\r\n\r\nc = \"3\" # c\r\nd = \"4\"\r\n");
    assert_int_equal(v->n_entries, 4);
    assert_string_equal(ova_vmx_get(v, "a"), "1");
    assert_string_equal(ova_vmx_get(v, "b"), "2");
    assert_string_equal(ova_vmx_get(v, "c"), "3");
    assert_int_equal(ova_vmx_find(v, "d")->line, 5);
    ova_vmx_free(&v);
}

static void test_crlf_file(void **state)
{
    (void)state;
    ova_vmx *v = load_ok(FIX("crlf.vmx"));
    assert_string_equal(v->path, FIX("crlf.vmx"));
    assert_string_equal(ova_vmx_get(v, "displayName"), "crlf vm");
    assert_string_equal(ova_vmx_get(v, "memsize"), "1024");
    assert_string_equal(ova_vmx_get(v, "numvcpus"), "2");
    assert_string_equal(ova_vmx_get(v, "guestOS"), "other-64"); /* last line has no CRLF */
    assert_int_equal(ova_vmx_find(v, "guestos")->line, 7);
    ova_vmx_free(&v);
}

static void test_no_final_newline(void **state)
{
    (void)state;
    ova_vmx *v = parse("a = \"1\"\nb = \"2\"");
    assert_string_equal(ova_vmx_get(v, "b"), "2");
    ova_vmx_free(&v);
    v = parse("a = unquoted");
    assert_string_equal(ova_vmx_get(v, "a"), "unquoted");
    ova_vmx_free(&v);
}

static void test_duplicates_last_wins(void **state)
{
    (void)state;
    ova_vmx *v = parse("memsize = \"256\"\nguestOS = \"other\"\nMEMSIZE = \"1024\"\nmemSize = \"2048\"\n");
    assert_int_equal(v->n_entries, 2);
    assert_string_equal(v->entries[0].key, "memsize"); /* position of the first */
    assert_string_equal(v->entries[0].value, "2048"); /* value of the last */
    assert_int_equal(v->entries[0].line, 4);
    assert_string_equal(v->entries[1].key, "guestos");
    ova_vmx_free(&v);
}

static void test_escapes_basic(void **state)
{
    (void)state;
    ova_vmx *v = parse("q = \"say |22hi|22\"\n"
                       "p = \"a|7Cb|7cc\"\n"
                       "n = \"line1|0Aline2|0aline3\"\n"
                       "h = \"|23 not a comment\"\n"
                       "u = |22unquoted|22\n");
    assert_string_equal(ova_vmx_get(v, "q"), "say \"hi\"");
    assert_string_equal(ova_vmx_get(v, "p"), "a|b|c");
    assert_string_equal(ova_vmx_get(v, "n"), "line1\nline2\nline3");
    assert_string_equal(ova_vmx_get(v, "h"), "# not a comment");
    assert_string_equal(ova_vmx_get(v, "u"), "\"unquoted\"");
    ova_vmx_free(&v);
}

static void test_escapes_utf8_bytes(void **state)
{
    (void)state;
    ova_vmx *v = parse("displayName = \"Caf|C3|A9\"\nx = \"|E2|82|AC\"\n");
    assert_string_equal(ova_vmx_get(v, "displayName"), "Caf\xC3\xA9");
    assert_string_equal(ova_vmx_get(v, "x"), "\xE2\x82\xAC");
    ova_vmx_free(&v);
}

static void test_lone_pipe_literal(void **state)
{
    (void)state;
    ova_vmx *v = parse("a = \"a|b\"\nb = \"end|\"\nc = \"|4\"\nd = \"|zz\"\ne = \"||22\"\nf = \"|\"\n"
                       "g = \"|4g\"\nh = \"x|A\"\n");
    assert_string_equal(ova_vmx_get(v, "a"), "a|b");
    assert_string_equal(ova_vmx_get(v, "b"), "end|");
    assert_string_equal(ova_vmx_get(v, "c"), "|4");
    assert_string_equal(ova_vmx_get(v, "d"), "|zz");
    assert_string_equal(ova_vmx_get(v, "e"), "|\"");
    assert_string_equal(ova_vmx_get(v, "f"), "|");
    assert_string_equal(ova_vmx_get(v, "g"), "|4g");
    assert_string_equal(ova_vmx_get(v, "h"), "x|A");
    ova_vmx_free(&v);
}

static void test_escape_after_split(void **state)
{
    (void)state;
    /* an escaped quote or '=' must not confuse splitting */
    ova_vmx *v = parse("k = \"a|3Db|22\" # |22 in a comment\n");
    assert_int_equal(v->n_entries, 1);
    assert_string_equal(ova_vmx_get(v, "k"), "a=b\"");
    ova_vmx_free(&v);
}

static void test_escaped_nul_rejected(void **state)
{
    (void)state;
    parse_fails("a = \"1\"\nb = \"x|00y\"\n", OVA_E_FORMAT, "vm.vmx: line 2: b: escaped NUL");
}

static void test_encoding_cp1252_file(void **state)
{
    (void)state;
    ova_vmx *v = load_ok(FIX("cp1252.vmx"));
    assert_string_equal(ova_vmx_get(v, "displayName"), "Caf\xC3\xA9");
    /* 0x80 is the euro sign; |E9 is an escaped windows-1252 byte */
    assert_string_equal(ova_vmx_get(v, "annotation"), "\xE2\x82\xAC 10 \xC3\xA9t\xC3\xA9");
    assert_string_equal(ova_vmx_get(v, ".encoding"), "windows-1252");
    ova_vmx_free(&v);
}

static void test_encoding_shift_jis_file(void **state)
{
    (void)state;
    ova_vmx *v = load_ok(FIX("sjis.vmx"));
    assert_string_equal(ova_vmx_get(v, "displayName"), "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E"); /* 日本語 */
    /* 表 has 0x5C as trail byte; − has 0x7C, escaped as |7C in the file */
    assert_string_equal(ova_vmx_get(v, "annotation"), "\xE8\xA1\xA8 \xE2\x88\x92");
    ova_vmx_free(&v);
}

static void test_encoding_iso8859_1(void **state)
{
    (void)state;
    ova_vmx *v = parse("name = \"Se\xF1or \xE9t\xE9\"\n.encoding = \"ISO-8859-1\"\n");
    /* .encoding applies to the whole file, even lines before it */
    assert_string_equal(ova_vmx_get(v, "name"), "Se\xC3\xB1or \xC3\xA9t\xC3\xA9");
    ova_vmx_free(&v);
}

static void test_encoding_utf8_explicit_and_default(void **state)
{
    (void)state;
    ova_vmx *v = parse(".encoding = \"UTF-8\"\nname = \"\xC3\xA9\xE2\x82\xAC\"\n");
    assert_string_equal(ova_vmx_get(v, "name"), "\xC3\xA9\xE2\x82\xAC");
    ova_vmx_free(&v);
    v = parse("name = \"\xC3\xA9\"\n");
    assert_string_equal(ova_vmx_get(v, "name"), "\xC3\xA9");
    ova_vmx_free(&v);
    v = parse(".encoding = \"utf-8\"\nname = \"x\"\n");
    assert_string_equal(ova_vmx_get(v, "name"), "x");
    ova_vmx_free(&v);
}

static void test_unknown_encoding(void **state)
{
    (void)state;
    parse_fails("a = \"1\"\n.encoding = \"EBCDIC-XYZ-999\"\n", OVA_E_FORMAT,
                "vm.vmx: line 2: unknown .encoding \"EBCDIC-XYZ-999\"");
    load_fails(FIX("unknown-encoding.vmx"), OVA_E_FORMAT, "unknown-encoding.vmx: line 1: unknown .encoding");
}

static void test_invalid_bytes_for_encoding(void **state)
{
    (void)state;
    load_fails(FIX("bad-sjis.vmx"), OVA_E_FORMAT, "bad-sjis.vmx: line 3: annotation: value is not valid Shift_JIS");
    load_fails(FIX("bad-utf8.vmx"), OVA_E_FORMAT, "bad-utf8.vmx: line 2: displayname: value is not valid UTF-8");
    /* no .encoding: assumed UTF-8, and the message says how to fix it */
    parse_fails("a = \"ok\"\nb = \"caf\xE9\"\n", OVA_E_FORMAT, "line 2: b: value is not valid UTF-8 (byte 0xE9");
    parse_fails("b = \"caf\xE9\"\n", OVA_E_FORMAT, "add a .encoding line");
    /* escapes produce bytes in the file's charset, so they are checked too */
    parse_fails(".encoding = \"UTF-8\"\nb = \"|C3\"\n", OVA_E_FORMAT, "line 2: b: value is not valid UTF-8");
    /* 0x81 is unassigned in windows-1252 */
    parse_fails(".encoding = \"windows-1252\"\nb = \"x\x81\"\n", OVA_E_FORMAT, "not valid windows-1252");
}

static void test_bom_skipped(void **state)
{
    (void)state;
    ova_vmx *v = parse("\xEF\xBB\xBF" "a = \"1\"\n");
    assert_string_equal(v->entries[0].key, "a");
    assert_int_equal(v->entries[0].line, 1);
    ova_vmx_free(&v);
    v = load_ok(FIX("bom.vmx"));
    assert_string_equal(v->entries[0].key, ".encoding");
    assert_string_equal(ova_vmx_get(v, "displayName"), "bom vm");
    ova_vmx_free(&v);
}

static void test_error_no_equals(void **state)
{
    (void)state;
    parse_fails("a = \"1\"\n\nthis line has no equals sign\n", OVA_E_FORMAT, "vm.vmx: line 3: expected key = value");
    parse_fails("memsize \"512\"\n", OVA_E_FORMAT, "line 1: expected key = value");
    parse_fails("key # = \"in comment\"\n", OVA_E_FORMAT, "line 1: expected key = value");
    parse_fails(" = \"no key\"\n", OVA_E_FORMAT, "line 1: expected key = value");
    parse_fails("two words = \"x\"\n", OVA_E_FORMAT, "line 1: invalid key \"two words\"");
}

static void test_error_unterminated_quote(void **state)
{
    (void)state;
    parse_fails("a = \"1\"\nb = \"2\"\n\nname = \"no end\n", OVA_E_FORMAT, "vm.vmx: line 4: unterminated quoted value");
    parse_fails("name = \"", OVA_E_FORMAT, "line 1: unterminated quoted value");
    /* the closing quote must be on the same line */
    parse_fails("ann = \"a\nb\"\n", OVA_E_FORMAT, "line 1: unterminated quoted value");
}

static void test_error_text_after_quote(void **state)
{
    (void)state;
    parse_fails("a = \"1\" \"2\"\n", OVA_E_FORMAT, "line 1: unexpected text after the closing quote");
}

static void test_error_nul_byte(void **state)
{
    (void)state;
    static const char text[] = "a = \"1\"\nb = \"x\0y\"\n";
    parse_fails_len(text, sizeof text - 1, OVA_E_FORMAT, "line 2: NUL byte");
}

static void test_error_name_default(void **state)
{
    (void)state;
    ova_vmx *v = NULL;
    ova_err err;
    ova_err_clear(&err);
    assert_int_equal(ova_vmx_parse("oops\n", 5, NULL, &v, &err), OVA_E_FORMAT);
    assert_string_equal(err.msg, "<memory>: line 1: expected key = value");
}

static void test_long_line(void **state)
{
    (void)state;
    size_t n = 200000;
    char *text = malloc(n + 64);
    assert_non_null(text);
    int k = sprintf(text, "a = \"1\"\nannotation = \"");
    memset(text + k, 'x', n);
    strcpy(text + k + n, "\"\nb = \"2\"\n");
    ova_vmx *v = parse(text);
    assert_int_equal(strlen(ova_vmx_get(v, "annotation")), n);
    assert_string_equal(ova_vmx_get(v, "b"), "2");
    ova_vmx_free(&v);
    free(text);
}

/* A line may be OVA_VMX_MAX_LINE bytes long, not one more (limits.h). */
static void test_line_limit(void **state)
{
    (void)state;
    size_t n = OVA_VMX_MAX_LINE;
    char *text = malloc(n + 64);
    assert_non_null(text);
    int k = sprintf(text, "a = \"1\"\nannotation = \"");
    memset(text + k, 'x', n - (size_t)k + 8 - 1); /* the line: 'annotation = "' + x... + '"' */
    size_t line = (size_t)k - 8 + (n - (size_t)k + 8 - 1) + 1;
    assert_true(line == n);
    strcpy(text + (size_t)k + (n - (size_t)k + 8 - 1), "\"\nb = \"2\"\n");
    ova_vmx *v = parse(text);
    assert_string_equal(ova_vmx_get(v, "b"), "2");
    ova_vmx_free(&v);
    /* one byte more */
    memset(text + k, 'x', n - (size_t)k + 8);
    strcpy(text + (size_t)k + (n - (size_t)k + 8), "\"\nb = \"2\"\n");
    parse_fails(text, OVA_E_FORMAT, "vm.vmx: line 2: 1048577 bytes long, more than the limit of 1048576 for a VMX line");
    free(text);
}

static void test_many_keys(void **state)
{
    (void)state;
    /* enough keys to grow the index several times */
    size_t n = 5000;
    char *text = malloc(n * 40);
    assert_non_null(text);
    size_t off = 0;
    for (size_t i = 0; i < n; i++)
        off += (size_t)sprintf(text + off, "Key%zu.Sub = \"%zu\"\n", i, i * 3);
    off += (size_t)sprintf(text + off, "key17.sub = \"last\"\n");
    ova_vmx *v = parse_len(text, off);
    assert_int_equal(v->n_entries, n);
    assert_string_equal(ova_vmx_get(v, "KEY4999.SUB"), "14997");
    assert_string_equal(ova_vmx_get(v, "key17.sub"), "last");
    assert_string_equal(v->entries[17].value, "last");
    ova_vmx_free(&v);
    free(text);
}

static void test_getf(void **state)
{
    (void)state;
    ova_vmx *v = parse("scsi0:1.fileName = \"a.vmdk\"\nethernet3.present = \"TRUE\"\n");
    assert_string_equal(ova_vmx_getf(v, "scsi%d:%d.fileName", 0, 1), "a.vmdk");
    assert_string_equal(ova_vmx_getf(v, "ethernet%d.PRESENT", 3), "TRUE");
    assert_null(ova_vmx_getf(v, "scsi%d:%d.fileName", 0, 2));
    char longkey[300];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    assert_null(ova_vmx_getf(v, "%s", longkey)); /* longer than the stack buffer */
    ova_vmx_free(&v);
}

static void test_bool(void **state)
{
    (void)state;
    static const char *const yes[] = { "TRUE", "true", "True", "yes", "YES", "on", "1", "t", "T", "y", "" };
    static const char *const no[] = { "FALSE", "false", "no", "NO", "off", "0", "f", "F", "n" };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        bool b = false;
        assert_true(ova_vmx_parse_bool(yes[i], &b));
        assert_true(b);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        bool b = true;
        assert_true(ova_vmx_parse_bool(no[i], &b));
        assert_false(b);
    }
    bool b;
    assert_false(ova_vmx_parse_bool("maybe", &b));
    assert_false(ova_vmx_parse_bool("2", &b));
    assert_false(ova_vmx_parse_bool(NULL, &b));

    ova_vmx *v = parse("a = \"TRUE\"\nb = \"FALSE\"\nc = \"\"\nd = \"junk\"\ne = yes\n");
    assert_true(ova_vmx_bool(v, "a", false));
    assert_false(ova_vmx_bool(v, "B", true));
    assert_true(ova_vmx_bool(v, "c", false));
    assert_true(ova_vmx_bool(v, "d", true));
    assert_false(ova_vmx_bool(v, "d", false));
    assert_true(ova_vmx_bool(v, "e", false));
    assert_true(ova_vmx_bool(v, "absent", true));
    assert_false(ova_vmx_bool(v, "absent", false));
    ova_vmx_free(&v);
}

static void test_load_errors(void **state)
{
    (void)state;
    load_fails(FIX("does-not-exist.vmx"), OVA_E_IO, "does-not-exist.vmx: cannot open: No such file");
    load_fails(OVATOOL_FIXTURES "/vmx", OVA_E_UNSUPPORTED, "is a directory, not a regular file");
}

/* A FIFO named as the VMX is refused at once: open(2) of a FIFO would wait
 * for a writer forever. SIGALRM ends a hanging run. */
static void test_load_fifo(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_vmx_fifoXXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[sizeof dir + 16];
    snprintf(path, sizeof path, "%s/vm.vmx", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    alarm(20);
    load_fails(path, OVA_E_UNSUPPORTED, "vm.vmx: is a FIFO, not a regular file");
    alarm(0);
    unlink(path);
    rmdir(dir);
}

static void test_load_too_big(void **state)
{
    (void)state;
    char path[] = "/tmp/test_vmx_bigXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)OVA_VMX_MAX_SIZE + 1), 0);
    close(fd);
    load_fails(path, OVA_E_FORMAT, "too big for a VMX file");
    /* exactly at the limit is read (a sparse file of NULs is then one line,
     * too long for a VMX line) */
    fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)OVA_VMX_MAX_SIZE), 0);
    close(fd);
    load_fails(path, OVA_E_FORMAT, "line 1: 16777216 bytes long, more than the limit of 1048576");
    unlink(path);
}

static void test_load_workstation_file(void **state)
{
    (void)state;
    ova_vmx *v = load_ok(FIX("workstation.vmx"));
    assert_string_equal(ova_vmx_get(v, "displayName"), "Debian 12 (build box)");
    assert_string_equal(ova_vmx_get(v, "annotation"), "Build VM\nOwner: Jo|QA\n\"do not delete\"");
    assert_string_equal(ova_vmx_get(v, "scsi0:0.redo"), "");
    assert_true(ova_vmx_bool(v, "scsi0.present", false));
    ova_vmx_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_keys_case_insensitive),
        cmocka_unit_test(test_unquoted_values),
        cmocka_unit_test(test_blanks_around_equals),
        cmocka_unit_test(test_tabs),
        cmocka_unit_test(test_comments),
        cmocka_unit_test(test_hash_inside_quotes),
        cmocka_unit_test(test_blank_lines_and_empty_input),
        cmocka_unit_test(test_crlf_in_memory),
        cmocka_unit_test(test_crlf_file),
        cmocka_unit_test(test_no_final_newline),
        cmocka_unit_test(test_duplicates_last_wins),
        cmocka_unit_test(test_escapes_basic),
        cmocka_unit_test(test_escapes_utf8_bytes),
        cmocka_unit_test(test_lone_pipe_literal),
        cmocka_unit_test(test_escape_after_split),
        cmocka_unit_test(test_escaped_nul_rejected),
        cmocka_unit_test(test_encoding_cp1252_file),
        cmocka_unit_test(test_encoding_shift_jis_file),
        cmocka_unit_test(test_encoding_iso8859_1),
        cmocka_unit_test(test_encoding_utf8_explicit_and_default),
        cmocka_unit_test(test_unknown_encoding),
        cmocka_unit_test(test_invalid_bytes_for_encoding),
        cmocka_unit_test(test_bom_skipped),
        cmocka_unit_test(test_error_no_equals),
        cmocka_unit_test(test_error_unterminated_quote),
        cmocka_unit_test(test_error_text_after_quote),
        cmocka_unit_test(test_error_nul_byte),
        cmocka_unit_test(test_error_name_default),
        cmocka_unit_test(test_long_line),
        cmocka_unit_test(test_line_limit),
        cmocka_unit_test(test_many_keys),
        cmocka_unit_test(test_getf),
        cmocka_unit_test(test_bool),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_load_fifo),
        cmocka_unit_test(test_load_too_big),
        cmocka_unit_test(test_load_workstation_file),
    };
    return ova_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
