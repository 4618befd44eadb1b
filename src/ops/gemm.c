/* Gemm and MatMul through OpenBLAS.  The backward passes stack the K seeds as
 * extra GEMM rows wherever the layout allows, so a batch of up to ~1000 seeds
 * through a classifier costs one GEMM, not K. */
#include "conv_kernels.h"
#include "tensor_util.h"
#include "util/mem.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

/* One image through a classifier (Gemm, transB, constant B): B's rows packed
 * at load in panels (conv_packed.c's layout) for cc_gemv_packed, so that the
 * all-Q maps of an explanation read the bytes this product has just streamed
 * (src/explain/cam.c).  Up to 32 MB of weights: a classifier's last layer
 * (VGG-16's is 16 MB), not the 64 and 411 MB hidden layers before it, whose
 * copies would only cost memory.  One block, freed with free(). */
#define PACK_MAX_BYTES ((int64_t)32 << 20)
typedef struct {
    cc_packed pk;
    float *wp;                /* NULL: read B as it is (no AVX-512, too large, or weights being trained) */
} gemm_params;

/* ---- Gemm: Y = alpha * op(A) op(B) + beta * C ------------------------------ */

typedef struct {
    int ta, tb, has_c;
    int64_t M, N, Kd, lda, ldb;
    int64_t cm, cn;          /* C viewed as cm x cn with cm in {1, M}, cn in {1, N} */
    float alpha, beta;
} gemm_dims;

static int gemm_shape(const cc_node *n, cc_tensor **in, gemm_dims *g, cc_err *e)
{
    const cc_tensor *A = in[0], *B = in[1];
    g->ta = cc_attr_int(n, "transA", 0) != 0;
    g->tb = cc_attr_int(n, "transB", 0) != 0;
    g->alpha = cc_attr_float(n, "alpha", 1.0f);
    g->beta = cc_attr_float(n, "beta", 1.0f);
    if (A->ndim != 2 || B->ndim != 2)
        return cc_errf(e, CC_E_SHAPE, "Gemm '%s': A and B must be 2-D (got rank %d and %d)",
                       n->name, A->ndim, B->ndim);
    if (A->dtype != CC_DT_FLOAT || B->dtype != CC_DT_FLOAT)
        return cc_errf(e, CC_E_UNSUPPORTED, "Gemm '%s': only float tensors are supported", n->name);
    g->M = g->ta ? A->dims[1] : A->dims[0];
    g->Kd = g->ta ? A->dims[0] : A->dims[1];
    int64_t kb = g->tb ? B->dims[1] : B->dims[0];
    g->N = g->tb ? B->dims[0] : B->dims[1];
    g->lda = A->dims[1];
    g->ldb = B->dims[1];
    if (kb != g->Kd)
        return cc_errf(e, CC_E_SHAPE, "Gemm '%s': inner dimensions differ (%lld vs %lld)",
                       n->name, (long long)g->Kd, (long long)kb);
    g->has_c = cct_has(n, in, 2);
    g->cm = g->cn = 1;
    if (g->has_c) {
        const cc_tensor *C = in[2];
        if (C->dtype != CC_DT_FLOAT || C->ndim > 2)
            return cc_errf(e, CC_E_SHAPE, "Gemm '%s': C must be a float tensor of rank <= 2", n->name);
        g->cm = C->ndim == 2 ? C->dims[0] : 1;
        g->cn = C->ndim >= 1 ? C->dims[C->ndim - 1] : 1;
        if ((g->cm != 1 && g->cm != g->M) || (g->cn != 1 && g->cn != g->N))
            return cc_errf(e, CC_E_SHAPE, "Gemm '%s': C of shape (%lld, %lld) does not broadcast to (%lld, %lld)",
                           n->name, (long long)g->cm, (long long)g->cn, (long long)g->M, (long long)g->N);
    }
    return CC_E_OK;
}

static int gemm_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)
{
    int bad = cct_need(n, in, 2, e);
    if (bad) return bad;
    gemm_dims g;
    int rc = gemm_shape(n, in, &g, e);
    if (rc) return rc;
    out[0]->dtype = CC_DT_FLOAT;
    out[0]->ndim = 2;
    out[0]->dims[0] = g.M;
    out[0]->dims[1] = g.N;
    free(n->params);
    n->params = NULL;
    const cc_tensor *B = in[1];
    cc_packed pk;
    if (g.M == 1 && g.tb && g.N > 0 && g.Kd > 0 && B->is_const && B->data && g.ldb == g.Kd &&
        g.N * g.Kd * (int64_t)sizeof(float) <= PACK_MAX_BYTES && cc_packed_plan(g.N, g.Kd, 1, &pk) && !pk.wide) {
        const size_t head = (sizeof(gemm_params) + 63) / 64 * 64;
        gemm_params *p = cc_alloc_huge(head + sizeof(float) * cc_packed_floats(&pk), 0);
        if (p) {   /* out of memory: the row-major product still works */
            p->pk = pk;
            p->wp = (float *)((char *)p + head);
            cc_packed_weights(&p->pk, B->data, p->wp);
            n->params = p;
        }
    }
    return CC_E_OK;
}

void cc_gemm_weights_live(cc_node *n)
{
    gemm_params *p = n->params;
    if (p) p->wp = NULL;
}

static int gemm_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx)
{
    gemm_dims g;
    if (gemm_shape(n, in, &g, NULL)) return CC_E_SHAPE;
    float *Y = out[0]->data;
    const float *A = in[0]->data, *B = in[1]->data;
    float cbeta = 0.0f;
    if (g.has_c && g.beta != 0.0f) {
        const float *C = in[2]->data;
        for (int64_t i = 0; i < g.M; i++)
            for (int64_t j = 0; j < g.N; j++)
                Y[i * g.N + j] = g.beta * C[(g.cm > 1 ? i : 0) * g.cn + (g.cn > 1 ? j : 0)];
        cbeta = 1.0f;
    } else {
        memset(Y, 0, (size_t)(g.M * g.N) * sizeof *Y);
    }
    if (g.M == 1 && g.N && g.Kd) {
        /* one row (one image through a classifier): a matrix-vector product
         * reads B once; OpenBLAS's sgemm would first copy all of it.  With B's
         * rows the outputs (a 1 x Kd row of A is contiguous even when transposed)
         * the own kernel, which can also form an explanation's softmax pull-back */
        const gemm_params *p = n->params;
        if (g.tb && p && p->wp && p->pk.M == g.N && p->pk.K == g.Kd)
            return cc_gemv_packed(&p->pk, p->wp, B, A, g.alpha, Y, cc_ctx_tap(ctx), ctx);
        if (g.tb) return cc_gemv_rows(B, g.ldb, g.N, g.Kd, A, g.alpha, Y, cc_ctx_tap(ctx), ctx);
        cblas_sgemv(CblasRowMajor, CblasTrans, (int)g.Kd, (int)g.N, g.alpha, B, (int)g.ldb, A, g.ta ? (int)g.lda : 1,
                    cbeta, Y, 1);
    } else if (g.M && g.N && g.Kd)   /* OpenBLAS rejects (and prints about) zero sizes */
        cblas_sgemm(CblasRowMajor, g.ta ? CblasTrans : CblasNoTrans, g.tb ? CblasTrans : CblasNoTrans,
                    (int)g.M, (int)g.N, (int)g.Kd, g.alpha, A, (int)g.lda, B, (int)g.ldb,
                    cbeta, Y, (int)g.N);
    return CC_E_OK;
}

static int gemm_backward(const cc_node *n, cc_tensor **in, cc_tensor **out,
                         float **gy, float **gx, int K, cc_ctx *ctx)
{
    (void)out; (void)ctx;
    gemm_dims g;
    if (!gy[0] || gemm_shape(n, in, &g, NULL)) return CC_E_OK;
    const float *A = in[0]->data, *B = in[1]->data, *G = gy[0];
    int64_t M = g.M, N = g.N, Kd = g.Kd, MN = M * N;
    int nonempty = M && N && Kd;
    if (gx[0] && nonempty) {
        if (!g.ta && K * M == 1) {   /* one seed row: dA = alpha * op(B) dY, a matrix-vector product */
            if (g.tb) cblas_sgemv(CblasRowMajor, CblasTrans, (int)N, (int)Kd, g.alpha, B, (int)g.ldb, G, 1, 1.0f,
                                  gx[0], 1);
            else cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)Kd, (int)N, g.alpha, B, (int)g.ldb, G, 1, 1.0f,
                             gx[0], 1);
        } else if (!g.ta) {
            /* dA = alpha * dY op(B)^T; the K seeds are just K*M rows of dY. */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, g.tb ? CblasNoTrans : CblasTrans,
                        (int)(K * M), (int)Kd, (int)N, g.alpha, G, (int)N, B, (int)g.ldb,
                        1.0f, gx[0], (int)Kd);
        } else {
            for (int k = 0; k < K; k++)   /* A is Kd x M: dA = alpha * op(B) dY^T */
                cblas_sgemm(CblasRowMajor, g.tb ? CblasTrans : CblasNoTrans, CblasTrans,
                            (int)Kd, (int)M, (int)N, g.alpha, B, (int)g.ldb, G + k * MN, (int)N,
                            1.0f, gx[0] + k * Kd * M, (int)M);
        }
    }
    if (gx[1] && nonempty) {
        for (int k = 0; k < K; k++) {
            if (!g.tb)   /* B is Kd x N: dB = alpha * op(A)^T dY */
                cblas_sgemm(CblasRowMajor, g.ta ? CblasNoTrans : CblasTrans, CblasNoTrans,
                            (int)Kd, (int)N, (int)M, g.alpha, A, (int)g.lda, G + k * MN, (int)N,
                            1.0f, gx[1] + k * Kd * N, (int)N);
            else         /* B is N x Kd: dB = alpha * dY^T op(A) */
                cblas_sgemm(CblasRowMajor, CblasTrans, g.ta ? CblasTrans : CblasNoTrans,
                            (int)N, (int)Kd, (int)M, g.alpha, G + k * MN, (int)N, A, (int)g.lda,
                            1.0f, gx[1] + k * N * Kd, (int)Kd);
        }
    }
    if (g.has_c && gx[2]) {
        int64_t cnum = g.cm * g.cn;
        for (int k = 0; k < K; k++) {
            float *gc = gx[2] + k * cnum;
            const float *gk = G + k * MN;
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++)
                    gc[(g.cm > 1 ? i : 0) * g.cn + (g.cn > 1 ? j : 0)] += g.beta * gk[i * N + j];
        }
    }
    return CC_E_OK;
}

const cc_op cc_op_Gemm = { "Gemm", 7, gemm_prepare, gemm_forward, gemm_backward };

/* ---- MatMul: NumPy matmul with broadcast batch dims and 1-D operands ------- */

typedef struct {
    int64_t M, N, Kd;
    int nb;                            /* broadcast batch rank */
    int64_t bd[CC_MAX_DIMS];           /* batch dims of the output */
    int64_t as[CC_MAX_DIMS], bs[CC_MAX_DIMS];   /* batch strides in matrices, 0 = broadcast */
    int64_t nbatch, abatch, bbatch;    /* matrices in the output, in A, in B */
} mm_dims;

static int mm_shape(const cc_node *n, cc_tensor **in, mm_dims *d, int *ond, int64_t *odims, cc_err *e)
{
    const cc_tensor *A = in[0], *B = in[1];
    int ra = A->ndim, rb = B->ndim;
    if (A->dtype != CC_DT_FLOAT || B->dtype != CC_DT_FLOAT)
        return cc_errf(e, CC_E_UNSUPPORTED, "MatMul '%s': only float tensors are supported", n->name);
    if (ra < 1 || rb < 1)
        return cc_errf(e, CC_E_SHAPE, "MatMul '%s': operands must have rank >= 1", n->name);
    d->M = ra == 1 ? 1 : A->dims[ra - 2];
    d->Kd = A->dims[ra - 1];
    int64_t kb = rb == 1 ? B->dims[0] : B->dims[rb - 2];
    d->N = rb == 1 ? 1 : B->dims[rb - 1];
    if (kb != d->Kd)
        return cc_errf(e, CC_E_SHAPE, "MatMul '%s': inner dimensions differ (%lld vs %lld)",
                       n->name, (long long)d->Kd, (long long)kb);
    int na = ra > 2 ? ra - 2 : 0, nbb = rb > 2 ? rb - 2 : 0;
    d->nb = na > nbb ? na : nbb;
    int64_t sa = 1, sb = 1;
    d->nbatch = d->abatch = d->bbatch = 1;
    for (int k = d->nb - 1; k >= 0; k--) {
        int ia = k - (d->nb - na), ib = k - (d->nb - nbb);
        int64_t da = ia >= 0 ? A->dims[ia] : 1, db = ib >= 0 ? B->dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return cc_errf(e, CC_E_SHAPE, "MatMul '%s': batch dimensions %lld and %lld do not broadcast",
                           n->name, (long long)da, (long long)db);
        d->bd[k] = da == 1 ? db : da;
        d->as[k] = da == 1 ? 0 : sa;
        d->bs[k] = db == 1 ? 0 : sb;
        sa *= da;
        sb *= db;
        d->nbatch *= d->bd[k];
    }
    d->abatch = sa;
    d->bbatch = sb;
    if (ond) {
        int r = 0;
        for (int k = 0; k < d->nb; k++) odims[r++] = d->bd[k];
        if (ra > 1) odims[r++] = d->M;
        if (rb > 1) odims[r++] = d->N;
        *ond = r;
    }
    return CC_E_OK;
}

static int matmul_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)
{
    int bad = cct_need(n, in, 2, e);
    if (bad) return bad;
    mm_dims d;
    int rc = mm_shape(n, in, &d, &out[0]->ndim, out[0]->dims, e);
    if (rc) return rc;
    out[0]->dtype = CC_DT_FLOAT;
    return CC_E_OK;
}

/* A's batches line up one-to-one with the output's and B is a single matrix:
 * then all batches (and all seeds) stack as rows of one GEMM. */
static int mm_stackable(const mm_dims *d) { return d->bbatch == 1 && d->abatch == d->nbatch; }

static int matmul_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx)
{
    (void)ctx;
    mm_dims d;
    if (mm_shape(n, in, &d, NULL, NULL, NULL)) return CC_E_SHAPE;
    const float *A = in[0]->data, *B = in[1]->data;
    float *Y = out[0]->data;
    int64_t M = d.M, N = d.N, Kd = d.Kd;
    if (M == 0 || N == 0 || d.nbatch == 0) return CC_E_OK;
    if (Kd == 0) { memset(Y, 0, (size_t)(d.nbatch * M * N) * sizeof *Y); return CC_E_OK; }
    if (mm_stackable(&d)) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(d.nbatch * M), (int)N, (int)Kd,
                    1.0f, A, (int)Kd, B, (int)N, 0.0f, Y, (int)N);
        return CC_E_OK;
    }
    for (int64_t b = 0; b < d.nbatch; b++) {
        int64_t ia = cct_unravel(b, d.nb, d.bd, d.as), ib = cct_unravel(b, d.nb, d.bd, d.bs);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)Kd,
                    1.0f, A + ia * M * Kd, (int)Kd, B + ib * Kd * N, (int)N, 0.0f, Y + b * M * N, (int)N);
    }
    return CC_E_OK;
}

static int matmul_backward(const cc_node *n, cc_tensor **in, cc_tensor **out,
                           float **gy, float **gx, int K, cc_ctx *ctx)
{
    (void)out; (void)ctx;
    mm_dims d;
    if (!gy[0] || mm_shape(n, in, &d, NULL, NULL, NULL)) return CC_E_OK;
    const float *A = in[0]->data, *B = in[1]->data, *G = gy[0];
    int64_t M = d.M, N = d.N, Kd = d.Kd;
    if (M == 0 || N == 0 || Kd == 0 || d.nbatch == 0) return CC_E_OK;
    int64_t ynum = d.nbatch * M * N, anum = d.abatch * M * Kd, bnum = d.bbatch * Kd * N;
    int stack = mm_stackable(&d);
    if (gx[0]) {   /* dA = dY B^T */
        if (stack)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(K * d.nbatch * M), (int)Kd, (int)N,
                        1.0f, G, (int)N, B, (int)N, 1.0f, gx[0], (int)Kd);
        else
            for (int k = 0; k < K; k++)
                for (int64_t b = 0; b < d.nbatch; b++) {
                    int64_t ia = cct_unravel(b, d.nb, d.bd, d.as), ib = cct_unravel(b, d.nb, d.bd, d.bs);
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)Kd, (int)N,
                                1.0f, G + k * ynum + b * M * N, (int)N, B + ib * Kd * N, (int)N,
                                1.0f, gx[0] + k * anum + ia * M * Kd, (int)Kd);
                }
    }
    if (gx[1]) {   /* dB = A^T dY */
        for (int k = 0; k < K; k++) {
            if (stack) {
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)Kd, (int)N, (int)(d.nbatch * M),
                            1.0f, A, (int)Kd, G + k * ynum, (int)N, 1.0f, gx[1] + k * bnum, (int)N);
                continue;
            }
            for (int64_t b = 0; b < d.nbatch; b++) {
                int64_t ia = cct_unravel(b, d.nb, d.bd, d.as), ib = cct_unravel(b, d.nb, d.bd, d.bs);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)Kd, (int)N, (int)M,
                            1.0f, A + ia * M * Kd, (int)Kd, G + k * ynum + b * M * N, (int)N,
                            1.0f, gx[1] + k * bnum + ib * Kd * N, (int)N);
            }
        }
    }
    return CC_E_OK;
}

const cc_op cc_op_MatMul = { "MatMul", 1, matmul_prepare, matmul_forward, matmul_backward };
