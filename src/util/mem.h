/* Large working buffers. */
#ifndef CC_UTIL_MEM_H
#define CC_UTIL_MEM_H
#include <stddef.h>

/* n bytes, zeroed when `zero`, 64-byte aligned (whole-vector loads and stores
 * never split a cache line); from 2 MB on aligned to 2 MB and asked for in
 * huge pages (madvise), which the kernel gives where transparent huge pages are
 * on "madvise" or "always".  Free with free(); NULL when out of memory. */
void *cc_alloc_huge(size_t n, int zero);
#endif
