/* From parsed graph to runnable plan: resolve every op (reporting ALL the
 * unsupported ones at once), sort nodes topologically, infer static shapes,
 * and evaluate load-time constants (shape arithmetic) once. */
#include "graph/graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int resolve_ops(cc_graph *g, cc_err *e)
{
    char list[400] = "";
    size_t len = 0;
    int missing = 0, distinct = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        cc_node *n = &g->nodes[i];
        int std = !*n->domain || !strcmp(n->domain, "ai.onnx");
        n->op = std ? cc_op_find(n->op_type) : NULL;
        if (n->op) continue;
        missing++;
        char item[160];
        if (std) snprintf(item, sizeof item, "%s (opset %d)", n->op_type, n->opset);
        else snprintf(item, sizeof item, "%s::%s", n->domain, n->op_type);
        int dup = 0;
        for (int j = 0; j < i && !dup; j++) {
            const cc_node *m = &g->nodes[j];
            dup = !m->op && !strcmp(m->op_type, n->op_type) && !strcmp(m->domain, n->domain);
        }
        if (dup) continue;
        distinct++;
        if (len + strlen(item) + 8 < sizeof list) len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", len ? ", " : "", item);
        else if (!strstr(list, "...")) len += (size_t)snprintf(list + len, sizeof list - len, ", ...");
    }
    if (missing)
        return cc_errf(e, CC_E_UNSUPPORTED, "unsupported ONNX op%s: %s (%d node%s)", distinct > 1 ? "s" : "", list,
                       missing, missing > 1 ? "s" : "");
    return 0;
}

/* Attributes whose type ONNX fixes the same way for every op we implement.
 * An attribute of another type would otherwise be ignored (its default used):
 * refuse it instead.  An INT is accepted where a FLOAT is expected. */
static const char *attr_type_name(int t)
{
    switch (t) {
    case CC_ATTR_FLOAT: return "FLOAT";
    case CC_ATTR_INT: return "INT";
    case CC_ATTR_STRING: return "STRING";
    case CC_ATTR_TENSOR: return "TENSOR";
    case CC_ATTR_FLOATS: return "FLOATS";
    case CC_ATTR_INTS: return "INTS";
    case CC_ATTR_STRINGS: return "STRINGS";
    default: return "unknown";
    }
}

static int check_attr_types(const cc_graph *g, cc_err *e)
{
    static const struct { const char *name; int type; } known[] = {
        { "kernel_shape", CC_ATTR_INTS }, { "strides", CC_ATTR_INTS }, { "pads", CC_ATTR_INTS },
        { "dilations", CC_ATTR_INTS }, { "perm", CC_ATTR_INTS }, { "axes", CC_ATTR_INTS }, { "split", CC_ATTR_INTS },
        { "starts", CC_ATTR_INTS }, { "ends", CC_ATTR_INTS }, { "output_padding", CC_ATTR_INTS },
        { "group", CC_ATTR_INT }, { "axis", CC_ATTR_INT }, { "transA", CC_ATTR_INT }, { "transB", CC_ATTR_INT },
        { "keepdims", CC_ATTR_INT }, { "ceil_mode", CC_ATTR_INT }, { "count_include_pad", CC_ATTR_INT },
        { "to", CC_ATTR_INT }, { "size", CC_ATTR_INT }, { "allowzero", CC_ATTR_INT },
        { "noop_with_empty_axes", CC_ATTR_INT }, { "select_last_index", CC_ATTR_INT }, { "storage_order", CC_ATTR_INT },
        { "alpha", CC_ATTR_FLOAT }, { "beta", CC_ATTR_FLOAT }, { "epsilon", CC_ATTR_FLOAT },
        { "momentum", CC_ATTR_FLOAT }, { "bias", CC_ATTR_FLOAT }, { "gamma", CC_ATTR_FLOAT },
        { "auto_pad", CC_ATTR_STRING }, { "mode", CC_ATTR_STRING },
    };
    for (int i = 0; i < g->n_nodes; i++) {
        const cc_node *n = &g->nodes[i];
        for (int a = 0; a < n->n_attr; a++) {
            const cc_attr *at = &n->attr[a];
            for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) {
                if (strcmp(at->name, known[k].name)) continue;
                int ok = at->type == known[k].type || (known[k].type == CC_ATTR_FLOAT && at->type == CC_ATTR_INT);
                if (!ok)
                    return cc_errf(e, CC_E_PARSE, "node '%s' (%s): attribute '%s' has type %s, ONNX requires %s",
                                   n->name, n->op_type, at->name, attr_type_name(at->type), attr_type_name(known[k].type));
                break;
            }
        }
    }
    return 0;
}

static int is_graph_input(const cc_graph *g, int t)
{
    for (int i = 0; i < g->n_inputs; i++)
        if (g->inputs[i] == t) return 1;
    return 0;
}

static int topo_sort(cc_graph *g, cc_err *e)
{
    int nn = g->n_nodes, rc = 0;
    int *indeg = calloc((size_t)nn + 1, sizeof(int));
    int *order = malloc(sizeof(int) * ((size_t)nn + 1));
    /* consumers lists in CSR form */
    int *cstart = calloc((size_t)g->n_tensors + 1, sizeof(int));
    int total = 0;
    for (int i = 0; i < nn; i++) total += g->nodes[i].n_in;
    int *cons = malloc(sizeof(int) * ((size_t)total + 1));
    int *fill = calloc((size_t)g->n_tensors + 1, sizeof(int));
    cc_node *sorted = malloc(sizeof(cc_node) * ((size_t)nn + 1));
    if (!indeg || !order || !cstart || !cons || !fill || !sorted) { rc = CC_E_NOMEM; goto done; }
    for (int i = 0; i < nn; i++) {
        const cc_node *n = &g->nodes[i];
        for (int j = 0; j < n->n_in; j++) {
            int t = n->in[j];
            if (t < 0) continue;
            const cc_tensor *ten = &g->tensors[t];
            if (ten->producer >= 0) { indeg[i]++; cstart[t + 1]++; }
            else if (!ten->is_const && !is_graph_input(g, t)) {
                rc = cc_errf(e, CC_E_PARSE, "node '%s' (%s) uses tensor '%s', which is neither produced by a node nor a graph input or initializer",
                             n->name, n->op_type, ten->name);
                goto done;
            }
        }
    }
    for (int t = 0; t < g->n_tensors; t++) cstart[t + 1] += cstart[t];
    for (int i = 0; i < nn; i++) {
        const cc_node *n = &g->nodes[i];
        for (int j = 0; j < n->n_in; j++) {
            int t = n->in[j];
            if (t >= 0 && g->tensors[t].producer >= 0) cons[cstart[t] + fill[t]++] = i;
        }
    }
    int head = 0, tail = 0;
    for (int i = 0; i < nn; i++)
        if (!indeg[i]) order[tail++] = i;
    while (head < tail) {
        const cc_node *n = &g->nodes[order[head++]];
        for (int j = 0; j < n->n_out; j++) {
            int t = n->out[j];
            if (t < 0) continue;
            for (int c = cstart[t]; c < cstart[t + 1]; c++)
                if (--indeg[cons[c]] == 0) order[tail++] = cons[c];
        }
    }
    if (tail != nn) {
        for (int i = 0; i < nn; i++)
            if (indeg[i]) { rc = cc_errf(e, CC_E_PARSE, "the graph has a cycle (through node '%s')", g->nodes[i].name); break; }
        goto done;
    }
    /* renumber: nodes in topological order, producers updated */
    int *newpos = indeg;   /* reuse */
    for (int k = 0; k < nn; k++) { sorted[k] = g->nodes[order[k]]; newpos[order[k]] = k; }
    for (int t = 0; t < g->n_tensors; t++)
        if (g->tensors[t].producer >= 0) g->tensors[t].producer = newpos[g->tensors[t].producer];
    if (nn) memcpy(g->nodes, sorted, sizeof(cc_node) * (size_t)nn);
done:
    free(indeg);
    free(order);
    free(cstart);
    free(cons);
    free(fill);
    free(sorted);
    return rc;
}

#define MAX_IO 64

/* Pointer arrays for a node's inputs and outputs (NULL for absent optionals). */
static int node_io(cc_graph *g, const cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)
{
    if (n->n_in > MAX_IO || n->n_out > MAX_IO)
        return cc_errf(e, CC_E_LIMIT, "node '%s' has more than %d inputs or outputs", n->name, MAX_IO);
    if (n->n_out < 1) return cc_errf(e, CC_E_PARSE, "node '%s' (%s) has no outputs", n->name, n->op_type);
    /* entries past the node's inputs / outputs are NULL, never stale pointers */
    for (int j = 0; j < MAX_IO; j++) in[j] = j < n->n_in && n->in[j] >= 0 ? &g->tensors[n->in[j]] : NULL;
    for (int j = 0; j < MAX_IO; j++) out[j] = j < n->n_out && n->out[j] >= 0 ? &g->tensors[n->out[j]] : NULL;
    return 0;
}

static int infer_and_fold(cc_graph *g, cc_err *e)
{
    cc_tensor *in[MAX_IO], *out[MAX_IO];
    cc_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    int rc = 0;
    uint64_t total = 0;
    for (int i = 0; i < g->n_inputs && !rc; i++) {
        const cc_tensor *t = &g->tensors[g->inputs[i]];
        char what[300];
        snprintf(what, sizeof what, "graph input '%.200s'", t->name);
        rc = cc_graph_check_size(g, t->numel, 4, what, e);
        total += (uint64_t)t->numel * 4;
    }
    for (int i = 0; i < g->n_nodes && !rc; i++) {
        cc_node *n = &g->nodes[i];
        if ((rc = node_io(g, n, in, out, e))) break;
        /* the first input of every ONNX op we implement is required (optional
         * inputs come later): an empty name there is refused for all of them */
        if (n->n_in > 0 && !in[0]) { rc = cc_errf(e, CC_E_PARSE, "node '%s' (%s): its first input is missing (empty name)", n->name, n->op_type); break; }
        for (int j = 0; j < n->n_out; j++)
            if (!out[j]) { rc = cc_errf(e, CC_E_UNSUPPORTED, "node '%s' (%s): unnamed optional outputs are not supported", n->name, n->op_type); break; }
        if (rc) break;
        cc_err pe = { "" };
        rc = n->op->prepare(n, in, out, &pe);
        if (rc) {
            cc_errf(e, rc, "%s%s", pe.msg[0] ? "" : "shape inference failed at node ", pe.msg[0] ? pe.msg : n->name);
            break;
        }
        int all_const = 1;
        for (int j = 0; j < n->n_in; j++)
            if (in[j] && !in[j]->is_const) all_const = 0;
        for (int j = 0; j < n->n_out; j++) {
            cc_tensor *t = out[j];
            if (t->ndim < 0 || t->ndim > CC_MAX_DIMS || (t->dtype != CC_DT_FLOAT && t->dtype != CC_DT_INT64)) {
                rc = cc_errf(e, CC_E_INTERNAL, "node '%s' (%s): invalid inferred output", n->name, n->op_type);
                break;
            }
            t->numel = cc_numel(t->dims, t->ndim);
            if (t->numel < 0) { rc = cc_errf(e, CC_E_LIMIT, "node '%s' (%s): output '%s' has an invalid or overflowing shape", n->name, n->op_type, t->name); break; }
            char what[400];
            snprintf(what, sizeof what, "node '%.150s' (%.50s): output '%.150s'", n->name, n->op_type, t->name);
            if ((rc = cc_graph_check_size(g, t->numel, t->dtype == CC_DT_FLOAT ? 4 : 8, what, e))) break;
            if (!t->is_const) {
                total += (uint64_t)t->numel * 4;
                if (total > cc_graph_max_total_bytes(g)) {
                    rc = cc_errf(e, CC_E_LIMIT, "node '%s' (%s): the activations need more than %llu bytes in all (cc_limits.max_total_bytes, CLI: CONTRASTCAM_MAX_TOTAL_BYTES)",
                                 n->name, n->op_type, (unsigned long long)cc_graph_max_total_bytes(g));
                    break;
                }
            }
            if (t->is_const && t->data) cc_graph_own(g, t->data);
        }
        if (rc) break;
        int need_fold = all_const;
        for (int j = 0; j < n->n_out; j++)
            if (out[j]->is_const) need_fold = 0;
        if (need_fold) {
            for (int j = 0; j < n->n_out && !rc; j++) {
                out[j]->data = NULL;
                if (cc_tensor_alloc(out[j])) rc = cc_errf(e, CC_E_NOMEM, "out of memory folding node '%s'", n->name);
                else { cc_graph_own(g, out[j]->data); out[j]->is_const = 1; }
            }
            if (rc) break;
            rc = n->op->forward(n, in, out, &ctx);
            if (rc) cc_errf(e, rc, "node '%s' (%s) failed while evaluating constants at load", n->name, n->op_type);
        } else {
            for (int j = 0; j < n->n_out; j++)
                if (out[j]->dtype != CC_DT_FLOAT && !out[j]->is_const) {
                    rc = cc_errf(e, CC_E_UNSUPPORTED, "node '%s' (%s): output '%s' is an integer tensor that depends on the input; only float activations are supported",
                                 n->name, n->op_type, out[j]->name);
                    break;
                }
        }
    }
    cc_ctx_free(&ctx);
    return rc;
}

int cc_graph_build(cc_graph *g, cc_err *e)
{
    int rc;
    if (g->n_outputs == 0) return cc_errf(e, CC_E_PARSE, "the graph declares no outputs");
    if (g->n_nodes == 0) return cc_errf(e, CC_E_UNSUPPORTED, "the graph has no nodes (nothing to explain)");
    if ((rc = resolve_ops(g, e))) return rc;
    if ((rc = check_attr_types(g, e))) return rc;
    if ((rc = topo_sort(g, e))) return rc;
    if ((rc = infer_and_fold(g, e))) return rc;
    g->tensor_op = calloc((size_t)g->n_tensors + 1, sizeof(char *));
    if (!g->tensor_op) return CC_E_NOMEM;
    for (int t = 0; t < g->n_tensors; t++) {
        const cc_tensor *ten = &g->tensors[t];
        g->tensor_op[t] = (char *)(ten->producer >= 0 ? g->nodes[ten->producer].op_type : ten->is_initializer ? "initializer" : "input");
    }
    return 0;
}
