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
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <string.h>

/* Threads only for large inputs: each step here takes ~1 ms for 1000 maps of
 * 7x7 to 14x14, less than one scheduling quantum, and a parallel region whose
 * second thread waits for a busy core (a shared machine) costs more than that. */
#define PAR_MIN ((size_t)1 << 20)

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

cc_status cc_map_stats_compute(const float *maps, int n, int h, int w, const float *ref, const unsigned char *skip, int oh,
                               int ow, cc_map_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!maps || n < 1 || h < 1 || w < 1 || oh < 1 || ow < 1) return CC_ERR_ARG;
    int thr = cc_threads_begin();
    const size_t hw = (size_t)h * (size_t)w, HW = (size_t)oh * (size_t)ow;
    out->n = n, out->h = oh, out->w = ow;
    out->mean = malloc(sizeof(float) * HW);
    out->var = malloc(sizeof(float) * HW);
    out->rms = calloc((size_t)n, sizeof(float));
    out->flat = calloc((size_t)n, 1);
    cc_tap *ty = malloc(sizeof(cc_tap) * (size_t)oh), *tx = malloc(sizeof(cc_tap) * (size_t)ow);
    int *ey = malloc(sizeof(int) * (size_t)oh), *ex = malloc(sizeof(int) * (size_t)ow);
    double *V = malloc(sizeof(double) * (hw * (size_t)n + 1)), *c = malloc(sizeof(double) * ((size_t)n + 1));
    double *S1 = calloc(hw, sizeof(double)), *Sc = calloc(hw, sizeof(double)), *S2 = calloc(hw * 9, sizeof(double));
    double *Gy = malloc(sizeof(double) * (size_t)h * 3), *Gx = malloc(sizeof(double) * (size_t)w * 3);
    double *cy = malloc(sizeof(double) * (size_t)h), *cx = malloc(sizeof(double) * (size_t)w);
    double *vg = calloc(hw, sizeof(double));
    double *T = NULL, *R1 = NULL, *Rc = NULL, *R2 = NULL;
    cc_status st = CC_OK;
    if (!out->mean || !out->var || !out->rms || !out->flat || !ty || !tx || !ey || !ex || !V || !c || !S1 || !Sc || !S2 ||
        !Gy || !Gx || !cy || !cx || !vg) {
        st = CC_ERR_NOMEM;
        goto done;
    }
    cc_upsample_taps(h, oh, ty);
    cc_upsample_taps(w, ow, tx);
    const int ny = extremes(ty, oh, ey), nx = extremes(tx, ow, ex);
    R1 = malloc(sizeof(double) * (size_t)h * (size_t)ow);
    Rc = malloc(sizeof(double) * (size_t)h * (size_t)ow);
    R2 = malloc(sizeof(double) * (size_t)h * 3 * (size_t)ow);
    if (!R1 || !Rc || !R2) { st = CC_ERR_NOMEM; goto done; }

    /* per map: extremes of the upsampled map, then v_q and c_q (maps in
     * parallel, each thread with its own row buffer T) */
    double cg = 0;
    int nthr = 1;
#ifdef _OPENMP
    nthr = omp_get_max_threads();
#endif
    T = malloc(sizeof(double) * ((size_t)h * (size_t)nx * (size_t)nthr + 1));
    if (!T) { st = CC_ERR_NOMEM; goto done; }
#pragma omp parallel for schedule(static) if ((size_t)n * hw >= PAR_MIN)
    for (int q = -1; q < n; q++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        double *Tq = T + (size_t)tid * (size_t)h * (size_t)nx;
        const float *mq = q < 0 ? ref : maps + (size_t)q * hw;
        double *vq = q < 0 ? vg : V + (size_t)q * hw, *cq = q < 0 ? &cg : c + q;
        if (!mq) continue;
        int finite = 1;
        for (size_t k = 0; k < hw; k++) finite &= isfinite(mq[k]) != 0;
        float lo = 0, hi = 0;
        if (finite) {
            /* rows interpolated at the extreme columns (the upsampler's t0 / t1), then the extreme rows */
            for (int i = 0; i < h; i++) {
                const float *r = mq + (size_t)i * (size_t)w;
                double *ti = Tq + (size_t)i * (size_t)nx;
                for (int b = 0; b < nx; b++) {
                    const cc_tap *X = &tx[ex[b]];
                    ti[b] = (double)X->l0 * r[X->i0] + (double)X->l1 * r[X->i1];
                }
            }
            for (int a = 0; a < ny; a++) {
                const cc_tap *Y = &ty[ey[a]];
                const double *t0 = Tq + (size_t)Y->i0 * (size_t)nx, *t1 = Tq + (size_t)Y->i1 * (size_t)nx;
                double h0 = Y->l0, h1 = Y->l1;
                for (int b = 0; b < nx; b++) {
                    float v = (float)(h0 * t0[b] + h1 * t1[b]);
                    if (a == 0 && b == 0) lo = hi = v;
                    if (v < lo) lo = v;
                    if (v > hi) hi = v;
                }
            }
        }
        float range = hi - lo;
        int flat = !finite || !isfinite(range) || !(range > 0.0f);
        if (q >= 0) out->flat[q] = (unsigned char)flat;
        if (flat) {
            memset(vq, 0, sizeof(double) * hw);
            *cq = 0;
        } else {
            for (size_t k = 0; k < hw; k++) vq[k] = (double)mq[k] / range;
            *cq = (double)lo / range;
        }
    }

    /* sums over the included maps */
    int N = 0;
    double sc = 0, sc2 = 0;
    for (int q = 0; q < n; q++) {
        if (skip && skip[q]) continue;
        N++;
        sc += c[q];
        sc2 += c[q] * c[q];
    }
    out->count = N;
#pragma omp parallel for schedule(static) if ((size_t)n * hw >= PAR_MIN)
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            size_t k = (size_t)i * (size_t)w + (size_t)j;
            double s1 = 0, scv = 0, s2[9] = { 0 };
            for (int q = 0; q < n; q++) {
                if (skip && skip[q]) continue;
                const double *vq = V + (size_t)q * hw;
                double v = vq[k];
                s1 += v;
                scv += c[q] * v;
                if (v == 0) continue;
                for (int di = -1; di <= 1; di++) {
                    if (i + di < 0 || i + di >= h) continue;
                    for (int dj = -1; dj <= 1; dj++) {
                        if (j + dj < 0 || j + dj >= w) continue;
                        s2[(di + 1) * 3 + dj + 1] += v * vq[k + (size_t)((ptrdiff_t)di * w + dj)];
                    }
                }
            }
            S1[k] = s1;
            Sc[k] = scv;
            memcpy(S2 + k * 9, s2, sizeof s2);
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
                        r2[dy] += wx[b] * wx[b2] * S2[k * 9 + (size_t)(dy * 3 + (ix[b2] - ix[b] + 1))];
            }
            size_t o = (size_t)i * (size_t)ow + (size_t)x;
            R1[o] = r1;
            Rc[o] = rc;
            for (int dy = 0; dy < 3; dy++) R2[((size_t)i * 3 + (size_t)dy) * (size_t)ow + (size_t)x] = r2[dy];
        }
    /* ... then along y */
#pragma omp parallel for schedule(static) if (HW >= 4 * PAR_MIN)
    for (int y = 0; y < oh; y++) {
        const cc_tap *Y = &ty[y];
        int iy[2] = { Y->i0, Y->i1 };
        double wy[2] = { Y->l0, Y->l1 };
        for (int x = 0; x < ow; x++) {
            double um = 0, uc = 0, q2 = 0;
            for (int a = 0; a < 2; a++) {
                size_t o = (size_t)iy[a] * (size_t)ow + (size_t)x;
                um += wy[a] * R1[o];
                uc += wy[a] * Rc[o];
                for (int a2 = 0; a2 < 2; a2++)
                    q2 += wy[a] * wy[a2] * R2[((size_t)iy[a] * 3 + (size_t)(iy[a2] - iy[a] + 1)) * (size_t)ow + (size_t)x];
            }
            size_t o = (size_t)y * (size_t)ow + (size_t)x;
            if (N == 0) { out->mean[o] = out->var[o] = 0; continue; }
            double mean = (um - sc) / N, e2 = (q2 - 2 * uc + sc2) / N, var = e2 - mean * mean;
            out->mean[o] = (float)mean;
            out->var[o] = (float)(var > 0 ? var : 0);
        }
    }

    /* RMS difference of each normalised map from the normalised reference */
    if (ref) {
        gram(ty, oh, h, Gy, cy);
        gram(tx, ow, w, Gx, cx);
#pragma omp parallel for schedule(static) if ((size_t)n * hw >= PAR_MIN)
        for (int q = 0; q < n; q++) {
            const double *vq = V + (size_t)q * hw;
            double e = c[q] - cg, quad = 0, lin = 0;
            for (int i = 0; i < h; i++)
                for (int j = 0; j < w; j++) {
                    size_t k = (size_t)i * (size_t)w + (size_t)j;
                    double wk = vq[k] - vg[k];
                    if (wk == 0) continue;
                    lin += cy[i] * cx[j] * wk;
                    for (int di = -1; di <= 1; di++) {
                        if (i + di < 0 || i + di >= h) continue;
                        double gy = Gy[(size_t)i * 3 + (size_t)(di + 1)];
                        if (gy == 0) continue;
                        for (int dj = -1; dj <= 1; dj++) {
                            if (j + dj < 0 || j + dj >= w) continue;
                            size_t k2 = k + (size_t)((ptrdiff_t)di * w + dj);
                            quad += gy * Gx[(size_t)j * 3 + (size_t)(dj + 1)] * wk * (vq[k2] - vg[k2]);
                        }
                    }
                }
            double ss = quad - 2 * e * lin + e * e * (double)HW;
            out->rms[q] = (float)sqrt((ss > 0 ? ss : 0) / (double)HW);
        }
    }
done:
    free(ty); free(tx); free(ey); free(ex); free(V); free(c); free(S1); free(Sc); free(S2);
    free(Gy); free(Gx); free(cy); free(cx); free(vg); free(T); free(R1); free(Rc); free(R2);
    if (st) cc_map_stats_free(out);
    cc_threads_end(thr);
    return st;
}
