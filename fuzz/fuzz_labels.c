/* libFuzzer harness: labels (see fuzz/targets.c). */
#include "targets.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_labels(data, size);
    return 0;
}
