/* Element-wise op family, node by node: nodes built by hand, forward checked
 * against double-precision references written here, backward checked against
 * central finite differences of sum(seed * forward) for K = 1 and K = 3,
 * including broadcast inputs, plus larger shapes that take the OpenMP paths. */
#include "ops/op.h"
#include "check.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

extern const cc_op *const cc_ops_elementwise[];

/* ---- a hand-built node ------------------------------------------------------ */

typedef struct {
    cc_node node;
    cc_tensor t_in[8], t_out[4];
    cc_tensor *in[8], *out[4];
    int in_idx[8], out_idx[4];
    cc_attr attr[8];
    int64_t ints[8][8];
    cc_err err;
} H;

static const cc_op *find_op(const char *name)
{
    for (const cc_op *const *p = cc_ops_elementwise; *p; p++)
        if (strcmp((*p)->op_type, name) == 0) return *p;
    return NULL;
}

static void h_init(H *h, const char *op, int opset)
{
    memset(h, 0, sizeof *h);
    h->node.name = "n0";
    h->node.op_type = op;
    h->node.domain = "";
    h->node.opset = opset;
    h->node.in = h->in_idx;
    h->node.out = h->out_idx;
    h->node.attr = h->attr;
    h->node.op = find_op(op);
}

static void h_attr_f(H *h, const char *name, float f)
{
    cc_attr *a = &h->attr[h->node.n_attr++];
    a->name = name; a->type = CC_ATTR_FLOAT; a->f = f;
}
static void h_attr_i(H *h, const char *name, int64_t i)
{
    cc_attr *a = &h->attr[h->node.n_attr++];
    a->name = name; a->type = CC_ATTR_INT; a->i = i;
}

/* Adds an input (data copied; float or int64 by dtype); NULL shape = absent. */
static cc_tensor *h_in(H *h, int dtype, int ndim, const int64_t *dims, const void *data)
{
    int i = h->node.n_in++;
    if (ndim < 0) { h->in_idx[i] = -1; h->in[i] = NULL; return NULL; }
    cc_tensor *t = &h->t_in[i];
    h->in_idx[i] = i;
    h->in[i] = t;
    t->name = "x";
    t->dtype = dtype;
    t->ndim = ndim;
    if (ndim) memcpy(t->dims, dims, sizeof(int64_t) * (size_t)ndim);
    t->numel = cc_numel(dims, ndim);
    t->is_const = dtype != CC_DT_FLOAT;
    t->producer = -1;
    size_t esz = dtype == CC_DT_FLOAT ? 4 : 8;
    t->data = malloc(esz * (size_t)(t->numel ? t->numel : 1));
    if (data) memcpy(t->data, data, esz * (size_t)t->numel);
    return t;
}

static int h_prepare(H *h, int n_out)
{
    h->node.n_out = n_out;
    for (int j = 0; j < n_out; j++) { h->out_idx[j] = j; h->out[j] = &h->t_out[j]; h->t_out[j].name = "y"; }
    if (!h->node.op) { snprintf(h->err.msg, sizeof h->err.msg, "no op %s", h->node.op_type); return -1; }
    int rc = h->node.op->prepare(&h->node, h->in, h->out, &h->err);
    if (rc) return rc;
    for (int j = 0; j < n_out; j++) {
        cc_tensor *t = &h->t_out[j];
        t->numel = cc_numel(t->dims, t->ndim);
        if (t->is_const && t->data) continue;   /* made by prepare (Dropout's mask) */
        size_t esz = t->dtype == CC_DT_FLOAT ? 4 : 8;
        t->data = calloc((size_t)(t->numel ? t->numel : 1), esz);
    }
    return 0;
}

static int h_forward(H *h) { return h->node.op->forward(&h->node, h->in, h->out, NULL); }

static void h_free(H *h)
{
    for (int i = 0; i < h->node.n_in; i++) if (h->in[i]) free(h->in[i]->data);
    for (int j = 0; j < h->node.n_out; j++) free(h->t_out[j].data);
    free(h->node.params);
}

/* ---- data ------------------------------------------------------------------- */

static uint64_t rng = 88172645463325252ull;
static double urand(void)
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}
/* Uniform in [lo, hi] but at least `margin` away from each kink. */
static void fill(float *x, int64_t n, double lo, double hi, const double *kinks, int nk, double margin)
{
    for (int64_t i = 0; i < n; i++) {
        double v;
        int ok;
        do {
            v = lo + (hi - lo) * urand();
            ok = 1;
            for (int k = 0; k < nk; k++) if (fabs(v - kinks[k]) < margin) ok = 0;
        } while (!ok);
        x[i] = (float)v;
    }
}

/* Offset into t for output multi-index idx (NumPy right-aligned broadcasting). */
static int64_t bidx(const cc_tensor *t, const int64_t *idx, int ond)
{
    int64_t off = 0;
    for (int i = 0; i < t->ndim; i++) {
        int64_t d = t->dims[i], q = idx[ond - t->ndim + i];
        off = off * d + (d == 1 ? 0 : q);
    }
    return off;
}
static void unravel(int64_t o, const int64_t *dims, int nd, int64_t *idx)
{
    for (int i = nd - 1; i >= 0; i--) { idx[i] = o % dims[i]; o /= dims[i]; }
}

/* ---- finite-difference gradient check ---------------------------------------- */

/* Checks d/dx_i sum(seed_k * y) for every float input with mask bit i, seeds K.
 * gx is pre-filled with 0.25 to check that backward accumulates. */
static void grad_check(H *h, int K, unsigned mask, const char *what)
{
    cc_tensor *y = h->out[0];
    int64_t ny = y->numel;
    float *seed = malloc(sizeof(float) * (size_t)(K * ny + 1));
    for (int64_t i = 0; i < K * ny; i++) seed[i] = (float)(2 * urand() - 1);
    float *gx[8] = { 0 }, *gy[4] = { seed, NULL, NULL, NULL };
    for (int i = 0; i < h->node.n_in; i++)
        if ((mask >> i & 1) && h->in[i]) {
            gx[i] = malloc(sizeof(float) * (size_t)(K * h->in[i]->numel + 1));
            for (int64_t j = 0; j < K * h->in[i]->numel; j++) gx[i][j] = 0.25f;
        }
    CHECK(h_forward(h) == 0, "%s: forward", what);
    int rc = h->node.op->backward(&h->node, h->in, h->out, gy, gx, K, NULL);
    CHECK(rc == 0, "%s: backward rc %d", what, rc);
    float *yp = malloc(sizeof(float) * (size_t)(ny + 1)), *ym = malloc(sizeof(float) * (size_t)(ny + 1));
    double worst = 0;
    for (int i = 0; i < h->node.n_in; i++) {
        if (!gx[i]) continue;
        float *x = h->in[i]->data;
        for (int64_t j = 0; j < h->in[i]->numel; j++) {
            float x0 = x[j], step = 1e-2f * (fabsf(x0) > 1 ? fabsf(x0) : 1);
            x[j] = x0 + step; h_forward(h); memcpy(yp, y->data, sizeof(float) * (size_t)ny);
            x[j] = x0 - step; h_forward(h); memcpy(ym, y->data, sizeof(float) * (size_t)ny);
            x[j] = x0;
            for (int k = 0; k < K; k++) {
                double fd = 0;
                for (int64_t o = 0; o < ny; o++) fd += (double)seed[k * ny + o] * ((double)yp[o] - ym[o]);
                fd /= 2.0 * step;
                double an = (double)gx[i][k * h->in[i]->numel + j] - 0.25;
                double err = fabs(an - fd) / (fabs(fd) > 1 ? fabs(fd) : 1);
                if (!(err <= worst)) worst = err;
                if (!(err <= 1e-2)) {
                    CHECK(0, "%s K=%d: d/d in%d[%lld] seed %d: analytic %.6g, finite difference %.6g", what, K, i,
                          (long long)j, k, an, fd);
                    goto done;
                }
            }
        }
    }
    check_count++;
done:
    h_forward(h);
    for (int i = 0; i < 8; i++) free(gx[i]);
    free(seed); free(yp); free(ym);
}

/* ---- unary ------------------------------------------------------------------ */

typedef double (*ref1)(double x, double a, double b);
static double r_relu(double x, double a, double b) { (void)a; (void)b; return x > 0 ? x : 0; }
static double r_leaky(double x, double a, double b) { (void)b; return x > 0 ? x : a * x; }
static double r_clip(double x, double a, double b) { return x < a ? a : x > b ? b : x; }
static double r_sigmoid(double x, double a, double b) { (void)a; (void)b; return 1 / (1 + exp(-x)); }
static double r_tanh(double x, double a, double b) { (void)a; (void)b; return tanh(x); }
static double r_hsig(double x, double a, double b) { double v = a * x + b; return v < 0 ? 0 : v > 1 ? 1 : v; }
static double r_hswish(double x, double a, double b) { return x * r_hsig(x, 1.0 / 6, 0.5) + 0 * (a + b); }
static double r_elu(double x, double a, double b) { (void)b; return x > 0 ? x : a * (exp(x) - 1); }
static double r_selu(double x, double a, double b) { return x > 0 ? b * x : b * a * (exp(x) - 1); }
static double r_softplus(double x, double a, double b) { (void)a; (void)b; return log(1 + exp(x)); }
static double r_softsign(double x, double a, double b) { (void)a; (void)b; return x / (1 + fabs(x)); }
static double r_mish(double x, double a, double b) { (void)a; (void)b; return x * tanh(log(1 + exp(x))); }
static double r_exp(double x, double a, double b) { (void)a; (void)b; return exp(x); }
static double r_log(double x, double a, double b) { (void)a; (void)b; return log(x); }
static double r_sqrt(double x, double a, double b) { (void)a; (void)b; return sqrt(x); }
static double r_neg(double x, double a, double b) { (void)a; (void)b; return -x; }
static double r_abs(double x, double a, double b) { (void)a; (void)b; return fabs(x); }
static double r_recip(double x, double a, double b) { (void)a; (void)b; return 1 / x; }
static double r_erf(double x, double a, double b) { (void)a; (void)b; return erf(x); }
static double r_floor(double x, double a, double b) { (void)a; (void)b; return floor(x); }
static double r_ceil(double x, double a, double b) { (void)a; (void)b; return ceil(x); }
static double r_round(double x, double a, double b) { (void)a; (void)b; return nearbyint(x); }
static double r_sign(double x, double a, double b) { (void)a; (void)b; return (x > 0) - (x < 0); }
static double r_ident(double x, double a, double b) { (void)a; (void)b; return x; }

typedef struct {
    const char *op;
    int opset;
    ref1 ref;
    double lo, hi, kinks[3];
    int nk;
    const char *an; double av;   /* optional attribute and its value (also the ref's a) */
    const char *bn; double bv;
    int grad;
} ucase;

static void test_unary(void)
{
    const double SA = 1.67326319217681884765625, SG = 1.05070102214813232421875;
    const ucase cases[] = {
        { "Relu", 14, r_relu, -2, 2, { 0 }, 1, NULL, 0, NULL, 0, 1 },
        { "LeakyRelu", 16, r_leaky, -2, 2, { 0 }, 1, "alpha", 0.1, NULL, 0, 1 },
        { "LeakyRelu", 6, r_leaky, -2, 2, { 0 }, 1, NULL, 0.01, NULL, 0, 1 },
        { "Clip", 6, r_clip, -2, 2, { -0.5, 0.7 }, 2, "min", -0.5, "max", 0.7, 1 },
        { "Clip", 6, r_clip, -2, 2, { 0 }, 0, NULL, -INFINITY, NULL, INFINITY, 1 },
        { "Sigmoid", 13, r_sigmoid, -6, 6, { 0 }, 0, NULL, 0, NULL, 0, 1 },
        { "Tanh", 13, r_tanh, -3, 3, { 0 }, 0, NULL, 0, NULL, 0, 1 },
        { "HardSigmoid", 6, r_hsig, -4, 4, { -2.5, 2.5 }, 2, NULL, 0.2, NULL, 0.5, 1 },
        { "HardSigmoid", 6, r_hsig, -4, 4, { -1.5, 2.5 }, 2, "alpha", 0.25, "beta", 0.375, 1 },
        { "HardSwish", 14, r_hswish, -5, 5, { -3, 3 }, 2, NULL, 0, NULL, 0, 1 },
        { "Elu", 6, r_elu, -3, 3, { 0 }, 1, "alpha", 0.7, NULL, 0, 1 },
        { "Elu", 6, r_elu, -3, 3, { 0 }, 1, NULL, 1.0, NULL, 0, 1 },
        { "Selu", 6, r_selu, -3, 3, { 0 }, 1, NULL, SA, NULL, SG, 1 },
        { "Selu", 6, r_selu, -3, 3, { 0 }, 1, "alpha", 2, "gamma", 3, 1 },
        { "Softplus", 1, r_softplus, -20, 20, { 0 }, 0, NULL, 0, NULL, 0, 1 },
        { "Softsign", 1, r_softsign, -3, 3, { 0 }, 1, NULL, 0, NULL, 0, 1 },
        { "Mish", 18, r_mish, -4, 4, { 0 }, 0, NULL, 0, NULL, 0, 1 },
        { "Exp", 13, r_exp, -3, 3, { 0 }, 0, NULL, 0, NULL, 0, 1 },
        { "Log", 13, r_log, 0.2, 5, { 0 }, 0, NULL, 0, NULL, 0, 1 },
        { "Sqrt", 13, r_sqrt, 0.2, 5, { 0 }, 0, NULL, 0, NULL, 0, 1 },
        { "Neg", 13, r_neg, -3, 3, { 0 }, 0, NULL, 0, NULL, 0, 1 },
        { "Abs", 13, r_abs, -3, 3, { 0 }, 1, NULL, 0, NULL, 0, 1 },
        { "Reciprocal", 13, r_recip, 0.3, 3, { 0 }, 0, NULL, 0, NULL, 0, 1 },
        { "Erf", 13, r_erf, -3, 3, { 0 }, 0, NULL, 0, NULL, 0, 1 },
        { "Floor", 13, r_floor, -3, 3, { 0 }, 0, NULL, 0, NULL, 0, 0 },
        { "Ceil", 13, r_ceil, -3, 3, { 0 }, 0, NULL, 0, NULL, 0, 0 },
        { "Round", 11, r_round, -3, 3, { 0 }, 0, NULL, 0, NULL, 0, 0 },
        { "Sign", 13, r_sign, -3, 3, { 0 }, 1, NULL, 0, NULL, 0, 0 },
        { "Identity", 16, r_ident, -3, 3, { 0 }, 0, NULL, 0, NULL, 0, 1 },
        { "Dropout", 7, r_ident, -3, 3, { 0 }, 0, "ratio", 0.5, NULL, 0, 1 },
    };
    const int64_t dims[4] = { 2, 3, 4, 5 };
    float x[120];
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const ucase *u = &cases[c];
        char what[96];
        snprintf(what, sizeof what, "%s(opset %d, %s=%g)", u->op, u->opset, u->an ? u->an : "-", u->av);
        fill(x, 120, u->lo, u->hi, u->kinks, u->nk, 0.05);
        x[0] = (float)u->lo; x[1] = (float)u->hi;
        if (u->nk == 0 && u->lo < 0 && u->hi > 0) x[2] = 0;
        H h;
        h_init(&h, u->op, u->opset);
        if (u->an) h_attr_f(&h, u->an, (float)u->av);
        if (u->bn) h_attr_f(&h, u->bn, (float)u->bv);
        h_in(&h, CC_DT_FLOAT, 4, dims, x);
        int rc = h_prepare(&h, 1);
        CHECK(rc == 0, "%s prepare: %s", what, h.err.msg);
        if (rc) { h_free(&h); continue; }
        CHECK(h.out[0]->ndim == 4 && h.out[0]->numel == 120 && h.out[0]->dtype == CC_DT_FLOAT, "%s shape", what);
        CHECK(h_forward(&h) == 0, "%s forward", what);
        double worst = 0;
        const float *y = h.out[0]->data;
        for (int i = 0; i < 120; i++) {
            double r = u->ref(x[i], u->av, u->bv), d = fabs(y[i] - r) / (fabs(r) > 1 ? fabs(r) : 1);
            if (!(d <= worst)) worst = d;
        }
        CHECK(worst <= 2e-6, "%s forward max rel err %g", what, worst);
        if (u->grad) {
            /* Keep FD steps off the kinks: regenerate the pinned values too. */
            fill(x, 3, u->lo + 0.05, u->hi - 0.05, u->kinks, u->nk, 0.05);
            memcpy(h.in[0]->data, x, sizeof x);
            grad_check(&h, 1, 1, what);
            grad_check(&h, 3, 1, what);
        }
        h_free(&h);
    }
}

/* Clip (opset >= 11) takes optional min/max inputs; only max here. */
static void test_clip_inputs(void)
{
    const int64_t d[2] = { 3, 8 };
    float x[24], lo = -0.4f, hi = 0.6f;
    double k[2] = { -0.4, 0.6 };
    fill(x, 24, -2, 2, k, 2, 0.05);
    for (int variant = 0; variant < 2; variant++) {
        H h;
        h_init(&h, "Clip", 13);
        h_in(&h, CC_DT_FLOAT, 2, d, x);
        if (variant == 0) h_in(&h, CC_DT_FLOAT, 0, NULL, &lo);
        else h_in(&h, 0, -1, NULL, NULL);
        h_in(&h, CC_DT_FLOAT, 0, NULL, &hi);
        CHECK(h_prepare(&h, 1) == 0, "Clip inputs prepare: %s", h.err.msg);
        h_forward(&h);
        const float *y = h.out[0]->data;
        int bad = 0;
        for (int i = 0; i < 24; i++) {
            float r = x[i] > hi ? hi : (variant == 0 && x[i] < lo) ? lo : x[i];
            bad += !(y[i] == r);
        }
        CHECK(bad == 0, "Clip inputs variant %d: %d wrong", variant, bad);
        grad_check(&h, 3, variant == 0 ? 7 : 5, "Clip(min/max inputs)");
        h_free(&h);
    }
    /* PyTorch's clamp passes the gradient at the bounds themselves. */
    H h;
    float xb[4] = { -0.4f, 0.6f, -0.41f, 0.61f }, g[4] = { 1, 1, 1, 1 }, gx[4] = { 0 };
    const int64_t d4[1] = { 4 };
    h_init(&h, "Clip", 6);
    h_attr_f(&h, "min", -0.4f);
    h_attr_f(&h, "max", 0.6f);
    h_in(&h, CC_DT_FLOAT, 1, d4, xb);
    h_prepare(&h, 1);
    h_forward(&h);
    float *gyp[1] = { g }, *gxp[1] = { gx };
    h.node.op->backward(&h.node, h.in, h.out, gyp, gxp, 1, NULL);
    CHECK(gx[0] == 1 && gx[1] == 1 && gx[2] == 0 && gx[3] == 0, "Clip boundary grads %g %g %g %g", gx[0], gx[1], gx[2], gx[3]);
    h_free(&h);
}

/* ---- binary with broadcasting ----------------------------------------------- */

typedef double (*ref2)(double a, double b);
static double r_add(double a, double b) { return a + b; }
static double r_sub(double a, double b) { return a - b; }
static double r_mul(double a, double b) { return a * b; }
static double r_div(double a, double b) { return a / b; }
static double r_pow(double a, double b) { return pow(a, b); }
static double r_prelu(double a, double b) { return a > 0 ? a : a * b; }
static double r_max(double a, double b) { return a > b ? a : b; }
static double r_min(double a, double b) { return a < b ? a : b; }

typedef struct { int na; int64_t a[4]; int nb; int64_t b[4]; } shapes;

static void check_binary(const char *op, int opset, ref2 ref, const shapes *s, double alo, double ahi,
                         double blo, double bhi, int grad)
{
    char what[128];
    snprintf(what, sizeof what, "%s a[%d dims,%lld..] b[%d dims]", op, s->na, (long long)(s->na ? s->a[0] : 0), s->nb);
    int64_t na = cc_numel(s->a, s->na), nb = cc_numel(s->b, s->nb);
    float *a = malloc(sizeof(float) * (size_t)na), *b = malloc(sizeof(float) * (size_t)nb);
    double kinks[1] = { 0 };
    fill(a, na, alo, ahi, kinks, strcmp(op, "PRelu") == 0, 0.05);
    fill(b, nb, blo, bhi, NULL, 0, 0);
    if (!strcmp(op, "Max") || !strcmp(op, "Min"))   /* keep a and b apart so no ties */
    {
        for (int64_t i = 0; i < na; i++) a[i] = (float)(floor(a[i] * 4) / 4 + 0.125);
        for (int64_t i = 0; i < nb; i++) b[i] = (float)(floor(b[i] * 4) / 4);
    }
    H h;
    h_init(&h, op, opset);
    cc_tensor *ta = h_in(&h, CC_DT_FLOAT, s->na, s->a, a), *tb = h_in(&h, CC_DT_FLOAT, s->nb, s->b, b);
    int rc = h_prepare(&h, 1);
    CHECK(rc == 0, "%s prepare: %s", what, h.err.msg);
    if (!rc) {
        cc_tensor *y = h.out[0];
        h_forward(&h);
        double worst = 0;
        int64_t idx[CC_MAX_DIMS];
        for (int64_t o = 0; o < y->numel; o++) {
            unravel(o, y->dims, y->ndim, idx);
            double r = ref(a[bidx(ta, idx, y->ndim)], b[bidx(tb, idx, y->ndim)]);
            double d = fabs(((float *)y->data)[o] - r) / (fabs(r) > 1 ? fabs(r) : 1);
            if (!(d <= worst)) worst = d;
        }
        CHECK(worst <= 2e-6, "%s forward max rel err %g", what, worst);
        if (grad) {
            grad_check(&h, 1, 3, what);
            grad_check(&h, 3, 3, what);
        }
    }
    h_free(&h);
    free(a); free(b);
}

static void test_binary(void)
{
    const shapes S[] = {
        { 3, { 2, 3, 4 }, 3, { 2, 3, 4 } },          /* same shape */
        { 4, { 2, 3, 4, 5 }, 4, { 1, 3, 1, 1 } },    /* per channel */
        { 4, { 1, 3, 1, 1 }, 4, { 2, 3, 4, 5 } },    /* per channel, first operand */
        { 2, { 2, 3 }, 0, { 0 } },                   /* scalar */
        { 1, { 1 }, 3, { 2, 3, 2 } },                /* [1] scalar first */
        { 2, { 2, 4 }, 1, { 4 } },                   /* [C] vs [N,C] */
        { 3, { 2, 1, 5 }, 3, { 1, 3, 1 } },          /* both broadcast */
        { 4, { 2, 3, 4, 5 }, 3, { 3, 1, 5 } },       /* mixed */
        { 3, { 2, 3, 4 }, 2, { 3, 1 } },
    };
    for (size_t i = 0; i < sizeof S / sizeof S[0]; i++) {
        check_binary("Add", 14, r_add, &S[i], -2, 2, -2, 2, 1);
        check_binary("Sub", 14, r_sub, &S[i], -2, 2, -2, 2, 1);
        check_binary("Mul", 14, r_mul, &S[i], -2, 2, -2, 2, 1);
        check_binary("Div", 14, r_div, &S[i], -2, 2, 0.5, 2, 1);
        check_binary("Pow", 15, r_pow, &S[i], 0.5, 2, -1.5, 2.5, 1);
        check_binary("Max", 13, r_max, &S[i], -2, 2, -2, 2, 1);
        check_binary("Min", 13, r_min, &S[i], -2, 2, -2, 2, 1);
    }
    const shapes P[] = { { 4, { 2, 3, 4, 5 }, 3, { 3, 1, 1 } }, { 2, { 2, 3 }, 1, { 3 } }, { 3, { 2, 3, 4 }, 0, { 0 } } };
    for (size_t i = 0; i < sizeof P / sizeof P[0]; i++) check_binary("PRelu", 16, r_prelu, &P[i], -2, 2, 0.05, 0.5, 1);

    /* Pow with a constant scalar exponent, float and int64. */
    const int64_t d[2] = { 4, 6 };
    float x[24];
    fill(x, 24, 0.3, 2.5, NULL, 0, 0);
    const float ex[3] = { 2.0f, 0.5f, 3.0f };
    for (int v = 0; v < 4; v++) {
        H h;
        h_init(&h, "Pow", 15);
        h_in(&h, CC_DT_FLOAT, 2, d, x);
        int64_t ie = 3;
        if (v < 3) h_in(&h, CC_DT_FLOAT, 0, NULL, &ex[v])->is_const = 1;
        else h_in(&h, CC_DT_INT64, 0, NULL, &ie);
        CHECK(h_prepare(&h, 1) == 0, "Pow scalar %d: %s", v, h.err.msg);
        CHECK(h.out[0]->dtype == CC_DT_FLOAT, "Pow out dtype");
        h_forward(&h);
        double e = v < 3 ? ex[v] : 3, worst = 0;
        for (int i = 0; i < 24; i++) {
            double r = pow(x[i], e), dd = fabs(((float *)h.out[0]->data)[i] - r) / (r > 1 ? r : 1);
            if (!(dd <= worst)) worst = dd;
        }
        CHECK(worst <= 2e-6, "Pow exponent %g: rel err %g", e, worst);
        grad_check(&h, 3, v < 3 ? 3 : 1, "Pow scalar exponent");
        h_free(&h);
    }

    /* Shapes that cannot broadcast: a clear error naming the node. */
    H h;
    const int64_t d1[2] = { 2, 3 }, d2[1] = { 4 };
    h_init(&h, "Add", 14);
    h.node.name = "badadd";
    h_in(&h, CC_DT_FLOAT, 2, d1, NULL);
    h_in(&h, CC_DT_FLOAT, 1, d2, NULL);
    int rc = h_prepare(&h, 1);
    CHECK(rc == CC_E_SHAPE && strstr(h.err.msg, "badadd") && strstr(h.err.msg, "[2,3]"), "broadcast error: %d %s", rc, h.err.msg);
    h_free(&h);
}

/* Variadic Sum / Mean / Max / Min. */
static void test_variadic(void)
{
    const int64_t d0[3] = { 2, 1, 4 }, d1[2] = { 3, 1 }, d2[1] = { 4 };
    float a[8], b[3], c[4];
    fill(a, 8, -2, 2, NULL, 0, 0); fill(b, 3, -2, 2, NULL, 0, 0); fill(c, 4, -2, 2, NULL, 0, 0);
    /* Distinct quarter-grid offsets keep Max/Min away from ties under the FD step. */
    for (int i = 0; i < 8; i++) a[i] = (float)(floor(a[i] * 4) / 4 + 0.0625);
    for (int i = 0; i < 3; i++) b[i] = (float)(floor(b[i] * 4) / 4 + 0.125);
    for (int i = 0; i < 4; i++) c[i] = (float)(floor(c[i] * 4) / 4 + 0.1875);
    const char *ops[4] = { "Sum", "Mean", "Max", "Min" };
    for (int o = 0; o < 4; o++)
        for (int nin = 1; nin <= 3; nin++) {
            H h;
            h_init(&h, ops[o], 13);
            cc_tensor *t[3];
            t[0] = h_in(&h, CC_DT_FLOAT, 3, d0, a);
            if (nin > 1) t[1] = h_in(&h, CC_DT_FLOAT, 2, d1, b);
            if (nin > 2) t[2] = h_in(&h, CC_DT_FLOAT, 1, d2, c);
            CHECK(h_prepare(&h, 1) == 0, "%s/%d prepare: %s", ops[o], nin, h.err.msg);
            cc_tensor *y = h.out[0];
            h_forward(&h);
            int64_t idx[3];
            double worst = 0;
            for (int64_t i = 0; i < y->numel; i++) {
                unravel(i, y->dims, y->ndim, idx);
                double acc = 0;
                for (int j = 0; j < nin; j++) {
                    double v = ((float *)t[j]->data)[bidx(t[j], idx, y->ndim)];
                    if (j == 0) acc = v;
                    else if (o < 2) acc += v;
                    else if (o == 2) acc = v > acc ? v : acc;
                    else acc = v < acc ? v : acc;
                }
                if (o == 1) acc /= nin;
                double dd = fabs(((float *)y->data)[i] - acc);
                if (!(dd <= worst)) worst = dd;
            }
            CHECK(y->numel == (nin == 1 ? 8 : 24) && worst <= 1e-6, "%s/%d forward err %g", ops[o], nin, worst);
            if (o < 2 || nin < 3) grad_check(&h, 3, 7, ops[o]);
            h_free(&h);
        }
}

/* int64 forward, as used by shape arithmetic folded at load. */
static void test_int64(void)
{
    const int64_t d3[1] = { 3 };
    int64_t a[3] = { 7, -7, 12 }, s = 2, one = 1;
    struct { const char *op; int64_t r[3]; } c[] = {
        { "Add", { 9, -5, 14 } }, { "Sub", { 5, -9, 10 } }, { "Mul", { 14, -14, 24 } },
        { "Div", { 3, -3, 6 } }, { "Max", { 7, 2, 12 } }, { "Min", { 2, -7, 2 } }, { "Pow", { 49, 49, 144 } },
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        H h;
        h_init(&h, c[i].op, 13);
        h_in(&h, CC_DT_INT64, 1, d3, a);
        h_in(&h, CC_DT_INT64, 0, NULL, &s);
        CHECK(h_prepare(&h, 1) == 0 && h.out[0]->dtype == CC_DT_INT64, "%s int64 prepare: %s", c[i].op, h.err.msg);
        h_forward(&h);
        const int64_t *y = h.out[0]->data;
        CHECK(y[0] == c[i].r[0] && y[1] == c[i].r[1] && y[2] == c[i].r[2], "%s int64: %lld %lld %lld", c[i].op,
              (long long)y[0], (long long)y[1], (long long)y[2]);
        h_free(&h);
    }
    struct { const char *op; int64_t r[3]; } u[] = {
        { "Neg", { -7, 7, -12 } }, { "Abs", { 7, 7, 12 } }, { "Relu", { 7, 0, 12 } }, { "Identity", { 7, -7, 12 } },
        { "Sign", { 1, -1, 1 } },
    };
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
        H h;
        h_init(&h, u[i].op, 13);
        h_in(&h, CC_DT_INT64, 1, d3, a);
        CHECK(h_prepare(&h, 1) == 0 && h.out[0]->dtype == CC_DT_INT64, "%s int64 prepare: %s", u[i].op, h.err.msg);
        h_forward(&h);
        const int64_t *y = h.out[0]->data;
        CHECK(y[0] == u[i].r[0] && y[1] == u[i].r[1] && y[2] == u[i].r[2], "%s int64 unary", u[i].op);
        h_free(&h);
    }
    /* Float-only ops refuse int64 in prepare with a message. */
    H h;
    h_init(&h, "Sigmoid", 13);
    h_in(&h, CC_DT_INT64, 1, d3, a);
    CHECK(h_prepare(&h, 1) == CC_E_UNSUPPORTED && strstr(h.err.msg, "n0"), "Sigmoid int64 rejected: %s", h.err.msg);
    h_free(&h);
    /* Clip on int64 with int64 bounds. */
    h_init(&h, "Clip", 13);
    h_in(&h, CC_DT_INT64, 1, d3, a);
    h_in(&h, CC_DT_INT64, 0, NULL, &one);
    h_in(&h, CC_DT_INT64, 0, NULL, &s);
    CHECK(h_prepare(&h, 1) == 0, "Clip int64: %s", h.err.msg);
    h_forward(&h);
    const int64_t *y = h.out[0]->data;
    CHECK(y[0] == 2 && y[1] == 1 && y[2] == 2, "Clip int64 values");
    h_free(&h);
}

static void test_cast(void)
{
    const int64_t d[1] = { 5 };
    float xf[5] = { -2.7f, -0.5f, 0.0f, 1.9f, 3.0f };
    int64_t xi[5] = { -3, 0, 1, 2, 1000000 };
    H h;
    h_init(&h, "Cast", 13);
    h_attr_i(&h, "to", 7);
    h_in(&h, CC_DT_FLOAT, 1, d, xf);
    CHECK(h_prepare(&h, 1) == 0 && h.out[0]->dtype == CC_DT_INT64, "Cast f->i64");
    h_forward(&h);
    const int64_t *yi = h.out[0]->data;
    CHECK(yi[0] == -2 && yi[1] == 0 && yi[2] == 0 && yi[3] == 1 && yi[4] == 3, "Cast f->i64 truncates");
    h_free(&h);

    h_init(&h, "Cast", 13);
    h_attr_i(&h, "to", 9);
    h_in(&h, CC_DT_FLOAT, 1, d, xf);
    CHECK(h_prepare(&h, 1) == 0, "Cast f->bool");
    h_forward(&h);
    yi = h.out[0]->data;
    CHECK(yi[0] == 1 && yi[1] == 1 && yi[2] == 0 && yi[3] == 1, "Cast f->bool");
    h_free(&h);

    h_init(&h, "Cast", 13);
    h_attr_i(&h, "to", 1);
    h_in(&h, CC_DT_INT64, 1, d, xi);
    CHECK(h_prepare(&h, 1) == 0 && h.out[0]->dtype == CC_DT_FLOAT, "Cast i64->f");
    h_forward(&h);
    const float *yf = h.out[0]->data;
    CHECK(yf[0] == -3 && yf[4] == 1e6f, "Cast i64->f values");
    h_free(&h);

    h_init(&h, "Cast", 13);
    h_attr_i(&h, "to", 1);
    h_in(&h, CC_DT_FLOAT, 1, d, xf);
    CHECK(h_prepare(&h, 1) == 0, "Cast f->f");
    grad_check(&h, 3, 1, "Cast f->f");
    h_free(&h);

    h_init(&h, "Cast", 13);
    h_attr_i(&h, "to", 8);
    h_in(&h, CC_DT_FLOAT, 1, d, xf);
    CHECK(h_prepare(&h, 1) == CC_E_UNSUPPORTED, "Cast to string rejected");
    h_free(&h);
}

static void test_dropout(void)
{
    const int64_t d[2] = { 3, 4 };
    float x[12], ratio = 0.3f;
    uint8_t tm = 0;
    int64_t tm1 = 1;
    (void)tm;
    fill(x, 12, -1, 1, NULL, 0, 0);
    H h;
    h_init(&h, "Dropout", 13);
    h_in(&h, CC_DT_FLOAT, 2, d, x);
    h_in(&h, CC_DT_FLOAT, 0, NULL, &ratio)->is_const = 1;
    CHECK(h_prepare(&h, 2) == 0, "Dropout with mask: %s", h.err.msg);
    h_forward(&h);
    CHECK(check_maxdiff(h.out[0]->data, x, 12) == 0, "Dropout passes through");
    const int64_t *m = h.out[1]->data;
    int ones = 0;
    for (int i = 0; i < 12; i++) ones += m[i] == 1;
    CHECK(ones == 12 && h.out[1]->ndim == 2 && h.out[1]->is_const, "Dropout mask all ones");
    h_free(&h);

    h_init(&h, "Dropout", 13);
    h_in(&h, CC_DT_FLOAT, 2, d, x);
    h_in(&h, CC_DT_FLOAT, 0, NULL, &ratio)->is_const = 1;
    h_in(&h, CC_DT_INT64, 0, NULL, &tm1);
    CHECK(h_prepare(&h, 1) == CC_E_UNSUPPORTED && strstr(h.err.msg, "training"), "Dropout training rejected: %s", h.err.msg);
    h_free(&h);
}

/* ---- normalisation ---------------------------------------------------------- */

static void test_batchnorm(void)
{
    const int64_t dx[4] = { 2, 3, 4, 5 }, dc[1] = { 3 }, d2[2] = { 4, 3 };
    float x[120], sc[3], bi[3], mu[3], var[3];
    fill(x, 120, -2, 2, NULL, 0, 0);
    fill(sc, 3, 0.5, 1.5, NULL, 0, 0); fill(bi, 3, -1, 1, NULL, 0, 0);
    fill(mu, 3, -0.5, 0.5, NULL, 0, 0); fill(var, 3, 0.5, 2, NULL, 0, 0);
    for (int v = 0; v < 3; v++) {
        int opset = v == 0 ? 9 : 15;
        float eps = v == 1 ? 1e-3f : 1e-5f;
        H h;
        h_init(&h, "BatchNormalization", opset);
        if (v == 1) h_attr_f(&h, "epsilon", eps);
        cc_tensor *tx = h_in(&h, CC_DT_FLOAT, v == 2 ? 2 : 4, v == 2 ? d2 : dx, x);
        h_in(&h, CC_DT_FLOAT, 1, dc, sc); h_in(&h, CC_DT_FLOAT, 1, dc, bi);
        h_in(&h, CC_DT_FLOAT, 1, dc, mu); h_in(&h, CC_DT_FLOAT, 1, dc, var);
        CHECK(h_prepare(&h, 1) == 0, "BN prepare: %s", h.err.msg);
        h_forward(&h);
        int64_t S = tx->numel / (tx->dims[0] * 3);
        double worst = 0;
        for (int64_t i = 0; i < tx->numel; i++) {
            int c = (int)(i / S % 3);
            double r = (x[i] - mu[c]) / sqrt((double)var[c] + eps) * sc[c] + bi[c];
            double dd = fabs(((float *)h.out[0]->data)[i] - r);
            if (!(dd <= worst)) worst = dd;
        }
        CHECK(worst <= 1e-5, "BN forward v%d err %g", v, worst);
        grad_check(&h, 1, 31, "BatchNormalization");
        grad_check(&h, 3, 31, "BatchNormalization");
        h_free(&h);
    }
    H h;
    h_init(&h, "BatchNormalization", 15);
    h_attr_i(&h, "training_mode", 1);
    h_in(&h, CC_DT_FLOAT, 4, dx, x);
    for (int i = 0; i < 4; i++) h_in(&h, CC_DT_FLOAT, 1, dc, sc);
    CHECK(h_prepare(&h, 1) == CC_E_UNSUPPORTED && strstr(h.err.msg, "training"), "BN training rejected: %s", h.err.msg);
    h_free(&h);
}

static void test_instance_layer_norm(void)
{
    const int64_t dx[4] = { 2, 3, 4, 5 }, dc[1] = { 3 };
    float x[120], sc[60], bi[60];
    fill(x, 120, -2, 2, NULL, 0, 0);
    fill(sc, 60, 0.5, 1.5, NULL, 0, 0); fill(bi, 60, -1, 1, NULL, 0, 0);
    H h;
    h_init(&h, "InstanceNormalization", 6);
    h_in(&h, CC_DT_FLOAT, 4, dx, x);
    h_in(&h, CC_DT_FLOAT, 1, dc, sc);
    h_in(&h, CC_DT_FLOAT, 1, dc, bi);
    CHECK(h_prepare(&h, 1) == 0, "InstanceNorm prepare: %s", h.err.msg);
    h_forward(&h);
    double worst = 0;
    for (int p = 0; p < 6; p++) {
        double m = 0, v = 0;
        for (int s = 0; s < 20; s++) m += x[p * 20 + s];
        m /= 20;
        for (int s = 0; s < 20; s++) v += (x[p * 20 + s] - m) * (x[p * 20 + s] - m);
        v /= 20;
        for (int s = 0; s < 20; s++) {
            double r = (x[p * 20 + s] - m) / sqrt(v + 1e-5) * sc[p % 3] + bi[p % 3];
            double dd = fabs(((float *)h.out[0]->data)[p * 20 + s] - r);
            if (!(dd <= worst)) worst = dd;
        }
    }
    CHECK(worst <= 1e-5, "InstanceNorm forward err %g", worst);
    grad_check(&h, 1, 7, "InstanceNormalization");
    grad_check(&h, 3, 7, "InstanceNormalization");
    h_free(&h);

    for (int axis = 1; axis <= 3; axis += 2) {
        int64_t M = axis == 1 ? 60 : 5, dm[3] = { 3, 4, 5 };
        h_init(&h, "LayerNormalization", 17);
        h_attr_i(&h, "axis", axis == 3 ? -1 : 1);
        h_in(&h, CC_DT_FLOAT, 4, dx, x);
        h_in(&h, CC_DT_FLOAT, axis == 1 ? 3 : 1, axis == 1 ? dm : dm + 2, sc);
        h_in(&h, CC_DT_FLOAT, axis == 1 ? 3 : 1, axis == 1 ? dm : dm + 2, bi);
        CHECK(h_prepare(&h, 3) == 0, "LayerNorm prepare: %s", h.err.msg);
        CHECK(h.out[1]->ndim == 4 && h.out[1]->numel == 120 / M, "LayerNorm mean shape");
        h_forward(&h);
        worst = 0;
        for (int64_t r = 0; r < 120 / M; r++) {
            double m = 0, v = 0;
            for (int64_t j = 0; j < M; j++) m += x[r * M + j];
            m /= M;
            for (int64_t j = 0; j < M; j++) v += (x[r * M + j] - m) * (x[r * M + j] - m);
            v /= M;
            for (int64_t j = 0; j < M; j++) {
                double ref = (x[r * M + j] - m) / sqrt(v + 1e-5) * sc[j] + bi[j];
                double dd = fabs(((float *)h.out[0]->data)[r * M + j] - ref);
                if (!(dd <= worst)) worst = dd;
            }
            double dm2 = fabs(((float *)h.out[1]->data)[r] - m);
            if (!(dm2 <= worst)) worst = dm2;
        }
        CHECK(worst <= 1e-5, "LayerNorm axis %d forward err %g", axis, worst);
        grad_check(&h, 1, 7, "LayerNormalization");
        grad_check(&h, 3, 7, "LayerNormalization");
        h_free(&h);
    }
}

/* ---- softmax ---------------------------------------------------------------- */

static void test_softmax(void)
{
    const int64_t d[3] = { 2, 3, 4 };
    float x[24];
    fill(x, 24, -3, 3, NULL, 0, 0);
    struct { int opset, axis, has_axis; int64_t outer, L, inner; } c[] = {
        { 11, 1, 0, 2, 12, 1 },    /* old default: flatten from axis 1 */
        { 11, 2, 1, 6, 4, 1 },
        { 11, 0, 1, 1, 24, 1 },
        { 13, -1, 0, 6, 4, 1 },    /* new default: last axis */
        { 13, 1, 1, 2, 3, 4 },     /* strided axis */
        { 13, 0, 1, 1, 2, 12 },
    };
    for (int lg = 0; lg < 2; lg++)
        for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
            const char *op = lg ? "LogSoftmax" : "Softmax";
            H h;
            h_init(&h, op, c[i].opset);
            if (c[i].has_axis) h_attr_i(&h, "axis", c[i].axis);
            h_in(&h, CC_DT_FLOAT, 3, d, x);
            CHECK(h_prepare(&h, 1) == 0, "%s prepare: %s", op, h.err.msg);
            h_forward(&h);
            double worst = 0;
            for (int64_t o = 0; o < c[i].outer; o++)
                for (int64_t in = 0; in < c[i].inner; in++) {
                    int64_t base = o * c[i].L * c[i].inner + in;
                    double mx = -1e300, s = 0;
                    for (int64_t j = 0; j < c[i].L; j++) mx = fmax(mx, x[base + j * c[i].inner]);
                    for (int64_t j = 0; j < c[i].L; j++) s += exp(x[base + j * c[i].inner] - mx);
                    for (int64_t j = 0; j < c[i].L; j++) {
                        double v = x[base + j * c[i].inner] - mx;
                        double r = lg ? v - log(s) : exp(v) / s;
                        double dd = fabs(((float *)h.out[0]->data)[base + j * c[i].inner] - r);
                        if (!(dd <= worst)) worst = dd;
                    }
                }
            CHECK(worst <= 2e-6, "%s opset %d axis %d forward err %g", op, c[i].opset, c[i].axis, worst);
            grad_check(&h, 1, 1, op);
            grad_check(&h, 3, 1, op);
            h_free(&h);
        }
    /* Large logits stay finite. */
    const int64_t d1[2] = { 1, 3 };
    float big[3] = { 1000, 1001, 1002 };
    H h;
    h_init(&h, "Softmax", 13);
    h_in(&h, CC_DT_FLOAT, 2, d1, big);
    h_prepare(&h, 1);
    h_forward(&h);
    const float *y = h.out[0]->data;
    CHECK(fabs(y[2] - 0.66524096) < 1e-6 && fabs(y[0] - 0.09003057) < 1e-6, "Softmax large numbers %g %g", y[0], y[2]);
    h_free(&h);
}

/* ---- big shapes: the OpenMP and chunked paths, against analytic references ---- */

static void big_binary(const char *op, ref2 ref, int na, const int64_t *da, int nb, const int64_t *db, int K)
{
    H h;
    h_init(&h, op, 14);
    int64_t nA = cc_numel(da, na), nB = cc_numel(db, nb);
    cc_tensor *ta = h_in(&h, CC_DT_FLOAT, na, da, NULL), *tb = h_in(&h, CC_DT_FLOAT, nb, db, NULL);
    fill(ta->data, nA, -2, 2, NULL, 0, 0);
    fill(tb->data, nB, 0.5, 2, NULL, 0, 0);
    CHECK(h_prepare(&h, 1) == 0, "big %s prepare", op);
    cc_tensor *y = h.out[0];
    h_forward(&h);
    const float *a = ta->data, *b = tb->data, *py = y->data;
    int64_t n = y->numel, idx[CC_MAX_DIMS];
    float *g = malloc(sizeof(float) * (size_t)(K * n)), *ga = calloc((size_t)(K * nA), sizeof(float)),
          *gb = calloc((size_t)(K * nB), sizeof(float));
    double *ra = calloc((size_t)(K * nA), sizeof(double)), *rb = calloc((size_t)(K * nB), sizeof(double));
    fill(g, K * n, -1, 1, NULL, 0, 0);
    double worst = 0;
    for (int64_t o = 0; o < n; o++) {
        unravel(o, y->dims, y->ndim, idx);
        int64_t ia = bidx(ta, idx, y->ndim), ib = bidx(tb, idx, y->ndim);
        double r = ref(a[ia], b[ib]), dd = fabs(py[o] - r);
        if (!(dd <= worst)) worst = dd;
        for (int k = 0; k < K; k++) {
            double gg = g[k * n + o];
            if (ref == r_mul) { ra[k * nA + ia] += gg * b[ib]; rb[k * nB + ib] += gg * a[ia]; }
            else { ra[k * nA + ia] += gg; rb[k * nB + ib] += ref == r_sub ? -gg : gg; }
        }
    }
    CHECK(worst <= 1e-6, "big %s forward err %g", op, worst);
    float *gy[1] = { g }, *gx[2] = { ga, gb };
    h.node.op->backward(&h.node, h.in, h.out, gy, gx, K, NULL);
    double ea = 0, eb = 0;
    for (int64_t i = 0; i < K * nA; i++) { double dd = fabs(ga[i] - ra[i]) / (1 + fabs(ra[i])); if (!(dd <= ea)) ea = dd; }
    for (int64_t i = 0; i < K * nB; i++) { double dd = fabs(gb[i] - rb[i]) / (1 + fabs(rb[i])); if (!(dd <= eb)) eb = dd; }
    CHECK(ea <= 1e-4 && eb <= 1e-4, "big %s [%lld..] vs [%lld..] K=%d grad errors %g %g", op, (long long)da[0],
          (long long)db[0], K, ea, eb);
    free(g); free(ga); free(gb); free(ra); free(rb);
    h_free(&h);
}

static void test_big(void)
{
    const int64_t x4[4] = { 4, 64, 32, 32 }, c4[4] = { 1, 64, 1, 1 }, se[4] = { 4, 64, 1, 1 };
    const int64_t r2[2] = { 2, 40000 }, c2[2] = { 2, 1 }, b2[2] = { 8, 5000 }, v1[1] = { 5000 };
    big_binary("Mul", r_mul, 4, x4, 4, c4, 2);
    big_binary("Mul", r_mul, 4, x4, 4, se, 1);
    big_binary("Add", r_add, 4, x4, 4, x4, 2);
    big_binary("Sub", r_sub, 4, c4, 4, x4, 1);
    big_binary("Add", r_add, 2, r2, 2, c2, 3);
    big_binary("Add", r_add, 2, b2, 1, v1, 2);
    big_binary("Mul", r_mul, 2, r2, 0, NULL, 1);
    /* A large unary and softmax run for the parallel paths (and sanitizers). */
    H h;
    h_init(&h, "Sigmoid", 13);
    cc_tensor *t = h_in(&h, CC_DT_FLOAT, 4, x4, NULL);
    fill(t->data, t->numel, -5, 5, NULL, 0, 0);
    h_prepare(&h, 1);
    h_forward(&h);
    double worst = 0;
    for (int64_t i = 0; i < t->numel; i++) {
        double dd = fabs(((float *)h.out[0]->data)[i] - 1 / (1 + exp(-((float *)t->data)[i])));
        if (!(dd <= worst)) worst = dd;
    }
    CHECK(worst <= 1e-6, "big Sigmoid err %g", worst);
    h_free(&h);
}

int main(void)
{
    test_unary();
    test_clip_inputs();
    test_binary();
    test_variadic();
    test_int64();
    test_cast();
    test_dropout();
    test_batchnorm();
    test_instance_layer_norm();
    test_softmax();
    test_big();
    return check_exit();
}
