/* Model handles: loading (mapped file, zero-copy weights), description. */
#include "graph/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

const char *cc_status_str(cc_status s)
{
    static const char *const names[] = { "ok", "I/O error", "parse error", "unsupported", "shape error",
                                         "invalid argument", "out of memory", "not found", "limit exceeded",
                                         "internal error" };
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "unknown status";
}

static cc_status finish_load(cc_model *m, const uint8_t *buf, size_t size, const char *base_dir)
{
    cc_err e = { "" };
    int rc = cc_onnx_parse(&m->g, buf, size, base_dir, &e);
    if (!rc) rc = cc_graph_build(&m->g, &e);
    if (rc) {
        snprintf(m->err, sizeof m->err, "%s", e.msg[0] ? e.msg : rc == CC_E_NOMEM ? "out of memory" : "cannot load model");
        cc_msg_oneline(m->err);
        return (cc_status)rc;
    }
    return CC_OK;
}

void cc_limits_default(cc_limits *l)
{
    l->max_tensor_bytes = CC_DEFAULT_MAX_TENSOR_BYTES;
    l->max_total_bytes = CC_DEFAULT_MAX_TOTAL_BYTES;
    l->max_nodes = CC_DEFAULT_MAX_NODES;
}

static void set_limits(cc_model *m, const cc_limits *l)
{
    if (!l) return;
    m->g.max_tensor_bytes = l->max_tensor_bytes;
    m->g.max_total_bytes = l->max_total_bytes;
    m->g.max_nodes = l->max_nodes;
}

cc_status cc_model_load(const char *path, cc_model **out) { return cc_model_load_ex(path, NULL, out); }

cc_status cc_model_load_ex(const char *path, const cc_limits *limits, cc_model **out)
{
    cc_model *m = calloc(1, sizeof *m);
    *out = m;
    if (!m) return CC_ERR_NOMEM;
    set_limits(m, limits);
    /* O_NONBLOCK: opening a FIFO given as the model must not hang (it is then refused as not a regular file) */
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    if (fd < 0) {
        snprintf(m->err, sizeof m->err, "cannot open model '%s': %s", path, strerror(errno));
        return CC_ERR_IO;
    }
    struct stat st;
    int fs = fstat(fd, &st);
    if (fs || !S_ISREG(st.st_mode)) {
        int isdir = !fs && S_ISDIR(st.st_mode);
        close(fd);
        snprintf(m->err, sizeof m->err, "model '%s' is not a regular file%s", path, isdir ? " (it is a directory)" : "");
        cc_msg_oneline(m->err);
        return CC_ERR_IO;
    }
    size_t size = (size_t)st.st_size;
    void *addr = NULL;
    if (size) {
        addr = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (addr == MAP_FAILED) addr = NULL;
    }
    close(fd);
    if (size && !addr) {
        snprintf(m->err, sizeof m->err, "cannot map model '%s'", path);
        return CC_ERR_IO;
    }
    if (addr) {
        madvise(addr, size, MADV_WILLNEED);
        if (cc_graph_add_map(&m->g, addr, size, path) < 0) {
            munmap(addr, size);
            snprintf(m->err, sizeof m->err, "out of memory");
            return CC_ERR_NOMEM;
        }
        m->g.src_mapped = 1;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0; else snprintf(dir, sizeof dir, ".");
    cc_status st2 = finish_load(m, addr, size, dir);
    if (st2 == CC_OK) return CC_OK;
    char tmp[sizeof m->err];
    memcpy(tmp, m->err, sizeof tmp);
    int n = snprintf(m->err, sizeof m->err, "%.400s: ", path);
    snprintf(m->err + n, sizeof m->err - (size_t)n, "%.600s", tmp);
    cc_msg_oneline(m->err);
    return st2;
}

cc_status cc_model_load_buffer(const void *data, size_t size, const char *base_dir, cc_model **out)
{
    return cc_model_load_buffer_ex(data, size, base_dir, NULL, out);
}

cc_status cc_model_load_buffer_ex(const void *data, size_t size, const char *base_dir, const cc_limits *limits,
                                  cc_model **out)
{
    cc_model *m = calloc(1, sizeof *m);
    *out = m;
    if (!m) return CC_ERR_NOMEM;
    set_limits(m, limits);
    uint8_t *copy = cc_graph_own(&m->g, malloc(size ? size : 1));
    if (!copy) { snprintf(m->err, sizeof m->err, "out of memory"); return CC_ERR_NOMEM; }
    if (size) memcpy(copy, data, size);
    return finish_load(m, copy, size, base_dir);
}

void cc_model_free(cc_model *m)
{
    if (!m) return;
    cc_graph_free(&m->g);
    free(m);
}

const char *cc_model_errmsg(const cc_model *m) { return m ? m->err : "out of memory"; }
int cc_model_num_inputs(const cc_model *m) { return m->g.n_inputs; }
int cc_model_num_outputs(const cc_model *m) { return m->g.n_outputs; }
int cc_model_input(const cc_model *m, int i) { return i >= 0 && i < m->g.n_inputs ? m->g.inputs[i] : -1; }
int cc_model_output(const cc_model *m, int i) { return i >= 0 && i < m->g.n_outputs ? m->g.outputs[i] : -1; }
int cc_model_num_tensors(const cc_model *m) { return m->g.n_tensors; }
int cc_model_find_tensor(const cc_model *m, const char *name) { return cc_graph_find(&m->g, name); }
int cc_model_opset(const cc_model *m) { return m->g.opset; }

cc_status cc_model_tensor_info(const cc_model *m, int tensor, cc_tensor_info *info)
{
    if (tensor < 0 || tensor >= m->g.n_tensors || !m->g.tensor_op) return CC_ERR_NOTFOUND;
    const cc_tensor *t = &m->g.tensors[tensor];
    info->name = t->name;
    info->op_type = m->g.tensor_op[tensor];
    info->rank = t->ndim;
    memcpy(info->dims, t->dims, sizeof(int64_t) * (size_t)t->ndim);
    info->is_const = t->is_const;
    return CC_OK;
}

const char *cc_model_metadata(const cc_model *m, const char *key)
{
    for (int i = 0; i < m->g.n_meta; i++)
        if (strcmp(m->g.meta_key[i], key) == 0) return m->g.meta_val[i];
    return NULL;
}
