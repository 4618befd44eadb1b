/* Fuzz builds only: the stb_image / stb_image_write / stb_truetype
 * implementations compiled from the system headers with the fuzzer's
 * instrumentation (instead of linking the uninstrumented libstb), and
 * single-thread stand-ins for the OpenMP queries the library makes (the
 * fuzz build is compiled without -fopenmp, so every loop runs serially). */
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_TRUETYPE_IMPLEMENTATION
#include <stb_image.h>
#include <stb_image_write.h>
#include <stb_truetype.h>

int omp_get_max_threads(void);
int omp_get_thread_num(void);
int omp_get_num_threads(void);
int omp_in_parallel(void);
int omp_get_num_procs(void);
void omp_set_num_threads(int n);
int omp_get_max_threads(void) { return 1; }
int omp_get_thread_num(void) { return 0; }
int omp_get_num_threads(void) { return 1; }
int omp_in_parallel(void) { return 0; }
int omp_get_num_procs(void) { return 1; }
void omp_set_num_threads(int n) { (void)n; }
