/* OpenBLAS's kernels on a CPU it does not recognise.  A DYNAMIC_ARCH OpenBLAS
 * picks its kernels from the CPU model when it is loaded; Debian 12's 0.3.21
 * does not know the 5th-generation Xeons (family 6, model 207) and falls back
 * to its generic "Prescott" SSE3 kernels there: a 2048^3 SGEMM on 2 cores ran
 * at 32 GFLOP/s instead of 218 with OPENBLAS_CORETYPE=SkylakeX.  The variable
 * is read only at load time, so the library cannot switch; it says which core
 * type fits, and the program sets it and runs itself again (src/cli/main.c). */
#include "contrastcam.h"

#include <cblas.h>
#include <stdlib.h>
#include <strings.h>

const char *cc_blas_core_hint(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (getenv("OPENBLAS_CORETYPE")) return NULL;   /* the user's choice */
    static const char *const generic[] = { "Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Katmai",
                                           "Coppermine", "Northwood", "Banias", "Athlon", "Opteron", "Opteron_SSE3",
                                           "Barcelona", "Bobcat", "Nano" };
    const char *core = openblas_get_corename();
    int is_generic = 0;
    for (size_t i = 0; core && i < sizeof generic / sizeof generic[0]; i++) is_generic |= !strcasecmp(core, generic[i]);
    if (!is_generic) return NULL;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512cd"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
    return NULL;
}
