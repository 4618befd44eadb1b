/* Loading a model with its graph inputs' batch dimension replaced: the file
 * is parsed once, the leading dimension of every graph input is patched to B,
 * and only then is the graph built (shapes inferred, constants folded), so B
 * windows run as one forward.  A graph whose shape constants fix the batch
 * size (e.g. a Reshape to [1, 512]) fails here with a shape error. */
#include "iqa/iqa.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

cc_status cc_iqa_model_load_batch(const char *path, int batch, cc_model **out)
{
    cc_model *m = calloc(1, sizeof *m);
    *out = m;
    if (!m) return CC_ERR_NOMEM;
    if (batch < 1 || batch > CC_IQA_MAX_BATCH) {
        snprintf(m->err, sizeof m->err, "batch size %d out of range 1..%d", batch, CC_IQA_MAX_BATCH);
        return CC_ERR_ARG;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(m->err, sizeof m->err, "cannot open model '%s': %s", path, strerror(errno));
        return CC_ERR_IO;
    }
    struct stat st;
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
        fclose(f);
        snprintf(m->err, sizeof m->err, "model '%s' is not a regular file", path);
        return CC_ERR_IO;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *buf = cc_graph_own(&m->g, malloc(size ? size : 1));
    if (!buf) { fclose(f); snprintf(m->err, sizeof m->err, "out of memory"); return CC_ERR_NOMEM; }
    size_t got = size ? fread(buf, 1, size, f) : 0;
    fclose(f);
    if (got != size) {
        snprintf(m->err, sizeof m->err, "cannot read model '%s'", path);
        return CC_ERR_IO;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0; else snprintf(dir, sizeof dir, ".");
    cc_err e = { "" };
    int rc = cc_onnx_parse(&m->g, buf, size, dir, &e);
    if (!rc) {
        for (int i = 0; i < m->g.n_inputs; i++) {
            cc_tensor *t = &m->g.tensors[m->g.inputs[i]];
            if (t->ndim < 1) continue;
            t->dims[0] = batch;
            t->numel = cc_numel(t->dims, t->ndim);
            if (t->numel <= 0) { rc = cc_errf(&e, CC_E_LIMIT, "graph input '%s' too large at batch %d", t->name, batch); break; }
        }
    }
    if (!rc) {
        rc = cc_graph_build(&m->g, &e);
        if (rc == CC_E_SHAPE && batch > 1) {
            size_t l = strlen(e.msg);
            snprintf(e.msg + l, sizeof e.msg - l, " (at batch %d: the graph may fix its batch size; export it with a"
                     " symbolic batch dimension, or use batch 1)", batch);
        }
    }
    if (rc) {
        snprintf(m->err, sizeof m->err, "%.400s: %.600s", path, e.msg[0] ? e.msg : rc == CC_E_NOMEM ? "out of memory" : "cannot load model");
        return (cc_status)rc;
    }
    return CC_OK;
}
