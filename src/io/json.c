/* The JSON reader of file headers (json.h): strict RFC 8259 strings (escapes,
   surrogate pairs, no control characters, no NUL) and integers; what a safetensors
   header may hold. docs/architecture.md, "safetensors". */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>

#include "json.h"

cnn_status cnn_json_fail(cnn_json *p, const char *fmt, ...)
{
    char msg[512];
    CNN_VFORMAT(msg, fmt);
    p->err = CNN_ERR_FORMAT;
    return cnn_set_error(CNN_ERR_FORMAT, "%s: malformed header JSON at byte %zu: %s", p->path,
                         p->pos, msg);
}

cnn_status cnn_json_nomem(cnn_json *p)
{
    p->err = CNN_ERR_NOMEM;
    return cnn_set_error(CNN_ERR_NOMEM, "%s: out of memory reading the header", p->path);
}

void cnn_json_ws(cnn_json *p)
{
    while (p->pos < p->n && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' ||
                             p->s[p->pos] == '\r'))
        p->pos++;
}

const char *cnn_json_desc(cnn_json *p)
{
    static _Thread_local char buf[16];
    if (p->pos >= p->n) return "end of header";
    unsigned char c = (unsigned char)p->s[p->pos];
    if (c >= 0x20 && c < 0x7f)
        snprintf(buf, sizeof buf, "'%c'", c);
    else
        snprintf(buf, sizeof buf, "byte 0x%02x", c);
    return buf;
}

cnn_status cnn_json_expect(cnn_json *p, char c)
{
    cnn_json_ws(p);
    if (p->pos >= p->n || p->s[p->pos] != c)
        return cnn_json_fail(p, "expected '%c', found %s", c, cnn_json_desc(p));
    p->pos++;
    return CNN_OK;
}

/* Peeks the next non-space character (0 at the end). */
char cnn_json_peek(cnn_json *p)
{
    cnn_json_ws(p);
    return p->pos < p->n ? p->s[p->pos] : 0;
}

cnn_status cnn_json_key(cnn_json *p, const char *what, char **key, size_t *at)
{
    *key = NULL;
    if (cnn_json_peek(p) != '"')
        return cnn_json_fail(p, "expected %s, found %s", what, cnn_json_desc(p));
    if (at) *at = p->pos;
    CNN_CHECK(cnn_json_string(p, key));
    cnn_status s = cnn_json_expect(p, ':');
    if (s != CNN_OK) {
        cnn_free(*key);
        *key = NULL;
    }
    return s;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int read_hex4(cnn_json *p, size_t at, unsigned *out)
{
    if (at + 4 > p->n) return 0;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p->s[at + (size_t)i]);
        if (h < 0) return 0;
        v = v * 16 + (unsigned)h;
    }
    *out = v;
    return 1;
}

/* A JSON string -> newly allocated UTF-8 (NUL-free). */
cnn_status cnn_json_string(cnn_json *p, char **out)
{
    *out = NULL;
    CNN_CHECK(cnn_json_expect(p, '"'));
    size_t start = p->pos, end = start;
    while (end < p->n && p->s[end] != '"')
        end += p->s[end] == '\\' ? 2 : 1;
    if (end >= p->n) return cnn_json_fail(p, "unterminated string");
    char *d = cnn_malloc(end - start + 1);
    if (!d) return cnn_json_nomem(p);
    size_t k = 0;
    while (p->pos < end) {
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c < 0x20) {
            cnn_free(d);
            return cnn_json_fail(p, "control character 0x%02x inside a string", c);
        }
        if (c != '\\') {
            d[k++] = (char)c;
            p->pos++;
            continue;
        }
        char e = p->s[p->pos + 1];
        p->pos += 2;
        switch (e) {
        case '"': d[k++] = '"'; break;
        case '\\': d[k++] = '\\'; break;
        case '/': d[k++] = '/'; break;
        case 'b': d[k++] = '\b'; break;
        case 'f': d[k++] = '\f'; break;
        case 'n': d[k++] = '\n'; break;
        case 'r': d[k++] = '\r'; break;
        case 't': d[k++] = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (!read_hex4(p, p->pos, &cp)) {
                cnn_free(d);
                return cnn_json_fail(p, "bad \\u escape");
            }
            p->pos += 4;
            if (cp >= 0xd800 && cp < 0xdc00) { /* surrogate pair */
                if (p->pos + 6 > end || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u' ||
                    !read_hex4(p, p->pos + 2, &lo) || lo < 0xdc00 || lo > 0xdfff) {
                    cnn_free(d);
                    return cnn_json_fail(p, "unpaired UTF-16 surrogate in \\u escape");
                }
                p->pos += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                cnn_free(d);
                return cnn_json_fail(p, "unpaired UTF-16 surrogate in \\u escape");
            }
            if (cp == 0) {
                cnn_free(d);
                return cnn_json_fail(p, "\\u0000 is not allowed in names or metadata");
            }
            /* UTF-8; never longer than the 6+ escape bytes it replaces */
            if (cp < 0x80) {
                d[k++] = (char)cp;
            } else if (cp < 0x800) {
                d[k++] = (char)(0xc0 | (cp >> 6));
                d[k++] = (char)(0x80 | (cp & 0x3f));
            } else if (cp < 0x10000) {
                d[k++] = (char)(0xe0 | (cp >> 12));
                d[k++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                d[k++] = (char)(0x80 | (cp & 0x3f));
            } else {
                d[k++] = (char)(0xf0 | (cp >> 18));
                d[k++] = (char)(0x80 | ((cp >> 12) & 0x3f));
                d[k++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                d[k++] = (char)(0x80 | (cp & 0x3f));
            }
            break;
        }
        default:
            p->pos -= 1;
            cnn_free(d);
            return cnn_json_fail(p, "unknown escape '\\%c'", e >= 0x20 && e < 0x7f ? e : '?');
        }
    }
    p->pos = end + 1;
    d[k] = '\0';
    *out = d;
    return CNN_OK;
}

/* A JSON integer (no fraction or exponent), in int64 range. */
cnn_status cnn_json_int(cnn_json *p, int64_t *out)
{
    cnn_json_ws(p);
    size_t at = p->pos;
    bool neg = false;
    if (at < p->n && p->s[at] == '-') {
        neg = true;
        at++;
    }
    if (at >= p->n || p->s[at] < '0' || p->s[at] > '9')
        return cnn_json_fail(p, "expected an integer, found %s", cnn_json_desc(p));
    if (p->s[at] == '0' && at + 1 < p->n && p->s[at + 1] >= '0' && p->s[at + 1] <= '9')
        return cnn_json_fail(p, "integer with a leading zero");
    uint64_t v = 0;
    while (at < p->n && p->s[at] >= '0' && p->s[at] <= '9') {
        unsigned dgt = (unsigned)(p->s[at] - '0');
        if (v > (UINT64_MAX - dgt) / 10 || v * 10 + dgt > (uint64_t)INT64_MAX + (neg ? 1u : 0u))
            return cnn_json_fail(p, "integer out of range");
        v = v * 10 + dgt;
        at++;
    }
    if (at < p->n && (p->s[at] == '.' || p->s[at] == 'e' || p->s[at] == 'E'))
        return cnn_json_fail(p, "expected an integer, found a number with a fraction or exponent");
    p->pos = at;
    *out = neg ? (v == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return CNN_OK;
}

/* [int, int, ...] into out (at most max stored; *count is the full length). */
cnn_status cnn_json_int_array(cnn_json *p, int64_t *out, int max, int *count)
{
    *count = 0;
    CNN_CHECK(cnn_json_expect(p, '['));
    if (cnn_json_peek(p) == ']') {
        p->pos++;
        return CNN_OK;
    }
    for (;;) {
        int64_t v = 0;
        CNN_CHECK(cnn_json_int(p, &v));
        if (*count < max) out[*count] = v;
        if (*count < INT_MAX) (*count)++;
        bool more;
        CNN_CHECK(cnn_json_next(p, ']', &more, "in an array"));
        if (!more) return CNN_OK;
    }
}

cnn_status cnn_json_next(cnn_json *p, char close, bool *more, const char *where)
{
    char c = cnn_json_peek(p);
    if (c != ',' && c != close)
        return cnn_json_fail(p, "expected ',' or '%c' %s, found %s", close, where,
                             cnn_json_desc(p));
    p->pos++;
    *more = c == ',';
    return CNN_OK;
}
