/* The gateway's ack-path scan of HJ 212 frames: split, check length and CRC, read the header.
 *
 * The compiled twin of shanshui.hj212.scan.scan_frames_py, which stays the source of truth:
 * tests/test_hj212_scan.py holds the two equal (same heads, same stop position) on the
 * reference frames, on mutations of them and on random bytes. setup.py builds this file as
 * the extension module shanshui.hj212._scan; where no C compiler works, scan.py uses the
 * Python version alone (same results, slower).
 *
 * scan_frames(data: bytes, pos: int, max_segment: int) -> (heads, stop)
 *
 * From pos, while the buffer holds a clean frame (the rules are in scan.py's docstring):
 * blank bytes, "##", 4 digits <= max_segment, a printable-ASCII segment ending in "&&", the
 * HJ 212 CRC (HJ 212-2017 Appendix A) in 4 upper-case hex digits, an optional CR LF or LF,
 * a header [QN=d{1,20};]ST=an{1,4};CN=d{1,6};PW=v;MN=v;[Flag=d{1,3};] (v: 0 to 64 bytes
 * without ';') followed by the segment's first "CP=&&", CP without spaces or "//", at most
 * one DataTime= key whose value is 14 or 17 digits; each head is the tuple
 * (segment bytes, qn str or None, st, cn, pw, mn, flag int or None, has_data_time, None).
 * stop: just after the last clean frame's line end.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* HJ 212-2017 Appendix A: crc = 0xFFFF; per byte crc = (crc >> 8) ^ byte, then 8 rounds of
 * crc = crc & 1 ? (crc >> 1) ^ 0xA001 : crc >> 1. The 8 rounds of a 16-bit register v are
 * linear, and those of its high byte alone are a plain shift (no set bit reaches bit 0 in
 * 8 rounds): rounds(v) = ROUNDS[v & 0xFF] ^ (v >> 8). */
static uint16_t ROUNDS[256];

static void
rounds_init(void)
{
    for (int x = 0; x < 256; x++) {
        uint16_t crc = (uint16_t)x;
        for (int k = 0; k < 8; k++)
            crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xA001) : (uint16_t)(crc >> 1);
        ROUNDS[x] = crc;
    }
}

static uint16_t
hj212_crc(const unsigned char *p, Py_ssize_t n)
{
    uint16_t crc = 0xFFFF;
    for (Py_ssize_t i = 0; i < n; i++) {
        crc = (uint16_t)((crc >> 8) ^ p[i]);
        crc = (uint16_t)(ROUNDS[crc & 0xFF] ^ (crc >> 8));
    }
    return crc;
}

static int
is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int
is_alnum(unsigned char c)
{
    return is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* The run of at least lo and at most hi bytes from *i (< end) accepted by pred, followed by
 * ';'. On success: its start and length, *i just after the ';'. */
static int
field(const unsigned char *s, Py_ssize_t *i, Py_ssize_t end, int (*pred)(unsigned char), int lo,
      int hi, Py_ssize_t *start, Py_ssize_t *len)
{
    Py_ssize_t j = *i;
    while (j < end && j - *i < hi && pred(s[j]))
        j++;
    if (j - *i < lo || j >= end || s[j] != ';')
        return 0;
    *start = *i;
    *len = j - *i;
    *i = j + 1;
    return 1;
}

static int
not_semicolon(unsigned char c)
{
    return c != ';';
}

static int
has_prefix(const unsigned char *s, Py_ssize_t i, Py_ssize_t end, const char *prefix)
{
    size_t k = strlen(prefix);
    return end - i >= (Py_ssize_t)k && memcmp(s + i, prefix, k) == 0;
}

/* Index of the first "CP=&&" in s[0:end), or -1. */
static Py_ssize_t
find_cp(const unsigned char *s, Py_ssize_t end)
{
    for (Py_ssize_t i = 0; i + 5 <= end; i++)
        if (s[i] == 'C' && memcmp(s + i, "CP=&&", 5) == 0)
            return i;
    return -1;
}

/* Whether CP (s[0:n)) has a well-formed DataTime key: 1 yes, 0 no, -1 stop the scan. */
static int
data_time(const unsigned char *s, Py_ssize_t n)
{
    int found = 0;
    for (Py_ssize_t k = 0; k + 9 <= n; k++) {
        if (s[k] != 'D' || memcmp(s + k, "DataTime=", 9) != 0)
            continue;
        if (k > 0 && s[k - 1] != ';' && s[k - 1] != ',')
            continue;
        if (found)
            return -1;
        Py_ssize_t j = k + 9, end = j;
        while (end < n && s[end] != ';' && s[end] != ',')
            end++;
        Py_ssize_t len = end - j;
        if (len != 14 && len != 17)
            return -1;
        for (Py_ssize_t m = j; m < end; m++)
            if (!is_digit(s[m]))
                return -1;
        found = 1;
    }
    return found;
}

static PyObject *
text_or_none(const unsigned char *s, Py_ssize_t start, Py_ssize_t len, int present)
{
    if (!present)
        Py_RETURN_NONE;
    return PyUnicode_DecodeASCII((const char *)s + start, len, NULL);
}

/* The header fields of a segment s[0:n) (printable ASCII ending in "&&"), as the pattern of
 * parse_fields' fast path reads them; 0 when the header is not in that layout, or "CP=&&"
 * is not right after it, or CP is shorter than "&&", or CP holds a space or "//". */
typedef struct {
    Py_ssize_t qn0, qnl, st0, stl, cn0, cnl, pw0, pwl, mn0, mnl, cpi;
    int has_qn, has_flag;
    long flag;
} Header;

static int
parse_header(const unsigned char *s, Py_ssize_t declared, Header *h)
{
    Py_ssize_t at = 0, fl0 = 0, fll = 0;
    h->qn0 = h->qnl = 0;
    h->has_qn = h->has_flag = 0;
    h->flag = 0;
    if (has_prefix(s, at, declared, "QN=")) {
        at += 3;
        if (!field(s, &at, declared, is_digit, 1, 20, &h->qn0, &h->qnl))
            return 0;
        h->has_qn = 1;
    }
    if (!has_prefix(s, at, declared, "ST="))
        return 0;
    at += 3;
    if (!field(s, &at, declared, is_alnum, 1, 4, &h->st0, &h->stl))
        return 0;
    if (!has_prefix(s, at, declared, "CN="))
        return 0;
    at += 3;
    if (!field(s, &at, declared, is_digit, 1, 6, &h->cn0, &h->cnl))
        return 0;
    if (!has_prefix(s, at, declared, "PW="))
        return 0;
    at += 3;
    if (!field(s, &at, declared, not_semicolon, 0, 64, &h->pw0, &h->pwl))
        return 0;
    if (!has_prefix(s, at, declared, "MN="))
        return 0;
    at += 3;
    if (!field(s, &at, declared, not_semicolon, 0, 64, &h->mn0, &h->mnl))
        return 0;
    if (has_prefix(s, at, declared, "Flag=")) {
        Py_ssize_t try_at = at + 5;
        if (field(s, &try_at, declared, is_digit, 1, 3, &fl0, &fll)) {
            at = try_at;
            h->has_flag = 1;
        }
    }
    h->cpi = at;
    if (find_cp(s, declared) != at || declared < at + 7)
        return 0;
    if (h->has_flag) {
        for (Py_ssize_t k = fl0; k < fl0 + fll; k++)
            h->flag = h->flag * 10 + (s[k] - '0');
        if (h->flag > 255)
            return 0;
    }
    const unsigned char *cp = s + at + 5;
    Py_ssize_t cpn = declared - at - 7;
    for (Py_ssize_t k = 0; k < cpn; k++)
        if (cp[k] == ' ' || (cp[k] == '/' && k + 1 < cpn && cp[k + 1] == '/'))
            return 0;
    return 1;
}

/* A printable-ASCII segment ending in "&&". */
static int
clean_text(const unsigned char *s, Py_ssize_t n)
{
    if (n < 2 || s[n - 2] != '&' || s[n - 1] != '&')
        return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7E)
            return 0;
    return 1;
}

static PyObject *
scan_frames(PyObject *self, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t pos, max_segment;
    if (!PyArg_ParseTuple(args, "y*nn", &view, &pos, &max_segment))
        return NULL;
    const unsigned char *b = (const unsigned char *)view.buf;
    Py_ssize_t n = view.len;
    PyObject *heads = PyList_New(0);
    if (heads == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    if (pos < 0)
        pos = 0;
    Py_ssize_t stop = pos > n ? n : pos;
    static const char HEX[] = "0123456789ABCDEF";
    for (;;) {
        Py_ssize_t q = stop;
        while (q < n && is_blank(b[q]))
            q++;
        if (q + 6 > n || b[q] != '#' || b[q + 1] != '#')
            break;
        if (!is_digit(b[q + 2]) || !is_digit(b[q + 3]) || !is_digit(b[q + 4]) ||
            !is_digit(b[q + 5]))
            break;
        Py_ssize_t declared = (b[q + 2] - '0') * 1000 + (b[q + 3] - '0') * 100 +
                              (b[q + 4] - '0') * 10 + (b[q + 5] - '0');
        Py_ssize_t seg = q + 6, e = seg + declared;
        if (declared > max_segment || e + 4 > n)
            break;
        const unsigned char *s = b + seg;
        if (!clean_text(s, declared))
            break;
        uint16_t crc = hj212_crc(s, declared);
        if (b[e] != HEX[crc >> 12] || b[e + 1] != HEX[(crc >> 8) & 15] ||
            b[e + 2] != HEX[(crc >> 4) & 15] || b[e + 3] != HEX[crc & 15])
            break;
        Header h;
        if (!parse_header(s, declared, &h))
            break;
        const unsigned char *cp = s + h.cpi + 5;
        Py_ssize_t cpn = declared - h.cpi - 7;
        int has_time = data_time(cp, cpn);
        if (has_time < 0)
            break;
        Py_ssize_t end = e + 4;
        if (end + 1 < n && b[end] == '\r' && b[end + 1] == '\n')
            end += 2;
        else if (end < n && b[end] == '\n')
            end += 1;
        PyObject *head = PyTuple_New(9);
        if (head == NULL)
            goto fail;
        PyObject *items[9];
        items[0] = PyBytes_FromStringAndSize((const char *)s, declared);
        items[1] = text_or_none(s, h.qn0, h.qnl, h.has_qn);
        items[2] = text_or_none(s, h.st0, h.stl, 1);
        items[3] = text_or_none(s, h.cn0, h.cnl, 1);
        items[4] = text_or_none(s, h.pw0, h.pwl, 1);
        items[5] = text_or_none(s, h.mn0, h.mnl, 1);
        if (h.has_flag)
            items[6] = PyLong_FromLong(h.flag);
        else {
            items[6] = Py_None;
            Py_INCREF(Py_None);
        }
        items[7] = PyBool_FromLong(has_time);
        items[8] = Py_None;
        Py_INCREF(Py_None);
        int bad = 0;
        for (int k = 0; k < 9; k++) {
            if (items[k] == NULL)
                bad = 1;
            PyTuple_SET_ITEM(head, k, items[k]); /* steals; NULL items are tolerated by dealloc */
        }
        if (bad || PyList_Append(heads, head) < 0) {
            Py_DECREF(head);
            goto fail;
        }
        Py_DECREF(head);
        stop = end;
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(Nn)", heads, stop);
fail:
    PyBuffer_Release(&view);
    Py_DECREF(heads);
    return NULL;
}

/* frame(segment) -> "##" + 4-digit length + segment + HJ 212 CRC (upper case) + CR LF
 * (HJ 212-2017 §6.3.2): shanshui.hj212.frame_segment's bytes, for the gateway's answers. */
static PyObject *
frame(PyObject *self, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    if (view.len > 9999) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "a data segment holds at most 9999 bytes");
        return NULL;
    }
    static const char HEX[] = "0123456789ABCDEF";
    Py_ssize_t n = view.len;
    PyObject *out = PyBytes_FromStringAndSize(NULL, n + 12);
    if (out == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    char *o = PyBytes_AS_STRING(out);
    o[0] = '#';
    o[1] = '#';
    o[2] = (char)('0' + n / 1000);
    o[3] = (char)('0' + n / 100 % 10);
    o[4] = (char)('0' + n / 10 % 10);
    o[5] = (char)('0' + n % 10);
    memcpy(o + 6, view.buf, (size_t)n);
    uint16_t crc = hj212_crc((const unsigned char *)view.buf, n);
    o[n + 6] = HEX[crc >> 12];
    o[n + 7] = HEX[(crc >> 8) & 15];
    o[n + 8] = HEX[(crc >> 4) & 15];
    o[n + 9] = HEX[crc & 15];
    o[n + 10] = '\r';
    o[n + 11] = '\n';
    PyBuffer_Release(&view);
    return out;
}

/* cp_readings(segment, air_codes, stats) -> None or
 *     (cn, mn, data_time_raw or None, parameters, statistics, values, flags)
 *
 * What shanshui.ingest.readings.add_readings takes from parse_segment(segment) (the source
 * of truth; tests/test_hj212_scan.py holds the two equal): per code, in order, each entry
 * whose suffix is a key of stats (HJ 212-2017 6.3.3.2: Rtd, Avg, Min, Max, Cou, Zs...) as
 * (parameter, stats[suffix], value text, the code's Flag entry or "N"), the parameter
 * being air_codes.get(code, code) when ST is 22 (ambient air) and the code otherwise.
 * Only for segments of the scan's layout (parse_header) whose CP entries each hold exactly
 * one '=' (parse_fields' fast path), each code's entries adjacent, no key twice, at most
 * one DataTime and no empty key; None for any other segment: the caller decodes it with
 * parse_segment, which also reports what is wrong with it. The period, the time and the
 * readings' count are the caller's (add_readings' rules). HJ/T 212-2005 segments (no Flag,
 * or its version bits 0) give None too: add_readings maps their flags. */
#define MAX_CODES 128
#define MAX_SUFFIXES 64

typedef struct {
    Py_ssize_t at, len;
} Span;

static int
span_eq(const unsigned char *s, Span a, Span b)
{
    return a.len == b.len && memcmp(s + a.at, s + b.at, (size_t)a.len) == 0;
}

/* Give the readings of a code from run_start on its Flag entry (add_readings: the code's
 * "Flag" value, "N" when it has none or an empty one). */
static int
finish_run(PyObject *flags, Py_ssize_t run_start, const unsigned char *s, int has_flag,
           Span flag_text)
{
    Py_ssize_t n = PyList_GET_SIZE(flags);
    if (!has_flag || flag_text.len == 0 || n == run_start)
        return 0; /* the readings already hold "N" */
    PyObject *flag = PyUnicode_DecodeASCII((const char *)s + flag_text.at, flag_text.len, NULL);
    if (flag == NULL)
        return -1;
    for (Py_ssize_t i = run_start; i < n; i++) {
        Py_INCREF(flag);
        if (PyList_SetItem(flags, i, flag) < 0) {
            Py_DECREF(flag);
            return -1;
        }
    }
    Py_DECREF(flag);
    return 0;
}

static PyObject *
cp_readings(PyObject *self, PyObject *args)
{
    Py_buffer view;
    PyObject *air, *stats;
    if (!PyArg_ParseTuple(args, "y*O!O!", &view, &PyDict_Type, &air, &PyDict_Type, &stats))
        return NULL;
    const unsigned char *s = (const unsigned char *)view.buf;
    Py_ssize_t n = view.len;
    Header h;
    PyObject *p = NULL, *k = NULL, *v = NULL, *f = NULL, *flag_n = NULL, *code_obj = NULL,
             *param = NULL, *result = NULL;
    if (!clean_text(s, n) || !parse_header(s, n, &h) || n - h.cpi - 7 == 0)
        goto none;
    /* HJ/T 212-2005 segments (no Flag, or version bits 0) go to add_readings, which maps that
     * edition's numeric air-station data flags to the 2017 letters (rare: 2005 loggers) */
    if (!h.has_flag || (h.flag & 0xFC) == 0)
        goto none;
    const unsigned char *cp = s + h.cpi + 5;
    Py_ssize_t cpn = n - h.cpi - 7;
    /* parse_fields' fast path: every entry (separated by ';' or ',') has exactly one '=' */
    Py_ssize_t eqs = 0;
    for (Py_ssize_t i = 0; i <= cpn; i++) {
        if (i == cpn || cp[i] == ';' || cp[i] == ',') {
            if (eqs != 1)
                goto none;
            eqs = 0;
        }
        else if (cp[i] == '=')
            eqs++;
    }
    int is_air = h.stl == 2 && s[h.st0] == '2' && s[h.st0 + 1] == '2';
    p = PyList_New(0);
    k = PyList_New(0);
    v = PyList_New(0);
    f = PyList_New(0);
    flag_n = PyUnicode_FromString("N");
    if (!p || !k || !v || !f || !flag_n)
        goto fail;
    Span codes[MAX_CODES], suffixes[MAX_SUFFIXES];
    int n_codes = 0, n_suffixes = 0, in_run = 0, has_time = 0, has_run_flag = 0;
    Span run_flag = {0, 0}, time = {0, 0};
    Py_ssize_t run_start = 0;
    Py_ssize_t base = h.cpi + 5; /* offsets below are into s */
    Py_ssize_t e0 = 0;
    for (Py_ssize_t i = 0; i <= cpn; i++) {
        if (i < cpn && cp[i] != ';' && cp[i] != ',')
            continue;
        Py_ssize_t eq = e0;
        while (cp[eq] != '=')
            eq++;
        Span key = {base + e0, eq - e0}, value = {base + eq + 1, i - eq - 1};
        e0 = i + 1;
        Py_ssize_t dash = -1;
        for (Py_ssize_t j = key.at; j < key.at + key.len; j++)
            if (s[j] == '-') {
                dash = j;
                break;
            }
        if (dash < 0) {
            if (key.len == 8 && memcmp(s + key.at, "DataTime", 8) == 0) {
                if (has_time)
                    goto none;
                has_time = 1;
                time = value;
            }
            else if (key.len == 0)
                goto none; /* parse_fields: "CP entry with an empty key" */
            continue;      /* another field: not a reading */
        }
        Span code = {key.at, dash - key.at}, suffix = {dash + 1, key.at + key.len - dash - 1};
        if (code.len == 0)
            continue; /* "-Rtd": a plain field */
        if (!in_run || !span_eq(s, code, codes[n_codes - 1])) {
            if (in_run && finish_run(f, run_start, s, has_run_flag, run_flag) < 0)
                goto fail;
            for (int c = 0; c < n_codes; c++)
                if (span_eq(s, code, codes[c]))
                    goto none; /* a code again after another: parse_fields merges them */
            if (n_codes == MAX_CODES)
                goto none;
            codes[n_codes++] = code;
            in_run = 1;
            n_suffixes = 0;
            has_run_flag = 0;
            run_start = PyList_GET_SIZE(f);
            Py_CLEAR(code_obj);
            Py_CLEAR(param);
            code_obj = PyUnicode_DecodeASCII((const char *)s + code.at, code.len, NULL);
            if (code_obj == NULL)
                goto fail;
            if (is_air) {
                param = PyDict_GetItemWithError(air, code_obj);
                if (param == NULL && PyErr_Occurred())
                    goto fail;
            }
            if (param == NULL)
                param = code_obj;
            Py_INCREF(param);
        }
        for (int c = 0; c < n_suffixes; c++)
            if (span_eq(s, suffix, suffixes[c]))
                goto none; /* a key twice: parse_fields keeps the last value */
        if (n_suffixes == MAX_SUFFIXES)
            goto none;
        suffixes[n_suffixes++] = suffix;
        if (suffix.len == 4 && memcmp(s + suffix.at, "Flag", 4) == 0) {
            has_run_flag = 1;
            run_flag = value;
            continue;
        }
        PyObject *suffix_obj = PyUnicode_DecodeASCII((const char *)s + suffix.at, suffix.len, NULL);
        if (suffix_obj == NULL)
            goto fail;
        PyObject *stat = PyDict_GetItemWithError(stats, suffix_obj);
        Py_DECREF(suffix_obj);
        if (stat == NULL) {
            if (PyErr_Occurred())
                goto fail;
            continue; /* EFlag, SampleTime, vendor suffixes: not readings */
        }
        PyObject *value_obj = PyUnicode_DecodeASCII((const char *)s + value.at, value.len, NULL);
        if (value_obj == NULL)
            goto fail;
        int bad = PyList_Append(p, param) < 0 || PyList_Append(k, stat) < 0 ||
                  PyList_Append(v, value_obj) < 0 || PyList_Append(f, flag_n) < 0;
        Py_DECREF(value_obj);
        if (bad)
            goto fail;
    }
    if (in_run && finish_run(f, run_start, s, has_run_flag, run_flag) < 0)
        goto fail;
    result = Py_BuildValue(
        "(s#s#NOOOO)", (const char *)s + h.cn0, h.cnl,
        (const char *)s + h.mn0, h.mnl,
        has_time ? PyUnicode_DecodeASCII((const char *)s + time.at, time.len, NULL)
                 : (Py_INCREF(Py_None), Py_None),
        p, k, v, f);
    goto done;
none:
    result = Py_None;
    Py_INCREF(Py_None);
    goto done;
fail:
    result = NULL;
done:
    Py_XDECREF(p);
    Py_XDECREF(k);
    Py_XDECREF(v);
    Py_XDECREF(f);
    Py_XDECREF(flag_n);
    Py_XDECREF(code_obj);
    Py_XDECREF(param);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef METHODS[] = {
    {"cp_readings", cp_readings, METH_VARARGS,
     "cp_readings(segment, air_codes, stats) -> None or (cn, mn, data_time, parameters, "
     "statistics, values, flags): add_readings' readings of a plain segment."},
    {"frame", frame, METH_O,
     "frame(segment) -> bytes: ## + length + segment + CRC + CR LF (HJ 212-2017 6.3.2)."},
    {"scan_frames", scan_frames, METH_VARARGS,
     "scan_frames(data, pos, max_segment) -> (heads, stop): the clean HJ 212 frames of data "
     "from pos (see shanshui.hj212.scan)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef MODULE = {
    PyModuleDef_HEAD_INIT, "_scan",
    "The compiled twin of shanshui.hj212.scan.scan_frames_py (HJ 212 ack-path scan).", -1,
    METHODS,
};

PyMODINIT_FUNC
PyInit__scan(void)
{
    rounds_init();
    return PyModule_Create(&MODULE);
}
