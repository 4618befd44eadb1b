# Fuzzing with libFuzzer (clang), invoked by `make fuzz` in the top Makefile:
#   make fuzz [FUZZ_SECONDS=600] [FUZZ_TARGETS="onnx image npy labels"]
# builds build-fuzz/fuzz_<target> with ASan + UBSan + libFuzzer coverage
# (the library compiled again, without OpenMP - hence the -Wno-unused flags for
# variables only OpenMP pragmas use -, with stb_image compiled in so
# that the image decoders are instrumented too), writes seed corpora from the
# repository's files (fuzz/make_seeds.py), then runs each harness in turn for
# FUZZ_SECONDS, one process at a time.  Crashes land in build-fuzz/crashes/;
# copy each to tests/regress/<target>/ once fixed (tests/test_regress.c
# replays them in `make check`).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= onnx image npy labels
FUZZ_BUILD   ?= build-fuzz
FUZZ_CFLAGS  := -g -O1 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unknown-pragmas \
                -Wno-unused-variable -Wno-unused-parameter -Wno-unused-but-set-variable \
                -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
                -fno-omit-frame-pointer
FUZZ_CPPFLAGS := -Iinclude -Isrc -I/usr/include/x86_64-linux-gnu -I/usr/include/stb
FUZZ_MULTIARCH := $(shell gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
FUZZ_BLASDIR ?= /usr/lib/$(FUZZ_MULTIARCH)/openblas-openmp
FUZZ_LIB_SRC := $(sort $(wildcard src/onnx/*.c src/graph/*.c src/ops/*.c src/util/*.c src/explain/*.c src/image/*.c src/train/*.c src/iqa/*.c))
FUZZ_OBJ := $(FUZZ_LIB_SRC:%.c=$(FUZZ_BUILD)/%.o) $(FUZZ_BUILD)/fuzz/support.o
FUZZ_BIN := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

.PHONY: fuzz fuzz-build fuzz-seeds
fuzz: fuzz-build fuzz-seeds
	@FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) sh fuzz/run.sh $(FUZZ_TARGETS)

fuzz-build: $(FUZZ_BIN)

fuzz-seeds:
	@/usr/bin/python3 fuzz/make_seeds.py $(FUZZ_BUILD)/seeds

$(FUZZ_BUILD)/%.o: %.c $(wildcard include/*.h src/*/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -c $< -o $@

# stb_image 2.27 computes `idata + ioff` with idata NULL for a PNG whose first
# IDAT chunk is empty (then copies 0 bytes): undefined in C, harmless on every
# compiler we use (no memory is touched; ASan still checks every access);
# stbi__getn then passes that NULL to memcpy with size 0 (nonnull-attribute).
# These two UBSan checks are off for the stb code only (see tests/regress/README.md).
$(FUZZ_BUILD)/fuzz/support.o: fuzz/support.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -fno-sanitize=pointer-overflow,nonnull-attribute -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c fuzz/targets.c $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) \
	    -L$(FUZZ_BLASDIR) -Wl,-rpath,$(FUZZ_BLASDIR) -lopenblas -lz -lm -lpthread
