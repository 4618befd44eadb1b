/* Element-wise arithmetic with NumPy broadcasting: Add, Sub, Mul, Div, Pow,
 * PRelu, and the variadic Sum, Mean, Max, Min.
 *
 * Shapes are first coalesced into a plan: size-1 output dims dropped, adjacent
 * dims merged where both operands stay contiguous, so [N,C,H,W] op [1,C,1,1]
 * becomes [N, C, H*W] with strides a (C*HW, HW, 1), b (0, 1, 0).  Kernels then
 * run along the innermost dim with stride 0 or 1 per operand.  Backward of an
 * operand that was broadcast sums over its broadcast axes, parallel over its
 * own elements so that no two threads write the same gradient. */
#include "ew.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int nd;
    int64_t n;                    /* output numel */
    int64_t d[CC_MAX_DIMS];       /* coalesced output dims */
    int64_t s[2][CC_MAX_DIMS];    /* operand strides in elements, 0 = broadcast */
    int64_t so[CC_MAX_DIMS];      /* output strides (contiguous) */
} bc_plan;

static void bc_plan_make(bc_plan *p, const cc_tensor *y, const cc_tensor *a, const cc_tensor *b)
{
    const cc_tensor *ops[2] = { a, b };
    int nd = y->ndim;
    int64_t raw[2][CC_MAX_DIMS];
    for (int o = 0; o < 2; o++) {
        int64_t st = 1;
        for (int i = nd - 1; i >= 0; i--) {
            int j = i - (nd - ops[o]->ndim);
            int64_t dim = j >= 0 ? ops[o]->dims[j] : 1;
            raw[o][i] = dim == 1 ? 0 : st;
            st *= dim;
        }
    }
    p->nd = 0;
    p->n = cc_numel(y->dims, y->ndim);
    for (int i = 0; i < nd; i++) {
        if (y->dims[i] == 1) continue;
        int k = p->nd - 1;
        if (k >= 0 && p->s[0][k] == raw[0][i] * y->dims[i] && p->s[1][k] == raw[1][i] * y->dims[i]) {
            p->d[k] *= y->dims[i];
            p->s[0][k] = raw[0][i];
            p->s[1][k] = raw[1][i];
        } else {
            p->d[p->nd] = y->dims[i];
            p->s[0][p->nd] = raw[0][i];
            p->s[1][p->nd] = raw[1][i];
            p->nd++;
        }
    }
    if (p->nd == 0) { p->nd = 1; p->d[0] = 1; p->s[0][0] = p->s[1][0] = 0; }
    int64_t st = 1;
    for (int i = p->nd - 1; i >= 0; i--) { p->so[i] = st; st *= p->d[i]; }
}

/* ---- row kernels ------------------------------------------------------------ */

typedef void (*bin_fwd_fn)(int64_t n, const void *pa, int64_t sa, const void *pb, int64_t sb, void *py);
typedef void (*bin_grad_fn)(int64_t n, const float *pa, int64_t sa, const float *pb, int64_t sb,
                            const float *py, const float *pg, float *pgx, float c);
typedef double (*bin_sum_fn)(int64_t n, const float *pa, int64_t sa, const float *pb, int64_t sb,
                             const float *py, const float *pg, int64_t sy, float c);

/* Runs BODY with a and b bound for each i, specialised so the common stride
 * patterns vectorise ("omp simd": -O2 alone does not vectorise loops of unknown
 * trip count; the reduction form is for the broadcast-gradient sums). */
#define BC_SIMD _Pragma("omp simd")
#define BC_SIMD_SUM _Pragma("omp simd reduction(+:s)")
#define BC_LOOP(T, BODY) BC_LOOPP(T, BC_SIMD, BODY)
#define BC_LOOPP(T, SIMD, BODY) do { \
    if (sa == 1 && sb == 1) { SIMD for (int64_t i = 0; i < n; i++) { T a = pa[i], b = pb[i]; (void)a; (void)b; BODY; } } \
    else if (sb == 0) { const T b = pb[0]; SIMD for (int64_t i = 0; i < n; i++) { T a = pa[i * sa]; (void)a; (void)b; BODY; } } \
    else if (sa == 0) { const T a = pa[0]; SIMD for (int64_t i = 0; i < n; i++) { T b = pb[i * sb]; (void)a; (void)b; BODY; } } \
    else { SIMD for (int64_t i = 0; i < n; i++) { T a = pa[i * sa], b = pb[i * sb]; (void)a; (void)b; BODY; } } \
} while (0)

static inline float pow_f(float a, float b)
{
    return b == 2 ? a * a : b == 1 ? a : b == 0.5f ? sqrtf(a) : powf(a, b);
}
/* d(a^b)/da, zero where b == 0 as in PyTorch. */
static inline float pow_da(float a, float b, float g)
{
    return b == 0 ? 0 : b == 2 ? 2 * a * g : g * b * powf(a, b - 1);
}
static inline int64_t div_i(int64_t a, int64_t b)
{
    return b == 0 ? 0 : b == -1 ? (int64_t)(0 - (uint64_t)a) : a / b;
}
static inline int64_t pow_i(int64_t a, int64_t b)
{
    uint64_t r = 1, x = (uint64_t)a;
    if (b < 0) return a == 1 ? 1 : a == -1 ? (b % 2 ? -1 : 1) : 0;
    for (; b; b >>= 1, x *= x)
        if (b & 1) r *= x;
    return (int64_t)r;
}

/* X(Name, float forward(a, b), int64 forward?, int64 forward(a, b),
 *   da(a, b, y, g, c), db(a, b, y, g, c)) */
#define BIN_LIST(X) \
    X(Add, a + b, 1, (int64_t)((uint64_t)a + (uint64_t)b), g, g) \
    X(Sub, a - b, 1, (int64_t)((uint64_t)a - (uint64_t)b), g, -g) \
    X(Mul, a * b, 1, (int64_t)((uint64_t)a * (uint64_t)b), g * b, g * a) \
    X(Div, a / b, 1, div_i(a, b), g / b, -g * y / b) \
    X(Pow, pow_f(a, b), 1, pow_i(a, b), pow_da(a, b, g), (a > 0 ? g * y * logf(a) : 0)) \
    X(PRelu, (a > 0 ? a : a * b), 0, 0, (a > 0 ? g : g * b), (a > 0 ? 0 : g * a)) \
    X(Max, (a > b || a != a ? a : b), 1, (a > b ? a : b), \
      (a > b ? g : a == b ? g / 2 : 0), (b > a ? g : a == b ? g / 2 : 0)) \
    X(Min, (a < b || a != a ? a : b), 1, (a < b ? a : b), \
      (a < b ? g : a == b ? g / 2 : 0), (b < a ? g : a == b ? g / 2 : 0)) \
    X(CopyB, b, 1, b, 0, g) \
    X(Scale, a + b, 0, 0, g * c, g * c)

enum {
#define X_ENUM(NAME, F, INTS, FI, DA, DB) B_##NAME,
    BIN_LIST(X_ENUM)
#undef X_ENUM
    B_COUNT
};

#define X_KERNELS(NAME, F, INTS, FI, DA, DB) \
    static void NAME##_fwd(int64_t n, const void *va, int64_t sa, const void *vb, int64_t sb, void *vy) \
    { \
        const float *pa = va, *pb = vb; float *py = vy; \
        BC_LOOP(float, py[i] = (F)); \
    } \
    static void NAME##_fwdi(int64_t n, const void *va, int64_t sa, const void *vb, int64_t sb, void *vy) \
    { \
        const int64_t *pa = va, *pb = vb; int64_t *py = vy; \
        BC_LOOP(int64_t, py[i] = (FI)); \
    } \
    static void NAME##_ga(int64_t n, const float *pa, int64_t sa, const float *pb, int64_t sb, \
                          const float *py, const float *pg, float *pgx, float c) \
    { \
        (void)c; \
        BC_LOOP(float, float y = py[i]; float g = pg[i]; (void)y; (void)g; pgx[i] += (DA)); \
    } \
    static void NAME##_gb(int64_t n, const float *pa, int64_t sa, const float *pb, int64_t sb, \
                          const float *py, const float *pg, float *pgx, float c) \
    { \
        (void)c; \
        BC_LOOP(float, float y = py[i]; float g = pg[i]; (void)y; (void)g; pgx[i] += (DB)); \
    } \
    static double NAME##_sa(int64_t n, const float *pa, int64_t sa, const float *pb, int64_t sb, \
                            const float *py, const float *pg, int64_t sy, float c) \
    { \
        double s = 0; (void)c; \
        BC_LOOPP(float, BC_SIMD_SUM, float y = py[i * sy]; float g = pg[i * sy]; (void)y; (void)g; s += (DA)); \
        return s; \
    } \
    static double NAME##_sb(int64_t n, const float *pa, int64_t sa, const float *pb, int64_t sb, \
                            const float *py, const float *pg, int64_t sy, float c) \
    { \
        double s = 0; (void)c; \
        BC_LOOPP(float, BC_SIMD_SUM, float y = py[i * sy]; float g = pg[i * sy]; (void)y; (void)g; s += (DB)); \
        return s; \
    }
BIN_LIST(X_KERNELS)
#undef X_KERNELS

static const struct {
    bin_fwd_fn fwd, fwdi;
    bin_grad_fn grad[2];
    bin_sum_fn sum[2];
    int ints;
} bkern[B_COUNT] = {
#define X_TAB(NAME, F, INTS, FI, DA, DB) \
    { NAME##_fwd, NAME##_fwdi, { NAME##_ga, NAME##_gb }, { NAME##_sa, NAME##_sb }, INTS },
    BIN_LIST(X_TAB)
#undef X_TAB
};

/* ---- drivers ---------------------------------------------------------------- */

#define BC_CHUNK 16384   /* inner rows are split so a few long rows still spread over threads */

static void bc_offsets(const bc_plan *p, int64_t r, int upto, int64_t *oa, int64_t *ob)
{
    *oa = *ob = 0;
    for (int i = upto - 1; i >= 0; i--) {
        int64_t q = r % p->d[i];
        r /= p->d[i];
        *oa += q * p->s[0][i];
        *ob += q * p->s[1][i];
    }
}

static void bc_forward(const bc_plan *p, bin_fwd_fn f, const void *a, const void *b, void *y, size_t esz)
{
    if (p->n == 0) return;
    int nd = p->nd;
    int64_t inner = p->d[nd - 1], rows = p->n / inner;
    int64_t nch = (inner + BC_CHUNK - 1) / BC_CHUNK, tasks = rows * nch;
    int64_t sa = p->s[0][nd - 1], sb = p->s[1][nd - 1];
#pragma omp parallel for if(p->n > CC_PAR_MIN) schedule(static)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t r = t / nch, c0 = (t % nch) * BC_CHUNK, len = inner - c0, oa, ob;
        if (len > BC_CHUNK) len = BC_CHUNK;
        bc_offsets(p, r, nd - 1, &oa, &ob);
        oa += c0 * sa;
        ob += c0 * sb;
        f(len, (const char *)a + oa * esz, sa, (const char *)b + ob * esz, sb,
          (char *)y + (r * inner + c0) * esz);
    }
}

/* gx (K stacked copies of operand w's shape) += VJP of operand w. */
static void bc_backward(const bc_plan *p, int kind, int w, const float *a, const float *b,
                        const float *y, const float *g, float *gx, int K, float c)
{
    if (!gx || !g || p->n == 0) return;
    int nd = p->nd, red[CC_MAX_DIMS], kept[CC_MAX_DIMS], nr = 0, nk = 0;
    for (int i = 0; i < nd; i++) {
        if (p->s[w][i] == 0 && p->d[i] > 1) red[nr++] = i;
        else kept[nk++] = i;
    }
    const int64_t n = p->n;
    if (nr == 0) {
        /* Operand w has the output's layout: disjoint element-wise updates. */
        bin_grad_fn f = bkern[kind].grad[w];
        int64_t inner = p->d[nd - 1], rows = n / inner;
        int64_t nch = (inner + BC_CHUNK - 1) / BC_CHUNK, per = rows * nch, tasks = per * K;
        int64_t sa = p->s[0][nd - 1], sb = p->s[1][nd - 1];
#pragma omp parallel for if((int64_t)K * n > CC_PAR_MIN) schedule(static)
        for (int64_t t = 0; t < tasks; t++) {
            int64_t k = t / per, r = (t % per) / nch, c0 = (t % nch) * BC_CHUNK, len = inner - c0, oa, ob;
            if (len > BC_CHUNK) len = BC_CHUNK;
            bc_offsets(p, r, nd - 1, &oa, &ob);
            int64_t oo = r * inner + c0;
            f(len, a + oa + c0 * sa, sa, b + ob + c0 * sb, sb, y + oo, g + k * n + oo, gx + k * n + oo, c);
        }
        return;
    }
    /* Operand w was broadcast: each of its elements sums over the reduced axes. */
    bin_sum_fn f = bkern[kind].sum[w];
    int64_t nx = 1, nrows = 1;
    for (int j = 0; j < nk; j++) nx *= p->d[kept[j]];
    for (int j = 0; j < nr - 1; j++) nrows *= p->d[red[j]];
    int last = red[nr - 1];
    int64_t L = p->d[last], la = p->s[0][last], lb = p->s[1][last], lo = p->so[last];
#pragma omp parallel for if((int64_t)K * n > CC_PAR_MIN) schedule(static)
    for (int64_t t = 0; t < (int64_t)K * nx; t++) {
        int64_t k = t / nx, e = t % nx, ba = 0, bb = 0, bo = 0;
        for (int j = nk - 1; j >= 0; j--) {
            int i = kept[j];
            int64_t q = e % p->d[i];
            e /= p->d[i];
            ba += q * p->s[0][i]; bb += q * p->s[1][i]; bo += q * p->so[i];
        }
        double s = 0;
        for (int64_t r = 0; r < nrows; r++) {
            int64_t oa = ba, ob = bb, oo = bo, q2 = r;
            for (int j = nr - 2; j >= 0; j--) {
                int i = red[j];
                int64_t q = q2 % p->d[i];
                q2 /= p->d[i];
                oa += q * p->s[0][i]; ob += q * p->s[1][i]; oo += q * p->so[i];
            }
            s += f(L, a + oa, la, b + ob, lb, y + oo, g + k * n + oo, lo, c);
        }
        gx[t] += (float)s;
    }
}

/* ---- ops -------------------------------------------------------------------- */

static void fmt_shape(char *buf, size_t size, const cc_tensor *t)
{
    size_t k = 0;
    buf[0] = 0;
    k += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < t->ndim && k < size; i++)
        k += (size_t)snprintf(buf + k, size - k, "%s%lld", i ? "," : "", (long long)t->dims[i]);
    if (k < size) snprintf(buf + k, size - k, "]");
}

/* Shared by the binary and variadic ops: all inputs present, same dtype (Pow's
 * exponent excepted), broadcast-compatible. */
static int bin_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e, int kind, int variadic)
{
    if ((variadic ? n->n_in < 1 : n->n_in != 2) || n->n_out < 1)
        return cc_errf(e, CC_E_PARSE, "%s '%s': wrong number of inputs (%d)", n->op_type, n->name, n->n_in);
    cc_tensor acc = { 0 };
    for (int i = 0; i < n->n_in; i++) {
        const cc_tensor *t = ew_in(n, in, i);
        if (!t) return cc_errf(e, CC_E_PARSE, "%s '%s': input %d is missing", n->op_type, n->name, i);
        int ok_type = t->dtype == in[0]->dtype || (kind == B_Pow && i == 1);
        if (!ok_type)
            return cc_errf(e, CC_E_UNSUPPORTED, "%s '%s': inputs have different data types (%d and %d)",
                           n->op_type, n->name, in[0]->dtype, t->dtype);
        if (i == 0) { ew_copy_shape(&acc, t); continue; }
        int nd;
        int64_t dims[CC_MAX_DIMS];
        if (cc_broadcast_shape(&acc, t, &nd, dims)) {
            char s1[128], s2[128];
            fmt_shape(s1, sizeof s1, &acc);
            fmt_shape(s2, sizeof s2, t);
            return cc_errf(e, CC_E_SHAPE, "%s '%s': shapes %s and %s cannot be broadcast",
                           n->op_type, n->name, s1, s2);
        }
        acc.ndim = nd;
        memcpy(acc.dims, dims, sizeof dims);
    }
    if (in[0]->dtype != CC_DT_FLOAT && !bkern[kind].ints)
        return cc_errf(e, CC_E_UNSUPPORTED, "%s '%s': input '%s' must be float (got data type %d)",
                       n->op_type, n->name, in[0]->name, in[0]->dtype);
    if (kind == B_PRelu && (acc.ndim != in[0]->ndim || memcmp(acc.dims, in[0]->dims, sizeof acc.dims[0] * acc.ndim)))
        return cc_errf(e, CC_E_SHAPE, "PRelu '%s': slope does not broadcast to the input's shape", n->name);
    free(n->params);
    n->params = NULL;
    if (kind == B_Pow && in[1]->dtype != in[0]->dtype) {
        /* Mixed-type Pow: keep the exponent converted to the base's type. */
        if (!in[1]->is_const || !in[1]->data)
            return cc_errf(e, CC_E_UNSUPPORTED, "Pow '%s': exponent type differs from base and is not constant", n->name);
        int64_t m = in[1]->numel > 0 ? in[1]->numel : cc_numel(in[1]->dims, in[1]->ndim);
        void *conv = malloc((size_t)(m ? m : 1) * 8);
        if (!conv) return cc_errf(e, CC_E_NOMEM, "Pow '%s': out of memory", n->name);
        for (int64_t i = 0; i < m; i++) {
            if (in[0]->dtype == CC_DT_FLOAT) ((float *)conv)[i] = (float)cc_tensor_geti(in[1], i);
            else ((int64_t *)conv)[i] = (int64_t)((const float *)in[1]->data)[i];
        }
        n->params = conv;
    }
    out[0]->dtype = in[0]->dtype;
    out[0]->ndim = acc.ndim;
    memcpy(out[0]->dims, acc.dims, sizeof acc.dims);
    return CC_E_OK;
}

static void run_fwd(cc_tensor *y, const cc_tensor *a, const cc_tensor *b, const void *bdata, int kind)
{
    bc_plan p;
    bc_plan_make(&p, y, a, b);
    if (y->dtype == CC_DT_FLOAT) bc_forward(&p, bkern[kind].fwd, a->data, bdata, y->data, sizeof(float));
    else bc_forward(&p, bkern[kind].fwdi, a->data, bdata, y->data, sizeof(int64_t));
}

/* Add with a fused Relu / Clip (cc_ctx_post; the session fuses the pair when
 * nothing reads the sum itself, e.g. a residual block's Add -> Relu): one pass
 * for same-shape inputs, else the broadcast sum and then the activation. */
static void add_post(cc_tensor *y, const cc_tensor *a, const cc_tensor *b, const cc_post *post)
{
    const int64_t n = y->numel;
    float *py = y->data;
    if (a->numel == n && b->numel == n && a->ndim == b->ndim && !memcmp(a->dims, b->dims, sizeof a->dims[0] * (size_t)a->ndim)) {
        const float *pa = a->data, *pb = b->data;
        const float lo = post->lo, hi = post->hi;
        if (post->kind == CC_POST_RELU) {
#pragma omp parallel for simd if(parallel: n > CC_PAR_MIN) schedule(static)
            for (int64_t i = 0; i < n; i++) { float v = pa[i] + pb[i]; py[i] = v > 0 ? v : 0; }
        } else {
#pragma omp parallel for simd if(parallel: n > CC_PAR_MIN) schedule(static)
            for (int64_t i = 0; i < n; i++) { float v = pa[i] + pb[i]; py[i] = v < lo ? lo : v > hi ? hi : v; }
        }
        return;
    }
    run_fwd(y, a, b, b->data, B_Add);
    const int64_t blk = 16384, nb = (n + blk - 1) / blk;
#pragma omp parallel for schedule(static) if (n > CC_PAR_MIN)
    for (int64_t c = 0; c < nb; c++) cc_post_apply(py + c * blk, n - c * blk < blk ? n - c * blk : blk, 0.0f, post);
}

static int bin_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, int kind, const cc_ctx *ctx)
{
    const cc_post *post = cc_ctx_post(ctx);
    if (kind == B_Add && post->kind != CC_POST_NONE && out[0]->dtype == CC_DT_FLOAT) {
        add_post(out[0], in[0], in[1], post);
        return CC_E_OK;
    }
    run_fwd(out[0], in[0], in[1], n->params ? n->params : in[1]->data, kind);
    return CC_E_OK;
}

static int bin_backward(const cc_node *n, cc_tensor **in, cc_tensor **out, float **gy, float **gx,
                        int K, int kind)
{
    if (out[0]->dtype != CC_DT_FLOAT) return CC_E_OK;
    bc_plan p;
    bc_plan_make(&p, out[0], in[0], in[1]);
    const float *b = n->params ? n->params : in[1]->data;
    for (int w = 0; w < 2; w++)
        bc_backward(&p, kind, w, in[0]->data, b, out[0]->data, gy[0], gx[w], K, 1);
    return CC_E_OK;
}

/* Variadic Sum/Mean/Max/Min: y = in0 broadcast, then y = y op in_i in place. */
static int var_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, int kind)
{
    cc_tensor *y = out[0];
    int fk = kind == B_Scale ? B_Add : kind;
    if (n->n_in == 2) run_fwd(y, in[0], in[1], in[1]->data, fk);
    else {
        run_fwd(y, in[0], in[0], in[0]->data, B_CopyB);
        for (int i = 1; i < n->n_in; i++) run_fwd(y, y, in[i], in[i]->data, fk);
    }
    if (kind == B_Scale) {
        float s = 1.0f / (float)n->n_in, *py = y->data;
        for (int64_t i = 0; i < y->numel; i++) py[i] *= s;
    }
    return CC_E_OK;
}

static int var_backward(const cc_node *n, cc_tensor **in, cc_tensor **out, float **gy, float **gx,
                        int K, int kind)
{
    cc_tensor *y = out[0];
    if (y->dtype != CC_DT_FLOAT) return CC_E_OK;
    bc_plan p;
    if ((kind == B_Max || kind == B_Min) && n->n_in > 1) {
        /* Ties split the gradient as torch.maximum does; only defined for two inputs. */
        if (n->n_in > 2) return CC_E_UNSUPPORTED;
        bc_plan_make(&p, y, in[0], in[1]);
        for (int w = 0; w < 2; w++)
            bc_backward(&p, kind, w, in[0]->data, in[1]->data, y->data, gy[0], gx[w], K, 1);
        return CC_E_OK;
    }
    float c = kind == B_Scale ? 1.0f / (float)n->n_in : 1.0f;
    for (int i = 0; i < n->n_in; i++) {
        bc_plan_make(&p, y, y, in[i]);
        bc_backward(&p, B_Scale, 1, y->data, in[i]->data, y->data, gy[0], gx[i], K, c);
    }
    return CC_E_OK;
}

#define BIN_OP(NAME, KIND, SINCE, VAR) \
    static int NAME##_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e) \
    { return bin_prepare(n, in, out, e, KIND, VAR); } \
    static int NAME##_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx) \
    { return VAR ? var_forward(n, in, out, KIND) : bin_forward(n, in, out, KIND, ctx); } \
    static int NAME##_backward(const cc_node *n, cc_tensor **in, cc_tensor **out, float **gy, \
                               float **gx, int K, cc_ctx *ctx) \
    { (void)ctx; return VAR ? var_backward(n, in, out, gy, gx, K, KIND) \
                            : bin_backward(n, in, out, gy, gx, K, KIND); } \
    const cc_op cc_op_##NAME = { #NAME, SINCE, NAME##_prepare, NAME##_forward, NAME##_backward };

BIN_OP(Add, B_Add, 7, 0)
BIN_OP(Sub, B_Sub, 7, 0)
BIN_OP(Mul, B_Mul, 7, 0)
BIN_OP(Div, B_Div, 7, 0)
BIN_OP(Pow, B_Pow, 7, 0)
BIN_OP(PRelu, B_PRelu, 7, 0)
BIN_OP(Sum, B_Add, 6, 1)
BIN_OP(Mean, B_Scale, 6, 1)
BIN_OP(Max, B_Max, 6, 1)
BIN_OP(Min, B_Min, 6, 1)
