/* contrastcam: explain what a CNN sees, contrastively. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_fail(int code, const char *fmt, ...)
{
    /* one line, whatever the file names or file contents in it hold */
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (unsigned char *p = (unsigned char *)msg; *p; p++)
        if (*p < 0x20 || *p == 0x7f) *p = '?';
    fprintf(stderr, "contrastcam: %s\n", msg);
    return code;
}

int cli_status_exit(cc_status st)
{
    switch (st) {
    case CC_OK: return EXIT_OK;
    case CC_ERR_ARG: case CC_ERR_NOTFOUND: return EXIT_USAGE;
    case CC_ERR_NOMEM: case CC_ERR_INTERNAL: return EXIT_INTERNAL;
    default: return EXIT_INPUT;
    }
}

static const char *usage =
    "contrastcam — \"Why P?\" and \"Why P, rather than Q?\" maps for ONNX CNNs, on the CPU\n"
    "\n"
    "usage: contrastcam COMMAND [options]   (contrastcam COMMAND --help for details)\n"
    "\n"
    "commands:\n"
    "  predict MODEL (IMAGE | --input-npy FILE)   top classes\n"
    "  explain MODEL (IMAGE | --input-npy FILE)   Grad-CAM and contrastive maps\n"
    "  figure  MODEL IMAGE                        the paper's figure for one image, as a PNG\n"
    "  layers  MODEL                              candidate target layers with shapes\n"
    "  iqa     MODEL --ref REF --dist DIST        \"Why score s, rather than q?\" for quality networks\n"
    "  train   [--data DIR] [--out MODEL.onnx]    train the small demo CNN on Fashion-MNIST\n"
    "\n"
    "example:\n"
    "  contrastcam explain mobilenet_v2.onnx cat_dog.png --contrast top:3 --out out/\n"
    "\n"
    "exit status: 0 success, 1 internal error (out of memory, a bug), 2 usage\n"
    "error (bad option, unknown layer or label, class out of range, malformed\n"
    "limit variable), 3 bad input (missing or malformed file, unsupported model,\n"
    "a size limit exceeded).  Errors are one line on stderr: \"contrastcam: ...\".\n"
    "On failure no output file is left half-written or changed.\n"
    "\n"
    "limits (environment, suffixes k/M/G allowed): CONTRASTCAM_MAX_TENSOR_BYTES\n"
    "(any one weight or activation, default 2G), CONTRASTCAM_MAX_TOTAL_BYTES (all\n"
    "activations, 8G), CONTRASTCAM_MAX_NODES (1M), CONTRASTCAM_MAX_IMAGE_PIXELS\n"
    "(decoded image size, 100000000, checked from the header before decoding).\n"
    "\n"
    "threads: OMP_NUM_THREADS (default: all cores).  Idle threads spin briefly,\n"
    "then sleep (GOMP_SPINCOUNT=10000) unless OMP_WAIT_POLICY or GOMP_SPINCOUNT\n"
    "is set.  Where OpenBLAS does not know the CPU and falls back to its generic\n"
    "kernels, OPENBLAS_CORETYPE is set to the kernels the CPU runs (SkylakeX,\n"
    "Haswell) unless it is set already.\n";

/* The environment our libraries read once, when they are loaded; the program
 * sets what is missing and runs itself again (once: the second run finds both
 * set).
 * - libgomp's wait policy.  Its default spins idle threads for up to 300,000
 *   rounds; on a machine where other processes use the cores, spinning
 *   workers steal time from the one doing the work.  Sleeping at once
 *   (OMP_WAIT_POLICY=PASSIVE) costs a futex wake-up at each of the few hundred
 *   parallel regions of a forward pass: MobileNetV2 11.5 ms instead of 8.4 ms
 *   on an idle 2-core machine.  A short spin (10,000 rounds, well under a
 *   millisecond) keeps the workers awake between the regions of one pass and
 *   lets them sleep between passes; under load the session drops to one
 *   thread anyway (cc_threads_begin).  So unless the user chose a policy,
 *   GOMP_SPINCOUNT=10000.
 * - OpenBLAS's kernels, where it fell back to generic ones on a CPU it does
 *   not know (cc_blas_core_hint): OPENBLAS_CORETYPE. */
static void prefer_environment(char **argv)
{
    int again = 0;
    if (!getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT")) again |= !setenv("GOMP_SPINCOUNT", "10000", 1);
    const char *core = cc_blas_core_hint();
    if (core) again |= !setenv("OPENBLAS_CORETYPE", core, 1);
    if (again) execv("/proc/self/exe", argv);   /* returns only on failure: go on as we are */
}

int main(int argc, char **argv)
{
    prefer_environment(argv);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "predict")) return cmd_predict(argc - 1, argv + 1);
    if (!strcmp(cmd, "explain")) return cmd_explain(argc - 1, argv + 1);
    if (!strcmp(cmd, "layers")) return cmd_layers(argc - 1, argv + 1);
    if (!strcmp(cmd, "figure")) return cmd_figure(argc - 1, argv + 1);
    if (!strcmp(cmd, "iqa")) return cmd_iqa(argc - 1, argv + 1);
    if (!strcmp(cmd, "train")) return cmd_train(argc - 1, argv + 1);
    return cli_fail(EXIT_USAGE, "unknown command '%s' (try: contrastcam --help)", cmd);
}
