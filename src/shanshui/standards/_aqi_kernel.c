/* HJ 633-2012 §4.2 formula (1), the individual AQI of one Table 1 column, as one fused loop.
 *
 * The compiled twin of shanshui.standards.aqi._raw_iaqi_numpy, which stays the source of
 * truth: tests/test_aqi_kernel.py holds the two equal value for value, NaN included.
 * setup.py builds this file as the extension module shanshui.standards._aqi_kernel; where
 * no C compiler works, aqi.py uses the numpy version alone (same results, slower).
 *
 * For each concentration C (float64), with the segment tables of aqi._Column:
 *   code 0      C negative or NaN: slope[0] = 0, intercept[0] = NaN, so no IAQI (NaN);
 *   code 1      0 <= C <= upper[0] (the first Table 1 segment includes 0);
 *   code k + 1  upper[k - 1] < C <= upper[k] (a breakpoint closes its segment);
 *   code m + 1  C above the top breakpoint upper[m - 1];
 *   raw = slope[code] * C + intercept[code]   (formula (1), already scaled by _SHRINK).
 * The segment is chosen by a chain of selects instead of a table look-up, so that the
 * compiler turns the loop into SIMD code. The arithmetic is numpy's two IEEE operations
 * (multiply, then add; setup.py passes -ffp-contract=off so that they are never fused
 * into one multiply-add), so the results are bit for bit those of the numpy version.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#if defined(_MSC_VER)
#define RESTRICT __restrict
#else
#define RESTRICT restrict
#endif

/* Table 1 columns have at most 8 breakpoints: at most 7 segment upper bounds. */
#define MAX_UPPER 7

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
/* a plain x86-64 build and an AVX2 build of the loop, chosen at load time by the CPU */
#define CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CLONES
#endif

static inline double
pick(int take, double yes, double no)
{
    return take ? yes : no;
}

/* out[i] = raw IAQI of conc[i]; or, with accumulate, out[i] = fmax(out[i], raw) with
 * numpy's fmax semantics (a NaN operand is skipped). */
CLONES static void
raw_iaqi(Py_ssize_t n, const double *RESTRICT conc, const double *RESTRICT slope,
         const double *RESTRICT intercept, const double *RESTRICT upper, int m,
         double *RESTRICT out, int accumulate)
{
    /* padded to MAX_UPPER breakpoints with +inf (never exceeded) so that the inner loop
     * has a fixed length and unrolls */
    double up[MAX_UPPER], s[MAX_UPPER + 2], b[MAX_UPPER + 2];
    Py_ssize_t i;
    int j;
    for (j = 0; j < MAX_UPPER; j++)
        up[j] = j < m ? upper[j] : Py_HUGE_VAL;
    for (j = 0; j < MAX_UPPER + 2; j++) {
        /* code m + 1 (above the top) sits at m + 1; the padding after it is never picked */
        s[j] = slope[j < m + 2 ? j : m + 1];
        b[j] = intercept[j < m + 2 ? j : m + 1];
    }
    for (i = 0; i < n; i++) {
        double v = conc[i];
        int valid = v >= 0.0; /* false for NaN */
        double ss = pick(valid, s[1], s[0]);
        double bb = pick(valid, b[1], b[0]);
        double raw;
        for (j = 0; j < MAX_UPPER; j++) {
            int above = v > up[j];
            ss = pick(above, s[j + 2], ss);
            bb = pick(above, b[j + 2], bb);
        }
        raw = ss * v + bb;
        if (accumulate) {
            double a = out[i];
            out[i] = (raw > a || a != a) ? raw : a;
        }
        else {
            out[i] = raw;
        }
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

PyDoc_STRVAR(raw_iaqi_doc,
             "raw_iaqi(conc, slope, intercept, upper, out, accumulate)\n--\n\n"
             "Formula (1) of HJ 633-2012 on one Table 1 column, into out (see aqi.py).");

static PyObject *
py_raw_iaqi(PyObject *self, PyObject *args)
{
    Py_buffer conc, slope, intercept, upper, out;
    int accumulate;
    Py_ssize_t n, n_out, n_slope, n_intercept, m;
    PyObject *result = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*p", &conc, &slope, &intercept, &upper, &out,
                          &accumulate))
        return NULL;
    if (doubles(&conc, "conc", &n) || doubles(&out, "out", &n_out) ||
        doubles(&slope, "slope", &n_slope) || doubles(&intercept, "intercept", &n_intercept) ||
        doubles(&upper, "upper", &m))
        goto done;
    if (n_out != n) {
        PyErr_SetString(PyExc_ValueError, "out and conc differ in length");
        goto done;
    }
    if (m < 1 || m > MAX_UPPER || n_slope != m + 2 || n_intercept != m + 2) {
        PyErr_SetString(PyExc_ValueError,
                        "need 1 to 7 upper breakpoints and m + 2 slopes and intercepts");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    raw_iaqi(n, (const double *)conc.buf, (const double *)slope.buf,
             (const double *)intercept.buf, (const double *)upper.buf, (int)m,
             (double *)out.buf, accumulate);
    Py_END_ALLOW_THREADS
    Py_INCREF(Py_None);
    result = Py_None;
done:
    PyBuffer_Release(&conc);
    PyBuffer_Release(&slope);
    PyBuffer_Release(&intercept);
    PyBuffer_Release(&upper);
    PyBuffer_Release(&out);
    return result;
}

static PyMethodDef methods[] = {
    {"raw_iaqi", py_raw_iaqi, METH_VARARGS, raw_iaqi_doc},
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
