/* Summary statistics of many maps (all Q != P) at picture resolution, computed
 * from the layer-resolution maps without upsampling each of them.
 *
 * Every map the user sees is n_q = (U m_q - lo_q) / range_q: the bilinear
 * upsampling U (linear, PyTorch's align_corners=False weights, as
 * cc_upsample_bilinear) of the layer map m_q, min-max normalised.  So with
 * v_q = m_q / range_q and c_q = lo_q / range_q, n_q = U v_q - c_q, and
 *   - mean:      (1/N) sum_q n_q      = (U (sum_q v_q) - sum_q c_q) / N;
 *   - variance:  (1/N) sum_q n_q^2 - mean^2, where (U v)(x)^2 involves only the
 *                four taps of x, so sum_q (U v_q)(x)^2 needs just the products
 *                sum_q v_q[i] v_q[j] for taps i, j that are neighbours (9 offsets);
 *   - RMS difference from a reference map g: sum_x (n_q - n_g)^2 =
 *                w' (U'U) w - 2 e 1'U w + e^2 HW with w = v_q - v_g, e = c_q - c_g,
 *                and U'U = (Uy'Uy) (x) (Ux'Ux) is a product of two tridiagonal
 *                matrices (again 9 neighbour offsets).
 * lo_q and range_q need the extremes of U m_q; along each axis the weights of
 * the output pixels that share the same two taps are affine in one parameter,
 * so the extremes lie on the first or last output row/column of each such run:
 * evaluating only those (28 x 28 of 224 x 224 for a 14 x 14 map) gives the same
 * min and max as the full upsampled map.
 * Cost for 1000 maps of 14 x 14: about 2 M multiply-adds, against 50 M pixels
 * upsampled and normalised one map at a time. */
#include "contrastcam.h"
#include "graph/internal.h"
#include "image/image.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* The per-map steps (extremes, sums, RMS distances) and the per-pixel step run
 * in parallel once there are enough maps / pixels. */
#define PAR_MIN ((size_t)1 << 14)

/* Output positions at the ends of each run with the same taps. */
static int extremes(const cc_tap *a, int out, int *idx)
{
    int n = 0;
    for (int d = 0; d < out; d++) {
        int first = d == 0 || a[d].i0 != a[d - 1].i0 || a[d].i1 != a[d - 1].i1;
        int last = d == out - 1 || a[d].i0 != a[d + 1].i0 || a[d].i1 != a[d + 1].i1;
        if (first || last) idx[n++] = d;
    }
    return n;
}

/* U'U along one axis: G[i*3 + (j - i + 1)] for |j - i| <= 1; colsum[i] = sum_d U[d, i]. */
static void gram(const cc_tap *a, int out, int in, double *G, double *colsum)
{
    memset(G, 0, sizeof(double) * (size_t)in * 3);
    memset(colsum, 0, sizeof(double) * (size_t)in);
    for (int d = 0; d < out; d++) {
        int i[2] = { a[d].i0, a[d].i1 };
        double l[2] = { a[d].l0, a[d].l1 };
        for (int u = 0; u < 2; u++) {
            colsum[i[u]] += l[u];
            for (int v = 0; v < 2; v++) G[(size_t)i[u] * 3 + (size_t)(i[v] - i[u] + 1)] += l[u] * l[v];
        }
    }
}

void cc_map_stats_free(cc_map_stats *st)
{
    if (!st) return;
    free(st->mean);
    free(st->var);
    free(st->rms);
    free(st->flat);
    memset(st, 0, sizeof *st);
}

/* Every loop below runs over whole maps (or whole rows of the picture), so it
 * vectorises: the layer maps are stored flat with a zero margin of w + 1
 * values between them, and a neighbour product at offset (di, dj) is one run
 * over the flat plane; its terms that wrap around a row end are dropped at
 * the end by a mask that does not depend on the map. */
#define NOFF 9
#define QB 8                    /* maps per block in the extremes step */
#define NCHUNK 8                /* fixed runs of maps in the sums step */
static const int off_di[NOFF] = { -1, -1, -1, 0, 0, 0, 1, 1, 1 }, off_dj[NOFF] = { -1, 0, 1, -1, 0, 1, -1, 0, 1 };

static int in_plane(int i, int j, int o, int h, int w)
{
    int a = i + off_di[o], b = j + off_dj[o];
    return a >= 0 && a < h && b >= 0 && b < w;
}

/* acc[k] += v[k] * v[k + off] for k < n (v has a zero margin of |off| on both sides) */
CC_HOT_CLONES
static void acc_products(double *restrict acc, const double *restrict v, ptrdiff_t off, size_t n)
{
    const double *restrict u = v + off;
#pragma omp simd
    for (size_t k = 0; k < n; k++) acc[k] += v[k] * u[k];
}

CC_HOT_CLONES
cc_status cc_map_stats_compute(const float *maps, int n, int h, int w, const float *ref, const unsigned char *skip, int oh,
                               int ow, cc_map_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!maps || n < 1 || h < 1 || w < 1 || oh < 1 || ow < 1) return CC_ERR_ARG;
    int thr = cc_threads_begin();
    const size_t hw = (size_t)h * (size_t)w, HW = (size_t)oh * (size_t)ow, pad = (size_t)w + 1, L = hw + pad;
    ptrdiff_t off[NOFF];
    for (int o = 0; o < NOFF; o++) off[o] = (ptrdiff_t)off_di[o] * w + off_dj[o];
    out->n = n, out->h = oh, out->w = ow;
    out->mean = malloc(sizeof(float) * HW);
    out->var = malloc(sizeof(float) * HW);
    out->rms = calloc((size_t)n, sizeof(float));
    out->flat = calloc((size_t)n, 1);
    cc_tap *ty = malloc(sizeof(cc_tap) * (size_t)oh), *tx = malloc(sizeof(cc_tap) * (size_t)ow);
    int *ey = malloc(sizeof(int) * (size_t)oh), *ex = malloc(sizeof(int) * (size_t)ow);
    /* V: map q at V + pad + q * L, zeros between; vg (the reference) and wq likewise padded */
    double *V = calloc(pad + (size_t)n * L, sizeof(double)), *c = malloc(sizeof(double) * ((size_t)n + 1));
    double *S1 = calloc(hw, sizeof(double)), *Sc = calloc(hw, sizeof(double)), *S2 = calloc(hw * NOFF, sizeof(double));
    double *Gy = malloc(sizeof(double) * (size_t)h * 3), *Gx = malloc(sizeof(double) * (size_t)w * 3);
    double *cy = malloc(sizeof(double) * (size_t)h), *cx = malloc(sizeof(double) * (size_t)w);
    int nthr = 1;
#ifdef _OPENMP
    nthr = omp_get_max_threads();
#endif
    const size_t wql = hw + 2 * pad;   /* one padded difference map per thread */
    double *vgp = calloc(wql, sizeof(double)), *wqp = calloc(wql * (size_t)nthr, sizeof(double));
    double *T = NULL, *Mt = NULL, *R1 = NULL, *Rc = NULL, *R2 = NULL, *xl = NULL, *cf = NULL, *parts = NULL;
    double psc[NCHUNK], psc2[NCHUNK];
    int pn[NCHUNK];
    int *xi = NULL;
    cc_status st = CC_OK;
    if (!out->mean || !out->var || !out->rms || !out->flat || !ty || !tx || !ey || !ex || !V || !c || !S1 || !Sc || !S2 ||
        !Gy || !Gx || !cy || !cx || !vgp || !wqp) {
        st = CC_ERR_NOMEM;
        goto done;
    }
    double *vg = vgp + pad;
    cc_upsample_taps(h, oh, ty);
    cc_upsample_taps(w, ow, tx);
    const int ny = extremes(ty, oh, ey), nx = extremes(tx, ow, ex);
    R1 = malloc(sizeof(double) * (size_t)h * (size_t)ow);
    Rc = malloc(sizeof(double) * (size_t)h * (size_t)ow);
    R2 = malloc(sizeof(double) * (size_t)h * 3 * (size_t)ow);
    const size_t tl = (size_t)h * (size_t)nx * QB, ml = hw * QB;   /* per thread */
    T = malloc(sizeof(double) * (tl * (size_t)nthr + 1));
    Mt = malloc(sizeof(double) * ml * (size_t)nthr);
    xl = malloc(sizeof(double) * 2 * (size_t)nx);
    xi = malloc(sizeof(int) * 2 * (size_t)nx);
    cf = malloc(sizeof(double) * (NOFF + 1) * hw);
    parts = malloc(sizeof(double) * (NOFF + 2) * hw * NCHUNK);
    if (!R1 || !Rc || !R2 || !T || !Mt || !xl || !xi || !cf || !parts) { st = CC_ERR_NOMEM; goto done; }
    for (int b = 0; b < nx; b++) {
        const cc_tap *X = &tx[ex[b]];
        xi[b] = X->i0, xi[nx + b] = X->i1, xl[b] = X->l0, xl[nx + b] = X->l1;
    }

    /* per map: extremes of the upsampled map (rows interpolated at the extreme
     * columns, then the extreme rows: the upsampler's own weights), then v_q
     * and c_q.  QB maps at a time, transposed so that each interpolation is
     * one vector operation across the maps (q = -1 is the reference). */
    double cg = 0;
    const int nblk = (n + 1 + QB - 1) / QB;
#pragma omp parallel for schedule(static) if ((size_t)n * hw >= PAR_MIN)
    for (int blk = 0; blk < nblk; blk++) {
        const int q0 = blk * QB - 1;
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        double *restrict T_ = T + (size_t)tid * tl, *restrict Mt_ = Mt + (size_t)tid * ml;
        const float *src[QB];
        int finite[QB];
        float lo[QB], hi[QB];
        for (int l = 0; l < QB; l++) {
            int q = q0 + l;
            src[l] = q >= n ? NULL : q < 0 ? ref : maps + (size_t)q * hw;
            finite[l] = 1;
            lo[l] = INFINITY, hi[l] = -INFINITY;
        }
        for (size_t k = 0; k < hw; k++)
            for (int l = 0; l < QB; l++) {
                float v = src[l] ? src[l][k] : 0.0f;
                finite[l] &= isfinite(v) != 0;
                Mt_[k * QB + (size_t)l] = v;
            }
        for (int i = 0; i < h; i++)
            for (int b = 0; b < nx; b++) {
                const double *restrict r0 = Mt_ + ((size_t)i * (size_t)w + (size_t)xi[b]) * QB;
                const double *restrict r1 = Mt_ + ((size_t)i * (size_t)w + (size_t)xi[nx + b]) * QB;
                double *restrict t = T_ + ((size_t)i * (size_t)nx + (size_t)b) * QB;
                const double l0 = xl[b], l1 = xl[nx + b];
#pragma omp simd
                for (int l = 0; l < QB; l++) t[l] = l0 * r0[l] + l1 * r1[l];
            }
        for (int a = 0; a < ny; a++) {
            const cc_tap *Y = &ty[ey[a]];
            const double h0 = Y->l0, h1 = Y->l1;
            for (int b = 0; b < nx; b++) {
                const double *restrict t0 = T_ + ((size_t)Y->i0 * (size_t)nx + (size_t)b) * QB;
                const double *restrict t1 = T_ + ((size_t)Y->i1 * (size_t)nx + (size_t)b) * QB;
#pragma omp simd
                for (int l = 0; l < QB; l++) {
                    float v = (float)(h0 * t0[l] + h1 * t1[l]);
                    lo[l] = v < lo[l] ? v : lo[l];
                    hi[l] = v > hi[l] ? v : hi[l];
                }
            }
        }
        for (int l = 0; l < QB; l++) {
            int q = q0 + l;
            if (!src[l]) continue;
            double *vq = q < 0 ? vg : V + pad + (size_t)q * L, *cq = q < 0 ? &cg : c + q;
            float range = hi[l] - lo[l];
            int flat = !finite[l] || !isfinite(range) || !(range > 0.0f);
            if (q >= 0) out->flat[q] = (unsigned char)flat;
            if (flat) {
                memset(vq, 0, sizeof(double) * hw);
                *cq = 0;
            } else {
                const float *mq = src[l];
                for (size_t k = 0; k < hw; k++) vq[k] = (double)mq[k] / range;
                *cq = (double)lo[l] / range;
            }
        }
    }

    /* sums over the included maps: S1 = sum v, Sc = sum c v, and the neighbour
     * products (cf holds them by offset until they are masked).  The maps go in
     * NCHUNK fixed runs, each summed on its own and the runs added in order,
     * so the sums do not depend on the thread count. */
    int N = 0;
    double sc = 0, sc2 = 0;
    const size_t part = (NOFF + 2) * hw;   /* one run's partial sums: cf by offset, S1, Sc */
#pragma omp parallel for schedule(static) if ((size_t)n * hw >= PAR_MIN)
    for (int r = 0; r < NCHUNK; r++) {
        double *restrict ps = parts + (size_t)r * part;
        memset(ps, 0, sizeof(double) * part);
        double *restrict p1 = ps + NOFF * hw, *restrict pc = p1 + hw;
        int cnt = 0;
        double a = 0, a2 = 0;
        for (int q = (int)((int64_t)n * r / NCHUNK); q < (int)((int64_t)n * (r + 1) / NCHUNK); q++) {
            if (skip && skip[q]) continue;
            cnt++;
            a += c[q];
            a2 += c[q] * c[q];
            const double *vq = V + pad + (size_t)q * L, cq = c[q];
#pragma omp simd
            for (size_t k = 0; k < hw; k++) {
                p1[k] += vq[k];
                pc[k] += cq * vq[k];
            }
            for (int o = 0; o < NOFF; o++) acc_products(ps + (size_t)o * hw, vq, off[o], hw);
        }
        pn[r] = cnt, psc[r] = a, psc2[r] = a2;
    }
    memset(cf, 0, sizeof(double) * NOFF * hw);
    for (int r = 0; r < NCHUNK; r++) {
        const double *ps = parts + (size_t)r * part;
        N += pn[r], sc += psc[r], sc2 += psc2[r];
        for (size_t k = 0; k < NOFF * hw; k++) cf[k] += ps[k];
        for (size_t k = 0; k < hw; k++) S1[k] += ps[NOFF * hw + k], Sc[k] += ps[(NOFF + 1) * hw + k];
    }
    out->count = N;
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            size_t k = (size_t)i * (size_t)w + (size_t)j;
            for (int o = 0; o < NOFF; o++) S2[k * NOFF + (size_t)o] = in_plane(i, j, o, h, w) ? cf[(size_t)o * hw + k] : 0;
        }

    /* per output pixel: mean and variance from the four taps, separably: first
     * along x for every layer row (and row offset dy of the pair products) ... */
    for (int i = 0; i < h; i++)
        for (int x = 0; x < ow; x++) {
            const cc_tap *X = &tx[x];
            int ix[2] = { X->i0, X->i1 };
            double wx[2] = { X->l0, X->l1 };
            double r1 = 0, rc = 0, r2[3] = { 0, 0, 0 };
            for (int b = 0; b < 2; b++) {
                size_t k = (size_t)i * (size_t)w + (size_t)ix[b];
                r1 += wx[b] * S1[k];
                rc += wx[b] * Sc[k];
                for (int dy = 0; dy < 3; dy++)
                    for (int b2 = 0; b2 < 2; b2++)
                        r2[dy] += wx[b] * wx[b2] * S2[k * NOFF + (size_t)(dy * 3 + (ix[b2] - ix[b] + 1))];
            }
            size_t o = (size_t)i * (size_t)ow + (size_t)x;
            R1[o] = r1;
            Rc[o] = rc;
            for (int dy = 0; dy < 3; dy++) R2[((size_t)i * 3 + (size_t)dy) * (size_t)ow + (size_t)x] = r2[dy];
        }
    /* ... then along y, a whole picture row at a time */
#pragma omp parallel for schedule(static) if (HW >= PAR_MIN)
    for (int y = 0; y < oh; y++) {
        const cc_tap *Y = &ty[y];
        const int i0 = Y->i0, i1 = Y->i1;
        const double w0 = Y->l0, w1 = Y->l1;
        const double *restrict a1 = R1 + (size_t)i0 * (size_t)ow, *restrict b1 = R1 + (size_t)i1 * (size_t)ow;
        const double *restrict ac = Rc + (size_t)i0 * (size_t)ow, *restrict bc = Rc + (size_t)i1 * (size_t)ow;
        /* R2 rows: (row i0, offset i0 - i0 + 1), (i0, i1 - i0 + 1), (i1, i0 - i1 + 1), (i1, i1 - i1 + 1) */
        const double *restrict p00 = R2 + ((size_t)i0 * 3 + 1) * (size_t)ow;
        const double *restrict p01 = R2 + ((size_t)i0 * 3 + (size_t)(i1 - i0 + 1)) * (size_t)ow;
        const double *restrict p10 = R2 + ((size_t)i1 * 3 + (size_t)(i0 - i1 + 1)) * (size_t)ow;
        const double *restrict p11 = R2 + ((size_t)i1 * 3 + 1) * (size_t)ow;
        float *restrict mo = out->mean + (size_t)y * (size_t)ow, *restrict vo = out->var + (size_t)y * (size_t)ow;
        if (N == 0) {
            memset(mo, 0, sizeof(float) * (size_t)ow);
            memset(vo, 0, sizeof(float) * (size_t)ow);
            continue;
        }
#pragma omp simd
        for (int x = 0; x < ow; x++) {
            double um = w0 * a1[x] + w1 * b1[x], uc = w0 * ac[x] + w1 * bc[x];
            double q2 = w0 * w0 * p00[x] + w0 * w1 * p01[x] + w1 * w0 * p10[x] + w1 * w1 * p11[x];
            double mean = (um - sc) / N, e2 = (q2 - 2 * uc + sc2) / N, var = e2 - mean * mean;
            mo[x] = (float)mean;
            vo[x] = (float)(var > 0 ? var : 0);
        }
    }

    /* RMS difference of each normalised map from the normalised reference:
     * sum_x (n_q - n_g)^2 = sum over offsets of sum_k cf_o[k] w[k] w[k + off_o]
     * - 2 e sum_k cy cx w + e^2 HW, with w = v_q - v_g and cf_o = Gy Gx (masked) */
    if (ref) {
        gram(ty, oh, h, Gy, cy);
        gram(tx, ow, w, Gx, cx);
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++) {
                size_t k = (size_t)i * (size_t)w + (size_t)j;
                for (int o = 0; o < NOFF; o++)
                    cf[(size_t)o * hw + k] = in_plane(i, j, o, h, w)
                        ? Gy[(size_t)i * 3 + (size_t)(off_di[o] + 1)] * Gx[(size_t)j * 3 + (size_t)(off_dj[o] + 1)] : 0;
                cf[NOFF * hw + k] = cy[i] * cx[j];
            }
#pragma omp parallel for schedule(static) if ((size_t)n * hw >= PAR_MIN)
        for (int q = 0; q < n; q++) {
            int tid = 0;
#ifdef _OPENMP
            tid = omp_get_thread_num();
#endif
            double *restrict wq = wqp + (size_t)tid * wql + pad;
            const double *vq = V + pad + (size_t)q * L;
#pragma omp simd
            for (size_t k = 0; k < hw; k++) wq[k] = vq[k] - vg[k];
            double e = c[q] - cg, quad = 0, lin = 0;
            const double *restrict cl = cf + NOFF * hw;
#pragma omp simd reduction(+ : lin)
            for (size_t k = 0; k < hw; k++) lin += cl[k] * wq[k];
            for (int o = 0; o < NOFF; o++) {
                const double *restrict co = cf + (size_t)o * hw, *restrict u = wq + off[o];
#pragma omp simd reduction(+ : quad)
                for (size_t k = 0; k < hw; k++) quad += co[k] * wq[k] * u[k];
            }
            double ss = quad - 2 * e * lin + e * e * (double)HW;
            out->rms[q] = (float)sqrt((ss > 0 ? ss : 0) / (double)HW);
        }
    }
done:
    free(ty); free(tx); free(ey); free(ex); free(V); free(c); free(S1); free(Sc); free(S2);
    free(Gy); free(Gx); free(cy); free(cx); free(vgp); free(wqp); free(T); free(R1); free(Rc); free(R2);
    free(Mt); free(xl); free(xi); free(cf); free(parts);
    if (st) cc_map_stats_free(out);
    cc_threads_end(thr);
    return st;
}
