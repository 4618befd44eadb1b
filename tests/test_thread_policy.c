/* The thread policy of src/graph/threads.c, with /proc/loadavg replaced by
 * this test's own text (fopen below wraps the C library's for that one path):
 *   - more runnable tasks than online cores: a call runs on one thread, and
 *     cc_threads_end gives the count back; fewer: every thread;
 *   - a reading serves the calls of the next 20 ms: a burst of calls reads
 *     the file about once per 20 ms, and a call after a pause reads it again;
 *   - an explicit OMP_NUM_THREADS (without CONTRASTCAM_ADAPTIVE_THREADS) or
 *     CONTRASTCAM_ADAPTIVE_THREADS=0 never reads it. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "check.h"
#include "graph/internal.h"

#include <dlfcn.h>
#include <omp.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *fake = "0.00 0.00 0.00 1/100 1\n";
static int reads;

FILE *fopen(const char *path, const char *mode)
{
    if (!strcmp(path, "/proc/loadavg")) {
        reads++;
        return fmemopen((void *)fake, strlen(fake), "r");
    }
    FILE *(*real)(const char *, const char *) = (FILE * (*)(const char *, const char *)) dlsym(RTLD_NEXT, "fopen");
    return real ? real(path, mode) : NULL;
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void pause_ms(int ms)
{
    struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&t, NULL);
}

/* The thread count inside one call under the current reading. */
static int threads_in_call(int *restored)
{
    const int prev = cc_threads_begin();
    const int in = omp_get_max_threads();
    cc_threads_end(prev);
    *restored = omp_get_max_threads() == prev;
    return in;
}

int main(void)
{
    unsetenv("OMP_NUM_THREADS");
    setenv("CONTRASTCAM_ADAPTIVE_THREADS", "1", 1);
    omp_set_num_threads(2);   /* the policy needs two threads to drop one, whatever this machine has */
    const long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    char busy[64];
    snprintf(busy, sizeof busy, "3.00 2.00 1.00 %ld/300 4242\n", ncpu + 2);
    int restored;

    fake = "0.00 0.00 0.00 1/100 1\n";
    int n = threads_in_call(&restored);
    CHECK(reads == 1 && n == 2 && restored, "idle machine: 2 threads (got %d), one reading (%d)", n, reads);

    pause_ms(30);
    fake = busy;
    n = threads_in_call(&restored);
    CHECK(reads == 2, "a call after 30 ms reads again (%d readings)", reads);
    CHECK(n == 1 && restored, "%ld runnable tasks on %ld cores: 1 thread (got %d), then 2 again (%s)", ncpu + 2, ncpu, n,
          restored ? "yes" : "no");

    /* a burst: about one reading per 20 ms, the decision kept in between */
    const int r0 = reads;
    const double t0 = now_ms();
    int ones = 0;
    for (int i = 0; i < 2000; i++) ones += threads_in_call(&restored) == 1 && restored;
    const double ms = now_ms() - t0;
    const int burst = reads - r0;
    CHECK(burst <= 1 + (int)(ms / 20.0) + 1, "2000 calls in %.1f ms read the file %d times", ms, burst);
    CHECK(ones == 2000, "the busy reading held for the burst: %d of 2000 calls on 1 thread", ones);

    pause_ms(30);
    fake = "0.00 0.00 0.00 2/100 1\n";
    n = threads_in_call(&restored);
    CHECK(n == 2 && restored, "the machine idle again: 2 threads after the pause (got %d)", n);

    /* a pinned count is never adapted, so never read */
    pause_ms(30);
    const int r1 = reads;
    setenv("CONTRASTCAM_ADAPTIVE_THREADS", "0", 1);
    fake = busy;
    n = threads_in_call(&restored);
    CHECK(reads == r1 && n == 2, "CONTRASTCAM_ADAPTIVE_THREADS=0: not read (%d), 2 threads (%d)", reads - r1, n);
    unsetenv("CONTRASTCAM_ADAPTIVE_THREADS");
    setenv("OMP_NUM_THREADS", "2", 1);
    n = threads_in_call(&restored);
    CHECK(reads == r1 && n == 2, "OMP_NUM_THREADS set: not read (%d), 2 threads (%d)", reads - r1, n);
    return check_exit();
}
