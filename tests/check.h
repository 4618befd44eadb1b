/* Minimal test helpers.  Comparisons are written !(|a-b| <= tol) so NaN fails.
 * A test's main returns check_exit(): 0 when every check passed, 1 otherwise. */
#ifndef CC_TEST_CHECK_H
#define CC_TEST_CHECK_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int check_failures = 0, check_count = 0;

#define CHECK(cond, ...) do { check_count++; if (!(cond)) { check_failures++; \
    printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } } while (0)

/* Max |a-b| over n values; NaN in either propagates to +inf. */
static inline double check_maxdiff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) m = isnan(d) ? INFINITY : d;
    }
    return m;
}
static inline double check_maxabs(const float *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) { double d = fabs((double)a[i]); if (!(d <= m)) m = isnan(d) ? INFINITY : d; }
    return m;
}
static inline int check_exit(void)
{
    printf("%d checks, %d failed\n", check_count, check_failures);
    return check_failures ? 1 : 0;
}
static inline const char *check_shared(void)
{
    const char *s = getenv("CC_SHARED");
    return s ? s : "../shared";
}
#endif
