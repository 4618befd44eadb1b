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
    memcpy(g->nodes, sorted, sizeof(cc_node) * (size_t)nn);
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
    for (int j = 0; j < n->n_in; j++) in[j] = n->in[j] >= 0 ? &g->tensors[n->in[j]] : NULL;
    for (int j = 0; j < n->n_out; j++) out[j] = n->out[j] >= 0 ? &g->tensors[n->out[j]] : NULL;
    return 0;
}

static int infer_and_fold(cc_graph *g, cc_err *e)
{
    cc_tensor *in[MAX_IO], *out[MAX_IO];
    cc_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    int rc = 0;
    for (int i = 0; i < g->n_nodes && !rc; i++) {
        cc_node *n = &g->nodes[i];
        if ((rc = node_io(g, n, in, out, e))) break;
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
    if ((rc = resolve_ops(g, e))) return rc;
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
