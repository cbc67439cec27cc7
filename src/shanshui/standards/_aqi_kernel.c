/* HJ 633-2012 §4.2 formula (1), the individual AQI of one Table 1 column, as fused loops.
 *
 * The compiled twins of shanshui.standards.aqi_formula.raw_iaqi_numpy and int_iaqi_numpy,
 * which stay the source of truth: tests/test_aqi_kernel.py holds each pair equal value for
 * value, NaN included. setup.py builds this file as the extension module
 * shanshui.standards._aqi_kernel; where no C compiler works, aqi_formula.py uses the numpy
 * versions alone (same results, slower).
 *
 *   raw_iaqi  formula (1) times SHRINK as float64, not rounded; or its running maximum
 *             (formula (2), numpy's fmax);
 *   int_iaqi  the same rounded up (进位取整) as int64, -1 where there is no IAQI.
 *
 * For each concentration C (float64), with the segment tables of aqi_formula.Column:
 *   code 0      C negative or NaN: slope[0] = 0, intercept[0] = NaN, so no IAQI (NaN);
 *   code 1      0 <= C <= upper[0] (the first Table 1 segment includes 0);
 *   code k + 1  upper[k - 1] < C <= upper[k] (a breakpoint closes its segment);
 *   code m + 1  C above the top breakpoint upper[m - 1];
 *   raw = slope[code] * C + intercept[code]   (formula (1), already scaled by SHRINK).
 * The segment is chosen by a chain of selects instead of a table look-up, so that the
 * compiler turns the loop into SIMD code. The arithmetic is numpy's two IEEE operations
 * (multiply, then add; setup.py passes -ffp-contract=off so that they are never fused
 * into one multiply-add), so the results are bit for bit those of the numpy version
 * (setup.py's -fno-trapping-math only lets the NaN select of int_iaqi vectorise).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(_MSC_VER)
#define RESTRICT __restrict
#else
#define RESTRICT restrict
#endif

/* Table 1 columns have at most 8 breakpoints: at most 7 segment upper bounds. */
#define MAX_UPPER 7

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__)
/* a plain x86-64 build and an AVX2 build of the loops, chosen at load time by the CPU
 * (through glibc's ifunc) */
#define CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CLONES
#endif

static inline double
pick(int take, double yes, double no)
{
    return take ? yes : no;
}

/* The segment tables padded to MAX_UPPER breakpoints with +inf (never exceeded) so that
 * the inner loop has a fixed length and unrolls; the codes after m + 1 are never picked. */
typedef struct {
    double up[MAX_UPPER], s[MAX_UPPER + 2], b[MAX_UPPER + 2];
} Table;

static void
table_init(Table *t, const double *slope, const double *intercept, const double *upper, int m)
{
    int j;
    for (j = 0; j < MAX_UPPER; j++)
        t->up[j] = j < m ? upper[j] : Py_HUGE_VAL;
    for (j = 0; j < MAX_UPPER + 2; j++) {
        t->s[j] = slope[j < m + 2 ? j : m + 1];
        t->b[j] = intercept[j < m + 2 ? j : m + 1];
    }
}

/* formula (1) times SHRINK for one concentration (see the top of this file) */
static inline double
raw_one(const Table *t, double v)
{
    int valid = v >= 0.0; /* false for NaN */
    double ss = pick(valid, t->s[1], t->s[0]);
    double bb = pick(valid, t->b[1], t->b[0]);
    int j;
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 8
#endif
    for (j = 0; j < MAX_UPPER; j++) {
        int above = v > t->up[j];
        ss = pick(above, t->s[j + 2], ss);
        bb = pick(above, t->b[j + 2], bb);
    }
    return ss * v + bb;
}

/* out[i] = raw IAQI of conc[i]; or, with accumulate, out[i] = fmax(out[i], raw) with
 * numpy's fmax semantics (a NaN operand is skipped). */
CLONES static void
raw_iaqi(Py_ssize_t n, const double *RESTRICT conc, const Table *table, double *RESTRICT out,
         int accumulate)
{
    Table t = *table;
    Py_ssize_t i;
    if (accumulate) {
        for (i = 0; i < n; i++) {
            double raw = raw_one(&t, conc[i]), a = out[i];
            out[i] = (raw > a || a != a) ? raw : a;
        }
    }
    else {
        for (i = 0; i < n; i++)
            out[i] = raw_one(&t, conc[i]);
    }
}

/* out[i] = the IAQI of conc[i] rounded up (进位取整) as an integer, -1 where there is none
 * (NaN). All in float64 so that it vectorises: adding and taking away 1.5 * 2^52 rounds a
 * value below 2^51 in magnitude to the nearest integer, plus one where that is below the
 * value is the ceiling; the integer's bits are then those of (ceiling + 1.5 * 2^52) less
 * those of 1.5 * 2^52. A raw IAQI lies in [0, 500]. */
CLONES static void
int_iaqi(Py_ssize_t n, const double *RESTRICT conc, const Table *table, int64_t *RESTRICT out)
{
    const double magic = 6755399441055744.0; /* 1.5 * 2^52 */
    int64_t magic_bits;
    Table t = *table;
    Py_ssize_t i;
    memcpy(&magic_bits, &magic, sizeof magic);
    for (i = 0; i < n; i++) {
        double raw = raw_one(&t, conc[i]);
        double safe = pick(raw != raw, -1.0, raw); /* NaN: no IAQI */
        double near = (safe + magic) - magic;
        double ceiling = near + pick(near < safe, 1.0, 0.0);
        double shifted = ceiling + magic;
        int64_t bits;
        memcpy(&bits, &shifted, sizeof bits);
        out[i] = bits - magic_bits;
    }
}

static int
doubles(Py_buffer *buf, const char *name, Py_ssize_t *count)
{
    if (buf->len % (Py_ssize_t)sizeof(double) != 0) {
        PyErr_Format(PyExc_ValueError, "%s is not a buffer of float64", name);
        return -1;
    }
    *count = buf->len / (Py_ssize_t)sizeof(double);
    return 0;
}

/* Parse (conc, slope, intercept, upper, out) into buffers, check them and fill the table. */
static int
parse(PyObject *args, const char *format, Py_buffer *conc, Py_buffer *out, Table *table,
      Py_ssize_t out_item, int *flag)
{
    Py_buffer slope, intercept, upper;
    Py_ssize_t n, n_slope, n_intercept, m;
    int ok = -1;
    if (flag != NULL) {
        if (!PyArg_ParseTuple(args, format, conc, &slope, &intercept, &upper, out, flag))
            return -1;
    }
    else if (!PyArg_ParseTuple(args, format, conc, &slope, &intercept, &upper, out))
        return -1;
    if (doubles(conc, "conc", &n) || doubles(&slope, "slope", &n_slope) ||
        doubles(&intercept, "intercept", &n_intercept) || doubles(&upper, "upper", &m))
        goto done;
    if (out->len != n * out_item) {
        PyErr_SetString(PyExc_ValueError, "out and conc differ in length");
        goto done;
    }
    if (m < 1 || m > MAX_UPPER || n_slope != m + 2 || n_intercept != m + 2) {
        PyErr_SetString(PyExc_ValueError,
                        "need 1 to 7 upper breakpoints and m + 2 slopes and intercepts");
        goto done;
    }
    table_init(table, (const double *)slope.buf, (const double *)intercept.buf,
               (const double *)upper.buf, (int)m);
    ok = 0;
done:
    PyBuffer_Release(&slope);
    PyBuffer_Release(&intercept);
    PyBuffer_Release(&upper);
    if (ok) {
        PyBuffer_Release(conc);
        PyBuffer_Release(out);
    }
    return ok;
}

PyDoc_STRVAR(raw_iaqi_doc,
             "raw_iaqi(conc, slope, intercept, upper, out, accumulate)\n--\n\n"
             "Formula (1) of HJ 633-2012 on one Table 1 column into out, float64 (aqi_formula.py).");

static PyObject *
py_raw_iaqi(PyObject *self, PyObject *args)
{
    Py_buffer conc, out;
    Table table;
    int accumulate;
    (void)self;
    if (parse(args, "y*y*y*y*w*p", &conc, &out, &table, (Py_ssize_t)sizeof(double), &accumulate))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    raw_iaqi(conc.len / (Py_ssize_t)sizeof(double), (const double *)conc.buf, &table,
             (double *)out.buf, accumulate);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&conc);
    PyBuffer_Release(&out);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(int_iaqi_doc,
             "int_iaqi(conc, slope, intercept, upper, out)\n--\n\n"
             "The IAQI rounded up into out, int64, -1 for none (aqi_formula.py).");

static PyObject *
py_int_iaqi(PyObject *self, PyObject *args)
{
    Py_buffer conc, out;
    Table table;
    (void)self;
    if (parse(args, "y*y*y*y*w*", &conc, &out, &table, (Py_ssize_t)sizeof(int64_t), NULL))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    int_iaqi(conc.len / (Py_ssize_t)sizeof(double), (const double *)conc.buf, &table,
             (int64_t *)out.buf);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&conc);
    PyBuffer_Release(&out);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"raw_iaqi", py_raw_iaqi, METH_VARARGS, raw_iaqi_doc},
    {"int_iaqi", py_int_iaqi, METH_VARARGS, int_iaqi_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "shanshui.standards._aqi_kernel",
    "HJ 633-2012 formula (1) as a compiled loop (the twin of aqi._raw_iaqi_numpy).",
    -1,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__aqi_kernel(void)
{
    return PyModule_Create(&module);
}
