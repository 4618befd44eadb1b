/* The packed-weight products (src/ops/conv_packed.c) on their own, on both tile
 * shapes (narrow: N < 784, wide: N >= 784), partial panels and partial tiles,
 * narrow tiles of 6 and 7 positions mixed (tiles_six):
 *   - against a double-precision reference (relative to the sum of |terms|);
 *   - skipping the k whose inputs are all zero in a tile (skip_zeros) gives the
 *     same bits as not skipping, on inputs with ReLU-like zeros (-0 among them)
 *     and whole zero rows;
 *   - a non-finite weight turns the skipping off (inf * 0 must stay NaN);
 *   - the all-Q epilogue max(col - WB, 0) (cc_packed_gemm_contrast) equals the
 *     plain product followed by the same expression in C, bit for bit, NaN -> 0;
 *   - with p'B formed in the product's first pass (cc_packed_gemm_pullback),
 *     the same bits as p'B summed in C and the product of the scaled copy;
 *   - long sums (narrow panels over 256 KB: the sums go in blocks of k, each
 *     thread through its tasks block by block) give the same bits at 1 and 2
 *     threads, as every shape must.
 * And the classifier's one-row product over packed rows (cc_gemv_packed, the
 * forward's Gemm with transB on one image) against the row-major kernel
 * (cc_gemv_rows): the outputs and the softmax pull-back u = W' softmax(y),
 * the same bits at 1 and 2 threads, NaN carried into u.
 * Exit 77 where the kernels are not built or the CPU lacks AVX-512. */
#include "check.h"
#include "ops/conv_kernels.h"

#include <omp.h>
#include <string.h>

static unsigned rs = 2024;
static float frand(void)
{
    rs = rs * 1103515245u + 12345u;
    return (float)((rs >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static int same_bits(const float *a, const float *b, size_t n)
{
    return !memcmp(a, b, sizeof(float) * n);
}

/* x (C x N) to the channel-blocked layout and back (cc_packed_gemm_c16) */
static void to_c16(const float *x, int64_t C, int64_t N, float *y)
{
    for (int64_t c = 0; c < C; c++)
        for (int64_t n = 0; n < N; n++) y[c / 16 * 16 * N + 16 * n + c % 16] = x[c * N + n];
}

/* The channel-blocked products: every combination of a blocked input and a
 * blocked output (with a blocked residual), with a bias and each activation,
 * or a row-major output with a blocked residual, moves the row-major
 * product's values without changing a bit, at 1 and 2 threads: plain tiles, 7-wide tiles cut at N (N < 30), sums in k blocks and
 * in two halves. */
static void test_c16(void)
{
    static const int64_t shapes[][3] = {
        { 1024, 256, 196 }, { 64, 384, 196 }, { 96, 576, 196 }, { 512, 2048, 49 }, { 160, 960, 49 }, { 32, 64, 25 }, { 48, 32, 7 },
    };
    int halves = 0, blocks = 0;
    const int thr = omp_get_max_threads();
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int64_t M = shapes[si][0], K = shapes[si][1], N = shapes[si][2];
        float *W = malloc(sizeof(float) * (size_t)(M * K)), *B = malloc(sizeof(float) * (size_t)(K * N));
        float *Bb = malloc(sizeof(float) * (size_t)(K * N)), *bias = malloc(sizeof(float) * (size_t)M);
        float *R = malloc(sizeof(float) * (size_t)(M * N)), *Rb = malloc(sizeof(float) * (size_t)(M * N));
        float *C0 = malloc(sizeof(float) * (size_t)(M * N)), *C1 = malloc(sizeof(float) * (size_t)(M * N));
        float *Cb = malloc(sizeof(float) * (size_t)(M * N));
        int32_t *boff = malloc(sizeof(int32_t) * (size_t)K);
        for (int64_t i = 0; i < M * K; i++) W[i] = frand();
        for (int64_t i = 0; i < K * N; i++) B[i] = frand();
        for (int64_t i = 0; i < M * N; i++) R[i] = i % 9 == 2 ? -0.0f : frand();
        for (int64_t m = 0; m < M; m++) bias[m] = m % 5 == 1 ? 0.0f : frand();
        for (int64_t k = 0; k < K; k++) boff[k] = (int32_t)(k / 16 * 16 * N + k % 16);
        to_c16(B, K, N, Bb);
        to_c16(R, M, N, Rb);
        cc_packed pk;
        CHECK(cc_packed_plan(M, K, N, &pk) && !pk.wide, "c16 plan %lld x %lld x %lld", (long long)M, (long long)K, (long long)N);
        float *Wp = malloc(sizeof(float) * cc_packed_floats(&pk) + 64);
        cc_packed_weights(&pk, W, Wp);
        pk.halves = cc_packed_halves_ok(&pk, N);
        halves += pk.halves;
        blocks += pk.rows * K * 4 > (256 << 10) && !pk.halves;
        for (int kind = 0; kind < 3; kind++) {
            const int res = kind == CC_POST_RELU;
            cc_post post = { kind, -0.5f, 0.5f, res ? R : NULL, C0 };
            cc_packed_gemm(&pk, Wp, B, N, N, C0, N, bias, &post);
            for (int t = 1; t <= 2; t++) {
                omp_set_num_threads(t);
                for (int mode = 1; mode < 8; mode++) {   /* CC_C16_IN, _OUT (with a blocked residual), _RES alone */
                    const int bin = mode & CC_C16_IN, bout = (mode & CC_C16_OUT) != 0, bres = (mode & CC_C16_RES) != 0;
                    if (bout && !bres) continue;
                    if (bres && !bout && pk.halves) {   /* a blocked residual alone is added per tile, not in halves */
                        CHECK(!cc_packed_c16_ok(&pk, K, N, mode), "c16 %lldx%lldx%lld in halves: no blocked residual alone",
                              (long long)M, (long long)K, (long long)N);
                        continue;
                    }
                    float *out = bout ? Cb : C1;
                    cc_post pb = { kind, -0.5f, 0.5f, res ? (bres ? Rb : R) : NULL, out };
                    memset(out, 0xff, sizeof(float) * (size_t)(M * N));   /* NaN: a value not written shows */
                    CHECK(cc_packed_c16_ok(&pk, K, N, mode), "c16 %lldx%lldx%lld: bits %d planned", (long long)M, (long long)K,
                          (long long)N, mode);
                    cc_packed_gemm_c16(&pk, Wp, bin ? Bb : B, bin ? boff : NULL, N, out, mode, bias, &pb);
                    if (bout) to_c16(C0, M, N, C1);
                    CHECK(same_bits(C1, bout ? Cb : C1, (size_t)(M * N)) && (bout || same_bits(C0, C1, (size_t)(M * N))),
                          "c16 %lldx%lldx%lld%s, post %d, in %s, out %s, residual %s, %d thread(s): the row-major product's bits",
                          (long long)M, (long long)K, (long long)N, pk.halves ? " in halves" : "", kind,
                          bin ? "blocked" : "rows", bout ? "blocked" : "rows", bres ? "blocked" : "rows", t);
                }
            }
            omp_set_num_threads(thr);
        }
        free(W), free(B), free(Bb), free(bias), free(R), free(Rb), free(C0), free(C1), free(Cb), free(boff), free(Wp);
    }
    CHECK(halves == 3 && blocks == 1, "c16: three shapes in halves (%d), one in k blocks (%d)", halves, blocks);
}

int main(void)
{
    static const int64_t shapes[][3] = {
        /* M, K, N */
        { 1000, 1280, 49 }, { 48, 64, 25 }, { 17, 33, 7 }, { 130, 96, 13 }, { 64, 300, 196 },
        { 33, 40, 1 }, { 96, 50, 784 }, { 10, 24, 800 }, { 1, 5, 3 },
        { 130, 2000, 49 }, { 64, 1500, 100 },   /* in k blocks: 4 uneven ones; 3 with a partial chunk */
        { 50, 90, 30 }, { 40, 70, 41 }, { 20, 30, 779 },   /* 6-wide tiles only; 1 six + 5 sevens; the widest narrow */
        { 64, 300, 49 }, { 20, 131, 41 },   /* also summed in two halves (cc_packed_halves_ok), an odd K */
    };
    int halved = 0;
    cc_packed probe;
    if (!cc_packed_plan(16, 16, 49, &probe)) {
        printf("SKIP: no packed kernels in this build or CPU\n");
        return 77;
    }
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int64_t M = shapes[si][0], K = shapes[si][1], N = shapes[si][2];
        float *W = malloc(sizeof(float) * (size_t)(M * K)), *B = malloc(sizeof(float) * (size_t)(K * N));
        float *C0 = malloc(sizeof(float) * (size_t)(M * N)), *C1 = malloc(sizeof(float) * (size_t)(M * N));
        float *C2 = malloc(sizeof(float) * (size_t)(M * N)), *col = malloc(sizeof(float) * (size_t)N);
        double *ref = malloc(sizeof(double) * (size_t)(M * N)), *mag = malloc(sizeof(double) * (size_t)(M * N));
        for (int64_t i = 0; i < M * K; i++) W[i] = frand();
        /* ReLU-like inputs: about 70% zeros (some -0), every 5th row all zero,
         * and a run of rows zero only in the first 7 columns */
        for (int64_t k = 0; k < K; k++)
            for (int64_t n = 0; n < N; n++) {
                float v = frand();
                B[k * N + n] = k % 5 == 3 || (k % 7 == 1 && n < 7) ? (k & 1 ? -0.0f : 0.0f) : v > 0.4f ? v : 0.0f;
            }
        for (int64_t n = 0; n < N; n++) col[n] = n % 11 == 4 ? NAN : frand();
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                double s = 0, a = 0;
                for (int64_t k = 0; k < K; k++) s += (double)W[m * K + k] * B[k * N + n], a += fabs((double)W[m * K + k] * B[k * N + n]);
                ref[m * N + n] = s, mag[m * N + n] = a;
            }
        cc_packed pk;
        CHECK(cc_packed_plan(M, K, N, &pk), "plan %lld x %lld x %lld", (long long)M, (long long)K, (long long)N);
        float *Wp = malloc(sizeof(float) * cc_packed_floats(&pk) + 64);
        cc_packed_weights(&pk, W, Wp);
        CHECK(pk.finite, "finite weights flagged finite");

        pk.skip_zeros = 0;
        cc_packed_gemm(&pk, Wp, B, N, N, C0, N, NULL, NULL);
        double worst = 0;
        for (int64_t i = 0; i < M * N; i++) {
            double e = fabs(C0[i] - ref[i]) / (mag[i] + 1e-30);
            if (!(e <= worst)) worst = e;
        }
        CHECK(worst <= 1e-5, "%lldx%lldx%lld (%s): vs double reference, relative %.3g", (long long)M, (long long)K,
              (long long)N, pk.wide ? "wide" : "narrow", worst);

        pk.skip_zeros = 1;
        cc_packed_gemm(&pk, Wp, B, N, N, C1, N, NULL, NULL);
        CHECK(same_bits(C0, C1, (size_t)(M * N)), "%lldx%lldx%lld: skipping zero inputs changes no bit", (long long)M,
              (long long)K, (long long)N);
        const int thr = omp_get_max_threads();
        for (int t = 1; t <= 2; t++) {
            omp_set_num_threads(t);
            for (int z = 0; z <= 1; z++) {
                pk.skip_zeros = z;
                cc_packed_gemm(&pk, Wp, B, N, N, C2, N, NULL, NULL);
                CHECK(same_bits(C0, C2, (size_t)(M * N)), "%lldx%lldx%lld: the same bits at %d thread(s), skip_zeros %d",
                      (long long)M, (long long)K, (long long)N, t, z);
            }
        }
        omp_set_num_threads(thr);

        if (cc_packed_halves_ok(&pk, N)) {
            /* the sum over k in two fixed halves: against the reference, the same bits at 1 and 2 threads */
            halved++;
            pk.skip_zeros = 0;
            pk.halves = 1;
            cc_packed_gemm(&pk, Wp, B, N, N, C1, N, NULL, NULL);
            worst = 0;
            for (int64_t i = 0; i < M * N; i++) {
                double e = fabs(C1[i] - ref[i]) / (mag[i] + 1e-30);
                if (!(e <= worst)) worst = e;
            }
            CHECK(worst <= 1e-5, "%lldx%lldx%lld in halves: vs double reference, relative %.3g", (long long)M, (long long)K,
                  (long long)N, worst);
            for (int t = 1; t <= 2; t++) {
                omp_set_num_threads(t);
                cc_packed_gemm(&pk, Wp, B, N, N, C2, N, NULL, NULL);
                CHECK(same_bits(C1, C2, (size_t)(M * N)), "%lldx%lldx%lld in halves: the same bits at %d thread(s)",
                      (long long)M, (long long)K, (long long)N, t);
            }
            omp_set_num_threads(thr);
            pk.halves = 0;
        }

        /* the epilogue: max(col - WB, 0) with NaN -> 0, as cam.c's separate pass wrote it */
        cc_packed_gemm_contrast(&pk, Wp, B, N, N, C2, N, col);
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                float v = col[n] - C0[m * N + n];
                C1[m * N + n] = isgreater(v, 0.0f) ? v : 0.0f;
            }
        CHECK(same_bits(C1, C2, (size_t)(M * N)), "%lldx%lldx%lld: contrast epilogue = product then max(col - c, 0)",
              (long long)M, (long long)K, (long long)N);

        /* the pull-back formed in the product's first pass: p'B as cam.c's
         * pull_back_map sums it (double, k ascending, a product then a sum),
         * the product on the scaled copy: the same bits as the two steps apart */
        if (!pk.wide) {
            float *sc = malloc(sizeof(float) * (size_t)K), *dd = malloc(sizeof(float) * (size_t)K);
            float *uu = malloc(sizeof(float) * (size_t)K), *Bs = malloc(sizeof(float) * (size_t)(K * N));
            float *pc = malloc(sizeof(float) * (size_t)N);
            for (int64_t k = 0; k < K; k++) {
                sc[k] = k % 9 == 2 ? 0.0f : 0.5f + 0.25f * frand();   /* a zero scale empties a row too */
                dd[k] = 0.02f + 0.01f * frand();
                uu[k] = frand();
            }
            for (int64_t k = 0; k < K * N; k++) Bs[k] = sc[k / N] * B[k];
            for (int64_t n = 0; n < N; n++) {
                double a = 0;
                for (int64_t k = 0; k < K; k++) {
                    const double du = (double)dd[k] * uu[k];
                    a += du * B[k * N + n];
                }
                pc[n] = (float)a;
            }
            for (int t = 1; t <= 2; t++) {
                omp_set_num_threads(t);
                for (int z = 0; z <= 1; z++) {
                    pk.skip_zeros = z;
                    cc_packed_gemm_contrast(&pk, Wp, Bs, N, N, C1, N, pc);
                    int rc = cc_packed_gemm_pullback(&pk, Wp, B, N, N, C2, N, &(cc_pullback){ sc, dd, uu });
                    CHECK(rc == 0 && same_bits(C1, C2, (size_t)(M * N)),
                          "%lldx%lldx%lld: pull-back in the product's pass = the two steps (%d thread(s), skip_zeros %d, rc %d)",
                          (long long)M, (long long)K, (long long)N, t, z, rc);
                    cc_packed_gemm_contrast(&pk, Wp, B, N, N, C1, N, pc);
                    rc = cc_packed_gemm_pullback(&pk, Wp, B, N, N, C2, N, &(cc_pullback){ NULL, dd, uu });
                    CHECK(rc == 0 && same_bits(C1, C2, (size_t)(M * N)), "%lldx%lldx%lld: the same unscaled (skip_zeros %d)",
                          (long long)M, (long long)K, (long long)N, z);
                }
            }
            omp_set_num_threads(thr);
            free(sc), free(dd), free(uu), free(Bs), free(pc);
        } else {
            CHECK(cc_packed_gemm_pullback(&pk, Wp, B, N, N, C2, N, &(cc_pullback){ NULL, W, W }) == 1,
                  "%lldx%lldx%lld: a wide plan is declined", (long long)M, (long long)K, (long long)N);
        }

        /* one infinite weight: the skipping must not hide inf * 0 = NaN */
        W[(M - 1) * K + 3] = INFINITY;   /* row 3 of B is all zero */
        cc_packed_plan(M, K, N, &pk);
        cc_packed_weights(&pk, W, Wp);
        CHECK(!pk.finite, "an infinite weight clears the finite flag");
        pk.skip_zeros = 0;
        cc_packed_gemm(&pk, Wp, B, N, N, C0, N, NULL, NULL);
        pk.skip_zeros = 1;
        cc_packed_gemm(&pk, Wp, B, N, N, C1, N, NULL, NULL);
        int nan = 0;
        for (int64_t n = 0; n < N; n++) nan += isnan(C0[(M - 1) * N + n]);
        CHECK(nan > 0 && same_bits(C0, C1, (size_t)(M * N)), "%lldx%lldx%lld: inf * 0 stays NaN (%d NaN outputs)",
              (long long)M, (long long)K, (long long)N, nan);
        if (!pk.wide) {   /* and in the pull-back's pass, no row is skipped either */
            for (int64_t n = 0; n < N; n++) col[n] = 0.0f;
            float *zero = calloc((size_t)K, sizeof(float)), *one = malloc(sizeof(float) * (size_t)K);
            for (int64_t k = 0; k < K; k++) one[k] = 1.0f;
            pk.skip_zeros = 0;
            cc_packed_gemm_contrast(&pk, Wp, B, N, N, C0, N, col);
            pk.skip_zeros = 1;
            int rc = cc_packed_gemm_pullback(&pk, Wp, B, N, N, C1, N, &(cc_pullback){ one, zero, zero });
            CHECK(rc == 0 && same_bits(C0, C1, (size_t)(M * N)), "%lldx%lldx%lld: pull-back pass with an infinite weight",
                  (long long)M, (long long)K, (long long)N);
            free(zero), free(one);
        }
        free(W), free(B), free(C0), free(C1), free(C2), free(col), free(ref), free(mag), free(Wp);
    }

    CHECK(halved == 2, "two shapes summed in halves, got %d", halved);

    /* cc_gemv_packed: n rows of k (partial panels, k not a multiple of 4, fewer panels than runs,
     * four panels a run) */
    static const int64_t gshapes[][2] = { { 1000, 1280 }, { 10, 7 }, { 100, 33 }, { 17, 1 }, { 64, 256 }, { 2000, 101 } };
    for (size_t si = 0; si < sizeof gshapes / sizeof gshapes[0]; si++) {
        const int64_t n = gshapes[si][0], k = gshapes[si][1];
        float *W = malloc(sizeof(float) * (size_t)(n * k)), *x = malloc(sizeof(float) * (size_t)k);
        float *y0 = malloc(sizeof(float) * (size_t)n), *y1 = malloc(sizeof(float) * (size_t)n);
        float *y2 = malloc(sizeof(float) * (size_t)n);
        float *u0 = malloc(sizeof(float) * (size_t)k), *u1 = malloc(sizeof(float) * (size_t)k);
        float *u2 = malloc(sizeof(float) * (size_t)k);
        for (int64_t i = 0; i < n * k; i++) W[i] = frand();
        for (int64_t i = 0; i < k; i++) x[i] = 2.0f * frand();
        cc_packed pk;
        CHECK(cc_packed_plan(n, k, 1, &pk) && !pk.wide, "gemv plan %lld x %lld", (long long)n, (long long)k);
        float *Wp = malloc(sizeof(float) * cc_packed_floats(&pk) + 64);
        cc_packed_weights(&pk, W, Wp);
        for (int nan = 0; nan < 2; nan++) {
            if (nan) x[k / 2] = NAN;
            cc_softmax_tap t0 = { .u = u0, .k = k }, t1 = { .u = u1, .k = k }, t2 = { .u = u2, .k = k };
            for (int64_t i = 0; i < n; i++) y0[i] = y1[i] = y2[i] = 0.25f * (float)(i % 3);
            int e = cc_gemv_rows(W, k, n, k, x, 0.5f, y0, &t0, NULL);
            e |= cc_gemv_packed(&pk, Wp, W, x, 0.5f, y1, &t1, NULL);
            int thr = omp_get_max_threads();
            omp_set_num_threads(1);
            e |= cc_gemv_packed(&pk, Wp, W, x, 0.5f, y2, &t2, NULL);
            omp_set_num_threads(thr);
            double dy = 0, du = 0, ys = 1e-30, us = 1e-30;
            for (int64_t i = 0; i < n; i++) {
                double d = fabs((double)y0[i] - y1[i]);
                if (!(d <= dy)) dy = d;
                if (fabs(y0[i]) > ys) ys = fabs(y0[i]);
            }
            for (int64_t i = 0; i < k; i++) {
                double d = fabs((double)u0[i] - u1[i]);
                if (!(d <= du)) du = d;
                if (fabs(u0[i]) > us) us = fabs(u0[i]);
            }
            CHECK(!e && t1.done && t1.wp == Wp && t1.pk == &pk && t1.w == W && t0.done && !t0.wp, "gemv %lldx%lld: taps filled",
                  (long long)n, (long long)k);
            CHECK(same_bits(y1, y2, (size_t)n) && same_bits(u1, u2, (size_t)k), "gemv %lldx%lld: the same bits at 1 and 2 threads",
                  (long long)n, (long long)k);
            if (!nan) {
                CHECK(dy <= 1e-5 * ys, "gemv %lldx%lld: packed vs row-major outputs, relative %.3g", (long long)n, (long long)k, dy / ys);
                CHECK(du <= 1e-5 * us, "gemv %lldx%lld: packed vs row-major pull-back, relative %.3g", (long long)n, (long long)k, du / us);
            } else {
                int all = 1;
                for (int64_t i = 0; i < k; i++) all &= isnan(u1[i]) && isnan(u0[i]);
                CHECK(all && isnan(y1[0]), "gemv %lldx%lld: a NaN input makes the outputs and the pull-back NaN", (long long)n, (long long)k);
            }
        }
        free(W), free(x), free(y0), free(y1), free(y2), free(u0), free(u1), free(u2), free(Wp);
    }
    test_c16();
    return check_exit();
}
