/* Unit tests of the convolution / pooling family (src/ops/conv.c, pool.c,
 * lrn.c, pad.c): nodes are built by hand and run through the op table.
 *   (a) forward against naive references written here in double precision,
 *       over many configurations (groups, depthwise, dilation, strides,
 *       asymmetric pads, auto_pad, ceil_mode, count_include_pad, N = 2);
 *   (b) backward (K = 1 and K = 3 seeds, accumulating into non-zero buffers)
 *       against central finite differences of sum(seed * reference(x)),
 *       for the input and, for Conv, the weight and bias gradients;
 *   (c) the fast Conv paths (GEMM, depthwise) at real layer sizes against
 *       naive float loops, forward and input gradient.  Speed is measured by
 *       bench/, never here. */
#include "check.h"
#include "graph/graph.h"
#include "ops/op.h"

#include <float.h>
#include <stdint.h>
#include <string.h>

/* ---- small utilities ------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double urand(void)   /* uniform [0, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}
static float srand1(void) { return (float)(2.0 * urand() - 1.0); }

static cc_ctx g_ctx;   /* scratch for the kernels, as a session would own it */

/* A hand-built node with room for its attributes. */
typedef struct tnode {
    cc_node n;
    cc_attr a[16];
    int64_t iv[16][16];
    int in_idx[8], out_idx[4];
} tnode;

static void tn_init(tnode *t, const char *op, int opset, int n_in, int n_out)
{
    memset(t, 0, sizeof *t);
    t->n.name = op;
    t->n.op_type = op;
    t->n.domain = "";
    t->n.opset = opset;
    t->n.attr = t->a;
    t->n.in = t->in_idx;
    t->n.out = t->out_idx;
    t->n.n_in = n_in;
    t->n.n_out = n_out;
    for (int i = 0; i < n_in; i++) t->in_idx[i] = i;
    for (int i = 0; i < n_out; i++) t->out_idx[i] = 100 + i;
}
static cc_attr *tn_attr(tnode *t, const char *name, int type)
{
    cc_attr *a = &t->a[t->n.n_attr++];
    a->name = name;
    a->type = type;
    return a;
}
static void tn_ints(tnode *t, const char *name, int cnt, const int64_t *v)
{
    int slot = t->n.n_attr;
    cc_attr *a = tn_attr(t, name, CC_ATTR_INTS);
    memcpy(t->iv[slot], v, (size_t)cnt * sizeof *v);
    a->n = cnt;
    a->ints = t->iv[slot];
}
static void tn_int(tnode *t, const char *name, int64_t v) { tn_attr(t, name, CC_ATTR_INT)->i = v; }
static void tn_float(tnode *t, const char *name, float v) { tn_attr(t, name, CC_ATTR_FLOAT)->f = v; }
static void tn_str(tnode *t, const char *name, const char *v) { tn_attr(t, name, CC_ATTR_STRING)->s = v; }

static cc_tensor *tt_new(int dtype, int ndim, const int64_t *dims)
{
    cc_tensor *t = calloc(1, sizeof *t);
    t->name = "t";
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->dims[i] = dims[i];
    t->producer = -1;
    if (cc_tensor_alloc(t)) { printf("out of memory\n"); exit(2); }
    return t;
}
static void tt_free(cc_tensor *t)
{
    if (!t) return;
    free(t->data);
    free(t);
}
static void fill_random(cc_tensor *t)
{
    float *d = t->data;
    for (int64_t i = 0; i < t->numel; i++) d[i] = srand1();
}

/* prepare + allocate the outputs; returns the prepare code (message printed) */
static int run_prepare(tnode *t, cc_tensor **in, cc_tensor **out, char *msg)
{
    const cc_op *op = cc_op_find(t->n.op_type);
    if (!op) { printf("op %s not registered\n", t->n.op_type); return -1; }
    t->n.op = op;
    cc_err e = { "" };
    int rc = op->prepare(&t->n, in, out, &e);
    if (msg) strcpy(msg, e.msg);
    if (rc) return rc;
    for (int j = 0; j < t->n.n_out; j++) {
        if (!out[j]) continue;
        if (cc_tensor_alloc(out[j])) { printf("out of memory\n"); exit(2); }
    }
    return 0;
}

/* ---- the generic forward / gradient check ---------------------------------- */

/* A double-precision reference: in[i] (NULL for absent inputs) -> out. */
typedef void (*ref_fn)(const void *cfg, const double *const *in, double *out);

typedef struct case_spec {
    const char *label;
    tnode *t;
    cc_tensor **in;          /* n_in entries, NULL for absent */
    int n_in;
    const int *diff;         /* diff[i]: check the gradient of input i */
    ref_fn ref;
    const void *cfg;
    const int64_t *want_dims; /* expected output shape (rank = out_ndim) */
    int out_ndim;
    double fd_eps;
} case_spec;

/* Checks forward, then backward for K = 1 and K = 3 against finite
 * differences.  Returns the number of failed checks of this case. */
static int check_case(const case_spec *cs)
{
    int before = check_failures;
    cc_tensor *out[2] = { 0 };
    cc_tensor o0;
    memset(&o0, 0, sizeof o0);
    o0.name = "y";
    o0.producer = 0;
    out[0] = &o0;
    char msg[512];
    int rc = run_prepare(cs->t, cs->in, out, msg);
    CHECK(rc == 0, "%s: prepare failed (%d): %s", cs->label, rc, msg);
    if (rc) return 1;
    CHECK(o0.ndim == cs->out_ndim, "%s: output rank %d, want %d", cs->label, o0.ndim, cs->out_ndim);
    for (int i = 0; i < cs->out_ndim && i < o0.ndim; i++)
        CHECK(o0.dims[i] == cs->want_dims[i], "%s: output dim %d is %lld, want %lld", cs->label, i,
              (long long)o0.dims[i], (long long)cs->want_dims[i]);
    if (check_failures != before) {
        free(o0.data);
        free(cs->t->n.params);
        cs->t->n.params = NULL;
        return 1;
    }

    const int64_t on = o0.numel;
    const cc_op *op = cs->t->n.op;
    rc = op->forward(&cs->t->n, cs->in, out, &g_ctx);
    CHECK(rc == 0, "%s: forward failed (%d)", cs->label, rc);

    /* double copies of the inputs */
    double *din[8] = { 0 };
    for (int i = 0; i < cs->n_in; i++) {
        if (!cs->in[i] || cs->in[i]->dtype != CC_DT_FLOAT) continue;
        din[i] = malloc(sizeof(double) * (size_t)(cs->in[i]->numel + 1));
        for (int64_t j = 0; j < cs->in[i]->numel; j++) din[i][j] = ((float *)cs->in[i]->data)[j];
    }
    double *ref = malloc(sizeof(double) * (size_t)(on + 1));
    cs->ref(cs->cfg, (const double *const *)din, ref);
    double maxref = 0, maxerr = 0;
    for (int64_t j = 0; j < on; j++) {
        double d = fabs(ref[j] - ((float *)o0.data)[j]);
        if (!(d <= maxerr)) maxerr = isnan(d) ? INFINITY : d;
        if (fabs(ref[j]) > maxref) maxref = fabs(ref[j]);
    }
    double ftol = 2e-5 * (1.0 + maxref);
    CHECK(maxerr <= ftol, "%s: forward max |err| %.3g > %.3g", cs->label, maxerr, ftol);

    /* backward with K = 1 and K = 3, into buffers holding a random prior */
    const int Ks[2] = { 1, 3 };
    float *seed[2], *gx[2][8], *prior[2][8];
    for (int r = 0; r < 2; r++) {
        int K = Ks[r];
        seed[r] = malloc(sizeof(float) * (size_t)(K * on + 1));
        for (int64_t j = 0; j < K * on; j++) seed[r][j] = srand1();
        for (int i = 0; i < 8; i++) gx[r][i] = prior[r][i] = NULL;
        for (int i = 0; i < cs->n_in; i++) {
            if (!cs->diff[i] || !cs->in[i]) continue;
            size_t cnt = (size_t)(K * cs->in[i]->numel);
            gx[r][i] = malloc(sizeof(float) * (cnt + 1));
            prior[r][i] = malloc(sizeof(float) * (cnt + 1));
            for (size_t j = 0; j < cnt; j++) gx[r][i][j] = prior[r][i][j] = srand1();
        }
        float *gy[2] = { seed[r], NULL };
        rc = op->backward(&cs->t->n, cs->in, out, gy, gx[r], K, &g_ctx);
        CHECK(rc == 0, "%s: backward K=%d failed (%d)", cs->label, K, rc);
    }

    /* finite differences of the reference, one input element at a time:
     * dy = (ref(x + eps e) - ref(x - eps e)) / 2 eps, then <seed_k, dy> */
    double *rp = malloc(sizeof(double) * (size_t)(on + 1)), *rm = malloc(sizeof(double) * (size_t)(on + 1));
    for (int i = 0; i < cs->n_in; i++) {
        if (!cs->diff[i] || !cs->in[i]) continue;
        const int64_t ne = cs->in[i]->numel;
        const int64_t stride = ne > 300 ? ne / 300 + 1 : 1;   /* sample big inputs */
        double err[2] = { 0, 0 }, mag[2] = { 0, 0 };
        for (int64_t j = (int64_t)(urand() * stride); j < ne; j += stride) {
            double save = din[i][j];
            din[i][j] = save + cs->fd_eps;
            cs->ref(cs->cfg, (const double *const *)din, rp);
            din[i][j] = save - cs->fd_eps;
            cs->ref(cs->cfg, (const double *const *)din, rm);
            din[i][j] = save;
            for (int r = 0; r < 2; r++)
                for (int k = 0; k < Ks[r]; k++) {
                    double fd = 0;
                    for (int64_t o = 0; o < on; o++) fd += seed[r][k * on + o] * (rp[o] - rm[o]);
                    fd /= 2 * cs->fd_eps;
                    double got = (double)gx[r][i][k * ne + j] - (double)prior[r][i][k * ne + j];
                    double d = fabs(got - fd);
                    if (!(d <= err[r])) err[r] = isnan(d) ? INFINITY : d;
                    if (fabs(fd) > mag[r]) mag[r] = fabs(fd);
                }
        }
        for (int r = 0; r < 2; r++) {
            double tol = 1e-3 * (mag[r] > 1e-2 ? mag[r] : 1e-2);
            CHECK(err[r] <= tol, "%s: gradient of input %d, K=%d: max |err| %.3g > %.3g (max |grad| %.3g)",
                  cs->label, i, Ks[r], err[r], tol, mag[r]);
        }
    }

    for (int r = 0; r < 2; r++) {
        free(seed[r]);
        for (int i = 0; i < 8; i++) { free(gx[r][i]); free(prior[r][i]); }
    }
    for (int i = 0; i < 8; i++) free(din[i]);
    free(rp);
    free(rm);
    free(ref);
    free(o0.data);
    free(cs->t->n.params);
    cs->t->n.params = NULL;
    int failed = check_failures - before;
    printf("%-58s %s (fwd err %.2g)\n", cs->label, failed ? "FAIL" : "ok", maxerr);
    return failed;
}

/* ---- reference geometry ------------------------------------------------------ */

/* Output size along one axis; resolves *pb / *pe for auto_pad. */
static int ref_out_size(int in, int k, int s, int d, int *pb, int *pe, const char *ap, int ceil_mode)
{
    int ek = (k - 1) * d + 1;
    if (ap && (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER"))) {
        int out = (int)ceil((double)in / s);
        int tot = (out - 1) * s + ek - in;
        if (tot < 0) tot = 0;
        *pb = !strcmp(ap, "SAME_UPPER") ? tot / 2 : (tot + 1) / 2;
        *pe = tot - *pb;
        return out;
    }
    if (ap && !strcmp(ap, "VALID")) *pb = *pe = 0;
    double q = (double)(in + *pb + *pe - ek) / s;
    int out = (ceil_mode ? (int)ceil(q) : (int)floor(q)) + 1;
    if (ceil_mode && (out - 1) * s >= in + *pb) out--;   /* PyTorch: no window starting in the end padding */
    return out;
}

/* ---- Conv --------------------------------------------------------------------- */

typedef struct conv_cfg {
    const char *label;
    int nsp;                  /* 1 or 2 */
    int N, C, H, W, M, G, kH, kW, sH, sW, dH, dW;
    int pT, pL, pB, pR;
    const char *auto_pad;     /* NULL: attribute absent */
    int bias, kattr;          /* bias input present; kernel_shape attribute given */
    /* resolved */
    int OH, OW, rT, rL;
} conv_cfg;

static void ref_conv(const void *cfgp, const double *const *in, double *y)
{
    const conv_cfg *c = cfgp;
    const double *x = in[0], *w = in[1], *b = c->bias ? in[2] : NULL;
    int Cg = c->C / c->G, Mg = c->M / c->G;
    for (int n = 0; n < c->N; n++)
        for (int m = 0; m < c->M; m++) {
            int g = m / Mg;
            for (int oh = 0; oh < c->OH; oh++)
                for (int ow = 0; ow < c->OW; ow++) {
                    double acc = b ? b[m] : 0;
                    for (int cg = 0; cg < Cg; cg++)
                        for (int kh = 0; kh < c->kH; kh++)
                            for (int kw = 0; kw < c->kW; kw++) {
                                int ih = oh * c->sH - c->rT + kh * c->dH, iw = ow * c->sW - c->rL + kw * c->dW;
                                if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W) continue;
                                acc += w[((m * Cg + cg) * c->kH + kh) * c->kW + kw] *
                                       x[((n * c->C + g * Cg + cg) * c->H + ih) * c->W + iw];
                            }
                    y[((n * c->M + m) * c->OH + oh) * c->OW + ow] = acc;
                }
        }
}

static void conv_case(conv_cfg c)
{
    if (c.nsp == 1) { c.H = 1; c.kH = 1; c.sH = 1; c.dH = 1; c.pT = c.pB = 0; }
    int pT = c.pT, pB = c.pB, pL = c.pL, pR = c.pR;
    c.OH = ref_out_size(c.H, c.kH, c.sH, c.dH, &pT, &pB, c.auto_pad, 0);
    c.OW = ref_out_size(c.W, c.kW, c.sW, c.dW, &pL, &pR, c.auto_pad, 0);
    c.rT = pT;
    c.rL = pL;
    tnode t;
    tn_init(&t, "Conv", 13, c.bias ? 3 : 2, 1);
    int nd = c.nsp + 2, explicit_pads = !c.auto_pad || !strcmp(c.auto_pad, "NOTSET");
    if (c.nsp == 2) {
        int64_t st[2] = { c.sH, c.sW }, dl[2] = { c.dH, c.dW }, ks[2] = { c.kH, c.kW };
        int64_t pd[4] = { c.pT, c.pL, c.pB, c.pR };
        if (c.sH != 1 || c.sW != 1) tn_ints(&t, "strides", 2, st);
        if (c.dH != 1 || c.dW != 1) tn_ints(&t, "dilations", 2, dl);
        if (c.kattr) tn_ints(&t, "kernel_shape", 2, ks);
        if (explicit_pads && (c.pT || c.pL || c.pB || c.pR)) tn_ints(&t, "pads", 4, pd);
    } else {
        int64_t st = c.sW, dl = c.dW, ks = c.kW, pd[2] = { c.pL, c.pR };
        tn_ints(&t, "strides", 1, &st);
        tn_ints(&t, "dilations", 1, &dl);
        if (c.kattr) tn_ints(&t, "kernel_shape", 1, &ks);
        if (explicit_pads) tn_ints(&t, "pads", 2, pd);
    }
    if (c.auto_pad) tn_str(&t, "auto_pad", c.auto_pad);
    if (c.G != 1) tn_int(&t, "group", c.G);

    int64_t xd[4] = { c.N, c.C, c.H, c.W }, wd[4] = { c.M, c.C / c.G, c.kH, c.kW }, bd[1] = { c.M };
    int64_t yd[4] = { c.N, c.M, c.OH, c.OW };
    if (c.nsp == 1) { xd[2] = c.W; wd[2] = c.kW; yd[2] = c.OW; }
    cc_tensor *in[3] = { tt_new(CC_DT_FLOAT, nd, xd), tt_new(CC_DT_FLOAT, nd, wd), c.bias ? tt_new(CC_DT_FLOAT, 1, bd) : NULL };
    for (int i = 0; i < 3; i++) if (in[i]) fill_random(in[i]);
    in[1]->is_const = in[1]->is_initializer = 1;
    int diff[3] = { 1, 1, 1 };
    char label[128];
    snprintf(label, sizeof label, "Conv %s", c.label);
    case_spec cs = { label, &t, in, c.bias ? 3 : 2, diff, ref_conv, &c, yd, nd, 1e-2 };
    check_case(&cs);

    /* only the weight gradient wanted (gx[0] NULL): same values as with all three */
    if (c.N * c.C * c.H * c.W < 4096) {
        cc_tensor y = { 0 };
        cc_tensor *out[1] = { &y };
        if (run_prepare(&t, in, out, NULL) == 0 && t.n.op->forward(&t.n, in, out, &g_ctx) == 0) {
            int64_t wn = in[1]->numel, xn = in[0]->numel;
            float *seed = malloc(sizeof(float) * (size_t)y.numel), *gw1 = calloc((size_t)wn, 4), *gw2 = calloc((size_t)wn, 4);
            float *gxx = calloc((size_t)xn, 4), *gb = c.bias ? calloc((size_t)c.M, 4) : NULL;
            for (int64_t j = 0; j < y.numel; j++) seed[j] = srand1();
            float *gy[1] = { seed };
            float *g_all[3] = { gxx, gw1, gb }, *g_w[3] = { NULL, gw2, NULL };
            int r1 = t.n.op->backward(&t.n, in, out, gy, g_all, 1, &g_ctx);
            int r2 = t.n.op->backward(&t.n, in, out, gy, g_w, 1, &g_ctx);
            CHECK(r1 == 0 && r2 == 0 && check_maxdiff(gw1, gw2, (size_t)wn) <= 1e-5 * (1 + check_maxabs(gw1, (size_t)wn)),
                  "%s: weight gradient alone differs from weight gradient with the others", label);
            float *g_none[3] = { NULL, NULL, NULL };
            float *gy0[1] = { NULL };
            CHECK(t.n.op->backward(&t.n, in, out, gy0, g_none, 1, &g_ctx) == 0, "%s: backward with no gy", label);
            free(seed); free(gw1); free(gw2); free(gxx); free(gb);
        }
        free(y.data);
        free(t.n.params);
        t.n.params = NULL;
    }
    for (int i = 0; i < 3; i++) tt_free(in[i]);
}

static void test_conv(void)
{
    /*            label                          nsp N  C  H  W  M  G kH kW sH sW dH dW  pT pL pB pR  auto_pad bias kattr */
    /* the resolved fields at the end are filled in by the case runner */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
    conv_cfg cfgs[] = {
        { "3x3 no pad",                          2, 1, 3, 7, 8, 4, 1, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, NULL, 1, 1 },
        { "3x3 pad 1",                           2, 1, 3, 7, 8, 4, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, NULL, 1, 1 },
        { "3x3 s2 asym pads (0,0,1,1)",          2, 1, 3, 8, 9, 5, 1, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1, NULL, 1, 1 },
        { "3x3 s2 asym pads (2,0,0,1)",          2, 1, 2, 7, 7, 3, 1, 3, 3, 2, 2, 1, 1, 2, 0, 0, 1, NULL, 1, 0 },
        { "3x3 dilation 2 pad 2",                2, 1, 3, 9, 8, 4, 1, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, NULL, 1, 1 },
        { "3x3 dilation (2,1) stride (1,2)",     2, 1, 2, 9, 9, 3, 1, 3, 3, 1, 2, 2, 1, 1, 0, 2, 1, NULL, 1, 1 },
        { "groups 2",                            2, 1, 4, 6, 7, 6, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, NULL, 1, 1 },
        { "groups 3 stride 2, N=2",              2, 2, 6, 7, 6, 3, 3, 2, 3, 2, 1, 1, 1, 0, 1, 1, 0, NULL, 1, 1 },
        { "depthwise 3x3 s1 p1",                 2, 1, 6, 9,10, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, NULL, 1, 1 },
        { "depthwise 3x3 s1 p1 N=2 no bias",     2, 2, 5, 6, 5, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, NULL, 0, 1 },
        { "depthwise 3x3 s1 no pad",             2, 1, 3, 5, 6, 3, 3, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, NULL, 1, 1 },
        { "depthwise 3x3 s1 tiny 2x2 pad 1",     2, 1, 2, 2, 2, 2, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, NULL, 1, 1 },
        { "depthwise 3x3 s2 pads (0,0,1,1)",     2, 1, 4, 8, 8, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1, NULL, 1, 1 },
        { "depthwise 3x3 s2 p1 odd",             2, 2, 3, 9, 7, 3, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, NULL, 1, 1 },
        { "depthwise multiplier 2",              2, 1, 3, 6, 7, 6, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, NULL, 1, 1 },
        { "depthwise 5x5 dilation 2 stride 3",   2, 1, 2,11,12, 2, 2, 5, 5, 3, 3, 2, 2, 4, 3, 2, 4, NULL, 1, 1 },
        { "depthwise 3x3 stride 3",              2, 1, 2,10,10, 2, 2, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, NULL, 1, 1 },
        { "single input channel, 5 filters",     2, 2, 1, 7, 6, 5, 1, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, NULL, 1, 1 },
        { "1x1",                                 2, 1, 5, 4, 6, 7, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, NULL, 1, 1 },
        { "1x1 N=2",                             2, 2, 5, 4, 6, 7, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, NULL, 1, 1 },
        { "1x1 groups 2 N=2",                    2, 2, 4, 3, 5, 6, 2, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, NULL, 0, 1 },
        { "1x1 on a 1x1 map, N=2",               2, 2, 9, 1, 1, 7, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, NULL, 1, 1 },
        { "1x1 stride 2",                        2, 1, 4, 7, 6, 5, 1, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, NULL, 1, 1 },
        { "1x1 pad 1",                           2, 1, 3, 4, 4, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, NULL, 1, 1 },
        { "auto_pad SAME_UPPER 3x3 s2 even",     2, 1, 2, 8, 8, 3, 1, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, "SAME_UPPER", 1, 1 },
        { "auto_pad SAME_UPPER 4x4 s1",          2, 1, 2, 6, 7, 3, 1, 4, 4, 1, 1, 1, 1, 0, 0, 0, 0, "SAME_UPPER", 1, 1 },
        { "auto_pad SAME_LOWER 4x4 s1",          2, 1, 2, 6, 7, 3, 1, 4, 4, 1, 1, 1, 1, 0, 0, 0, 0, "SAME_LOWER", 1, 1 },
        { "auto_pad SAME_LOWER 2x2 s2 odd",      2, 1, 2, 7, 5, 3, 1, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, "SAME_LOWER", 1, 0 },
        { "auto_pad SAME_UPPER depthwise s2",    2, 1, 3, 7, 8, 3, 3, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, "SAME_UPPER", 1, 1 },
        { "auto_pad VALID s2",                   2, 1, 2, 8, 7, 3, 1, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, "VALID", 1, 1 },
        { "auto_pad NOTSET explicit pads",       2, 1, 2, 5, 5, 2, 1, 3, 3, 1, 1, 1, 1, 1, 0, 0, 1, "NOTSET", 1, 1 },
        { "2x3 kernel stride (2,1) no attr",     2, 2, 3, 7, 8, 4, 1, 2, 3, 2, 1, 1, 1, 1, 0, 0, 1, NULL, 1, 0 },
        { "N=2 3x3 groups 2 pad 1",              2, 2, 4, 6, 6, 4, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, NULL, 1, 1 },
        { "large plane (one GEMM per image)",    2, 2, 2,34,33, 3, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, NULL, 1, 1 },
        { "large plane depthwise",               2, 1, 2,36,40, 2, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, NULL, 1, 1 },
        /* big enough to cross CC_PAR_MIN: the OpenMP branches and per-thread buffers */
        { "threaded im2col 3x3 p1",              2, 1, 4,40,40, 6, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, NULL, 1, 1 },
        { "threaded depthwise 3x3 s1 p1",        2, 1, 8,40,40, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, NULL, 1, 1 },
        { "threaded depthwise 3x3 s2 (0,0,1,1)", 2, 2, 8,48,48, 8, 8, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1, NULL, 1, 1 },
        { "1-D k3 pad 1",                        1, 1, 3, 1, 9, 4, 1, 1, 3, 1, 1, 1, 1, 0, 1, 0, 1, NULL, 1, 1 },
        { "1-D k3 stride 2 dilation 2 groups 3", 1, 2, 6, 1,11, 3, 3, 1, 3, 1, 2, 1, 2, 0, 2, 0, 1, NULL, 1, 1 },
        { "1-D depthwise",                       1, 1, 4, 1,10, 4, 4, 1, 3, 1, 1, 1, 1, 0, 1, 0, 1, NULL, 0, 1 },
    };
#pragma GCC diagnostic pop
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) conv_case(cfgs[i]);
}

/* prepare must fail with a message */
static void expect_prepare_error(tnode *t, cc_tensor **in, const char *label)
{
    cc_tensor y = { 0 }, y2 = { 0 };
    cc_tensor *out[2] = { &y, &y2 };
    char msg[512] = "";
    int rc = run_prepare(t, in, out, msg);
    CHECK(rc != 0 && msg[0], "%s: prepare should fail with a message (rc %d)", label, rc);
    if (!rc) { free(y.data); free(y2.data); free(t->n.params); t->n.params = NULL; }
    else printf("%-58s ok (\"%s\")\n", label, msg);
}

static void test_conv_errors(void)
{
    tnode t;
    int64_t xd[4] = { 1, 4, 5, 5 }, wd[4] = { 6, 3, 3, 3 }, xd5[5] = { 1, 2, 3, 3, 3 }, wd5[5] = { 2, 2, 1, 1, 1 };
    cc_tensor *x = tt_new(CC_DT_FLOAT, 4, xd), *w = tt_new(CC_DT_FLOAT, 4, wd);
    cc_tensor *in[3] = { x, w, NULL };
    tn_init(&t, "Conv", 13, 2, 1);
    expect_prepare_error(&t, in, "Conv error: channels do not match group");
    int64_t wd2[4] = { 6, 4, 7, 7 };
    cc_tensor *w2 = tt_new(CC_DT_FLOAT, 4, wd2);
    in[1] = w2;
    tn_init(&t, "Conv", 13, 2, 1);
    expect_prepare_error(&t, in, "Conv error: kernel larger than input");
    cc_tensor *x5 = tt_new(CC_DT_FLOAT, 5, xd5), *w5 = tt_new(CC_DT_FLOAT, 5, wd5);
    in[0] = x5; in[1] = w5;
    tn_init(&t, "Conv", 13, 2, 1);
    expect_prepare_error(&t, in, "Conv error: 3-D convolution");
    tt_free(x); tt_free(w); tt_free(w2); tt_free(x5); tt_free(w5);
}

/* ---- pooling ------------------------------------------------------------------ */

typedef struct pool_cfg {
    const char *label;
    const char *op;           /* MaxPool / AveragePool */
    int nsp, N, C;
    int in[3], k[3], s[3], d[3], pb[3], pe[3];
    int ceil_mode, cip;
    const char *auto_pad;
    int out[3], rb[3];        /* resolved */
} pool_cfg;

/* model axis i -> the 3-D slot CC_SP - nsp + i; leading slots are trivial */
static void ref_pool(const void *cfgp, const double *const *inp, double *y)
{
    const pool_cfg *c = cfgp;
    const double *x = inp[0];
    int I[3] = { 1, 1, 1 }, O[3] = { 1, 1, 1 }, Kk[3] = { 1, 1, 1 }, S[3] = { 1, 1, 1 }, D[3] = { 1, 1, 1 };
    int PB[3] = { 0, 0, 0 }, PE[3] = { 0, 0, 0 };
    for (int i = 0; i < c->nsp; i++) {
        int j = 3 - c->nsp + i;
        I[j] = c->in[i]; O[j] = c->out[i]; Kk[j] = c->k[i]; S[j] = c->s[i]; D[j] = c->d[i];
        PB[j] = c->rb[i]; PE[j] = c->pe[i];
        if (c->auto_pad && strcmp(c->auto_pad, "NOTSET")) {
            int pb = 0, pe = 0;
            ref_out_size(c->in[i], c->k[i], c->s[i], c->d[i], &pb, &pe, c->auto_pad, c->ceil_mode);
            PE[j] = pe;
        }
    }
    int is_max = !strcmp(c->op, "MaxPool");
    int64_t plane = (int64_t)I[0] * I[1] * I[2], oplane = (int64_t)O[0] * O[1] * O[2];
    for (int pl = 0; pl < c->N * c->C; pl++)
        for (int a = 0; a < O[0]; a++)
            for (int b = 0; b < O[1]; b++)
                for (int e = 0; e < O[2]; e++) {
                    double best = -INFINITY, sum = 0;
                    int nvalid = 0, npad = 0;
                    for (int ta = 0; ta < Kk[0]; ta++)
                        for (int tb = 0; tb < Kk[1]; tb++)
                            for (int te = 0; te < Kk[2]; te++) {
                                int i0 = a * S[0] - PB[0] + ta * D[0], i1 = b * S[1] - PB[1] + tb * D[1];
                                int i2 = e * S[2] - PB[2] + te * D[2];
                                int inpad = i0 < I[0] + PE[0] && i1 < I[1] + PE[1] && i2 < I[2] + PE[2];
                                npad += inpad;
                                if (i0 < 0 || i0 >= I[0] || i1 < 0 || i1 >= I[1] || i2 < 0 || i2 >= I[2]) continue;
                                double v = x[pl * plane + ((int64_t)i0 * I[1] + i1) * I[2] + i2];
                                nvalid++;
                                sum += v;
                                if (v > best) best = v;
                            }
                    y[pl * oplane + ((int64_t)a * O[1] + b) * O[2] + e] =
                        is_max ? best : sum / (c->cip ? npad : nvalid);
                }
}

static void pool_case(pool_cfg c)
{
    for (int i = 0; i < c.nsp; i++) {
        if (!c.s[i]) c.s[i] = 1;
        if (!c.d[i]) c.d[i] = 1;
        int pb = c.pb[i], pe = c.pe[i];
        c.out[i] = ref_out_size(c.in[i], c.k[i], c.s[i], c.d[i], &pb, &pe, c.auto_pad, c.ceil_mode);
        c.rb[i] = pb;
    }
    tnode t;
    tn_init(&t, c.op, 13, 1, 1);
    int64_t k[3], s[3], d[3], p[6];
    int anyd = 0, anyp = 0;
    for (int i = 0; i < c.nsp; i++) {
        k[i] = c.k[i]; s[i] = c.s[i]; d[i] = c.d[i]; p[i] = c.pb[i]; p[i + c.nsp] = c.pe[i];
        anyd |= c.d[i] != 1;
        anyp |= c.pb[i] || c.pe[i];
    }
    tn_ints(&t, "kernel_shape", c.nsp, k);
    tn_ints(&t, "strides", c.nsp, s);
    if (anyd) tn_ints(&t, "dilations", c.nsp, d);
    if (anyp && (!c.auto_pad || !strcmp(c.auto_pad, "NOTSET"))) tn_ints(&t, "pads", 2 * c.nsp, p);
    if (c.auto_pad) tn_str(&t, "auto_pad", c.auto_pad);
    if (c.ceil_mode) tn_int(&t, "ceil_mode", 1);
    if (c.cip) tn_int(&t, "count_include_pad", 1);
    int64_t xd[5] = { c.N, c.C }, yd[5] = { c.N, c.C };
    for (int i = 0; i < c.nsp; i++) { xd[2 + i] = c.in[i]; yd[2 + i] = c.out[i]; }
    cc_tensor *x = tt_new(CC_DT_FLOAT, c.nsp + 2, xd);
    /* distinct values at least 0.05 apart, shuffled: no ties, and a finite
     * difference step of 1e-2 cannot change which element is the max */
    float *xv = x->data;
    for (int64_t i = 0; i < x->numel; i++) xv[i] = (float)(0.05 * (double)(i - x->numel / 2));
    for (int64_t i = x->numel - 1; i > 0; i--) {
        int64_t j = (int64_t)(urand() * (double)(i + 1));
        float tmp = xv[i]; xv[i] = xv[j]; xv[j] = tmp;
    }
    cc_tensor *in[1] = { x };
    int diff[1] = { 1 };
    char label[128];
    snprintf(label, sizeof label, "%s %s", c.op, c.label);
    case_spec cs = { label, &t, in, 1, diff, ref_pool, &c, yd, c.nsp + 2, 1e-2 };
    check_case(&cs);
    tt_free(x);
}

static void test_pool(void)
{
    /* label, op, nsp, N, C, in, k, s, d, pb, pe, ceil, cip, auto_pad */
    /* the resolved fields at the end are filled in by the case runner */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
    pool_cfg cfgs[] = {
        { "2x2 s2", "MaxPool", 2, 1, 3, { 6, 8 }, { 2, 2 }, { 2, 2 }, { 0 }, { 0 }, { 0 }, 0, 0, NULL },
        { "2x2 s2 odd (floor)", "MaxPool", 2, 2, 2, { 7, 9 }, { 2, 2 }, { 2, 2 }, { 0 }, { 0 }, { 0 }, 0, 0, NULL },
        { "3x3 s2 pads (0,0,1,1)", "MaxPool", 2, 1, 2, { 8, 8 }, { 3, 3 }, { 2, 2 }, { 0 }, { 0, 0 }, { 1, 1 }, 0, 0, NULL },
        { "3x3 s2 pad 1", "MaxPool", 2, 1, 2, { 7, 8 }, { 3, 3 }, { 2, 2 }, { 0 }, { 1, 1 }, { 1, 1 }, 0, 0, NULL },
        { "3x3 s2 ceil", "MaxPool", 2, 1, 2, { 8, 9 }, { 3, 3 }, { 2, 2 }, { 0 }, { 0 }, { 0 }, 1, 0, NULL },
        { "2x2 s2 pad 1 ceil (drop last)", "MaxPool", 2, 1, 2, { 5, 5 }, { 2, 2 }, { 2, 2 }, { 0 }, { 1, 1 }, { 1, 1 }, 1, 0, NULL },
        { "3x3 s1 dilation 2", "MaxPool", 2, 1, 2, { 8, 7 }, { 3, 3 }, { 1, 1 }, { 2, 2 }, { 1, 0 }, { 0, 1 }, 0, 0, NULL },
        { "2x3 s (1,2) dilation (1,2) pad", "MaxPool", 2, 2, 1, { 6, 9 }, { 2, 3 }, { 1, 2 }, { 1, 2 }, { 1, 2 }, { 0, 1 }, 0, 0, NULL },
        { "3x3 s2 SAME_UPPER", "MaxPool", 2, 1, 2, { 8, 7 }, { 3, 3 }, { 2, 2 }, { 0 }, { 0 }, { 0 }, 0, 0, "SAME_UPPER" },
        { "2x2 s1 SAME_LOWER", "MaxPool", 2, 1, 2, { 5, 6 }, { 2, 2 }, { 1, 1 }, { 0 }, { 0 }, { 0 }, 0, 0, "SAME_LOWER" },
        { "3x3 VALID", "MaxPool", 2, 1, 2, { 6, 6 }, { 3, 3 }, { 2, 2 }, { 0 }, { 0 }, { 0 }, 0, 0, "VALID" },
        { "3x3 s2 pad 1 threaded", "MaxPool", 2, 1, 16, { 48, 48 }, { 3, 3 }, { 2, 2 }, { 0 }, { 1, 1 }, { 1, 1 }, 0, 0, NULL },
        { "1-D k3 s2 pad 1", "MaxPool", 1, 2, 3, { 11 }, { 3 }, { 2 }, { 0 }, { 1 }, { 1 }, 0, 0, NULL },
        { "3-D 2x2x2 s2", "MaxPool", 3, 1, 2, { 4, 5, 6 }, { 2, 2, 2 }, { 2, 2, 2 }, { 0 }, { 0, 1, 0 }, { 1, 0, 0 }, 0, 0, NULL },
        { "2x2 s2", "AveragePool", 2, 1, 3, { 6, 8 }, { 2, 2 }, { 2, 2 }, { 0 }, { 0 }, { 0 }, 0, 0, NULL },
        { "3x3 s1 pad 1 exclude pad", "AveragePool", 2, 2, 2, { 5, 6 }, { 3, 3 }, { 1, 1 }, { 0 }, { 1, 1 }, { 1, 1 }, 0, 0, NULL },
        { "3x3 s1 pad 1 count_include_pad", "AveragePool", 2, 2, 2, { 5, 6 }, { 3, 3 }, { 1, 1 }, { 0 }, { 1, 1 }, { 1, 1 }, 0, 1, NULL },
        { "3x3 s2 asym pads cip", "AveragePool", 2, 1, 2, { 7, 8 }, { 3, 3 }, { 2, 2 }, { 0 }, { 0, 2 }, { 1, 1 }, 0, 1, NULL },
        { "3x3 s2 ceil", "AveragePool", 2, 1, 2, { 8, 9 }, { 3, 3 }, { 2, 2 }, { 0 }, { 0 }, { 0 }, 1, 0, NULL },
        { "3x3 s2 ceil pad 1 cip (clip at border)", "AveragePool", 2, 1, 2, { 6, 6 }, { 3, 3 }, { 2, 2 }, { 0 }, { 1, 1 }, { 1, 1 }, 1, 1, NULL },
        { "2x2 s2 pad 1 ceil cip (drop last)", "AveragePool", 2, 1, 2, { 5, 5 }, { 2, 2 }, { 2, 2 }, { 0 }, { 1, 1 }, { 1, 1 }, 1, 1, NULL },
        { "3x3 s2 SAME_UPPER", "AveragePool", 2, 1, 2, { 8, 7 }, { 3, 3 }, { 2, 2 }, { 0 }, { 0 }, { 0 }, 0, 0, "SAME_UPPER" },
        { "3x3 s2 SAME_LOWER cip", "AveragePool", 2, 1, 2, { 8, 7 }, { 3, 3 }, { 2, 2 }, { 0 }, { 0 }, { 0 }, 0, 1, "SAME_LOWER" },
        { "3x3 s2 pad 1 threaded", "AveragePool", 2, 1, 16, { 48, 48 }, { 3, 3 }, { 2, 2 }, { 0 }, { 1, 1 }, { 1, 1 }, 0, 1, NULL },
        { "1-D k3 s2 pad 1", "AveragePool", 1, 2, 3, { 11 }, { 3 }, { 2 }, { 0 }, { 1 }, { 1 }, 0, 0, NULL },
        { "3-D 2x2x3 s(1,2,2) pad", "AveragePool", 3, 1, 2, { 4, 5, 6 }, { 2, 2, 3 }, { 1, 2, 2 }, { 0 }, { 0, 1, 1 }, { 1, 0, 1 }, 0, 0, NULL },
    };
#pragma GCC diagnostic pop
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) pool_case(cfgs[i]);
}

/* MaxPool's Indices output (row-major and column-major) and the forward-only check of ties. */
static void test_maxpool_indices(void)
{
    for (int so = 0; so < 2; so++) {
        tnode t;
        tn_init(&t, "MaxPool", 12, 1, 2);
        int64_t k[2] = { 2, 2 }, s[2] = { 2, 2 };
        tn_ints(&t, "kernel_shape", 2, k);
        tn_ints(&t, "strides", 2, s);
        tn_int(&t, "storage_order", so);
        int64_t xd[4] = { 1, 2, 4, 4 };
        cc_tensor *x = tt_new(CC_DT_FLOAT, 4, xd);
        float *xv = x->data;
        for (int i = 0; i < 32; i++) xv[i] = (float)((i * 7) % 32);
        cc_tensor y = { 0 }, ind = { 0 };
        cc_tensor *in[1] = { x }, *out[2] = { &y, &ind };
        int rc = run_prepare(&t, in, out, NULL);
        CHECK(rc == 0 && ind.dtype == CC_DT_INT64 && ind.numel == 8, "MaxPool indices: prepare");
        if (!rc) {
            t.n.op->forward(&t.n, in, out, &g_ctx);
            int bad = 0;
            const int64_t *iv = ind.data;
            for (int pl = 0; pl < 2; pl++)
                for (int oh = 0; oh < 2; oh++)
                    for (int ow = 0; ow < 2; ow++) {
                        int bi = -1;
                        float best = -FLT_MAX;
                        for (int a = 0; a < 2; a++)
                            for (int b = 0; b < 2; b++) {
                                int ih = 2 * oh + a, iw = 2 * ow + b;
                                if (xv[pl * 16 + ih * 4 + iw] > best) { best = xv[pl * 16 + ih * 4 + iw]; bi = ih * 4 + iw; }
                            }
                        int64_t want = pl * 16 + (so ? (bi / 4) + (bi % 4) * 4 : bi);
                        bad += iv[pl * 4 + oh * 2 + ow] != want || ((float *)y.data)[pl * 4 + oh * 2 + ow] != best;
                    }
            CHECK(!bad, "MaxPool indices storage_order=%d: %d wrong", so, bad);
            printf("%-58s %s\n", so ? "MaxPool Indices output (storage_order 1)" : "MaxPool Indices output", bad ? "FAIL" : "ok");
        }
        free(y.data); free(ind.data); free(t.n.params); tt_free(x);
    }
    /* ties: the first maximum in row-major order gets the gradient */
    tnode t;
    tn_init(&t, "MaxPool", 13, 1, 1);
    int64_t k[2] = { 2, 2 }, s[2] = { 1, 1 };
    tn_ints(&t, "kernel_shape", 2, k);
    tn_ints(&t, "strides", 2, s);
    int64_t xd[4] = { 1, 1, 2, 3 };
    cc_tensor *x = tt_new(CC_DT_FLOAT, 4, xd);
    float *xv = x->data;
    for (int i = 0; i < 6; i++) xv[i] = 1.0f;
    cc_tensor y = { 0 };
    cc_tensor *in[1] = { x }, *out[1] = { &y };
    run_prepare(&t, in, out, NULL);
    t.n.op->forward(&t.n, in, out, &g_ctx);
    float g1[2] = { 1.0f, 10.0f }, gx[6] = { 0 };
    float *gy[1] = { g1 }, *gxs[1] = { gx };
    t.n.op->backward(&t.n, in, out, gy, gxs, 1, &g_ctx);
    CHECK(gx[0] == 1.0f && gx[1] == 10.0f && gx[2] == 0 && gx[3] == 0, "MaxPool ties: gradient not on the first max");
    printf("%-58s ok\n", "MaxPool ties: first max wins");
    free(y.data); free(t.n.params); tt_free(x);
}

typedef struct gpool_cfg { int N, C, nsp, dims[3]; int is_max; } gpool_cfg;

static void ref_gpool(const void *cfgp, const double *const *in, double *y)
{
    const gpool_cfg *c = cfgp;
    int S = 1;
    for (int i = 0; i < c->nsp; i++) S *= c->dims[i];
    for (int pl = 0; pl < c->N * c->C; pl++) {
        double best = -INFINITY, sum = 0;
        for (int q = 0; q < S; q++) {
            double v = in[0][pl * S + q];
            sum += v;
            if (v > best) best = v;
        }
        y[pl] = c->is_max ? best : sum / S;
    }
}

static void test_global_pool(void)
{
    gpool_cfg cfgs[] = { { 2, 3, 2, { 5, 6 }, 0 }, { 2, 3, 2, { 5, 6 }, 1 }, { 1, 4, 1, { 7 }, 0 }, { 1, 2, 3, { 2, 3, 4 }, 1 },
                         { 1, 5, 2, { 1, 1 }, 0 } };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        gpool_cfg c = cfgs[i];
        tnode t;
        tn_init(&t, c.is_max ? "GlobalMaxPool" : "GlobalAveragePool", 13, 1, 1);
        int64_t xd[5] = { c.N, c.C }, yd[5] = { c.N, c.C };
        for (int j = 0; j < c.nsp; j++) { xd[2 + j] = c.dims[j]; yd[2 + j] = 1; }
        cc_tensor *x = tt_new(CC_DT_FLOAT, c.nsp + 2, xd);
        float *xv = x->data;
        for (int64_t j = 0; j < x->numel; j++) xv[j] = (float)(0.05 * (double)((j * 37) % x->numel)) - 1.0f;
        cc_tensor *in[1] = { x };
        int diff[1] = { 1 };
        char label[128];
        snprintf(label, sizeof label, "%s N=%d C=%d rank %d", t.n.op_type, c.N, c.C, c.nsp + 2);
        case_spec cs = { label, &t, in, 1, diff, ref_gpool, &c, yd, c.nsp + 2, 1e-2 };
        check_case(&cs);
        tt_free(x);
    }
}

/* ---- LRN ------------------------------------------------------------------------ */

typedef struct lrn_cfg { int N, C, H, W, size; float alpha, beta, bias; } lrn_cfg;

static void ref_lrn(const void *cfgp, const double *const *in, double *y)
{
    const lrn_cfg *c = cfgp;
    int S = c->H * c->W, lo = (c->size - 1) / 2, hi = c->size / 2;   /* floor / ceil of (size-1)/2 */
    for (int n = 0; n < c->N; n++)
        for (int ch = 0; ch < c->C; ch++)
            for (int q = 0; q < S; q++) {
                double ss = 0;
                for (int i = ch - lo; i <= ch + hi; i++)
                    if (i >= 0 && i < c->C) { double v = in[0][(n * c->C + i) * S + q]; ss += v * v; }
                double x = in[0][(n * c->C + ch) * S + q];
                y[(n * c->C + ch) * S + q] = x / pow((double)c->bias + (double)c->alpha / c->size * ss, (double)c->beta);
            }
}

static void test_lrn(void)
{
    lrn_cfg cfgs[] = { { 1, 7, 3, 4, 5, 0.5f, 0.75f, 1.0f }, { 2, 5, 2, 3, 3, 2.0f, 0.6f, 2.0f },
                       { 1, 6, 3, 3, 4, 1.5f, 0.75f, 1.0f }, { 1, 3, 2, 2, 1, 1.0f, 1.0f, 0.5f },
                       { 1, 4, 2, 2, 9, 1e-4f, 0.75f, 1.0f } };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        lrn_cfg c = cfgs[i];
        tnode t;
        tn_init(&t, "LRN", 13, 1, 1);
        tn_int(&t, "size", c.size);
        tn_float(&t, "alpha", c.alpha);
        tn_float(&t, "beta", c.beta);
        tn_float(&t, "bias", c.bias);
        int64_t xd[4] = { c.N, c.C, c.H, c.W };
        cc_tensor *x = tt_new(CC_DT_FLOAT, 4, xd);
        fill_random(x);
        cc_tensor *in[1] = { x };
        int diff[1] = { 1 };
        char label[128];
        snprintf(label, sizeof label, "LRN size %d alpha %g beta %g bias %g N=%d", c.size, c.alpha, c.beta, c.bias, c.N);
        case_spec cs = { label, &t, in, 1, diff, ref_lrn, &c, xd, 4, 1e-3 };
        check_case(&cs);
        tt_free(x);
    }
}

/* ---- Pad ------------------------------------------------------------------------ */

typedef struct pad_cfg {
    const char *label;
    int opset, ndim;
    int64_t dims[4];
    int64_t pads[8];          /* begin..., end... over the padded axes */
    int naxes;                /* 0: all axes, no axes input */
    int64_t axes[4];
    const char *mode;
    int value_mode;           /* 0 none, 1 attribute (opset < 11) / input (opset >= 11) */
    float value;
    int64_t full_pb[4], full_pe[4], out[4];
} pad_cfg;

static int64_t ref_pad_src(int64_t o, int64_t pb, int64_t n, const char *mode)
{
    int64_t i = o - pb;
    if (i >= 0 && i < n) return i;
    if (!strcmp(mode, "constant")) return -1;
    if (!strcmp(mode, "edge")) return i < 0 ? 0 : n - 1;
    if (n == 1) return 0;
    while (i < 0 || i >= n) {       /* mirror without repeating the edge, as numpy's reflect */
        if (i < 0) i = -i;
        if (i >= n) i = 2 * (n - 1) - i;
    }
    return i;
}

static void ref_pad(const void *cfgp, const double *const *in, double *y)
{
    const pad_cfg *c = cfgp;
    int64_t total = 1;
    for (int a = 0; a < c->ndim; a++) total *= c->out[a];
    double v = c->value_mode ? c->value : 0.0;
    for (int64_t o = 0; o < total; o++) {
        int64_t rem = o, src = 0, stride = 1, outside = 0;
        for (int a = c->ndim - 1; a >= 0; a--) {
            int64_t oa = rem % c->out[a];
            rem /= c->out[a];
            int64_t i = ref_pad_src(oa, c->full_pb[a], c->dims[a], c->mode);
            if (i < 0) outside = 1;
            else src += i * stride;
            stride *= c->dims[a];
        }
        y[o] = outside ? v : in[0][src];
    }
}

static void pad_case(pad_cfg c)
{
    int np = c.naxes ? c.naxes : c.ndim;
    for (int a = 0; a < c.ndim; a++) c.full_pb[a] = c.full_pe[a] = 0;
    for (int i = 0; i < np; i++) {
        int64_t a = c.naxes ? c.axes[i] : i;
        if (a < 0) a += c.ndim;
        c.full_pb[a] = c.pads[i];
        c.full_pe[a] = c.pads[i + np];
    }
    for (int a = 0; a < c.ndim; a++) c.out[a] = c.dims[a] + c.full_pb[a] + c.full_pe[a];
    tnode t;
    cc_tensor *in[4] = { 0 };
    in[0] = tt_new(CC_DT_FLOAT, c.ndim, c.dims);
    fill_random(in[0]);
    int n_in = 1;
    if (c.opset < 11) {
        tn_init(&t, "Pad", c.opset, 1, 1);
        tn_ints(&t, "pads", 2 * c.ndim, c.pads);
        if (c.value_mode) tn_float(&t, "value", c.value);
    } else {
        int64_t pd[1] = { 2 * np }, vd[1] = { 1 }, ad[1] = { c.naxes };
        in[1] = tt_new(CC_DT_INT64, 1, pd);
        memcpy(in[1]->data, c.pads, sizeof(int64_t) * (size_t)(2 * np));
        in[1]->is_const = 1;
        n_in = 2;
        if (c.value_mode) {
            in[2] = tt_new(CC_DT_FLOAT, 0, vd);
            ((float *)in[2]->data)[0] = c.value;
            n_in = 3;
        }
        if (c.naxes) {
            in[3] = tt_new(CC_DT_INT64, 1, ad);
            memcpy(in[3]->data, c.axes, sizeof(int64_t) * (size_t)c.naxes);
            in[3]->is_const = 1;
            n_in = 4;
        }
        tn_init(&t, "Pad", c.opset, n_in, 1);
        if (c.naxes && !c.value_mode) t.in_idx[2] = -1;
    }
    tn_str(&t, "mode", c.mode);
    int diff[4] = { 1, 0, 0, 0 };
    char label[128];
    snprintf(label, sizeof label, "Pad %s (opset %d)", c.label, c.opset);
    case_spec cs = { label, &t, in, n_in, diff, ref_pad, &c, c.out, c.ndim, 1e-2 };
    check_case(&cs);
    for (int i = 0; i < 4; i++) tt_free(in[i]);
}

static void test_pad(void)
{
    /* the resolved fields at the end are filled in by the case runner */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
    pad_cfg cfgs[] = {
        { "constant NCHW spatial", 13, 4, { 1, 2, 3, 4 }, { 0, 0, 1, 2, 0, 0, 2, 1 }, 0, { 0 }, "constant", 0, 0 },
        { "constant value 1.5", 13, 4, { 2, 2, 3, 3 }, { 0, 1, 1, 0, 1, 0, 2, 1 }, 0, { 0 }, "constant", 1, 1.5f },
        { "constant attribute value", 2, 4, { 1, 2, 3, 3 }, { 0, 0, 2, 1, 0, 0, 0, 3 }, 0, { 0 }, "constant", 1, -0.5f },
        { "reflect", 13, 4, { 1, 2, 4, 5 }, { 0, 0, 2, 3, 0, 0, 3, 4 }, 0, { 0 }, "reflect", 0, 0 },
        { "reflect wider than the axis", 13, 2, { 3, 3 }, { 5, 4, 6, 2 }, 0, { 0 }, "reflect", 0, 0 },
        { "reflect attribute form", 2, 3, { 2, 4, 3 }, { 0, 1, 2, 0, 3, 1 }, 0, { 0 }, "reflect", 0, 0 },
        { "edge", 11, 4, { 1, 2, 3, 4 }, { 0, 0, 2, 3, 0, 0, 3, 1 }, 0, { 0 }, "edge", 0, 0 },
        { "edge axis of size 1", 13, 3, { 2, 1, 3 }, { 0, 2, 1, 0, 3, 2 }, 0, { 0 }, "edge", 0, 0 },
        { "negative pads crop", 13, 4, { 1, 2, 5, 6 }, { 0, 0, -1, 2, 0, 0, 1, -2 }, 0, { 0 }, "constant", 1, 2.0f },
        { "negative pads reflect", 13, 2, { 5, 6 }, { -1, 2, 2, -3 }, 0, { 0 }, "reflect", 0, 0 },
        { "1-D", 13, 1, { 5 }, { 2, 3 }, 0, { 0 }, "reflect", 0, 0 },
        { "axes input (2, 3)", 18, 4, { 1, 2, 3, 4 }, { 1, 2, 2, 1 }, 2, { 2, 3 }, "constant", 1, 0.25f },
        { "axes input (-1) edge", 18, 3, { 2, 3, 4 }, { 2, 1 }, 1, { -1 }, "edge", 0, 0 },
    };
#pragma GCC diagnostic pop
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) pad_case(cfgs[i]);

    /* int64 data (shape arithmetic folded at load): reflect and constant with an int64 constant_value */
    {
        int64_t xd[2] = { 2, 3 }, pd[1] = { 4 }, vd[1] = { 1 };
        cc_tensor *x = tt_new(CC_DT_INT64, 2, xd), *pads = tt_new(CC_DT_INT64, 1, pd), *val = tt_new(CC_DT_INT64, 0, vd);
        int64_t *xv = x->data, pv[4] = { 1, 2, 0, 1 };
        for (int i = 0; i < 6; i++) xv[i] = 10 * (i / 3) + i % 3;   /* [[0 1 2] [10 11 12]] */
        memcpy(pads->data, pv, sizeof pv);
        pads->is_const = 1;
        ((int64_t *)val->data)[0] = -7;
        for (int mode = 0; mode < 2; mode++) {
            tnode t;
            tn_init(&t, "Pad", 13, mode ? 3 : 2, 1);
            tn_str(&t, "mode", mode ? "constant" : "reflect");
            cc_tensor *in[3] = { x, pads, val }, y = { 0 };
            cc_tensor *out[1] = { &y };
            int rc = run_prepare(&t, in, out, NULL);
            CHECK(rc == 0 && y.dtype == CC_DT_INT64 && y.dims[0] == 3 && y.dims[1] == 6, "Pad int64: prepare");
            if (rc == 0) {
                t.n.op->forward(&t.n, in, out, &g_ctx);
                /* rows: pad 1 before; cols: pad 2 before, 1 after */
                static const int64_t want_reflect[18] = { 12, 11, 10, 11, 12, 11, 2, 1, 0, 1, 2, 1, 12, 11, 10, 11, 12, 11 };
                static const int64_t want_const[18] = { -7, -7, -7, -7, -7, -7, -7, -7, 0, 1, 2, -7, -7, -7, 10, 11, 12, -7 };
                const int64_t *want = mode ? want_const : want_reflect;
                int bad = 0;
                for (int i = 0; i < 18; i++) bad += ((int64_t *)y.data)[i] != want[i];
                CHECK(!bad, "Pad int64 %s: %d wrong values", mode ? "constant" : "reflect", bad);
                printf("%-58s %s\n", mode ? "Pad int64 constant" : "Pad int64 reflect", bad ? "FAIL" : "ok");
            }
            free(y.data);
            free(t.n.params);
        }
        tt_free(x); tt_free(pads); tt_free(val);
    }

    /* a non-constant pads input is refused at prepare */
    tnode t;
    int64_t xd[2] = { 2, 2 }, pd[1] = { 4 };
    cc_tensor *x = tt_new(CC_DT_FLOAT, 2, xd), *p = tt_new(CC_DT_INT64, 1, pd);
    cc_tensor *in[2] = { x, p };
    tn_init(&t, "Pad", 13, 2, 1);
    expect_prepare_error(&t, in, "Pad error: pads input not constant");
    p->is_const = 1;
    tn_init(&t, "Pad", 13, 2, 1);
    tn_str(&t, "mode", "wrap");
    expect_prepare_error(&t, in, "Pad error: mode wrap");
    tt_free(x); tt_free(p);
}

/* ---- fast Conv paths at real layer sizes against naive float loops ----------------- */

typedef struct bench_cfg {
    const char *label;
    int N, C, H, W, M, G, k, s, pT, pL, pB, pR;
    int K;                    /* seeds for the backward pass */
} bench_cfg;

static void naive_conv_fwd(const bench_cfg *b, int OH, int OW, const float *x, const float *w, const float *bias, float *y)
{
    int Cg = b->C / b->G, Mg = b->M / b->G;
    for (int n = 0; n < b->N; n++)
        for (int m = 0; m < b->M; m++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    float acc = bias[m];
                    for (int cg = 0; cg < Cg; cg++)
                        for (int kh = 0; kh < b->k; kh++)
                            for (int kw = 0; kw < b->k; kw++) {
                                int ih = oh * b->s - b->pT + kh, iw = ow * b->s - b->pL + kw;
                                if (ih < 0 || ih >= b->H || iw < 0 || iw >= b->W) continue;
                                acc += w[((m * Cg + cg) * b->k + kh) * b->k + kw] *
                                       x[((n * b->C + (m / Mg) * Cg + cg) * b->H + ih) * b->W + iw];
                            }
                    y[((n * b->M + m) * OH + oh) * OW + ow] = acc;
                }
}

/* input gradient only, images = K*N */
static void naive_conv_bwd_data(const bench_cfg *b, int OH, int OW, int images, const float *gy, const float *w, float *gx)
{
    int Cg = b->C / b->G, Mg = b->M / b->G;
    for (int n = 0; n < images; n++)
        for (int m = 0; m < b->M; m++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    float g = gy[((n * b->M + m) * OH + oh) * OW + ow];
                    for (int cg = 0; cg < Cg; cg++)
                        for (int kh = 0; kh < b->k; kh++)
                            for (int kw = 0; kw < b->k; kw++) {
                                int ih = oh * b->s - b->pT + kh, iw = ow * b->s - b->pL + kw;
                                if (ih < 0 || ih >= b->H || iw < 0 || iw >= b->W) continue;
                                gx[((n * b->C + (m / Mg) * Cg + cg) * b->H + ih) * b->W + iw] +=
                                    g * w[((m * Cg + cg) * b->k + kh) * b->k + kw];
                            }
                }
}

typedef struct bench_run {
    const bench_cfg *b;
    tnode *t;
    cc_tensor **in, **out;
    int OH, OW;
    float *gy, *gx;
    float *naive_y;
} bench_run;

static void run_fast_fwd(void *a) { bench_run *r = a; r->t->n.op->forward(&r->t->n, r->in, r->out, &g_ctx); }
static void run_naive_fwd(void *a)
{
    bench_run *r = a;
    naive_conv_fwd(r->b, r->OH, r->OW, r->in[0]->data, r->in[1]->data, r->in[2]->data, r->naive_y);
}
static void run_fast_bwd(void *a)
{
    bench_run *r = a;
    float *gy[1] = { r->gy }, *gx[3] = { r->gx, NULL, NULL };
    r->t->n.op->backward(&r->t->n, r->in, r->out, gy, gx, r->b->K, &g_ctx);
}
static void run_naive_bwd(void *a)
{
    bench_run *r = a;
    naive_conv_bwd_data(r->b, r->OH, r->OW, r->b->K * r->b->N, r->gy, r->in[1]->data, r->gx);
}

static void test_conv_large(void)
{
    bench_cfg cfgs[] = {
        { "3x3 conv 32->32 56x56 p1", 1, 32, 56, 56, 32, 1, 3, 1, 1, 1, 1, 1, 4 },
        { "3x3 conv s2 3->32 224x224 (0,0,1,1)", 1, 3, 224, 224, 32, 1, 3, 2, 0, 0, 1, 1, 1 },
        { "1x1 conv 144->24 56x56", 1, 144, 56, 56, 24, 1, 1, 1, 0, 0, 0, 0, 4 },
        { "1x1 conv 320->1280 7x7", 1, 320, 7, 7, 1280, 1, 1, 1, 0, 0, 0, 0, 8 },
        { "1x1 conv 1280->1001 1x1", 1, 1280, 1, 1, 1001, 1, 1, 1, 0, 0, 0, 0, 32 },
        { "depthwise 3x3 144ch 56x56 p1", 1, 144, 56, 56, 144, 144, 3, 1, 1, 1, 1, 1, 4 },
        { "depthwise 3x3 s2 96ch 112x112 (0,0,1,1)", 1, 96, 112, 112, 96, 96, 3, 2, 0, 0, 1, 1, 4 },
        { "depthwise 3x3 960ch 7x7 p1", 1, 960, 7, 7, 960, 960, 3, 1, 1, 1, 1, 1, 16 },
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        const bench_cfg *b = &cfgs[i];
        tnode t;
        tn_init(&t, "Conv", 13, 3, 1);
        int64_t st[2] = { b->s, b->s }, pd[4] = { b->pT, b->pL, b->pB, b->pR };
        tn_ints(&t, "strides", 2, st);
        tn_ints(&t, "pads", 4, pd);
        if (b->G != 1) tn_int(&t, "group", b->G);
        int64_t xd[4] = { b->N, b->C, b->H, b->W }, wd[4] = { b->M, b->C / b->G, b->k, b->k }, bd[1] = { b->M };
        cc_tensor *in[3] = { tt_new(CC_DT_FLOAT, 4, xd), tt_new(CC_DT_FLOAT, 4, wd), tt_new(CC_DT_FLOAT, 1, bd) };
        for (int j = 0; j < 3; j++) fill_random(in[j]);
        cc_tensor y = { 0 };
        cc_tensor *out[1] = { &y };
        if (run_prepare(&t, in, out, NULL)) { CHECK(0, "large %s: prepare", b->label); continue; }
        bench_run r = { b, &t, in, out, (int)y.dims[2], (int)y.dims[3], NULL, NULL, NULL };
        size_t nx = (size_t)(b->K * in[0]->numel);
        r.naive_y = malloc(sizeof(float) * (size_t)y.numel);
        r.gy = malloc(sizeof(float) * (size_t)(b->K * y.numel));
        r.gx = calloc(nx, sizeof(float));
        float *naive_gx = calloc(nx, sizeof(float));
        for (int64_t j = 0; j < b->K * y.numel; j++) r.gy[j] = srand1();
        run_fast_fwd(&r);
        run_naive_fwd(&r);
        double err = check_maxdiff(y.data, r.naive_y, (size_t)y.numel);
        CHECK(err <= 1e-3 * (1 + check_maxabs(r.naive_y, (size_t)y.numel)), "large %s: forward differs from naive by %g", b->label, err);
        run_fast_bwd(&r);
        float *fast_gx = r.gx;
        r.gx = naive_gx;
        run_naive_bwd(&r);
        r.gx = fast_gx;
        err = check_maxdiff(fast_gx, naive_gx, nx);
        CHECK(err <= 1e-3 * (1 + check_maxabs(naive_gx, nx)), "large %s: input gradient (K=%d) differs from naive by %g", b->label, b->K, err);
        free(naive_gx);
        free(r.naive_y); free(r.gy); free(r.gx); free(y.data); free(t.n.params);
        for (int j = 0; j < 3; j++) tt_free(in[j]);
    }
}

int main(void)
{
    test_conv();
    test_conv_errors();
    test_pool();
    test_maxpool_indices();
    test_global_pool();
    test_lrn();
    test_pad();
    test_conv_large();
    cc_ctx_free(&g_ctx);
    return check_exit();
}
