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

/* The maps go QB at a time, transposed: lane l of a block holds one map, so
 * every step below is one vector operation across QB maps, whatever the map
 * size.  A block's plane has a zero border one pixel wide (padded width wp):
 * the neighbour at offset (di, dj) of padded position k is k + di * wp + dj,
 * and a product reaching past the plane's edge is zero without a mask.  Only
 * five neighbour products are summed, (0,0) (0,1) (1,-1) (1,0) (1,1): the
 * other four are the same products seen from the neighbour. */
#define QB 8                    /* maps per block: one AVX-512 vector of doubles */
#define NCHUNK 8                /* fixed runs of blocks, summed in order: no dependence on the thread count */
#define NPOS 5
#define NACC (2 + NPOS)         /* per pixel and lane: sum v, sum c v, the five products */
#define NOFF 9                  /* all neighbour offsets (di + 1) * 3 + (dj + 1) */
#define PAR_MIN ((size_t)1 << 14)
#define SB 8                    /* blocks normalised before their sums are added (block_sums) */
static const int pos_di[NPOS] = { 0, 0, 1, 1, 1 }, pos_dj[NPOS] = { 0, 1, -1, 0, 1 };

/* A block's QB lanes as one vector (GCC's vector extensions: one AVX-512
 * register in the x86-64-v4 clone, split by the compiler elsewhere), where
 * the vectoriser alone picked half-width vectors (block_norm's extremes). */
typedef double v8d __attribute__((vector_size(8 * QB), aligned(8)));
typedef float v8f __attribute__((vector_size(4 * QB), aligned(4)));

static int in_plane(int i, int j, int di, int dj, int h, int w)
{
    return i + di >= 0 && i + di < h && j + dj >= 0 && j + dj < w;
}

typedef struct {
    int h, w, nx, ny;
    size_t hw;                  /* pixels */
    const size_t *pix;          /* padded position of pixel k */
    ptrdiff_t pos[NPOS];        /* the five offsets in the padded plane */
    const cc_tap *ty;
    const int *ey, *xi;         /* extreme rows; taps of the extreme columns (xi[b], xi[nx + b]) */
    const double *xl;           /* their weights */
} geom;

typedef struct {                /* one thread's scratch */
    double *X, *T, *D, *acc;    /* block plane, row interpolations, difference from the reference, lane sums */
    double *Xs;                 /* SB block planes, X one of them */
} scratch;

/* Loads maps src[l] (NULL: none) into X's lanes; from the extremes of each
 * upsampled map (rows interpolated at the extreme columns, then the extreme
 * rows: the upsampler's own operations, so the same min and max) leaves
 * v = m / range in X and sets c = lo / range; a flat map is all zero. */
CC_HOT_CLONES
static void block_norm(const geom *g, const float *const src[QB], scratch *sc, double c[QB], int flat[QB])
{
    double *restrict X = sc->X, *restrict T = sc->T;
    int finite[QB];
    float lo[QB], hi[QB];   /* of each upsampled map */
    double rd[QB];   /* 1 / range: a division per lane, not per pixel */
    double fs[QB];   /* sum of x - x: 0 exactly when every value is finite */
    int full = 1;
    for (int l = 0; l < QB; l++) {
        lo[l] = INFINITY, hi[l] = -INFINITY, fs[l] = 0;
        full &= src[l] != NULL;
    }
    if (full) {
        /* pixel by pixel: eight loads from lines already in L1, one store (an
         * 8 x 8 transpose of eight pixels of eight maps measured no faster) */
        for (size_t k = 0; k < g->hw; k++) {
            double *restrict x = X + g->pix[k] * QB;
#pragma omp simd
            for (int l = 0; l < QB; l++) x[l] = src[l][k];
        }
    } else {
        for (int l = 0; l < QB; l++) {
            const float *m = src[l];
            for (size_t k = 0; k < g->hw; k++) X[g->pix[k] * QB + (size_t)l] = m ? m[k] : 0.0f;
        }
    }
    for (size_t k = 0; k < g->hw; k++) {
        const double *restrict x = X + g->pix[k] * QB;
#pragma omp simd
        for (int l = 0; l < QB; l++) fs[l] += x[l] - x[l];
    }
    for (int l = 0; l < QB; l++) finite[l] = fs[l] == 0.0;
    for (int i = 0; i < g->h; i++)
        for (int b = 0; b < g->nx; b++) {
            const double *restrict r0 = X + (g->pix[(size_t)i * (size_t)g->w] + (size_t)g->xi[b]) * QB;
            const double *restrict r1 = X + (g->pix[(size_t)i * (size_t)g->w] + (size_t)g->xi[g->nx + b]) * QB;
            double *restrict t = T + ((size_t)i * (size_t)g->nx + (size_t)b) * QB;
            const double l0 = g->xl[b], l1 = g->xl[g->nx + b];
#pragma omp simd
            for (int l = 0; l < QB; l++) t[l] = l0 * r0[l] + l1 * r1[l];
        }
    /* along b, two running extremes in turn: independent chains (one
     * compare-and-select's latency per value with one) */
    v8f lo0, hi0, lo1, hi1;
    for (int l = 0; l < QB; l++) lo0[l] = lo1[l] = INFINITY, hi0[l] = hi1[l] = -INFINITY;
#define CC_EXT(lov, hiv, t0, t1)                                                 \
    do {                                                                       \
        const v8f v = __builtin_convertvector(h0 * (t0) + h1 * (t1), v8f);     \
        for (int l = 0; l < QB; l++) { /* a NaN keeps the extreme */           \
            lov[l] = isless(v[l], lov[l]) ? v[l] : lov[l];                     \
            hiv[l] = isgreater(v[l], hiv[l]) ? v[l] : hiv[l];                  \
        }                                                                      \
    } while (0)
    for (int a = 0; a < g->ny; a++) {
        const cc_tap *Y = &g->ty[g->ey[a]];
        const double h0 = Y->l0, h1 = Y->l1;
        const v8d *t0 = (const v8d *)(T + (size_t)Y->i0 * (size_t)g->nx * QB), *t1 = (const v8d *)(T + (size_t)Y->i1 * (size_t)g->nx * QB);
        int b = 0;
        for (; b + 1 < g->nx; b += 2) {
            CC_EXT(lo0, hi0, t0[b], t1[b]);
            CC_EXT(lo1, hi1, t0[b + 1], t1[b + 1]);
        }
        if (b < g->nx) CC_EXT(lo0, hi0, t0[b], t1[b]);
    }
#undef CC_EXT
    for (int l = 0; l < QB; l++) {
        lo[l] = isless(lo1[l], lo0[l]) ? lo1[l] : lo0[l];
        hi[l] = isgreater(hi1[l], hi0[l]) ? hi1[l] : hi0[l];
    }
    for (int l = 0; l < QB; l++) {
        float range = hi[l] - lo[l];
        flat[l] = !src[l] || !finite[l] || !isfinite(range) || !(range > 0.0f);
        rd[l] = flat[l] ? 1.0 : 1.0 / (double)range;
        c[l] = flat[l] ? 0.0 : (double)lo[l] / range;
    }
    for (size_t k = 0; k < g->hw; k++) {
        double *restrict x = X + g->pix[k] * QB;
#pragma omp simd
        for (int l = 0; l < QB; l++) x[l] *= rd[l];
    }
    for (int l = 0; l < QB; l++)
        if (flat[l])
            for (size_t k = 0; k < g->hw; k++) X[g->pix[k] * QB + (size_t)l] = 0.0;
}

/* The squared distance of each lane's normalised map from the normalised
 * reference: sum_x (n_q - n_g)^2 = sum_k cf_0[k] w[k]^2 + 2 sum over the other
 * four offsets of sum_k cf_o[k] w[k] w[k + off_o] - 2 e sum_k cl[k] w[k] + e^2 HW,
 * with w = v_q - v_g, e = c_q - c_g, cf_o = Gy Gx at the offset, cl = cy cx. */
CC_HOT_CLONES
static void block_rms(const geom *g, scratch *sc, const double *vg, double cg, const double *cf, const double c[QB],
                      double HW, double ss[QB])
{
    const double *restrict X = sc->X;
    double *restrict D = sc->D;
    double quad[QB], lin[QB];
    for (int l = 0; l < QB; l++) quad[l] = lin[l] = 0;
    for (size_t k = 0; k < g->hw; k++) {
        const size_t p = g->pix[k];
#pragma omp simd
        for (int l = 0; l < QB; l++) D[p * QB + (size_t)l] = X[p * QB + (size_t)l] - vg[p];
    }
    for (size_t k = 0; k < g->hw; k++) {
        const double *restrict d = D + g->pix[k] * QB, *restrict f = cf + k * (NPOS + 1);
        const double *restrict d1 = d + g->pos[1] * QB, *restrict d2 = d + g->pos[2] * QB;
        const double *restrict d3 = d + g->pos[3] * QB, *restrict d4 = d + g->pos[4] * QB;
#pragma omp simd
        for (int l = 0; l < QB; l++) {
            double s = f[1] * d1[l] + f[2] * d2[l] + f[3] * d3[l] + f[4] * d4[l];
            quad[l] += d[l] * (f[0] * d[l] + 2 * s);
            lin[l] += f[NPOS] * d[l];
        }
    }
    for (int l = 0; l < QB; l++) {
        double e = c[l] - cg;
        ss[l] = quad[l] - 2 * e * lin[l] + e * e * HW;
    }
}

/* Adds the lanes' v, c v and neighbour products of nb blocks (planes `stride`
 * apart from Xs, their c in cs) to the lane sums: pixel by pixel, the seven
 * sums in registers through the blocks (with one block at a time they were
 * read and written back per block), block after block as before: the same
 * bits. */
CC_HOT_CLONES
static void block_sums(const geom *g, const double *Xs, size_t stride, int nb, const double (*cs)[QB], double *acc)
{
    for (size_t k = 0; k < g->hw; k++) {
        v8d *a = (v8d *)(acc + k * NACC * QB);
        v8d s0 = a[0], s1 = a[1], s2 = a[2], s3 = a[3], s4 = a[4], s5 = a[5], s6 = a[6];
        for (int b = 0; b < nb; b++) {
            const double *x = Xs + (size_t)b * stride + g->pix[k] * QB;
            const v8d v = *(const v8d *)x, c = *(const v8d *)cs[b];
            s0 += v;
            s1 += c * v;
            s2 += v * v;
            s3 += v * *(const v8d *)(x + g->pos[1] * QB);
            s4 += v * *(const v8d *)(x + g->pos[2] * QB);
            s5 += v * *(const v8d *)(x + g->pos[3] * QB);
            s6 += v * *(const v8d *)(x + g->pos[4] * QB);
        }
        a[0] = s0, a[1] = s1, a[2] = s2, a[3] = s3, a[4] = s4, a[5] = s5, a[6] = s6;
    }
}

CC_HOT_CLONES
cc_status cc_map_stats_compute(const float *maps, int n, int h, int w, const float *ref, const unsigned char *skip, int oh,
                               int ow, cc_map_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!maps || n < 1 || h < 1 || w < 1 || oh < 1 || ow < 1) return CC_ERR_ARG;
    int thr = cc_threads_begin();
    const size_t hw = (size_t)h * (size_t)w, HW = (size_t)oh * (size_t)ow, wp = (size_t)w + 2;
    const size_t P = ((size_t)h + 2) * wp;
    out->n = n, out->h = oh, out->w = ow;
    out->mean = malloc(sizeof(float) * HW);
    out->var = malloc(sizeof(float) * HW);
    out->rms = calloc((size_t)n, sizeof(float));
    out->flat = calloc((size_t)n, 1);
    int nthr = 1;
#ifdef _OPENMP
    nthr = omp_get_max_threads();
#endif
    cc_tap *ty = malloc(sizeof(cc_tap) * (size_t)oh), *tx = malloc(sizeof(cc_tap) * (size_t)ow);
    int *ey = malloc(sizeof(int) * (size_t)oh), *ex = malloc(sizeof(int) * (size_t)ow);
    int *xi = malloc(sizeof(int) * 2 * (size_t)ow);
    double *xl = malloc(sizeof(double) * 2 * (size_t)ow);
    size_t *pix = malloc(sizeof(size_t) * hw);
    double *vg = calloc(P, sizeof(double));
    double *cf = malloc(sizeof(double) * (NPOS + 1) * hw);
    double *res = malloc(sizeof(double) * NACC * hw * NCHUNK);   /* each run's sums, lanes added */
    double *S2 = malloc(sizeof(double) * NOFF * hw);
    double *Gy = malloc(sizeof(double) * (size_t)h * 3), *Gx = malloc(sizeof(double) * (size_t)w * 3);
    double *cy = malloc(sizeof(double) * (size_t)h), *cx = malloc(sizeof(double) * (size_t)w);
    double *R1 = malloc(sizeof(double) * (size_t)h * (size_t)ow), *Rc = malloc(sizeof(double) * (size_t)h * (size_t)ow);
    double *R2 = malloc(sizeof(double) * (size_t)h * 3 * (size_t)ow);
    double *wxx = malloc(sizeof(double) * 5 * (size_t)ow);   /* per x: l0, l1, l0 l0, l0 l1, l1 l1 */
    int *run0 = malloc(sizeof(int) * ((size_t)ow + 1));       /* first x of each run of equal taps, then ow */
    scratch *scr = calloc((size_t)nthr, sizeof *scr);
    int pn[NCHUNK];
    double psc[NCHUNK], psc2[NCHUNK];
    cc_status st = CC_OK;
    int ok = out->mean && out->var && out->rms && out->flat && ty && tx && ey && ex && xi && xl && pix && vg && cf && res &&
             S2 && Gy && Gx && cy && cx && R1 && Rc && R2 && wxx && run0 && scr;
    if (!ok) { st = CC_ERR_NOMEM; goto done; }

    cc_upsample_taps(h, oh, ty);
    cc_upsample_taps(w, ow, tx);
    const int ny = extremes(ty, oh, ey), nx = extremes(tx, ow, ex);
    int nrun = 0;
    for (int x = 0; x < ow; x++) {
        const double l0 = tx[x].l0, l1 = tx[x].l1;
        wxx[x] = l0, wxx[ow + x] = l1, wxx[2 * ow + x] = l0 * l0, wxx[3 * ow + x] = l0 * l1, wxx[4 * ow + x] = l1 * l1;
        if (x == 0 || tx[x].i0 != tx[x - 1].i0 || tx[x].i1 != tx[x - 1].i1) run0[nrun++] = x;
    }
    run0[nrun] = ow;
    for (int b = 0; b < nx; b++) {
        const cc_tap *X = &tx[ex[b]];
        xi[b] = X->i0, xi[nx + b] = X->i1, xl[b] = X->l0, xl[nx + b] = X->l1;
    }
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) pix[(size_t)i * (size_t)w + (size_t)j] = ((size_t)i + 1) * wp + (size_t)j + 1;
    geom g = { .h = h, .w = w, .nx = nx, .ny = ny, .hw = hw, .pix = pix, .ty = ty, .ey = ey, .xi = xi, .xl = xl };
    for (int o = 0; o < NPOS; o++) g.pos[o] = (ptrdiff_t)pos_di[o] * (ptrdiff_t)wp + pos_dj[o];

    /* the reference first: its v and c, and the weights of the RMS distances */
    double cg = 0;
    if (ref) {
        const float *src[QB] = { ref };
        double c[QB];
        int flat[QB];
        scratch rs = { .X = calloc(P * QB, sizeof(double)), .T = malloc(sizeof(double) * (size_t)h * (size_t)nx * QB) };
        if (!rs.X || !rs.T) {
            free(rs.X), free(rs.T);
            st = CC_ERR_NOMEM;
            goto done;
        }
        block_norm(&g, src, &rs, c, flat);
        for (size_t p = 0; p < P; p++) vg[p] = rs.X[p * QB];
        free(rs.X), free(rs.T);
        cg = c[0];
        gram(ty, oh, h, Gy, cy);
        gram(tx, ow, w, Gx, cx);
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++) {
                double *f = cf + ((size_t)i * (size_t)w + (size_t)j) * (NPOS + 1);
                for (int o = 0; o < NPOS; o++)
                    f[o] = in_plane(i, j, pos_di[o], pos_dj[o], h, w)
                        ? Gy[(size_t)i * 3 + (size_t)(pos_di[o] + 1)] * Gx[(size_t)j * 3 + (size_t)(pos_dj[o] + 1)] : 0;
                f[NPOS] = cy[i] * cx[j];
            }
    }

    /* every map: v, c, flat and the RMS distance, then the sums over the maps
     * that are not skipped, per lane; each run's lanes added in a fixed order */
    const int nblk = (n + QB - 1) / QB;
    int nomem = 0;
#pragma omp parallel if ((size_t)n * hw >= PAR_MIN)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        /* each thread's scratch, allocated and first written by that thread: in
         * its own core's cache, and not zeroed one after another by one thread */
        scratch *sc = &scr[tid];
        sc->X = sc->Xs = calloc(SB * P * QB, sizeof(double));
        sc->D = calloc(P * QB, sizeof(double));
        sc->T = malloc(sizeof(double) * (size_t)h * (size_t)nx * QB);
        sc->acc = malloc(sizeof(double) * hw * NACC * QB);
        const int mine = sc->Xs && sc->D && sc->T && sc->acc;
        if (!mine) {
#pragma omp atomic write
            nomem = 1;
        }
#pragma omp for schedule(static)
        for (int r = 0; r < NCHUNK; r++) {
            if (!mine) continue;
            memset(sc->acc, 0, sizeof(double) * hw * NACC * QB);
            int cnt = 0, nb = 0;
            double a = 0, a2 = 0, cs[SB][QB];
            const int blk1 = (int)((int64_t)nblk * (r + 1) / NCHUNK);
            for (int blk = (int)((int64_t)nblk * r / NCHUNK); blk < blk1; blk++) {
                const int q0 = blk * QB;
                const float *src[QB];
                double *c = cs[nb], ss[QB];
                int flat[QB];
                sc->X = sc->Xs + (size_t)nb * P * QB;
                for (int l = 0; l < QB; l++) src[l] = q0 + l < n ? maps + (size_t)(q0 + l) * hw : NULL;
                block_norm(&g, src, sc, c, flat);
                if (ref) block_rms(&g, sc, vg, cg, cf, c, (double)HW, ss);
                for (int l = 0; l < QB && q0 + l < n; l++) {
                    const int q = q0 + l;
                    out->flat[q] = (unsigned char)flat[l];
                    if (ref) out->rms[q] = (float)sqrt((ss[l] > 0 ? ss[l] : 0) / (double)HW);
                    if (skip && skip[q]) {   /* out of the sums: a zero lane */
                        for (size_t k = 0; k < hw; k++) sc->X[pix[k] * QB + (size_t)l] = 0.0;
                        c[l] = 0;
                        continue;
                    }
                    cnt++;
                    a += c[l];
                    a2 += c[l] * c[l];
                }
                if (++nb == SB || blk + 1 == blk1) {
                    block_sums(&g, sc->Xs, P * QB, nb, (const double(*)[QB])cs, sc->acc);
                    nb = 0;
                }
            }
            sc->X = sc->Xs;
            double *rr = res + (size_t)r * NACC * hw;
            for (size_t k = 0; k < hw; k++)
                for (int j = 0; j < NACC; j++) {
                    const double *al = sc->acc + (k * NACC + (size_t)j) * QB;
                    double s = 0;
                    for (int l = 0; l < QB; l++) s += al[l];
                    rr[(size_t)j * hw + k] = s;
                }
            pn[r] = cnt, psc[r] = a, psc2[r] = a2;
        }
    }
    if (nomem) { st = CC_ERR_NOMEM; goto done; }
    int N = 0;
    double sc = 0, sc2 = 0;
    for (int r = 0; r < NCHUNK; r++) {
        N += pn[r], sc += psc[r], sc2 += psc2[r];
        if (r == 0) continue;
        double *r0 = res, *rr = res + (size_t)r * NACC * hw;
        for (size_t k = 0; k < NACC * hw; k++) r0[k] += rr[k];
    }
    out->count = N;
    const double rN = N ? 1.0 / N : 0.0;   /* a multiplication per pixel, not two divisions */
    const double *S1 = res, *Sc = res + hw;
    /* all nine offsets per pixel: a negative offset's product is the mirror
     * offset's product stored at the neighbour */
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            const size_t k = (size_t)i * (size_t)w + (size_t)j;
            for (int o = 0; o < NOFF; o++) {
                int di = o / 3 - 1, dj = o % 3 - 1;
                double v = 0;
                if (in_plane(i, j, di, dj, h, w)) {
                    int pos = o >= 4 ? o - 4 : 4 - o;                     /* 8 - o mirrored, minus 4 */
                    size_t at = o >= 4 ? k : (size_t)((ptrdiff_t)k + di * w + dj);
                    v = res[(size_t)(2 + pos) * hw + at];
                }
                S2[k * NOFF + (size_t)o] = v;
            }
        }
    /* per output pixel: mean and variance from the four taps, separably: first
     * along x for every layer row (and row offset dy of the pair products),
     * one run of columns with the same taps at a time, so the inner loops run
     * over x with the sums hoisted (they vectorise; the same operations in the
     * same order as per pixel) ...
     * (both passes in one parallel region: the threads wait once between them) */
#pragma omp parallel if (HW >= PAR_MIN)
    {
#pragma omp for schedule(static)
        for (int t = 0; t < h * nrun; t++) {
            const int i = t / nrun, x0 = run0[t % nrun], x1 = run0[t % nrun + 1];
            const int j0 = tx[x0].i0, j1 = tx[x0].i1;
            const size_t k0 = (size_t)i * (size_t)w + (size_t)j0, k1 = (size_t)i * (size_t)w + (size_t)j1;
            const double s10 = S1[k0], s11 = S1[k1], sc0 = Sc[k0], sc1 = Sc[k1];
            double *restrict r1 = R1 + (size_t)i * (size_t)ow, *restrict rc = Rc + (size_t)i * (size_t)ow;
#pragma omp simd
            for (int x = x0; x < x1; x++) {
                r1[x] = wxx[x] * s10 + wxx[ow + x] * s11;
                rc[x] = wxx[x] * sc0 + wxx[ow + x] * sc1;
            }
            for (int dy = 0; dy < 3; dy++) {
                const double p00 = S2[k0 * NOFF + (size_t)(dy * 3 + 1)], p01 = S2[k0 * NOFF + (size_t)(dy * 3 + j1 - j0 + 1)];
                const double p10 = S2[k1 * NOFF + (size_t)(dy * 3 + j0 - j1 + 1)], p11 = S2[k1 * NOFF + (size_t)(dy * 3 + 1)];
                double *restrict r2 = R2 + ((size_t)i * 3 + (size_t)dy) * (size_t)ow;
#pragma omp simd
                for (int x = x0; x < x1; x++)
                    r2[x] = wxx[2 * ow + x] * p00 + wxx[3 * ow + x] * p01 + wxx[3 * ow + x] * p10 + wxx[4 * ow + x] * p11;
            }
        }
        /* ... then along y, a whole picture row at a time */
#pragma omp for schedule(static)
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
                double mean = (um - sc) * rN, e2 = (q2 - 2 * uc + sc2) * rN, var = e2 - mean * mean;
                const float vf = (float)var;
                mo[x] = (float)mean;
                vo[x] = isgreater(vf, 0.0f) ? vf : 0.0f;   /* (float)(var > 0 ? var : 0), and it vectorises */
            }
        }
    }

done:
    free(ty); free(tx); free(ey); free(ex); free(xi); free(xl); free(pix); free(vg); free(cf); free(res); free(S2);
    free(Gy); free(Gx); free(cy); free(cx); free(R1); free(Rc); free(R2); free(wxx); free(run0);
    for (int t = 0; scr && t < nthr; t++) free(scr[t].Xs), free(scr[t].D), free(scr[t].T), free(scr[t].acc);
    free(scr);
    if (st) cc_map_stats_free(out);
    cc_threads_end(thr);
    return st;
}
