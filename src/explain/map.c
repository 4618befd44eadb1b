/* From a layer-resolution map to the picture-resolution map users look at. */
#include "contrastcam.h"
#include "image/image.h"

#include <string.h>

int cc_map_finish(const float *map, int h, int w, float *out, int oh, int ow)
{
    int flat = 1;
    if (cc_upsample_bilinear(map, h, w, out, oh, ow)) {
        memset(out, 0, sizeof(float) * (size_t)oh * (size_t)ow);
        return 1;
    }
    cc_minmax_normalize(out, (size_t)oh * (size_t)ow, &flat);
    return flat;
}
