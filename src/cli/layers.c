/* contrastcam layers: the tensors a user can pick as the target layer. */
#include "cli.h"


static const char *usage =
    "usage: contrastcam layers MODEL\n"
    "\n"
    "Lists the activations with spatial extent ([1, C, h, w]) that can be the\n"
    "target layer of an explanation, in graph order, with their shapes and the\n"
    "op that makes them.  The default layer is marked with '*'.\n"
    "\n"
    "example:\n"
    "  contrastcam layers mobilenet_v2.onnx\n";

int cmd_layers(int argc, char **argv)
{
    cli_opts o;
    int rc = cli_parse(argc, argv, &o, usage, 0);
    if (rc >= 0) return rc;
    cc_model *m;
    cc_status st = cc_model_load(o.model, &m);
    if (st) {
        rc = cli_fail(EXIT_INPUT, "%s", cc_model_errmsg(m));
        cc_model_free(m);
        return rc;
    }
    int def = cc_default_layer(m);
    printf("%-3s %-40s %-20s %s\n", "", "tensor", "op", "shape");
    for (int t = 0; t < cc_model_num_tensors(m); t++) {
        if (!cc_is_spatial_layer(m, t)) continue;
        cc_tensor_info ti;
        cc_model_tensor_info(m, t, &ti);
        printf("%-3s %-40s %-20s [%lld, %lld, %lld, %lld]\n", t == def ? "*" : "", ti.name, ti.op_type,
               (long long)ti.dims[0], (long long)ti.dims[1], (long long)ti.dims[2], (long long)ti.dims[3]);
    }
    cc_model_free(m);
    return EXIT_OK;
}
