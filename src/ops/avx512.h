/* What the own AVX-512 kernels share (conv_packed.c, conv_direct.c, conv_dw_direct.c,
 * pool_max_direct.c): the build guard, the fused activation and residual on 16
 * lanes, the lane mask of a partial vector, and the switch that turns them all off. */
#ifndef CC_OPS_AVX512_H
#define CC_OPS_AVX512_H
#include "op.h"

#include <stdint.h>

/* Whether the own kernels run here: a GCC x86-64 build (CC_AVX512), a CPU with
 * AVX-512F, and CONTRASTCAM_NO_PACKED unset or "0" (set, the OpenBLAS and
 * scalar paths run instead: A/B comparisons, CPUs that throttle AVX-512). */
int cc_own_kernels(void);

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CC_AVX512 1
#include <immintrin.h>
/* prfchw: __builtin_prefetch(p, 1, ...) as PREFETCHW, which every AVX-512 CPU has */
#define AVX512 __attribute__((target("avx512f,fma,prfchw")))

/* The fused activation on 16 values, as cc_post_apply: max_ps / min_ps return
 * their second operand when either is NaN. */
static inline __attribute__((always_inline)) AVX512 __m512 cc_post16(__m512 v, int kind, __m512 lo, __m512 hi)
{
    if (kind == CC_POST_RELU) return _mm512_max_ps(v, _mm512_setzero_ps());   /* NaN -> 0, as v > 0 ? v : 0 */
    if (kind == CC_POST_CLIP) return _mm512_min_ps(hi, _mm512_max_ps(lo, v)); /* NaN stays NaN */
    return v;
}

/* v plus the fused residual's values at res + off (lanes m; res NULL: none),
 * added after the bias and before the activation (cc_post). */
static inline __attribute__((always_inline)) AVX512 __m512 cc_res16(__m512 v, const float *res, int64_t off, __mmask16 m)
{
    return res ? _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, res + off)) : v;
}

/* Every cache line of n floats from p on, towards L1: for reads whose
 * strides the hardware prefetchers follow poorly (conv_direct.c,
 * conv_dw_direct.c). */
static inline __attribute__((always_inline)) void cc_prefetch_floats(const float *p, int64_t n)
{
    for (int64_t q = 0; q < n; q += 16) _mm_prefetch((const char *)(p + q), _MM_HINT_T0);
}

/* The first `left` lanes (none when left <= 0, all 16 from 16 on). */
static inline __attribute__((always_inline)) __mmask16 cc_live16(int64_t left)
{
    return left >= 16 ? (__mmask16)0xffff : left <= 0 ? (__mmask16)0 : (__mmask16)((1u << left) - 1);
}

/* A strip of 16 stride-2 outputs whose taps kw = 0, 1, 2 read input columns
 * base + 2l + kw of a row W wide (depthwise and max-pool kernels): the 32 (+2)
 * inputs are loaded as they lie, from base and base + 2, masked to [0, W)... */
typedef struct cc_s2strip {
    __mmask16 a, b, c, d;
} cc_s2strip;

static inline __attribute__((always_inline)) cc_s2strip cc_s2_strip(int64_t base, int64_t W)
{
    const int64_t e0 = base < 0 ? -base : 0, e1 = W - base;   /* columns base + e valid for e in [e0, e1) */
    cc_s2strip m;
    m.a = cc_live16(e1) & (__mmask16)~cc_live16(e0);
    m.b = cc_live16(e1 - 16) & (__mmask16)~cc_live16(e0 - 16);
    m.c = cc_live16(e1 - 2) & (__mmask16)~cc_live16(e0 - 2);
    m.d = cc_live16(e1 - 18) & (__mmask16)~cc_live16(e0 - 18);
    return m;
}

/* ... and split into even and odd columns with one permute each: t[kw] for
 * kw < kW (2 or 3) from the row at xr = row start + base. */
static inline __attribute__((always_inline)) AVX512 void cc_s2_taps(const float *xr, const cc_s2strip *m, int kW,
                                                                     __m512 *t)
{
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    const __m512 a = _mm512_maskz_loadu_ps(m->a, xr), b = _mm512_maskz_loadu_ps(m->b, xr + 16);
    t[0] = _mm512_permutex2var_ps(a, even, b);
    t[1] = _mm512_permutex2var_ps(a, odd, b);
    if (kW == 3) {
        const __m512 c = _mm512_maskz_loadu_ps(m->c, xr + 2), d = _mm512_maskz_loadu_ps(m->d, xr + 18);
        t[2] = _mm512_permutex2var_ps(c, even, d);
    }
}
#endif
#endif
