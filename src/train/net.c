/* A sequential conv net from a short description, written as an ONNX graph.
 * Tensor names: convN / reluN (conv layers), poolN, gap, flattenN, fcN /
 * fcN_relu, and "logits" for the classifier; weights convN.weight [M, C, 3, 3],
 * convN.bias [M], fcN.weight [out, in] (Gemm transB = 1, PyTorch's layout) and
 * fcN.bias [out]. */
#include "train/train.h"
#include "ops/op.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add_param(cc_net *net, int layer, const char *lname, const char *suffix, int ndim, const int64_t *dims,
                      int64_t fan_in, int is_bias)
{
    cc_net_param *p = &net->params[net->n_params++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s.%s", lname, suffix);
    p->ndim = ndim;
    p->numel = 1;
    for (int i = 0; i < ndim; i++) { p->dims[i] = dims[i]; p->numel *= dims[i]; }
    p->fan_in = fan_in;
    p->is_bias = is_bias;
    p->layer = layer;
}

int cc_net_parse(cc_net *net, const char *arch, int in_c, int in_h, int in_w, int n_classes, char *err, size_t errlen)
{
    memset(net, 0, sizeof *net);
    if (in_c < 1 || in_h < 1 || in_w < 1 || n_classes < 2 || in_c > 4096 || in_h > 4096 || in_w > 4096 || n_classes > 100000)
        return cc_train_errf(err, errlen, CC_E_ARG, "bad network input shape or class count");
    if (!arch) arch = "";
    if (strlen(arch) >= sizeof net->arch) return cc_train_errf(err, errlen, CC_E_ARG, "architecture string too long");
    snprintf(net->arch, sizeof net->arch, "%s", arch);
    net->in_c = in_c;
    net->in_h = in_h;
    net->in_w = in_w;
    net->n_classes = n_classes;
    int c = in_c, h = in_h, w = in_w;   /* h = w = 0 once flattened */
    int nconv = 0, npool = 0, nfc = 0;
    const char *p = arch;
    for (;;) {
        while (*p == ' ') p++;
        int last = *p == 0;
        char kind = last ? 'F' : *p++;
        long units = 0;
        if (!last && (kind == 'c' || kind == 'f')) {
            char *end;
            if (!isdigit((unsigned char)*p)) return cc_train_errf(err, errlen, CC_E_ARG, "architecture '%s': '%c' needs a size, e.g. %c32", arch, kind, kind);
            units = strtol(p, &end, 10);
            p = end;
            if (units < 1 || units > 65536) return cc_train_errf(err, errlen, CC_E_ARG, "architecture '%s': size %ld out of range", arch, units);
        } else if (!last && kind != 'p' && kind != 'g') {
            return cc_train_errf(err, errlen, CC_E_ARG, "architecture '%s': unknown layer '%c' (use cN, p, g, fN)", arch, kind);
        }
        if (last) units = n_classes;
        while (*p == ' ') p++;
        if (!last && *p && *p != ',') return cc_train_errf(err, errlen, CC_E_ARG, "architecture '%s': expected ',' before '%s'", arch, p);
        if (*p == ',') p++;
        if (net->n_layers >= CC_NET_MAX_LAYERS) return cc_train_errf(err, errlen, CC_E_LIMIT, "architecture '%s': more than %d layers", arch, CC_NET_MAX_LAYERS);
        cc_net_layer *L = &net->layers[net->n_layers];
        L->in_c = c; L->in_h = h; L->in_w = w;
        L->units = (int)units;
        if ((kind == 'c' || kind == 'p' || kind == 'g') && h == 0)
            return cc_train_errf(err, errlen, CC_E_ARG, "architecture '%s': '%c' after a fully connected layer", arch, kind);
        int64_t dims[4];
        char lname[32];
        switch (kind) {
        case 'c':
            L->kind = CC_LAYER_CONV; L->relu = 1;
            nconv++;
            snprintf(lname, sizeof lname, "conv%d", nconv);
            snprintf(L->out_name, sizeof L->out_name, "relu%d", nconv);
            dims[0] = units; dims[1] = c; dims[2] = 3; dims[3] = 3;
            add_param(net, net->n_layers, lname, "weight", 4, dims, (int64_t)c * 9, 0);
            add_param(net, net->n_layers, lname, "bias", 1, dims, (int64_t)c * 9, 1);
            c = (int)units;
            if (h * w > 1) snprintf(net->target, sizeof net->target, "%s", L->out_name);
            break;
        case 'p':
            if (h < 2 || w < 2) return cc_train_errf(err, errlen, CC_E_ARG, "architecture '%s': nothing left to pool (%dx%d)", arch, h, w);
            L->kind = CC_LAYER_MAXPOOL;
            npool++;
            snprintf(L->out_name, sizeof L->out_name, "pool%d", npool);
            h /= 2; w /= 2;
            break;
        case 'g':
            L->kind = CC_LAYER_GAP;
            snprintf(L->out_name, sizeof L->out_name, "gap%d", net->n_layers + 1);
            h = w = 1;
            break;
        default: { /* 'f' or the classifier */
            L->kind = CC_LAYER_FC; L->relu = !last;
            nfc++;
            snprintf(lname, sizeof lname, "fc%d", nfc);
            if (last) snprintf(L->out_name, sizeof L->out_name, "logits");
            else snprintf(L->out_name, sizeof L->out_name, "fc%d_relu", nfc);
            int64_t in = h ? (int64_t)c * h * w : c;
            if (in > INT32_MAX / 2) return cc_train_errf(err, errlen, CC_E_LIMIT, "architecture '%s': layer too large", arch);
            dims[0] = units; dims[1] = in;
            add_param(net, net->n_layers, lname, "weight", 2, dims, in, 0);
            add_param(net, net->n_layers, lname, "bias", 1, dims, in, 1);
            c = (int)units; h = w = 0;
        } break;
        }
        if ((int64_t)c * (h ? h : 1) * (w ? w : 1) > ((int64_t)1 << 26))
            return cc_train_errf(err, errlen, CC_E_LIMIT, "architecture '%s': activation too large", arch);
        L->out_c = c; L->out_h = h; L->out_w = w;
        net->n_layers++;
        if (last) break;
    }
    return 0;
}

void cc_net_init_weights(const cc_net *net, float *const *params, cc_rng *rng)
{
    for (int i = 0; i < net->n_params; i++) {
        const cc_net_param *p = &net->params[i];
        float *d = params[i];
        if (p->is_bias) { memset(d, 0, sizeof(float) * (size_t)p->numel); continue; }
        double gain = net->layers[p->layer].relu ? 2.0 : 1.0;
        double sd = sqrt(gain / (double)p->fan_in);
        for (int64_t j = 0; j < p->numel; j++) d[j] = (float)(sd * cc_rng_normal(rng));
    }
}

int cc_net_write(const cc_net *net, int batch, const float *const *params, cc_onnx_writer *w)
{
    if (batch < 1) return CC_E_ARG;
    int64_t in_dims[4] = { batch, net->in_c, net->in_h, net->in_w };
    cc_ow_input(w, "input", in_dims, 4);
    for (int i = 0; i < net->n_params; i++)
        cc_ow_initializer(w, net->params[i].name, net->params[i].dims, net->params[i].ndim, params[i]);
    const char *cur = "input";
    int pi = 0, nconv = 0, nfc = 0;
    static const int64_t k3[2] = { 3, 3 }, one[2] = { 1, 1 }, pad1[4] = { 1, 1, 1, 1 }, two[2] = { 2, 2 };
    char name[48];
    for (int li = 0; li < net->n_layers; li++) {
        const cc_net_layer *L = &net->layers[li];
        switch (L->kind) {
        case CC_LAYER_CONV: {
            nconv++;
            snprintf(name, sizeof name, "conv%d", nconv);
            const char *ins[3] = { cur, net->params[pi].name, net->params[pi + 1].name };
            const char *outs[1] = { name };
            cc_ow_node(w, "Conv", name, ins, 3, outs, 1);
            cc_ow_attr_ints(w, "kernel_shape", k3, 2);
            cc_ow_attr_ints(w, "pads", pad1, 4);
            cc_ow_attr_ints(w, "strides", one, 2);
            pi += 2;
            const char *rin[1] = { name }, *rout[1] = { L->out_name };
            cc_ow_node(w, "Relu", L->out_name, rin, 1, rout, 1);
        } break;
        case CC_LAYER_MAXPOOL: {
            const char *ins[1] = { cur }, *outs[1] = { L->out_name };
            cc_ow_node(w, "MaxPool", L->out_name, ins, 1, outs, 1);
            cc_ow_attr_ints(w, "kernel_shape", two, 2);
            cc_ow_attr_ints(w, "strides", two, 2);
        } break;
        case CC_LAYER_GAP: {
            const char *ins[1] = { cur }, *outs[1] = { L->out_name };
            cc_ow_node(w, "GlobalAveragePool", L->out_name, ins, 1, outs, 1);
        } break;
        default: {
            nfc++;
            char flat[48];
            if (L->in_h) {
                snprintf(flat, sizeof flat, "flatten%d", nfc);
                const char *ins[1] = { cur }, *outs[1] = { flat };
                cc_ow_node(w, "Flatten", flat, ins, 1, outs, 1);
                cc_ow_attr_int(w, "axis", 1);
                cur = flat;
            }
            if (L->relu) snprintf(name, sizeof name, "fc%d", nfc);
            else snprintf(name, sizeof name, "%s", L->out_name);
            const char *ins[3] = { cur, net->params[pi].name, net->params[pi + 1].name };
            const char *outs[1] = { name };
            cc_ow_node(w, "Gemm", name, ins, 3, outs, 1);
            cc_ow_attr_int(w, "transB", 1);
            pi += 2;
            if (L->relu) {
                const char *rin[1] = { name }, *rout[1] = { L->out_name };
                cc_ow_node(w, "Relu", L->out_name, rin, 1, rout, 1);
            }
        } break;
        }
        cur = L->out_name;
    }
    int64_t out_dims[2] = { batch, net->n_classes };
    cc_ow_output(w, cur, out_dims, 2);
    return cc_ow_error(w);
}
