/* contrastcam train: train a small CNN on an IDX dataset (Fashion-MNIST) with
 * the engine's own backward pass and export it as ONNX. */
#include "cli.h"
#include "train/train.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>



static const char *usage =
    "usage: contrastcam train [--data DIR] [--out MODEL.onnx] [--epochs N] [--batch B]\n"
    "                         [--lr X] [--seed S] [--limit-train N] [--limit-test N]\n"
    "                         [--arch SPEC] [--optimizer adam|sgd] [--weight-decay X]\n"
    "                         [--no-flip] [--labels FILE]\n"
    "\n"
    "Trains a CNN on an IDX dataset of 28x28 gray images in 10 classes with the\n"
    "engine's own backward pass (mini-batches, softmax cross-entropy, Adam or SGD\n"
    "with momentum, linear warm-up then cosine decay, random horizontal flips),\n"
    "printing loss and accuracy each epoch, then the test confusion matrix, and\n"
    "writes the model at batch size 1 with its labels, preprocessing and Grad-CAM\n"
    "layer in metadata_props.\n"
    "\n"
    "  --data DIR        {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]\n"
    "                    (default /usr/share/datasets/fashion-mnist)\n"
    "  --out FILE        output model (default models/fashion_cnn.onnx)\n"
    "  --epochs N        passes over the training set (default 4)\n"
    "  --batch B         mini-batch size (default 64)\n"
    "  --lr X            peak learning rate (default 0.001 Adam, 0.05 SGD)\n"
    "  --seed S          initialisation, shuffling and flips (default 1)\n"
    "  --limit-train N   use the first N training images only\n"
    "  --limit-test N    evaluate on the first N test images only\n"
    "  --arch SPEC       hidden layers: cN conv3x3+ReLU, p maxpool 2x2, g global\n"
    "                    average pool, fN dense+ReLU; a dense layer to the classes\n"
    "                    is appended (default c32,c32,p,c64,c64,p,f32)\n"
    "  --labels FILE     class names, one per line (default: Fashion-MNIST's)\n"
    "\n"
    "example:\n"
    "  contrastcam train --data /usr/share/datasets/fashion-mnist --out models/fashion_cnn.onnx --epochs 4\n";

static const char *fashion_labels = "T-shirt/top\nTrouser\nPullover\nDress\nCoat\nSandal\nShirt\nSneaker\nBag\nAnkle boot";

static void on_epoch(void *ctx, const cc_train_epoch *e)
{
    (void)ctx;
    printf("epoch %d/%d  loss %.4f  train acc %.2f%%  test acc %.2f%%  time %.1f s\n", e->epoch, e->epochs, e->loss,
           100 * e->train_acc, 100 * e->test_acc, e->seconds);
    fflush(stdout);
}

static int parse_int(const char *opt, const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end || errno || x < lo || x > hi)
        return cli_fail(EXIT_USAGE, "%s: '%s' is not an integer in [%ld, %ld]", opt, v, lo, hi);
    *out = x;
    return 0;
}

static int parse_float(const char *opt, const char *v, float *out)
{
    char *end;
    errno = 0;
    float x = strtof(v, &end);
    if (end == v || *end || errno || !(x >= 0) || x > 1e6f) return cli_fail(EXIT_USAGE, "%s: '%s' is not a valid number", opt, v);
    *out = x;
    return 0;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *s = malloc(cap);
    while (s) {
        size_t got = fread(s + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) break;
        if (n + 1 == cap) {
            if (cap > (1 << 20)) { free(s); s = NULL; break; }
            char *ns = realloc(s, cap * 2);
            if (!ns) { free(s); s = NULL; break; }
            s = ns;
            cap *= 2;
        }
    }
    fclose(f);
    if (!s) return NULL;
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r')) n--;
    s[n] = 0;
    return s;
}

static int count_lines(const char *s)
{
    int n = *s ? 1 : 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* Class label i of a newline-joined list, padded for the confusion matrix. */
static void label_at(const char *labels, int i, char *out, size_t cap)
{
    const char *p = labels;
    for (int k = 0; k < i && p; k++) {
        p = strchr(p, '\n');
        if (p) p++;
    }
    size_t len = p ? strcspn(p, "\n") : 0;
    if (len >= cap) len = cap - 1;
    memcpy(out, p ? p : "", len);
    out[len] = 0;
}

static int write_file(const char *path, const uint8_t *buf, size_t n)
{
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 32);
    if (!tmp) return -1;
    snprintf(tmp, pl + 32, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    int bad = !f;
    if (f) {
        bad |= fwrite(buf, 1, n, f) != n;
        bad |= fflush(f) != 0;
        bad |= fclose(f) != 0;
    }
    if (!bad) bad = rename(tmp, path) != 0;
    if (bad) remove(tmp);
    free(tmp);
    return bad ? -1 : 0;
}

/* The exported batch-1 model must give the training model's logits. */
static int verify_export(cc_trainer *t, const uint8_t *buf, size_t n, const cc_dataset *test, double *maxdiff)
{
    cc_model *m = NULL;
    cc_session *s = NULL;
    int rc = 0;
    *maxdiff = 0;
    if (cc_model_load_buffer(buf, n, NULL, &m) || cc_session_new(m, &s)) {
        rc = cli_fail(EXIT_INTERNAL, "the exported model does not load: %s", cc_model_errmsg(m));
        goto done;
    }
    const int B = t->o.batch, C = t->net.n_classes, hw = test->h * test->w, cnt = test->n < B ? test->n : B;
    /* training model: the first batch of the test set */
    int *idx = malloc(sizeof(int) * (size_t)B);
    uint8_t *lab = malloc((size_t)B);
    float *x = malloc(sizeof(float) * (size_t)hw);
    if (!idx || !lab || !x) { free(idx); free(lab); free(x); rc = cli_fail(EXIT_INTERNAL, "out of memory"); goto done; }
    const float scale = 1.0f / (255.0f * t->o.std), shift = -t->o.mean / t->o.std;
    for (int b = 0; b < B; b++) idx[b] = b < cnt ? b : 0;
    for (int b = 0; b < B; b++)
        for (int q = 0; q < hw; q++) t->x[(size_t)b * hw + q] = (float)test->images[(size_t)idx[b] * hw + q] * scale + shift;
    cc_session_set_input(t->s, t->input, t->x, (size_t)B * hw);
    cc_session_forward(t->s);
    const float *zb = cc_session_value(t->s, t->output, NULL);
    for (int b = 0; b < cnt && !rc; b++) {
        for (int q = 0; q < hw; q++) x[q] = (float)test->images[(size_t)b * hw + q] * scale + shift;
        if (cc_session_set_input(s, cc_model_input(m, 0), x, (size_t)hw) || cc_session_forward(s)) {
            rc = cli_fail(EXIT_INTERNAL, "the exported model does not run: %s", cc_session_errmsg(s));
            break;
        }
        const float *z1 = cc_session_value(s, cc_model_output(m, 0), NULL);
        for (int j = 0; j < C; j++) {
            double d = z1[j] - zb[b * C + j];
            if (d < 0) d = -d;
            if (!(d <= *maxdiff)) *maxdiff = d;
        }
    }
    free(idx);
    free(lab);
    free(x);
    if (!rc && !(*maxdiff <= 1e-3)) rc = cli_fail(EXIT_INTERNAL, "the exported model's logits differ from the trained model's by %g", *maxdiff);
done:
    cc_session_free(s);
    cc_model_free(m);
    return rc;
}

int cmd_train(int argc, char **argv)
{
    cc_train_opts o;
    cc_train_defaults(&o);
    const char *data = "/usr/share/datasets/fashion-mnist", *out = "models/fashion_cnn.onnx", *labels_file = NULL;
    long limit_train = 0, limit_test = 0;
    int lr_set = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { fputs(usage, stdout); return EXIT_OK; }
        if (!strcmp(a, "--no-flip")) { o.flip = 0; continue; }
        static const char *const valued[] = { "--data", "--out", "--epochs", "--batch", "--lr", "--seed", "--limit-train",
                                              "--limit-test", "--arch", "--optimizer", "--weight-decay", "--labels" };
        int known = 0;
        for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++) known |= !strcmp(a, valued[k]);
        if (!known) return cli_fail(EXIT_USAGE, "train: unknown option or argument '%s' (see contrastcam train --help)", a);
        if (i + 1 >= argc) return cli_fail(EXIT_USAGE, "train: option %s needs a value", a);
        const char *v = argv[++i];
        long x;
        int rc = 0;
        if (!strcmp(a, "--data")) data = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--arch")) o.arch = v;
        else if (!strcmp(a, "--labels")) labels_file = v;
        else if (!strcmp(a, "--epochs")) { if (!(rc = parse_int(a, v, 0, 1000, &x))) o.epochs = (int)x; }
        else if (!strcmp(a, "--batch")) { if (!(rc = parse_int(a, v, 1, 4096, &x))) o.batch = (int)x; }
        else if (!strcmp(a, "--seed")) { if (!(rc = parse_int(a, v, 0, LONG_MAX, &x))) o.seed = (uint64_t)x; }
        else if (!strcmp(a, "--limit-train")) rc = parse_int(a, v, 1, INT_MAX, &limit_train);
        else if (!strcmp(a, "--limit-test")) rc = parse_int(a, v, 1, INT_MAX, &limit_test);
        else if (!strcmp(a, "--lr")) { rc = parse_float(a, v, &o.lr); lr_set = 1; if (!rc && !(o.lr > 0)) rc = cli_fail(EXIT_USAGE, "--lr must be > 0"); }
        else if (!strcmp(a, "--weight-decay")) rc = parse_float(a, v, &o.weight_decay);
        else if (!strcmp(a, "--optimizer")) {
            if (!strcmp(v, "adam")) o.optimizer = CC_OPT_ADAM;
            else if (!strcmp(v, "sgd")) o.optimizer = CC_OPT_SGD;
            else rc = cli_fail(EXIT_USAGE, "--optimizer: '%s' (use adam or sgd)", v);
        }
        if (rc) return rc;
    }
    if (!lr_set && o.optimizer == CC_OPT_SGD) o.lr = 0.05f;
    char *labels = NULL;
    if (labels_file) {
        labels = read_text(labels_file);
        if (!labels) return cli_fail(EXIT_INPUT, "cannot read labels file '%s'", labels_file);
    } else if (!(labels = strdup(fashion_labels))) return cli_fail(EXIT_INTERNAL, "out of memory");
    const int n_classes = 10;
    if (count_lines(labels) != n_classes) {
        free(labels);
        return cli_fail(EXIT_USAGE, "labels file '%s' must hold %d lines", labels_file, n_classes);
    }

    char err[512];
    cc_dataset train, test;
    int rc = cc_dataset_load_dir(data, 0, n_classes, (int)limit_train, &train, err, sizeof err);
    if (rc) { free(labels); return cli_fail(EXIT_INPUT, "%s", err); }
    rc = cc_dataset_load_dir(data, 1, n_classes, (int)limit_test, &test, err, sizeof err);
    if (rc) { cc_dataset_free(&train); free(labels); return cli_fail(EXIT_INPUT, "%s", err); }

    o.progress = on_epoch;
    cc_trainer t;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = cc_trainer_init(&t, &o, train.h, train.w, n_classes);
    if (rc) {
        rc = cli_fail(rc == CC_ERR_ARG || rc == CC_ERR_LIMIT ? EXIT_USAGE : EXIT_INTERNAL, "train: %s", t.err);
        goto done;
    }
    printf("train: %d training and %d test images of %dx%d, arch %s -> %d classes\n", train.n, test.n, train.h,
           train.w, t.net.arch, n_classes);
    int64_t nweights = 0;
    for (int i = 0; i < t.net.n_params; i++) nweights += t.net.params[i].numel;
    printf("train: %lld parameters; %s lr %g, batch %d, %d epochs, seed %llu, flips %s\n", (long long)nweights,
           o.optimizer == CC_OPT_ADAM ? "Adam" : "SGD momentum 0.9", o.lr, o.batch, o.epochs, (unsigned long long)o.seed,
           o.flip ? "on" : "off");
    fflush(stdout);
    cc_train_epoch last;
    memset(&last, 0, sizeof last);
    if ((rc = cc_trainer_fit(&t, &train, &test, &last))) { rc = cli_fail(EXIT_INTERNAL, "train: %s", t.err); goto done; }
    double acc = 0;
    int64_t conf[10 * 10];
    if ((rc = cc_trainer_evaluate(&t, &test, &acc, NULL, conf))) { rc = cli_fail(EXIT_INTERNAL, "train: %s", t.err); goto done; }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("\ntest accuracy %.2f%% (%d images), training time %.1f s\n", 100 * acc, test.n, secs);
    printf("\nconfusion matrix (rows: true class, columns: predicted class)\n\n|   | true \\ predicted |");
    for (int j = 0; j < n_classes; j++) printf(" %d |", j);
    printf("\n|---|---|");
    for (int j = 0; j < n_classes; j++) printf("---:|");
    printf("\n");
    for (int i = 0; i < n_classes; i++) {
        char name[64];
        label_at(labels, i, name, sizeof name);
        printf("| %d | %s |", i, name);
        for (int j = 0; j < n_classes; j++) printf(" %lld |", (long long)conf[i * n_classes + j]);
        printf("\n");
    }

    /* export at batch size 1 */
    char source[1536], accs[32];
    size_t sl = (size_t)snprintf(source, sizeof source, "trained by contrastcam's own engine (C, no framework): contrastcam");
    for (int i = 0; i < argc && sl < sizeof source; i++)
        sl += (size_t)snprintf(source + sl, sizeof source - sl, " %s", argv[i]);
    if (sl < sizeof source)
        snprintf(source + sl, sizeof source - sl, "; arch %s, %d epochs, batch %d, %s lr %g cosine, seed %llu, %d training images; test accuracy %.2f%% on %d test images",
                 t.net.arch, o.epochs, o.batch, o.optimizer == CC_OPT_ADAM ? "Adam" : "SGD", o.lr,
                 (unsigned long long)o.seed, train.n, 100 * acc, test.n);
    snprintf(accs, sizeof accs, "%.4f", acc);
    const char *meta[] = { "labels", labels, "source", source, "training.test_accuracy", accs };
    uint8_t *buf = NULL;
    size_t n = 0;
    if ((rc = cc_trainer_export(&t, meta, 3, &buf, &n))) { rc = cli_fail(EXIT_INTERNAL, "train: %s", t.err); goto done; }
    double md;
    rc = verify_export(&t, buf, n, &test, &md);
    if (!rc && write_file(out, buf, n)) rc = cli_fail(EXIT_INPUT, "cannot write '%s': %s", out, strerror(errno));
    if (!rc) printf("\nwrote %s (%zu bytes; batch-1 export matches the training graph to %.2g)\n", out, n, md);
    free(buf);
done:
    cc_trainer_free(&t);
    cc_dataset_free(&train);
    cc_dataset_free(&test);
    free(labels);
    return rc;
}
