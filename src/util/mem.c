/* Why huge pages: the activations of a CNN's high-resolution layers are
 * written and read plane by plane, dozens of planes at once (a 1x1
 * convolution's tile writes one row segment in each of 96 output planes of
 * 50 KB), so with 4 KB pages nearly every row segment is another TLB entry.
 * One 2 MB page covers 40 such planes. */
#include "util/mem.h"

#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#define HUGE_PAGE ((size_t)2 << 20)

void *cc_alloc_huge(size_t n, int zero)
{
    void *p = NULL;
    if (n < HUGE_PAGE) {
        if (posix_memalign(&p, 64, n ? n : 1)) return NULL;
    } else {
        n = (n + 4095) / 4096 * 4096;   /* whole 2 MB extents in huge pages, the tail in small ones */
        if (posix_memalign(&p, HUGE_PAGE, n)) return NULL;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
        if (!getenv("CONTRASTCAM_NO_HUGEPAGES")) madvise(p, n, MADV_HUGEPAGE);   /* a hint: no pages, no harm */
#endif
    }
    if (zero) memset(p, 0, n ? n : 1);
    return p;
}
