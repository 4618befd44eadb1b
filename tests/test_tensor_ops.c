/* Unit tests of the tensor / shape / matrix op family, on nodes built by hand:
 * forward against direct loops or hand-worked values (including the opset
 * variants and int64 shape chains), backward against central finite
 * differences of sum(seed * forward) for K = 1 and K = 3 seeds. */
#include "ops/op.h"
#include "check.h"

#include <stdint.h>
#include <string.h>

/* ---- a tiny harness: tensors and nodes freed at exit --------------------- */

#define MAXP 8192
static void *pool[MAXP];
static int npool;
static void *keep(void *p) { if (npool < MAXP) pool[npool++] = p; return p; }
static void free_all(void)
{
    for (int i = 0; i < npool; i++) free(pool[i]);
    npool = 0;
}

static uint64_t rng = 88172645463325252ull;
static float frand(void)   /* uniform in [-1, 1) */
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((rng >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}

static cc_tensor *tens(int dtype, int ndim, const int64_t *dims, const void *data)
{
    cc_tensor *t = keep(calloc(1, sizeof *t));
    t->name = "t";
    t->dtype = dtype;
    t->ndim = ndim;
    if (ndim) memcpy(t->dims, dims, (size_t)ndim * sizeof *dims);
    t->producer = -1;
    cc_tensor_alloc(t);
    keep(t->data);
    size_t es = dtype == CC_DT_FLOAT ? 4 : 8;
    if (data && t->numel) memcpy(t->data, data, (size_t)t->numel * es);
    return t;
}
#define D(...) (const int64_t[]){ __VA_ARGS__ }
#define FV(...) (const float[]){ __VA_ARGS__ }
#define IV(...) (const int64_t[]){ __VA_ARGS__ }
static cc_tensor *F(int nd, const int64_t *d, const float *v) { return tens(CC_DT_FLOAT, nd, d, v); }
static cc_tensor *I(int nd, const int64_t *d, const int64_t *v)
{
    cc_tensor *t = tens(CC_DT_INT64, nd, d, v);
    t->is_const = 1;
    return t;
}
static cc_tensor *R(int nd, const int64_t *d)   /* random float */
{
    cc_tensor *t = tens(CC_DT_FLOAT, nd, d, NULL);
    for (int64_t i = 0; i < t->numel; i++) ((float *)t->data)[i] = frand();
    return t;
}

typedef struct {
    cc_node n;
    cc_attr a[8];
    int in_idx[8], out_idx[8];
    cc_tensor *in[8], *out[8];
    int64_t ibuf[8][16];
    float fbuf[8][16];
    cc_err err;
} tnode;

static tnode *node(const char *op, int opset)
{
    tnode *t = keep(calloc(1, sizeof *t));
    t->n.name = "node";
    t->n.op_type = op;
    t->n.domain = "";
    t->n.opset = opset;
    t->n.in = t->in_idx;
    t->n.out = t->out_idx;
    t->n.attr = t->a;
    return t;
}
static void in(tnode *t, cc_tensor *x) { t->in_idx[t->n.n_in] = x ? t->n.n_in : -1; t->in[t->n.n_in++] = x; }
static cc_attr *attr(tnode *t, const char *name, int type)
{
    cc_attr *a = &t->a[t->n.n_attr++];
    a->name = name;
    a->type = type;
    return a;
}
static void ai(tnode *t, const char *name, int64_t v) { attr(t, name, CC_ATTR_INT)->i = v; }
static void af(tnode *t, const char *name, float v) { attr(t, name, CC_ATTR_FLOAT)->f = v; }
static void ais(tnode *t, const char *name, int n, const int64_t *v)
{
    int k = t->n.n_attr;
    cc_attr *a = attr(t, name, CC_ATTR_INTS);
    memcpy(t->ibuf[k], v, (size_t)n * sizeof *v);
    a->ints = t->ibuf[k];
    a->n = n;
}
static void afs(tnode *t, const char *name, int n, const float *v)
{
    int k = t->n.n_attr;
    cc_attr *a = attr(t, name, CC_ATTR_FLOATS);
    memcpy(t->fbuf[k], v, (size_t)n * sizeof *v);
    a->floats = t->fbuf[k];
    a->n = n;
}
static void at(tnode *t, const char *name, cc_tensor *v) { attr(t, name, CC_ATTR_TENSOR)->t = v; }

/* prepare + allocate + forward; returns the status (message in t->err). */
static int run(tnode *t, int nout)
{
    t->n.op = cc_op_find(t->n.op_type);
    if (!t->n.op) { snprintf(t->err.msg, sizeof t->err.msg, "no op %s", t->n.op_type); return CC_E_UNSUPPORTED; }
    t->n.n_out = nout;
    for (int j = 0; j < nout; j++) {
        t->out_idx[j] = j;
        t->out[j] = keep(calloc(1, sizeof(cc_tensor)));
        t->out[j]->name = "out";
        t->out[j]->producer = 0;
    }
    int rc = t->n.op->prepare(&t->n, t->in, t->out, &t->err);
    if (rc) return rc;
    for (int j = 0; j < nout; j++) {
        cc_tensor *o = t->out[j];
        o->numel = cc_numel(o->dims, o->ndim);
        if (!o->data) cc_tensor_alloc(o);
        keep(o->data);
    }
    return t->n.op->forward(&t->n, t->in, t->out, NULL);
}
static int refwd(tnode *t) { return t->n.op->forward(&t->n, t->in, t->out, NULL); }

#define RUN(t, nout) do { int rc_ = run(t, nout); CHECK(rc_ == 0, "%s forward rc=%d: %s", (t)->n.op_type, rc_, (t)->err.msg); } while (0)

static void check_dims(const char *what, const cc_tensor *o, int nd, const int64_t *d)
{
    int ok = o->ndim == nd;
    for (int k = 0; ok && k < nd; k++) ok = o->dims[k] == d[k];
    CHECK(ok, "%s: shape mismatch (rank %d, first dims %lld %lld)", what, o->ndim,
          (long long)(o->ndim > 0 ? o->dims[0] : -1), (long long)(o->ndim > 1 ? o->dims[1] : -1));
}
static void check_f(const char *what, const cc_tensor *o, const float *ref, double tol)
{
    double m = check_maxdiff(o->data, ref, (size_t)o->numel);
    CHECK(m <= tol, "%s: max diff %g", what, m);
}
static void check_i(const char *what, const cc_tensor *o, int64_t n, const int64_t *ref)
{
    int ok = o->dtype == CC_DT_INT64 && o->numel == n;
    for (int64_t i = 0; ok && i < n; i++) ok = ((int64_t *)o->data)[i] == ref[i];
    CHECK(ok, "%s: int64 values differ", what);
}

/* ---- finite-difference check of the backward ----------------------------- */

/* Checks gx for every float input in mask against central differences of
 * f_k = sum_j <seed_kj, y_j>, for K seeds.  skip_out: an output whose gy is
 * passed as NULL (zero).  gx starts at 0.25 to check accumulation. */
static void gradcheck(const char *what, tnode *t, unsigned mask, int K, int skip_out, double h)
{
    int nin = t->n.n_in, nout = t->n.n_out;
    float *gy[8] = { 0 }, *gx[8] = { 0 };
    for (int j = 0; j < nout; j++) {
        if (j == skip_out) continue;
        gy[j] = keep(malloc(sizeof(float) * (size_t)(K * t->out[j]->numel + 1)));
        for (int64_t i = 0; i < K * t->out[j]->numel; i++) gy[j][i] = frand();
    }
    for (int i = 0; i < nin; i++) {
        if (!(mask >> i & 1) || !t->in[i]) continue;
        gx[i] = keep(malloc(sizeof(float) * (size_t)(K * t->in[i]->numel + 1)));
        for (int64_t e = 0; e < K * t->in[i]->numel; e++) gx[i][e] = 0.25f;
    }
    CHECK(refwd(t) == 0, "%s: forward", what);
    CHECK(t->n.op->backward && t->n.op->backward(&t->n, t->in, t->out, gy, gx, K, NULL) == 0, "%s: backward", what);
    double *f = keep(malloc(sizeof(double) * (size_t)K * 2));
    for (int i = 0; i < nin; i++) {
        if (!gx[i]) continue;
        float *x = t->in[i]->data;
        int64_t nx = t->in[i]->numel;
        double worst = 0, scale = 1;
        float *num = keep(malloc(sizeof(float) * (size_t)(K * nx + 1)));
        for (int64_t e = 0; e < nx; e++) {
            float v = x[e];
            for (int s = 0; s < 2; s++) {
                x[e] = v + (s ? -(float)h : (float)h);
                refwd(t);
                for (int k = 0; k < K; k++) {
                    double acc = 0;
                    for (int j = 0; j < nout; j++) {
                        if (!gy[j]) continue;
                        const float *y = t->out[j]->data;
                        for (int64_t q = 0; q < t->out[j]->numel; q++)
                            acc += (double)gy[j][k * t->out[j]->numel + q] * y[q];
                    }
                    f[2 * k + s] = acc;
                }
            }
            x[e] = v;
            for (int k = 0; k < K; k++) {
                num[k * nx + e] = (float)((f[2 * k] - f[2 * k + 1]) / (2 * h));
                if (fabs(num[k * nx + e]) > scale) scale = fabs(num[k * nx + e]);
            }
        }
        for (int64_t e = 0; e < K * nx; e++) {
            double d = fabs((double)(gx[i][e] - 0.25f) - num[e]);
            if (!(d <= worst)) worst = isnan(d) ? INFINITY : d;
        }
        CHECK(worst / scale <= 1e-2, "%s: gradient of input %d (K=%d) rel err %g", what, i, K, worst / scale);
    }
    refwd(t);
}
static void gradcheck2(const char *what, tnode *t, unsigned mask)
{
    gradcheck(what, t, mask, 1, -1, 1e-2);
    gradcheck(what, t, mask, 3, -1, 1e-2);
}

/* ---- Gemm, MatMul ---------------------------------------------------------- */

static void test_gemm(void)
{
    const int64_t M = 3, N = 4, Kd = 5;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int cv = 0; cv < 6; cv++) {   /* C: none, scalar, (N), (1,N), (M,1), (M,N) */
                tnode *t = node("Gemm", 13);
                cc_tensor *A = ta ? R(2, D(Kd, M)) : R(2, D(M, Kd));
                cc_tensor *B = tb ? R(2, D(N, Kd)) : R(2, D(Kd, N));
                cc_tensor *C = cv == 0 ? NULL : cv == 1 ? R(0, NULL) : cv == 2 ? R(1, D(N))
                             : cv == 3 ? R(2, D(1, N)) : cv == 4 ? R(2, D(M, 1)) : R(2, D(M, N));
                in(t, A); in(t, B);
                if (C) in(t, C);
                ai(t, "transA", ta); ai(t, "transB", tb);
                af(t, "alpha", 0.7f); af(t, "beta", 1.3f);
                RUN(t, 1);
                check_dims("Gemm", t->out[0], 2, D(M, N));
                float ref[12];
                const float *a = A->data, *b = B->data, *c = C ? C->data : NULL;
                for (int64_t i = 0; i < M; i++)
                    for (int64_t j = 0; j < N; j++) {
                        double s = 0;
                        for (int64_t k = 0; k < Kd; k++)
                            s += (double)a[ta ? k * M + i : i * Kd + k] * b[tb ? j * Kd + k : k * N + j];
                        double cc = 0;
                        if (cv == 1) cc = c[0];
                        else if (cv == 2 || cv == 3) cc = c[j];
                        else if (cv == 4) cc = c[i];
                        else if (cv == 5) cc = c[i * N + j];
                        ref[i * N + j] = (float)(0.7 * s + 1.3 * cc);
                    }
                char what[64];
                snprintf(what, sizeof what, "Gemm ta=%d tb=%d C=%d", ta, tb, cv);
                check_f(what, t->out[0], ref, 1e-5);
                gradcheck2(what, t, 7);
            }
    /* optional C given as an absent (-1) input */
    tnode *t = node("Gemm", 11);
    in(t, R(2, D(2, 3))); in(t, R(2, D(3, 2))); in(t, NULL);
    RUN(t, 1);
    gradcheck2("Gemm absent C", t, 3);
    /* many seeds: the stacked dA path */
    t = node("Gemm", 13);
    in(t, R(2, D(1, 6))); in(t, R(2, D(7, 6))); in(t, R(1, D(7)));
    ai(t, "transB", 1);
    RUN(t, 1);
    gradcheck("Gemm K=40", t, 1, 40, -1, 1e-2);
    /* shape errors */
    t = node("Gemm", 13);
    in(t, R(2, D(2, 3))); in(t, R(2, D(4, 2)));
    CHECK(run(t, 1) == CC_E_SHAPE && strstr(t->err.msg, "node"), "Gemm: inner mismatch must fail naming the node");
}

/* Reference matmul with NumPy broadcasting, batch dims given padded to nb. */
static void mm_ref(const cc_tensor *A, const cc_tensor *B, const cc_tensor *Y, float *ref)
{
    int ra = A->ndim, rb = B->ndim;
    int64_t M = ra == 1 ? 1 : A->dims[ra - 2], Kd = A->dims[ra - 1], N = rb == 1 ? 1 : B->dims[rb - 1];
    int na = ra > 2 ? ra - 2 : 0, nb = rb > 2 ? rb - 2 : 0, no = na > nb ? na : nb;
    int64_t nbatch = Y->numel / (M * N);
    for (int64_t b = 0; b < nbatch; b++) {
        int64_t rem = b, ia = 0, ib = 0, sa = 1, sb = 1;
        for (int k = no - 1; k >= 0; k--) {
            int ka = k - (no - na), kb = k - (no - nb);
            int64_t da = ka >= 0 ? A->dims[ka] : 1, db = kb >= 0 ? B->dims[kb] : 1, d = da > db ? da : db;
            int64_t idx = rem % d;
            rem /= d;
            ia += (da == 1 ? 0 : idx) * sa;
            ib += (db == 1 ? 0 : idx) * sb;
            sa *= da;
            sb *= db;
        }
        const float *a = (const float *)A->data + ia * M * Kd, *bb = (const float *)B->data + ib * Kd * N;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double s = 0;
                for (int64_t k = 0; k < Kd; k++) s += (double)a[i * Kd + k] * bb[k * N + j];
                ref[b * M * N + i * N + j] = (float)s;
            }
    }
}

static void test_matmul(void)
{
    struct { int ra; int64_t a[4]; int rb; int64_t b[4]; int ry; int64_t y[4]; } cs[] = {
        { 2, { 3, 4 }, 2, { 4, 5 }, 2, { 3, 5 } },
        { 1, { 4 }, 2, { 4, 5 }, 1, { 5 } },
        { 2, { 3, 4 }, 1, { 4 }, 1, { 3 } },
        { 1, { 4 }, 1, { 4 }, 0, { 0 } },
        { 3, { 2, 3, 4 }, 2, { 4, 5 }, 3, { 2, 3, 5 } },        /* stacked rows */
        { 3, { 2, 3, 4 }, 3, { 2, 4, 5 }, 3, { 2, 3, 5 } },
        { 4, { 2, 1, 3, 4 }, 3, { 3, 4, 2 }, 4, { 2, 3, 3, 2 } }, /* both broadcast */
        { 2, { 3, 4 }, 3, { 2, 4, 5 }, 3, { 2, 3, 5 } },        /* A broadcast */
        { 3, { 2, 3, 4 }, 1, { 4 }, 2, { 2, 3 } },
    };
    for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) {
        tnode *t = node("MatMul", 13);
        cc_tensor *A = R(cs[c].ra, cs[c].a), *B = R(cs[c].rb, cs[c].b);
        in(t, A); in(t, B);
        RUN(t, 1);
        char what[64];
        snprintf(what, sizeof what, "MatMul case %zu", c);
        check_dims(what, t->out[0], cs[c].ry, cs[c].y);
        float ref[64];
        mm_ref(A, B, t->out[0], ref);
        check_f(what, t->out[0], ref, 1e-5);
        gradcheck2(what, t, 3);
    }
}

/* ---- shape-only ops --------------------------------------------------------- */

static void test_reshape_family(void)
{
    float v[24];
    for (int i = 0; i < 24; i++) v[i] = (float)i;
    tnode *t;
    struct { int64_t axis; int64_t d0, d1; } fl[] = { { 0, 1, 24 }, { 1, 2, 12 }, { 2, 6, 4 }, { 3, 24, 1 }, { -1, 6, 4 }, { -3, 1, 24 }, { -2, 2, 12 } };
    for (size_t c = 0; c < sizeof fl / sizeof fl[0]; c++) {
        t = node("Flatten", 13);
        in(t, F(3, D(2, 3, 4), v));
        ai(t, "axis", fl[c].axis);
        RUN(t, 1);
        check_dims("Flatten", t->out[0], 2, D(fl[c].d0, fl[c].d1));
        check_f("Flatten", t->out[0], v, 0);
    }
    t = node("Flatten", 13);   /* default axis 1 */
    in(t, R(4, D(2, 3, 2, 2)));
    RUN(t, 1);
    check_dims("Flatten default", t->out[0], 2, D(2, 12));
    gradcheck2("Flatten", t, 1);

    t = node("Reshape", 13);
    in(t, F(3, D(2, 3, 4), v)); in(t, I(1, D(3), IV(0, -1, 2)));
    RUN(t, 1);
    check_dims("Reshape 0,-1", t->out[0], 3, D(2, 6, 2));
    check_f("Reshape", t->out[0], v, 0);
    gradcheck2("Reshape", t, 1);
    t = node("Reshape", 14);   /* allowzero: 0 is a real zero dim */
    in(t, F(2, D(0, 3), NULL)); in(t, I(1, D(2), IV(3, 0)));
    ai(t, "allowzero", 1);
    RUN(t, 1);
    check_dims("Reshape allowzero", t->out[0], 2, D(3, 0));
    t = node("Reshape", 14);   /* allowzero with copy semantics off: 0 = copy */
    in(t, F(3, D(2, 3, 4), v)); in(t, I(1, D(2), IV(0, 12)));
    RUN(t, 1);
    check_dims("Reshape 0 copy", t->out[0], 2, D(2, 12));
    t = node("Reshape", 13);   /* int64 data (shape chains) */
    in(t, I(1, D(4), IV(1, 2, 3, 4))); in(t, I(1, D(2), IV(2, -1)));
    RUN(t, 1);
    check_dims("Reshape int64", t->out[0], 2, D(2, 2));
    check_i("Reshape int64", t->out[0], 4, IV(1, 2, 3, 4));
    t = node("Reshape", 13);   /* non-constant shape: clear error */
    cc_tensor *shp = I(1, D(2), IV(4, 6));
    shp->is_const = 0;
    in(t, F(3, D(2, 3, 4), v)); in(t, shp);
    CHECK(run(t, 1) == CC_E_UNSUPPORTED && strstr(t->err.msg, "Reshape 'node'") && strstr(t->err.msg, "constant"),
          "Reshape with a non-constant shape must fail clearly: %s", t->err.msg);
    t = node("Reshape", 13);
    in(t, F(3, D(2, 3, 4), v)); in(t, I(1, D(2), IV(5, -1)));
    CHECK(run(t, 1) == CC_E_SHAPE, "Reshape 24 -> (5,-1) must fail");

    /* Squeeze: attribute before 13, input from 13, none = all unit dims */
    t = node("Squeeze", 11);
    in(t, R(4, D(1, 3, 1, 2)));
    ais(t, "axes", 1, IV(-2));
    RUN(t, 1);
    check_dims("Squeeze attr", t->out[0], 3, D(1, 3, 2));
    t = node("Squeeze", 13);
    in(t, R(4, D(1, 3, 1, 2))); in(t, I(1, D(2), IV(0, 2)));
    RUN(t, 1);
    check_dims("Squeeze input", t->out[0], 2, D(3, 2));
    gradcheck2("Squeeze", t, 1);
    t = node("Squeeze", 13);
    in(t, R(4, D(1, 3, 1, 2)));
    RUN(t, 1);
    check_dims("Squeeze all", t->out[0], 2, D(3, 2));
    t = node("Squeeze", 13);
    in(t, R(2, D(3, 2))); in(t, I(1, D(1), IV(0)));
    CHECK(run(t, 1) == CC_E_SHAPE, "Squeeze of a non-unit dim must fail");

    t = node("Unsqueeze", 11);
    in(t, R(2, D(3, 2)));
    ais(t, "axes", 2, IV(0, -1));
    RUN(t, 1);
    check_dims("Unsqueeze attr", t->out[0], 4, D(1, 3, 2, 1));
    t = node("Unsqueeze", 13);
    in(t, R(2, D(3, 2))); in(t, I(1, D(2), IV(3, 1)));
    RUN(t, 1);
    check_dims("Unsqueeze unsorted", t->out[0], 4, D(3, 1, 2, 1));
    gradcheck2("Unsqueeze", t, 1);
    t = node("Unsqueeze", 13);   /* scalar int64 -> [1] (shape chains) */
    in(t, I(0, NULL, IV(7))); in(t, I(1, D(1), IV(0)));
    RUN(t, 1);
    check_dims("Unsqueeze scalar", t->out[0], 1, D(1));
    check_i("Unsqueeze scalar", t->out[0], 1, IV(7));
}

/* ---- element movers ---------------------------------------------------------- */

static void test_transpose(void)
{
    tnode *t = node("Transpose", 13);
    cc_tensor *x = R(3, D(2, 3, 4));
    in(t, x);
    ais(t, "perm", 3, IV(1, 2, 0));
    RUN(t, 1);
    check_dims("Transpose", t->out[0], 3, D(3, 4, 2));
    float ref[24];
    const float *a = x->data;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 2; k++) ref[(i * 4 + j) * 2 + k] = a[(k * 3 + i) * 4 + j];
    check_f("Transpose", t->out[0], ref, 0);
    gradcheck2("Transpose", t, 1);
    t = node("Transpose", 13);   /* default reverses */
    in(t, x);
    RUN(t, 1);
    check_dims("Transpose default", t->out[0], 3, D(4, 3, 2));
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 2; k++) ref[(i * 3 + j) * 2 + k] = a[(k * 3 + j) * 4 + i];
    check_f("Transpose default", t->out[0], ref, 0);
    gradcheck2("Transpose default", t, 1);
    t = node("Transpose", 13);   /* big enough for the parallel path */
    cc_tensor *big = R(4, D(2, 64, 32, 17));
    in(t, big);
    ais(t, "perm", 4, IV(0, 2, 3, 1));
    RUN(t, 1);
    float *bref = keep(malloc(sizeof(float) * (size_t)big->numel));
    const float *b = big->data;
    for (int n = 0; n < 2; n++)
        for (int h = 0; h < 32; h++)
            for (int w = 0; w < 17; w++)
                for (int c = 0; c < 64; c++)
                    bref[((n * 32 + h) * 17 + w) * 64 + c] = b[((n * 64 + c) * 32 + h) * 17 + w];
    check_f("Transpose NCHW->NHWC", t->out[0], bref, 0);
}

static void test_concat_split(void)
{
    tnode *t = node("Concat", 13);
    cc_tensor *a = R(2, D(2, 1)), *b = R(2, D(2, 3)), *c = R(2, D(2, 2));
    in(t, a); in(t, b); in(t, c);
    ai(t, "axis", -1);
    RUN(t, 1);
    check_dims("Concat", t->out[0], 2, D(2, 6));
    float ref[12];
    for (int i = 0; i < 2; i++) {
        ref[i * 6] = ((float *)a->data)[i];
        for (int j = 0; j < 3; j++) ref[i * 6 + 1 + j] = ((float *)b->data)[i * 3 + j];
        for (int j = 0; j < 2; j++) ref[i * 6 + 4 + j] = ((float *)c->data)[i * 2 + j];
    }
    check_f("Concat", t->out[0], ref, 0);
    gradcheck2("Concat", t, 5);
    t = node("Concat", 13);   /* int64 shape pieces */
    in(t, I(1, D(1), IV(-1))); in(t, I(1, D(2), IV(3, 4)));
    ai(t, "axis", 0);
    RUN(t, 1);
    check_i("Concat int64", t->out[0], 3, IV(-1, 3, 4));

    float v[12];
    for (int i = 0; i < 12; i++) v[i] = (float)i;
    t = node("Split", 11);   /* attribute sizes */
    in(t, F(2, D(2, 6), v));
    ai(t, "axis", 1);
    ais(t, "split", 2, IV(2, 4));
    RUN(t, 2);
    check_dims("Split attr 0", t->out[0], 2, D(2, 2));
    check_dims("Split attr 1", t->out[1], 2, D(2, 4));
    check_f("Split attr 0", t->out[0], FV(0, 1, 6, 7), 0);
    check_f("Split attr 1", t->out[1], FV(2, 3, 4, 5, 8, 9, 10, 11), 0);
    t = node("Split", 13);   /* input sizes, negative axis */
    in(t, R(2, D(2, 6))); in(t, I(1, D(3), IV(1, 3, 2)));
    ai(t, "axis", -1);
    RUN(t, 3);
    check_dims("Split input 2", t->out[2], 2, D(2, 2));
    gradcheck2("Split", t, 1);
    gradcheck("Split gy[1]=NULL", t, 1, 3, 1, 1e-2);
    t = node("Split", 13);   /* equal parts */
    in(t, F(1, D(6), v));
    RUN(t, 3);
    check_f("Split equal", t->out[1], FV(2, 3), 0);
    t = node("Split", 18);   /* num_outputs, last part smaller */
    in(t, F(1, D(7), v));
    ai(t, "num_outputs", 3);
    RUN(t, 3);
    check_dims("Split num_outputs", t->out[2], 1, D(1));
    check_f("Split num_outputs", t->out[1], FV(3, 4, 5), 0);
    t = node("Split", 13);
    in(t, F(1, D(7), v));
    CHECK(run(t, 2) == CC_E_SHAPE, "Split 7 into 2 equal parts must fail");
}

static void slice_case(const char *what, int opset, cc_tensor *x, int n, const int64_t *st, const int64_t *en,
                       const int64_t *ax, const int64_t *sp, int nd, const int64_t *od, const float *ref)
{
    tnode *t = node("Slice", opset);
    in(t, x);
    if (opset < 10) {
        ais(t, "starts", n, st);
        ais(t, "ends", n, en);
        if (ax) ais(t, "axes", n, ax);
    } else {
        in(t, I(1, D(n), st));
        in(t, I(1, D(n), en));
        if (ax || sp) in(t, ax ? I(1, D(n), ax) : NULL);
        if (sp) in(t, I(1, D(n), sp));
    }
    RUN(t, 1);
    check_dims(what, t->out[0], nd, od);
    if (ref) check_f(what, t->out[0], ref, 0);
    if (t->out[0]->numel) gradcheck2(what, t, 1);
}

static void test_slice(void)
{
    float v[20];
    for (int i = 0; i < 20; i++) v[i] = (float)i;
    cc_tensor *x = F(2, D(4, 5), v);   /* x[i][j] = 5i + j */
    slice_case("Slice opset 9", 9, x, 2, IV(1, 0), IV(3, 2), NULL, NULL, 2, D(2, 2), FV(5, 6, 10, 11));
    slice_case("Slice opset 9 axes", 9, x, 1, IV(2), IV(100), IV(1), NULL, 2, D(4, 3),
               FV(2, 3, 4, 7, 8, 9, 12, 13, 14, 17, 18, 19));
    slice_case("Slice negative", 13, x, 2, IV(-3, -2), IV(-1, INT64_MAX), IV(0, -1), NULL, 2, D(2, 2),
               FV(8, 9, 13, 14));
    slice_case("Slice steps", 13, x, 2, IV(0, 1), IV(4, 5), IV(0, 1), IV(2, 2), 2, D(2, 2), FV(1, 3, 11, 13));
    slice_case("Slice negative step", 13, x, 1, IV(-1), IV(INT64_MIN), IV(1), IV(-2), 2, D(4, 3),
               FV(4, 2, 0, 9, 7, 5, 14, 12, 10, 19, 17, 15));
    slice_case("Slice reverse rows", 13, x, 1, IV(10), IV(-10), IV(0), IV(-1), 2, D(4, 5), NULL);
    slice_case("Slice clamped start", 13, x, 1, IV(1000), IV(1001), IV(1), IV(1), 2, D(4, 0), NULL);
    slice_case("Slice empty", 13, x, 1, IV(3), IV(1), IV(0), NULL, 2, D(0, 5), NULL);
    slice_case("Slice default axes", 13, R(3, D(3, 4, 5)), 3, IV(0, 1, 2), IV(2, 3, 4), NULL, NULL, 3, D(2, 2, 2), NULL);
    /* int64 shape slice: Shape(x)[2:] */
    tnode *t = node("Slice", 13);
    in(t, I(1, D(4), IV(1, 3, 224, 224))); in(t, I(1, D(1), IV(2))); in(t, I(1, D(1), IV(INT64_MAX)));
    RUN(t, 1);
    check_i("Slice int64", t->out[0], 2, IV(224, 224));
}

static void test_gather(void)
{
    tnode *t = node("Gather", 13);   /* int64 shape element: scalar index -> scalar */
    in(t, I(1, D(4), IV(1, 3, 7, 9))); in(t, I(0, NULL, IV(-2)));
    RUN(t, 1);
    check_dims("Gather scalar", t->out[0], 0, NULL);
    check_i("Gather scalar", t->out[0], 1, IV(7));
    float v[12];
    for (int i = 0; i < 12; i++) v[i] = (float)i;
    t = node("Gather", 13);   /* axis 1, repeated and negative indices, 2-D indices */
    in(t, F(2, D(3, 4), v)); in(t, I(2, D(2, 2), IV(3, -1, 0, 1)));
    ai(t, "axis", 1);
    RUN(t, 1);
    check_dims("Gather axis 1", t->out[0], 3, D(3, 2, 2));
    check_f("Gather axis 1", t->out[0], FV(3, 3, 0, 1, 7, 7, 4, 5, 11, 11, 8, 9), 0);
    gradcheck2("Gather axis 1", t, 1);
    t = node("Gather", 13);
    in(t, R(3, D(4, 2, 3))); in(t, I(1, D(3), IV(2, 0, 2)));
    RUN(t, 1);
    check_dims("Gather axis 0", t->out[0], 3, D(3, 2, 3));
    gradcheck2("Gather axis 0", t, 1);
    t = node("Gather", 13);
    in(t, F(2, D(3, 4), v)); in(t, I(1, D(1), IV(3)));
    CHECK(run(t, 1) == CC_E_ARG, "Gather index 3 of 3 must fail");
    t = node("Gather", 13);
    in(t, F(2, D(3, 4), v));
    CHECK(run(t, 1) == CC_E_PARSE && strstr(t->err.msg, "Gather 'node'"), "Gather without indices must fail: %s", t->err.msg);
}

static void test_expand_tile(void)
{
    tnode *t = node("Expand", 13);
    cc_tensor *x = F(2, D(3, 1), FV(1, 2, 3));
    in(t, x); in(t, I(1, D(3), IV(2, 1, 2)));
    RUN(t, 1);
    check_dims("Expand", t->out[0], 3, D(2, 3, 2));
    check_f("Expand", t->out[0], FV(1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3), 0);
    t = node("Expand", 13);
    in(t, R(3, D(2, 1, 3))); in(t, I(1, D(4), IV(2, 1, 4, 1)));
    RUN(t, 1);
    check_dims("Expand bidirectional", t->out[0], 4, D(2, 2, 4, 3));
    gradcheck2("Expand", t, 1);

    t = node("Tile", 13);
    in(t, F(2, D(2, 2), FV(1, 2, 3, 4))); in(t, I(1, D(2), IV(2, 3)));
    RUN(t, 1);
    check_dims("Tile", t->out[0], 2, D(4, 6));
    check_f("Tile", t->out[0], FV(1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4, 1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4), 0);
    gradcheck2("Tile", t, 1);
}

/* ---- shape data -------------------------------------------------------------- */

static void test_shape_data(void)
{
    cc_tensor *x = R(4, D(2, 3, 4, 5));
    tnode *t = node("Shape", 13);
    in(t, x);
    RUN(t, 1);
    CHECK(t->out[0]->is_const, "Shape output must be constant at prepare");
    check_i("Shape", t->out[0], 4, IV(2, 3, 4, 5));
    t = node("Shape", 15);
    in(t, x);
    ai(t, "start", 1); ai(t, "end", -1);
    RUN(t, 1);
    check_i("Shape start/end", t->out[0], 2, IV(3, 4));
    t = node("Shape", 15);
    in(t, x);
    ai(t, "start", -10);
    ai(t, "end", 10);
    RUN(t, 1);
    check_i("Shape clamped", t->out[0], 4, IV(2, 3, 4, 5));
    t = node("Shape", 13);   /* opset < 15 ignores start */
    in(t, x);
    ai(t, "start", 2);
    RUN(t, 1);
    check_i("Shape opset 13", t->out[0], 4, IV(2, 3, 4, 5));
    t = node("Size", 13);
    in(t, x);
    RUN(t, 1);
    check_dims("Size", t->out[0], 0, NULL);
    check_i("Size", t->out[0], 1, IV(120));

    t = node("Constant", 13);
    at(t, "value", F(2, D(1, 2), FV(1.5f, -2)));
    RUN(t, 1);
    CHECK(t->out[0]->is_const && t->out[0]->data != t->a[0].t->data, "Constant: own constant copy");
    check_f("Constant tensor", t->out[0], FV(1.5f, -2), 0);
    t = node("Constant", 13);
    at(t, "value", I(1, D(3), IV(0, -1, 5)));
    RUN(t, 1);
    check_i("Constant int tensor", t->out[0], 3, IV(0, -1, 5));
    t = node("Constant", 13);
    af(t, "value_float", 2.5f);
    RUN(t, 1);
    check_dims("Constant value_float", t->out[0], 0, NULL);
    check_f("Constant value_float", t->out[0], FV(2.5f), 0);
    t = node("Constant", 13);
    afs(t, "value_floats", 3, FV(1, 2, 3));
    RUN(t, 1);
    check_f("Constant value_floats", t->out[0], FV(1, 2, 3), 0);
    t = node("Constant", 13);
    ai(t, "value_int", -4);
    RUN(t, 1);
    check_i("Constant value_int", t->out[0], 1, IV(-4));
    t = node("Constant", 13);
    ais(t, "value_ints", 2, IV(8, 9));
    RUN(t, 1);
    check_i("Constant value_ints", t->out[0], 2, IV(8, 9));
    t = node("Constant", 13);
    CHECK(run(t, 1) == CC_E_UNSUPPORTED, "Constant without value must fail");

    t = node("ConstantOfShape", 13);
    in(t, I(1, D(2), IV(2, 3)));
    RUN(t, 1);
    check_dims("ConstantOfShape default", t->out[0], 2, D(2, 3));
    check_f("ConstantOfShape default", t->out[0], FV(0, 0, 0, 0, 0, 0), 0);
    t = node("ConstantOfShape", 13);
    in(t, I(1, D(1), IV(3)));
    at(t, "value", I(1, D(1), IV(7)));
    RUN(t, 1);
    check_i("ConstantOfShape int", t->out[0], 3, IV(7, 7, 7));
    t = node("ConstantOfShape", 13);
    in(t, I(1, D(0), NULL));
    at(t, "value", F(1, D(1), FV(4)));
    RUN(t, 1);
    check_dims("ConstantOfShape scalar", t->out[0], 0, NULL);
    check_f("ConstantOfShape scalar", t->out[0], FV(4), 0);

    t = node("Range", 13);
    in(t, I(0, NULL, IV(10))); in(t, I(0, NULL, IV(4))); in(t, I(0, NULL, IV(-3)));
    RUN(t, 1);
    check_i("Range int", t->out[0], 2, IV(10, 7));
    cc_tensor *s = F(0, NULL, FV(1)), *l = F(0, NULL, FV(5)), *d = F(0, NULL, FV(1.5f));
    s->is_const = l->is_const = d->is_const = 1;
    t = node("Range", 13);
    in(t, s); in(t, l); in(t, d);
    RUN(t, 1);
    check_dims("Range float", t->out[0], 1, D(3));
    check_f("Range float", t->out[0], FV(1, 2.5f, 4), 0);
}

/* Shape -> Gather -> Unsqueeze -> Concat -> Reshape, as exporters write flatten. */
static void test_shape_chain(void)
{
    cc_tensor *x = R(4, D(2, 8, 1, 1));
    tnode *sh = node("Shape", 13);
    in(sh, x);
    RUN(sh, 1);
    tnode *g = node("Gather", 13);
    in(g, sh->out[0]); in(g, I(0, NULL, IV(0)));
    RUN(g, 1);
    g->out[0]->is_const = 1;   /* folded at load */
    tnode *u = node("Unsqueeze", 13);
    in(u, g->out[0]); in(u, I(1, D(1), IV(0)));
    RUN(u, 1);
    u->out[0]->is_const = 1;
    tnode *c = node("Concat", 13);
    in(c, u->out[0]); in(c, I(1, D(1), IV(-1)));
    ai(c, "axis", 0);
    RUN(c, 1);
    c->out[0]->is_const = 1;
    check_i("chain concat", c->out[0], 2, IV(2, -1));
    tnode *r = node("Reshape", 13);
    in(r, x); in(r, c->out[0]);
    RUN(r, 1);
    check_dims("chain reshape", r->out[0], 2, D(2, 8));
    check_f("chain reshape", r->out[0], x->data, 0);
}

/* ---- reductions, ArgMax, Equal, Where -------------------------------------- */

/* Reference reduce over a mask of axes of a rank-3 tensor. */
static void red_ref(int kind, const cc_tensor *x, const int *mask, float *ref, int64_t nout)
{
    const int64_t *d = x->dims;
    const float *v = x->data;
    double acc[64];
    int64_t cnt[64] = { 0 };
    for (int64_t o = 0; o < nout; o++) acc[o] = kind == 2 ? -INFINITY : kind == 3 ? INFINITY : 0;
    for (int64_t i = 0; i < d[0]; i++)
        for (int64_t j = 0; j < d[1]; j++)
            for (int64_t k = 0; k < d[2]; k++) {
                int64_t o = 0;
                if (!mask[0]) o = o * d[0] + i;
                if (!mask[1]) o = o * d[1] + j;
                if (!mask[2]) o = o * d[2] + k;
                double e = v[(i * d[1] + j) * d[2] + k];
                if (kind == 2) { if (e > acc[o]) acc[o] = e; }
                else if (kind == 3) { if (e < acc[o]) acc[o] = e; }
                else acc[o] += kind == 4 ? e * e : e;
                cnt[o]++;
            }
    for (int64_t o = 0; o < nout; o++) ref[o] = (float)(kind == 1 ? acc[o] / (double)cnt[o] : acc[o]);
}

static void test_reduce(void)
{
    const char *ops[5] = { "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceSumSquare" };
    const int since[5] = { 13, 18, 18, 18, 18 };
    int masks[7][3] = { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 }, { 1, 1, 0 }, { 0, 1, 1 }, { 1, 0, 1 }, { 1, 1, 1 } };
    for (int kind = 0; kind < 5; kind++)
        for (int m = 0; m < 7; m++)
            for (int as_input = 0; as_input < 2; as_input++)
                for (int kd = 0; kd < 2; kd++) {
                    cc_tensor *x = R(3, D(3, 4, 5));
                    if (kind == 2 || kind == 3)   /* distinct values 0.03 apart: no near-ties for the differences */
                        for (int i = 0; i < 60; i++) ((float *)x->data)[i] = (float)((i * 37 + m) % 60) * 0.03f - 0.9f;
                    int64_t ax[3];
                    int na = 0;
                    for (int k = 0; k < 3; k++)
                        if (masks[m][k]) ax[na++] = k - (m & 1 ? 3 : 0);   /* some negative */
                    tnode *t = node(ops[kind], as_input ? since[kind] : 11);
                    in(t, x);
                    if (as_input) in(t, I(1, D(na), ax));
                    else ais(t, "axes", na, ax);
                    ai(t, "keepdims", kd);
                    RUN(t, 1);
                    int64_t od[3];
                    int nd = 0;
                    for (int k = 0; k < 3; k++)
                        if (!masks[m][k]) od[nd++] = x->dims[k];
                        else if (kd) od[nd++] = 1;
                    char what[80];
                    snprintf(what, sizeof what, "%s mask %d%d%d input=%d keep=%d", ops[kind], masks[m][0],
                             masks[m][1], masks[m][2], as_input, kd);
                    check_dims(what, t->out[0], nd, od);
                    float ref[64];
                    red_ref(kind, x, masks[m], ref, t->out[0]->numel);
                    check_f(what, t->out[0], ref, 1e-5);
                    if (kd) gradcheck(what, t, 1, as_input ? 3 : 1, -1, kind == 2 || kind == 3 ? 1e-3 : 1e-2);
                }
    /* default: all axes; noop_with_empty_axes = identity */
    tnode *t = node("ReduceSum", 13);
    in(t, F(2, D(2, 2), FV(1, 2, 3, 4)));
    RUN(t, 1);
    check_dims("ReduceSum all", t->out[0], 2, D(1, 1));
    check_f("ReduceSum all", t->out[0], FV(10), 0);
    t = node("ReduceSum", 13);
    in(t, F(2, D(2, 2), FV(1, 2, 3, 4))); in(t, I(1, D(0), NULL));
    ai(t, "noop_with_empty_axes", 1);
    RUN(t, 1);
    check_dims("ReduceSum noop", t->out[0], 2, D(2, 2));
    check_f("ReduceSum noop", t->out[0], FV(1, 2, 3, 4), 0);
    t = node("ReduceMean", 13);   /* global average pooling shape, big enough for threads */
    cc_tensor *x = R(4, D(2, 64, 20, 20));
    in(t, x);
    ais(t, "axes", 2, IV(2, 3));
    RUN(t, 1);
    float ref[128];
    for (int c = 0; c < 128; c++) {
        double s = 0;
        for (int i = 0; i < 400; i++) s += ((float *)x->data)[c * 400 + i];
        ref[c] = (float)(s / 400);
    }
    check_f("ReduceMean GAP", t->out[0], ref, 1e-6);
    t = node("ReduceMax", 13);   /* ties: the gradient goes to the first maximum */
    in(t, F(1, D(4), FV(1, 3, 3, 2)));
    RUN(t, 1);
    float gyv[1] = { 2 }, gxv[4] = { 0 };
    float *gy[1] = { gyv }, *gx[1] = { gxv };
    CHECK(t->n.op->backward(&t->n, t->in, t->out, gy, gx, 1, NULL) == 0, "ReduceMax backward");
    CHECK(gxv[1] == 2 && gxv[2] == 0 && gxv[0] == 0, "ReduceMax tie: first wins (%g %g %g %g)", gxv[0], gxv[1], gxv[2], gxv[3]);

    t = node("ArgMax", 13);
    in(t, F(2, D(2, 3), FV(1, 5, 5, 7, 2, 0)));
    ai(t, "axis", -1);
    ai(t, "keepdims", 0);
    RUN(t, 1);
    check_dims("ArgMax", t->out[0], 1, D(2));
    check_i("ArgMax", t->out[0], 2, IV(1, 0));
    t = node("ArgMax", 13);
    in(t, F(2, D(2, 3), FV(1, 5, 5, 7, 2, 0)));
    ai(t, "select_last_index", 1);
    ai(t, "axis", 1);
    RUN(t, 1);
    check_dims("ArgMax last", t->out[0], 2, D(2, 1));
    check_i("ArgMax last", t->out[0], 2, IV(2, 0));
}

static void test_select(void)
{
    tnode *e = node("Equal", 13);
    in(e, I(1, D(3), IV(0, 5, 0))); in(e, I(0, NULL, IV(0)));
    RUN(e, 1);
    check_i("Equal", e->out[0], 3, IV(1, 0, 1));
    tnode *w = node("Where", 16);   /* Where(shape == 0, input shape, shape), int64 */
    e->out[0]->is_const = 1;
    in(w, e->out[0]); in(w, I(1, D(3), IV(2, 3, 4))); in(w, I(1, D(3), IV(0, 5, 0)));
    RUN(w, 1);
    check_i("Where int64", w->out[0], 3, IV(2, 5, 4));
    w = node("Where", 16);
    in(w, I(2, D(2, 1), IV(1, 0))); in(w, R(1, D(3))); in(w, R(2, D(2, 3)));
    RUN(w, 1);
    check_dims("Where", w->out[0], 2, D(2, 3));
    const float *x = w->in[1]->data, *y = w->in[2]->data;
    check_f("Where", w->out[0], (const float[]){ x[0], x[1], x[2], y[3], y[4], y[5] }, 0);
    gradcheck2("Where", w, 6);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_gemm();
    test_matmul();
    test_reshape_family();
    test_transpose();
    test_concat_split();
    test_slice();
    test_gather();
    test_expand_tile();
    test_shape_data();
    test_shape_chain();
    test_reduce();
    test_select();
    free_all();
    return check_exit();
}
