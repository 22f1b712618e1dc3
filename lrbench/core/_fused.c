/*
 * lrbench.core._fused: elementwise work of the optimizers (lrbench/core/optim/) and of
 * lrbench/core/models.py in one pass over memory.
 *
 * numpy runs an optimizer update as a sequence of elementwise passes (Adam: 13) over stacked
 * arrays too large for the L2 cache, so the passes are bound by memory traffic; the models'
 * bias + ReLU and ReLU-gradient + bias-gradient are two passes each. These loops perform the
 * same IEEE operations on each element, in the same order and with the same operands, in one
 * pass: every result has exactly the bits numpy gives (tests/test_fused.py compares the two
 * bit for bit). That rules out anything that changes rounding: the file is compiled with
 * -ffp-contract=off (no fused multiply-add), and nothing here reassociates; sqrt is correctly
 * rounded in both. -fno-trapping-math only lets the compiler evaluate both sides of a select
 * (so the masks vectorise); it changes no value. The loops are cloned for AVX2 where the
 * compiler and the C library can choose at load time (GCC on x86-64 Linux); AVX2 has no FMA,
 * and wider vectors compute each element exactly as the scalar code does.
 *
 * Arrays are C-contiguous buffers of float64 ("d") or float32 ("f"): the parameters and
 * their optimizer state as (K, n) (K configurations, n values each), and per-configuration
 * constants as K values of the same type (the optimizers pass (K, 1, 1) arrays). Anything
 * else raises; lrbench checks first and runs the numpy code for arrays these loops do not take
 * (kernels.fits, Model._fusable).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CLONES
#endif

/* One elementwise loop per rule and type. Names of the constants follow lrbench/core/optim/:
 * wd (L2: g = g + p*wd), decay (AdamW: p = p*decay), mu (momentum), damp1 (1 - dampening),
 * neg_lr, b1c (1 - beta1), b2c (1 - beta2), b2 (beta2), neg_step (-lr / (1 - beta1^k)),
 * bc2s (sqrt(1 - beta2^k)), eps. A NULL constant means the term is absent. */

#define DEFINE_KERNELS(T, SQRT, SFX)                                                          \
    CLONES static void sgd_##SFX(T *p, T *g, T *b, Py_ssize_t K, Py_ssize_t n, const T *wd,  \
                                 const T *mu, const T *damp1, const T *neg_lr, int first,    \
                                 int nesterov)                                               \
    {                                                                                        \
        for (Py_ssize_t k = 0; k < K; k++) {                                                 \
            T *pk = p + k * n, *gk = g + k * n, *bk = b ? b + k * n : NULL;                  \
            const T lr = neg_lr[k];                                                          \
            if (bk == NULL) {                                                                \
                if (wd) {                                                                    \
                    const T w = wd[k];                                                       \
                    for (Py_ssize_t i = 0; i < n; i++) {                                     \
                        T gi = gk[i] + pk[i] * w;                                            \
                        pk[i] = pk[i] + gi * lr;                                             \
                    }                                                                        \
                }                                                                            \
                else {                                                                       \
                    for (Py_ssize_t i = 0; i < n; i++)                                       \
                        pk[i] = pk[i] + gk[i] * lr;                                          \
                }                                                                            \
                continue;                                                                    \
            }                                                                                \
            const T w = wd ? wd[k] : (T)0, m = mu[k], d = damp1 ? damp1[k] : (T)1;           \
            for (Py_ssize_t i = 0; i < n; i++) {                                             \
                T gi = wd ? gk[i] + pk[i] * w : gk[i];                                       \
                T bi;                                                                        \
                if (first)                                                                   \
                    bi = gi;                                                                 \
                else                                                                         \
                    bi = bk[i] * m + (damp1 ? gi * d : gi);                                  \
                bk[i] = bi;                                                                  \
                T step = nesterov ? gi + bi * m : bi;                                        \
                pk[i] = pk[i] + step * lr;                                                   \
            }                                                                                \
        }                                                                                    \
    }                                                                                        \
                                                                                             \
    CLONES static void adam_##SFX(T *p, T *g, T *m, T *v, Py_ssize_t K, Py_ssize_t n,        \
                                  const T *wd, const T *decay, const T *b1c, const T *b2c,   \
                                  const T *b2, const T *neg_step, const T *bc2s,             \
                                  const T *eps)                                              \
    {                                                                                        \
        for (Py_ssize_t k = 0; k < K; k++) {                                                 \
            T *pk = p + k * n, *gk = g + k * n, *mk = m + k * n, *vk = v + k * n;            \
            const T w = wd ? wd[k] : (T)0, dc = decay ? decay[k] : (T)1;                     \
            const T a = b1c[k], c = b2c[k], bb = b2[k], st = neg_step[k], bs = bc2s[k];      \
            const T e = eps[k];                                                              \
            for (Py_ssize_t i = 0; i < n; i++) {                                             \
                T pi = pk[i], gi = gk[i];                                                    \
                if (decay)                                                                   \
                    pi = pi * dc;                                                            \
                else if (wd)                                                                 \
                    gi = gi + pi * w;                                                        \
                T mi = mk[i] + (gi - mk[i]) * a;                                             \
                T vi = vk[i] * bb + (gi * c) * gi;                                           \
                mk[i] = mi;                                                                  \
                vk[i] = vi;                                                                  \
                T den = SQRT(vi) / bs + e;                                                   \
                pk[i] = pi + (mi * st) / den;                                                \
            }                                                                                \
        }                                                                                    \
    }

/* The model's elementwise passes around its matrix products (lrbench/models.py).
 * ReLU is numpy's maximum(v, 0): v when v > 0, NaN as it is, else +0.0 (also for -0.0).
 * Sums over a batch start from +0.0 and add in order, as numpy's add.reduce over a
 * non-contiguous axis does. */
#define DEFINE_MODEL_KERNELS(T, SFX)                                                          \
    CLONES static void bias_relu_##SFX(T *z, const T *b, Py_ssize_t K, Py_ssize_t A,         \
                                       Py_ssize_t C, int per_row)                            \
    {                                                                                        \
        for (Py_ssize_t k = 0; k < K; k++)                                                   \
            for (Py_ssize_t a = 0; a < A; a++) {                                             \
                T *row = z + (k * A + a) * C;                                                \
                if (per_row) {                                                               \
                    const T bb = b[k * A + a];                                               \
                    for (Py_ssize_t c = 0; c < C; c++) {                                     \
                        T v = row[c] + bb;                                                   \
                        row[c] = v > 0 ? v : (v != v ? v : (T)0);                            \
                    }                                                                        \
                }                                                                            \
                else {                                                                       \
                    const T *bk = b + k * C;                                                 \
                    for (Py_ssize_t c = 0; c < C; c++) {                                     \
                        T v = row[c] + bk[c];                                                \
                        row[c] = v > 0 ? v : (v != v ? v : (T)0);                            \
                    }                                                                        \
                }                                                                            \
            }                                                                                \
    }                                                                                        \
                                                                                             \
    CLONES static void relu_grad_##SFX(T *g, const T *h, T *db, Py_ssize_t K, Py_ssize_t B,  \
                                       Py_ssize_t H)                                         \
    {                                                                                        \
        for (Py_ssize_t k = 0; k < K; k++) {                                                 \
            T *restrict dbk = db + k * H;                                                    \
            for (Py_ssize_t j = 0; j < H; j++)                                               \
                dbk[j] = (T)0;                                                               \
            for (Py_ssize_t r = 0; r < B; r++) {                                             \
                T *restrict gr = g + (k * B + r) * H;                                        \
                const T *restrict hr = h + (k * B + r) * H;                                  \
                for (Py_ssize_t j = 0; j < H; j++) {                                         \
                    T gi = gr[j] * (T)(hr[j] > 0);                                           \
                    gr[j] = gi;                                                              \
                    dbk[j] = dbk[j] + gi;                                                    \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
    }

/* The softmax around numpy's exp and log, on class-major logits z (K, C, n): one column per
 * example. class_shift: per column, m = the classes' maximum as numpy's chain of maximum()
 * gives it (a NaN operand is returned, the first one first; on equal values the later one),
 * z -= m in place, picked = the shifted logit of the true class, and, when counted, whether
 * the first maximum (np.argmax: the first NaN, else the first largest) is the true class.
 * softmax_grad, after exp: s = the column's sum over classes in order from +0.0 (numpy's
 * add.reduce over a strided axis), then e = ((e / s) - [c == y]) / B as numpy's three
 * passes compute it. Labels are shared by the K stacks (ny == n) or one row each. */
#define DEFINE_SOFTMAX_KERNELS(T, SFX)                                                        \
    CLONES static void class_shift_##SFX(T *z, const long long *y, Py_ssize_t ny, T *picked, \
                                  long long *hits, Py_ssize_t K, Py_ssize_t C, Py_ssize_t n, \
                                  T *m, Py_ssize_t *arg)                                     \
    {                                                                                        \
        for (Py_ssize_t k = 0; k < K; k++) {                                                 \
            T *zk = z + k * C * n;                                                           \
            const long long *yk = ny == n ? y : y + k * n;                                   \
            for (Py_ssize_t j = 0; j < n; j++) {                                             \
                m[j] = zk[j];                                                                \
                arg[j] = 0;                                                                  \
            }                                                                                \
            for (Py_ssize_t c = 1; c < C; c++) {                                             \
                const T *zc = zk + c * n;                                                    \
                for (Py_ssize_t j = 0; j < n; j++) {                                         \
                    T a = m[j], b = zc[j];                                                   \
                    m[j] = a != a ? a : (b != b ? b : (a > b ? a : b));                      \
                }                                                                            \
                if (hits) {                                                                  \
                    for (Py_ssize_t j = 0; j < n; j++) {                                     \
                        T best = zk[arg[j] * n + j], b = zc[j];                              \
                        if (best == best && (b != b || b > best))                            \
                            arg[j] = c;                                                      \
                    }                                                                        \
                }                                                                            \
            }                                                                                \
            long long count = 0;                                                             \
            for (Py_ssize_t j = 0; j < n; j++)                                               \
                count += hits && arg[j] == yk[j];                                            \
            if (hits)                                                                        \
                hits[k] = count;                                                             \
            for (Py_ssize_t c = 0; c < C; c++) {                                             \
                T *zc = zk + c * n;                                                          \
                for (Py_ssize_t j = 0; j < n; j++)                                           \
                    zc[j] = zc[j] - m[j];                                                    \
            }                                                                                \
            T *pk = picked + k * n;                                                          \
            for (Py_ssize_t j = 0; j < n; j++)                                               \
                pk[j] = zk[yk[j] * n + j];                                                   \
        }                                                                                    \
    }                                                                                        \
                                                                                             \
    CLONES static void softmax_grad_##SFX(T *e, const long long *y, Py_ssize_t ny, T *s,     \
                                          Py_ssize_t K, Py_ssize_t C, Py_ssize_t n, T B)     \
    {                                                                                        \
        for (Py_ssize_t k = 0; k < K; k++) {                                                 \
            T *ek = e + k * C * n, *restrict sk = s + k * n;                                 \
            const long long *yk = ny == n ? y : y + k * n;                                   \
            for (Py_ssize_t j = 0; j < n; j++)                                               \
                sk[j] = (T)0;                                                                \
            for (Py_ssize_t c = 0; c < C; c++) {                                             \
                const T *restrict ec = ek + c * n;                                           \
                for (Py_ssize_t j = 0; j < n; j++)                                           \
                    sk[j] = sk[j] + ec[j];                                                   \
            }                                                                                \
            for (Py_ssize_t c = 0; c < C; c++) {                                             \
                T *restrict ec = ek + c * n;                                                 \
                for (Py_ssize_t j = 0; j < n; j++) {                                         \
                    T v = ec[j] / sk[j];                                                     \
                    T w = v - (T)1;                                                          \
                    ec[j] = (yk[j] == c ? w : v) / B;                                        \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
    }

DEFINE_KERNELS(double, sqrt, d)
DEFINE_MODEL_KERNELS(double, d)
DEFINE_SOFTMAX_KERNELS(double, d)
DEFINE_SOFTMAX_KERNELS(float, f)
DEFINE_MODEL_KERNELS(float, f)
DEFINE_KERNELS(float, sqrtf, f)

/* Buffers: acquire, check type and size, release. */

typedef struct {
    Py_buffer view;
    int held;
} Buf;

static void
release(Buf *bufs, int count)
{
    for (int i = 0; i < count; i++)
        if (bufs[i].held) {
            PyBuffer_Release(&bufs[i].view);
            bufs[i].held = 0;
        }
}

/* Acquire obj (or skip None when optional) as a C-contiguous buffer of format fmt ("d"/"f"
 * decided by the first buffer when fmt is '\0') with `count` items (-1: any). */
static int
acquire(PyObject *obj, Buf *buf, int writable, char *fmt, Py_ssize_t count, int optional,
        const char *name)
{
    buf->held = 0;
    if (obj == Py_None) {
        if (optional)
            return 0;
        PyErr_Format(PyExc_TypeError, "%s is required", name);
        return -1;
    }
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, &buf->view, flags) < 0)
        return -1;
    buf->held = 1;
    const char *f = buf->view.format ? buf->view.format : "B";
    if (f[0] == '=' || f[0] == '<' || f[0] == '@')
        f++;
    if (!((f[0] == 'd' || f[0] == 'f') && f[1] == '\0') ||
        (*fmt != '\0' && f[0] != *fmt)) {
        PyErr_Format(PyExc_TypeError, "%s: float64 or float32 arrays of one type, got '%s'",
                     name, buf->view.format);
        return -1;
    }
    *fmt = f[0];
    Py_ssize_t items = buf->view.len / buf->view.itemsize;
    if (count >= 0 && items != count) {
        PyErr_Format(PyExc_ValueError, "%s has %zd values, expected %zd", name, items, count);
        return -1;
    }
    return 0;
}

static void *
ptr(Buf *buf)
{
    return buf->held ? buf->view.buf : NULL;
}

/* Acquire args[0..count) as buffers: the first `arrays` are the parameters and their state
 * (writable, all of the first's length), the rest per-configuration constants (the first of
 * them required, giving K; those flagged in `optional` may be None). */
static int
acquire_all(PyObject *const *args, Buf *b, int count, int arrays, unsigned optional,
            const char *const *names, char *fmt, Py_ssize_t *total, Py_ssize_t *K)
{
    *fmt = '\0';
    *total = -1;
    *K = -1;
    for (int i = 0; i < count; i++)
        b[i].held = 0;
    /* The required constant that fixes K comes first. */
    if (acquire(args[arrays], &b[arrays], 0, fmt, -1, 0, names[arrays]) < 0)
        return -1;
    *K = b[arrays].view.len / b[arrays].view.itemsize;
    for (int i = 0; i < count; i++) {
        if (i == arrays)
            continue;
        Py_ssize_t n = i < arrays ? *total : *K;
        if (acquire(args[i], &b[i], i < arrays, fmt, n, (optional >> i) & 1u, names[i]) < 0)
            return -1;
        if (i == 0)
            *total = b[0].view.len / b[0].view.itemsize;
    }
    if (*K <= 0 || *total % *K != 0) {
        PyErr_Format(PyExc_ValueError, "%zd values do not split into %zd rows", *total, *K);
        return -1;
    }
    return 0;
}

/* sgd(p, g, b, neg_lr, wd, mu, damp1, first, nesterov): b is None for plain SGD. */
static PyObject *
fused_sgd(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    static const char *const names[7] = {"p", "g", "b", "neg_lr", "wd", "mu", "damp1"};
    if (nargs != 9) {
        PyErr_SetString(PyExc_TypeError, "sgd takes 9 arguments");
        return NULL;
    }
    int first = PyObject_IsTrue(args[7]), nesterov = PyObject_IsTrue(args[8]);
    if (first < 0 || nesterov < 0)
        return NULL;
    Buf b[7];
    char fmt;
    Py_ssize_t total, K;
    /* b, wd and damp1 may be None; mu too when there is no buffer. */
    unsigned optional = (1u << 2) | (1u << 4) | (1u << 6) | (args[2] == Py_None ? 1u << 5 : 0);
    if (acquire_all(args, b, 7, 3, optional, names, &fmt, &total, &K) < 0) {
        release(b, 7);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    if (fmt == 'd')
        sgd_d(ptr(&b[0]), ptr(&b[1]), ptr(&b[2]), K, total / K, ptr(&b[4]), ptr(&b[5]),
              ptr(&b[6]), ptr(&b[3]), first, nesterov);
    else
        sgd_f(ptr(&b[0]), ptr(&b[1]), ptr(&b[2]), K, total / K, ptr(&b[4]), ptr(&b[5]),
              ptr(&b[6]), ptr(&b[3]), first, nesterov);
    Py_END_ALLOW_THREADS
    release(b, 7);
    Py_RETURN_NONE;
}

/* adam(p, g, m, v, b1c, b2c, b2, neg_step, bc2s, eps, wd, decay): wd and decay may be None. */
static PyObject *
fused_adam(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    static const char *const names[12] = {"p",  "g",        "m",    "v",   "b1c", "b2c",
                                          "b2", "neg_step", "bc2s", "eps", "wd",  "decay"};
    if (nargs != 12) {
        PyErr_SetString(PyExc_TypeError, "adam takes 12 arguments");
        return NULL;
    }
    Buf b[12];
    char fmt;
    Py_ssize_t total, K;
    if (acquire_all(args, b, 12, 4, (1u << 10) | (1u << 11), names, &fmt, &total, &K) < 0) {
        release(b, 12);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    if (fmt == 'd')
        adam_d(ptr(&b[0]), ptr(&b[1]), ptr(&b[2]), ptr(&b[3]), K, total / K, ptr(&b[10]),
               ptr(&b[11]), ptr(&b[4]), ptr(&b[5]), ptr(&b[6]), ptr(&b[7]), ptr(&b[8]),
               ptr(&b[9]));
    else
        adam_f(ptr(&b[0]), ptr(&b[1]), ptr(&b[2]), ptr(&b[3]), K, total / K, ptr(&b[10]),
               ptr(&b[11]), ptr(&b[4]), ptr(&b[5]), ptr(&b[6]), ptr(&b[7]), ptr(&b[8]),
               ptr(&b[9]));
    Py_END_ALLOW_THREADS
    release(b, 12);
    Py_RETURN_NONE;
}

/* Non-negative integer argument. */
static int
size_arg(PyObject *obj, Py_ssize_t *out, const char *name)
{
    *out = PyLong_AsSsize_t(obj);
    if (*out == -1 && PyErr_Occurred())
        return -1;
    if (*out <= 0) {
        PyErr_Format(PyExc_ValueError, "%s must be positive, got %zd", name, *out);
        return -1;
    }
    return 0;
}

/* A kernel's call: nargs must be `want`, and args[i] and args[j] are positive sizes. */
static int
sizes(Py_ssize_t nargs, Py_ssize_t want, const char *func, PyObject *const *args, int i,
      Py_ssize_t *a, const char *a_name, int j, Py_ssize_t *b, const char *b_name)
{
    if (nargs != want) {
        PyErr_Format(PyExc_TypeError, "%s takes %zd arguments", func, want);
        return -1;
    }
    if (size_arg(args[i], a, a_name) < 0 || size_arg(args[j], b, b_name) < 0)
        return -1;
    return 0;
}

/* Acquire obj as a writable array of rows*n values; n (the values per row) goes to *n. */
static int
acquire_rows(PyObject *obj, Buf *buf, char *fmt, Py_ssize_t rows, Py_ssize_t *n,
             const char *name)
{
    if (acquire(obj, buf, 1, fmt, -1, 0, name) < 0)
        return -1;
    Py_ssize_t total = buf->view.len / buf->view.itemsize;
    if (total % rows != 0) {
        PyErr_Format(PyExc_ValueError, "%s has %zd values, not a multiple of %zd", name, total,
                     rows);
        return -1;
    }
    *n = total / rows;
    return 0;
}

/* bias_relu(z, b, K, A, per_row): z (K, A, C) = relu(z + b) in place; b holds K*A values
 * (one per row a: per_row true) or K*C values (one per column c). */
static PyObject *
fused_bias_relu(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    Py_ssize_t K, A;
    if (sizes(nargs, 5, "bias_relu", args, 2, &K, "K", 3, &A, "A") < 0)
        return NULL;
    int per_row = PyObject_IsTrue(args[4]);
    if (per_row < 0)
        return NULL;
    Buf b[2] = {{.held = 0}, {.held = 0}};
    char fmt = '\0';
    Py_ssize_t C;
    if (acquire_rows(args[0], &b[0], &fmt, K * A, &C, "z") < 0 ||
        acquire(args[1], &b[1], 0, &fmt, per_row ? K * A : K * C, 0, "b") < 0)
        goto fail;
    Py_BEGIN_ALLOW_THREADS
    if (fmt == 'd')
        bias_relu_d(ptr(&b[0]), ptr(&b[1]), K, A, C, per_row);
    else
        bias_relu_f(ptr(&b[0]), ptr(&b[1]), K, A, C, per_row);
    Py_END_ALLOW_THREADS
    release(b, 2);
    Py_RETURN_NONE;
fail:
    release(b, 2);
    return NULL;
}

/* relu_grad(g, h, db, K, B): for g and h (K, B, H), g *= (h > 0) in place and
 * db (K, H) = g summed over B. */
static PyObject *
fused_relu_grad(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    Py_ssize_t K, B;
    if (sizes(nargs, 5, "relu_grad", args, 3, &K, "K", 4, &B, "B") < 0)
        return NULL;
    Buf b[3] = {{.held = 0}, {.held = 0}, {.held = 0}};
    char fmt = '\0';
    Py_ssize_t H;
    if (acquire_rows(args[0], &b[0], &fmt, K * B, &H, "g") < 0 ||
        acquire(args[1], &b[1], 0, &fmt, K * B * H, 0, "h") < 0 ||
        acquire(args[2], &b[2], 1, &fmt, K * H, 0, "db") < 0)
        goto fail;
    Py_BEGIN_ALLOW_THREADS
    if (fmt == 'd')
        relu_grad_d(ptr(&b[0]), ptr(&b[1]), ptr(&b[2]), K, B, H);
    else
        relu_grad_f(ptr(&b[0]), ptr(&b[1]), ptr(&b[2]), K, B, H);
    Py_END_ALLOW_THREADS
    release(b, 3);
    Py_RETURN_NONE;
fail:
    release(b, 3);
    return NULL;
}

/* Labels: a C-contiguous buffer of 8-byte integers, n or K*n of them, each in [0, C). */
static int
acquire_labels(PyObject *obj, Buf *buf, Py_ssize_t K, Py_ssize_t n, Py_ssize_t C)
{
    buf->held = 0;
    if (PyObject_GetBuffer(obj, &buf->view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return -1;
    buf->held = 1;
    const char *f = buf->view.format ? buf->view.format : "B";
    if (f[0] == '=' || f[0] == '<' || f[0] == '@')
        f++;
    Py_ssize_t items = buf->view.len / buf->view.itemsize;
    if (buf->view.itemsize != 8 || !(f[0] == 'l' || f[0] == 'q' || f[0] == 'n') || f[1]) {
        PyErr_Format(PyExc_TypeError, "y: int64 labels, got '%s'", buf->view.format);
        return -1;
    }
    if (items != n && items != K * n) {
        PyErr_Format(PyExc_ValueError, "y has %zd labels, expected %zd or %zd", items, n, K * n);
        return -1;
    }
    const long long *y = buf->view.buf;
    for (Py_ssize_t i = 0; i < items; i++)
        if (y[i] < 0 || y[i] >= C) {
            PyErr_Format(PyExc_ValueError, "label %lld is not a class of %zd", y[i], C);
            return -1;
        }
    return 0;
}

/* The softmax kernels' first three arguments: logits (K, C, n) in place, labels, and a
 * (K, n) output. */
static int
softmax_arrays(PyObject *const *args, Buf *b, char *fmt, Py_ssize_t K, Py_ssize_t C,
               Py_ssize_t *n, const char *out_name)
{
    if (acquire_rows(args[0], &b[0], fmt, K * C, n, "z") < 0 ||
        acquire_labels(args[1], &b[1], K, *n, C) < 0 ||
        acquire(args[2], &b[2], 1, fmt, K * *n, 0, out_name) < 0)
        return -1;
    return 0;
}

/* class_shift(z, y, picked, hits, K, C): see DEFINE_SOFTMAX_KERNELS; hits may be None. */
static PyObject *
fused_class_shift(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    Py_ssize_t K, C, n;
    if (sizes(nargs, 6, "class_shift", args, 4, &K, "K", 5, &C, "C") < 0)
        return NULL;
    Buf b[4] = {{.held = 0}, {.held = 0}, {.held = 0}, {.held = 0}};
    char fmt = '\0';
    void *scratch = NULL;
    if (softmax_arrays(args, b, &fmt, K, C, &n, "picked") < 0)
        goto fail;
    if (args[3] != Py_None) {
        if (PyObject_GetBuffer(args[3], &b[3].view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
            goto fail;
        b[3].held = 1;
        if (b[3].view.itemsize != 8 || b[3].view.len != 8 * K) {
            PyErr_Format(PyExc_ValueError, "hits: %zd int64 counts", K);
            goto fail;
        }
    }
    scratch = PyMem_Malloc(n * (b[0].view.itemsize + sizeof(Py_ssize_t)));
    if (scratch == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    Py_ssize_t ny = b[1].view.len / 8;
    Py_ssize_t *arg = (Py_ssize_t *)scratch;
    void *m = (char *)scratch + n * sizeof(Py_ssize_t);
    Py_BEGIN_ALLOW_THREADS
    if (fmt == 'd')
        class_shift_d(ptr(&b[0]), ptr(&b[1]), ny, ptr(&b[2]), ptr(&b[3]), K, C, n, m, arg);
    else
        class_shift_f(ptr(&b[0]), ptr(&b[1]), ny, ptr(&b[2]), ptr(&b[3]), K, C, n, m, arg);
    Py_END_ALLOW_THREADS
    PyMem_Free(scratch);
    release(b, 4);
    Py_RETURN_NONE;
fail:
    PyMem_Free(scratch);
    release(b, 4);
    return NULL;
}

/* softmax_grad(e, y, s, K, C, B): see DEFINE_SOFTMAX_KERNELS. */
static PyObject *
fused_softmax_grad(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    Py_ssize_t K, C, n;
    if (sizes(nargs, 6, "softmax_grad", args, 3, &K, "K", 4, &C, "C") < 0)
        return NULL;
    double B = PyFloat_AsDouble(args[5]);
    if (B == -1.0 && PyErr_Occurred())
        return NULL;
    Buf b[3] = {{.held = 0}, {.held = 0}, {.held = 0}};
    char fmt = '\0';
    if (softmax_arrays(args, b, &fmt, K, C, &n, "s") < 0)
        goto fail;
    Py_ssize_t ny = b[1].view.len / 8;
    Py_BEGIN_ALLOW_THREADS
    if (fmt == 'd')
        softmax_grad_d(ptr(&b[0]), ptr(&b[1]), ny, ptr(&b[2]), K, C, n, B);
    else
        softmax_grad_f(ptr(&b[0]), ptr(&b[1]), ny, ptr(&b[2]), K, C, n, (float)B);
    Py_END_ALLOW_THREADS
    release(b, 3);
    Py_RETURN_NONE;
fail:
    release(b, 3);
    return NULL;
}

static PyMethodDef methods[] = {
    {"class_shift", (PyCFunction)(void (*)(void))fused_class_shift, METH_FASTCALL,
     "class_shift(z, y, picked, hits, K, C): z -= class max, picked, argmax hits."},
    {"softmax_grad", (PyCFunction)(void (*)(void))fused_softmax_grad, METH_FASTCALL,
     "softmax_grad(e, y, s, K, C, B): s = class sums, e = (e / s - onehot) / B."},
    {"bias_relu", (PyCFunction)(void (*)(void))fused_bias_relu, METH_FASTCALL,
     "bias_relu(z, b, K, A, per_row): z = maximum(z + b, 0) in place."},
    {"relu_grad", (PyCFunction)(void (*)(void))fused_relu_grad, METH_FASTCALL,
     "relu_grad(g, h, db, K, B): g *= h > 0 in place, db = g.sum over the batch."},
    {"sgd", (PyCFunction)(void (*)(void))fused_sgd, METH_FASTCALL,
     "sgd(p, g, b, neg_lr, wd, mu, damp1, first, nesterov): one SGD step in place."},
    {"adam", (PyCFunction)(void (*)(void))fused_adam, METH_FASTCALL,
     "adam(p, g, m, v, b1c, b2c, b2, neg_step, bc2s, eps, wd, decay): one Adam step in place."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fused",
    "lrbench's optimizer updates in one pass (same bits as the numpy code).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__fused(void)
{
    return PyModule_Create(&module);
}
