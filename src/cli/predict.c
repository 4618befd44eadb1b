/* contrastcam predict: the top classes. */
#include "cli.h"

#include <stdlib.h>


static const char *usage =
    "usage: contrastcam predict MODEL (IMAGE | --input-npy [NAME=]FILE) [--top K] [--json]\n"
    "                          [--labels FILE] [--size WxH] [--mean M] [--std S] [--gray]\n"
    "\n"
    "Prints the K most likely classes (default 5) with probability (softmax of\n"
    "the first output) and logit.  Preprocessing comes from the flags, else from\n"
    "the model's metadata_props (preprocess.size/mean/std/channels), else\n"
    "pixel/255.  Labels come from --labels (one per line) or the 'labels' metadata.\n"
    "\n"
    "example:\n"
    "  contrastcam predict mobilenet_v2_imagenet.onnx cat.png --top 3\n";

void cli_print_top(FILE *f, const cli_run *r, int k);
void cli_print_top(FILE *f, const cli_run *r, int k)
{
    int *idx = malloc(sizeof(int) * (size_t)k);
    if (!idx) return;
    cli_top(r, idx, k);
    fputc('[', f);
    for (int i = 0; i < k; i++) {
        fprintf(f, "%s{\"class\": %d, \"label\": ", i ? ", " : "", idx[i]);
        if (cli_label(r, idx[i])) json_str(f, cli_label(r, idx[i]));
        else fputs("null", f);
        fprintf(f, ", \"prob\": %.6g, \"logit\": %.6g}", r->prob[idx[i]], r->logits[idx[i]]);
    }
    fputc(']', f);
    free(idx);
}

int cmd_predict(int argc, char **argv)
{
    cli_opts o;
    int rc = cli_parse(argc, argv, &o, usage, 1);
    if (rc >= 0) return rc;
    cli_run r;
    rc = cli_load(&o, &r);
    if (!rc) {
        int k = o.top < r.n_classes ? o.top : r.n_classes;
        if (o.json) {
            fputs("{\"top\": ", stdout);
            cli_print_top(stdout, &r, k);
            fputs("}\n", stdout);
        } else {
            int *idx = malloc(sizeof(int) * (size_t)k);
            if (!idx) rc = cli_fail(EXIT_INTERNAL, "out of memory");
            else {
                cli_top(&r, idx, k);
                for (int i = 0; i < k; i++)
                    printf("%5d  %8.4f  %9.4f  %s\n", idx[i], r.prob[idx[i]], r.logits[idx[i]], cli_label(&r, idx[i]) ? cli_label(&r, idx[i]) : "");
                free(idx);
            }
        }
    }
    cli_run_free(&r);
    return rc;
}
