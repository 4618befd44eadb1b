/* What the own AVX-512 kernels share (conv_packed.c, conv_dw_direct.c,
 * pool_max_direct.c): the build guard, the fused activation on 16 lanes, the
 * lane mask of a partial vector, and the switch that turns them all off. */
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
#define AVX512 __attribute__((target("avx512f,fma")))

/* The fused activation on 16 values, as cc_post_apply: max_ps / min_ps return
 * their second operand when either is NaN. */
static inline __attribute__((always_inline)) AVX512 __m512 cc_post16(__m512 v, int kind, __m512 lo, __m512 hi)
{
    if (kind == CC_POST_RELU) return _mm512_max_ps(v, _mm512_setzero_ps());   /* NaN -> 0, as v > 0 ? v : 0 */
    if (kind == CC_POST_CLIP) return _mm512_min_ps(hi, _mm512_max_ps(lo, v)); /* NaN stays NaN */
    return v;
}

/* The first `left` lanes (none when left <= 0, all 16 from 16 on). */
static inline __attribute__((always_inline)) __mmask16 cc_live16(int64_t left)
{
    return left >= 16 ? (__mmask16)0xffff : left <= 0 ? (__mmask16)0 : (__mmask16)((1u << left) - 1);
}
#endif
#endif
