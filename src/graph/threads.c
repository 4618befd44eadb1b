/* Threads on a shared machine.  Two OpenMP threads (ours and OpenBLAS's, one
 * libgomp pool) on a 2-core machine where other processes also run: every
 * parallel region ends in a barrier that waits for whichever thread the kernel
 * has just descheduled, and a forward pass has hundreds of regions, so it runs
 * 3-30x slower than on one thread (bench/README.md).  So each call looks at the
 * number of runnable tasks (/proc/loadavg, 4th field): when they outnumber the
 * cores, the call runs single-threaded (OpenBLAS's OpenMP build follows
 * omp_get_max_threads()); otherwise with every thread.  Sleeping idle threads
 * (OMP_WAIT_POLICY=PASSIVE) do not help here: with two busy
 * processes beside it a MobileNetV2 forward took 400 ms on two threads and
 * 62 ms on one.  The price: another thread count can change how OpenBLAS
 * splits a product, so without a pinned count maps may differ between runs at
 * the 1e-7 level.  Hence only while the count is not pinned: an explicit
 * OMP_NUM_THREADS is honoured exactly (runs with the same setting are
 * bit-identical, docs/reliability.md); CONTRASTCAM_ADAPTIVE_THREADS=0 / 1
 * turns the adaptation off / on regardless.
 *
 * A reading is reused for FRESH_NS: reading costs about 10 us (/proc/loadavg
 * and the online-CPU list in sysfs, opened each time), and an all-Q
 * explanation calls this six times (MobileNetV2: 0.06 of its 0.4 ms after the
 * forward), while a new load lasting less than 20 ms is not worth following. */
#include "graph/internal.h"

#include <omp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FRESH_NS 20000000LL

static _Atomic long long fresh_until;   /* CLOCK_MONOTONIC ns before which `busy` holds */
static _Atomic int busy;

static long long now_ns(void)
{
    struct timespec t;
#ifdef CLOCK_MONOTONIC_COARSE
    clock_gettime(CLOCK_MONOTONIC_COARSE, &t);   /* no syscall, a few ms of resolution */
#else
    clock_gettime(CLOCK_MONOTONIC, &t);
#endif
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* More runnable tasks than online cores, from a reading at most FRESH_NS old
 * (none: not busy).  Threads racing past a stale reading each read again. */
static int machine_busy(void)
{
    const long long now = now_ns();
    if (now < atomic_load_explicit(&fresh_until, memory_order_acquire)) return atomic_load_explicit(&busy, memory_order_relaxed);
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f) return 0;
    double l1, l5, l15;
    long run = 0, total = 0;
    int got = fscanf(f, "%lf %lf %lf %ld/%ld", &l1, &l5, &l15, &run, &total);
    fclose(f);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int b = got == 5 && ncpu > 0 && run > ncpu;
    atomic_store_explicit(&busy, b, memory_order_relaxed);
    atomic_store_explicit(&fresh_until, now + FRESH_NS, memory_order_release);
    return b;
}

int cc_threads_begin(void)
{
    int prev = omp_get_max_threads();
    const char *e = getenv("CONTRASTCAM_ADAPTIVE_THREADS");
    int policy = e ? strcmp(e, "0") != 0 : getenv("OMP_NUM_THREADS") == NULL;
    if (!policy || prev < 2 || omp_in_parallel()) return prev;
    if (machine_busy()) omp_set_num_threads(1);
    return prev;
}

void cc_threads_end(int prev)
{
    if (omp_get_max_threads() != prev && !omp_in_parallel()) omp_set_num_threads(prev);
}
