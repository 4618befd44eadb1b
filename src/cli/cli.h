/* Shared pieces of the contrastcam command. */
#ifndef CC_CLI_H
#define CC_CLI_H
#include <stdio.h>
#include "contrastcam.h"

/* Exit codes (documented in --help and the README). */
enum { EXIT_OK = 0, EXIT_INTERNAL = 1, EXIT_USAGE = 2, EXIT_INPUT = 3 };

/* Print "contrastcam: <msg>" to stderr; returns code. */
int cli_fail(int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
int cli_status_exit(cc_status st);   /* map a library status to an exit code */

/* Options shared by predict / explain. */
typedef struct cli_opts {
    const char *model, *image, *layer, *labels_file, *out_dir, *class_arg, *contrast_arg;
    const char *npy[8];        /* --input-npy [NAME=]FILE */
    int n_npy;
    int top, json, gray, size_w, size_h, have_target, save_all;
    float mean[4], std[4];
    int n_mean, n_std;
    float target_value;
} cli_opts;

/* A loaded model with its labels and a session holding one forward pass. */
typedef struct cli_run {
    cc_model *m;
    cc_session *s;
    int output, n_classes;
    char **labels;             /* n_labels entries or NULL */
    int n_labels;
    const float *logits;
    float *prob;
    /* the input as a picture, for overlays: w x h RGB 8-bit */
    unsigned char *rgb;
    int img_w, img_h;
    int in_w, in_h;            /* model input size */
} cli_run;

int cli_load(const cli_opts *o, cli_run *r);      /* model, labels, input, forward */
/* The target layer (--layer or the default, *layer) resolved before the
 * forward pass, and the session told to keep it (cc_session_keep).  A layer
 * error leaves r->s NULL, like a model error; an input error does not. */
int cli_load_for(const cli_opts *o, cli_run *r, int *layer);
int cli_pick_layer(const cli_opts *o, const cli_run *r, int *layer);
void cli_run_free(cli_run *r);
int cli_class_index(const cli_run *r, const char *arg, int *idx);  /* index or label name */
const char *cli_label(const cli_run *r, int c);
void cli_top(const cli_run *r, int *idx, int k);   /* indices of the k largest logits */

/* JSON output helpers */
void json_str(FILE *f, const char *s);

/* Resource limits from the environment (src/cli/run.c): a positive integer in
 * variable `name` (suffixes k, M, G = 2^10, 2^20, 2^30), else dflt.  Returns
 * 0, or EXIT_USAGE after printing when the value is malformed.  Variables:
 * CONTRASTCAM_MAX_TENSOR_BYTES, CONTRASTCAM_MAX_TOTAL_BYTES, CONTRASTCAM_MAX_NODES
 * (cc_limits) and CONTRASTCAM_MAX_IMAGE_PIXELS (decoded image size). */
int cli_env_limit(const char *name, uint64_t dflt, uint64_t *out);

/* Model input from an image or .npy (src/cli/input.c). */
int cli_prepare_input(const cli_opts *o, cli_run *r);

/* Parse the options every model command shares; -1 to go on, else an exit code (0 after --help). */
int cli_parse(int argc, char **argv, cli_opts *o, const char *usage, int want_image);
int cli_option(int argc, char **argv, int *i, const char *const *valued, char *name, size_t name_len, const char **v);
int cmd_layers(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_figure(int argc, char **argv);
int cmd_iqa(int argc, char **argv);
int cmd_train(int argc, char **argv);
#endif
