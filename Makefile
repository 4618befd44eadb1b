# contrastcam — build, test, demo.  `make check` runs every test; `make demo`
# runs the main job.  Both install the Debian packages they need when missing.
CC      ?= cc
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g -Wall -Wextra -std=c11 -D_GNU_SOURCE -fopenmp
CPPFLAGS += -Iinclude -Isrc -I/usr/include/x86_64-linux-gnu -I/usr/include/stb
# OpenBLAS built with OpenMP: its GEMM threads and our element-wise threads
# then share one libgomp pool.  With the pthread build the two pools spin
# against each other and a forward pass on 2 cores runs 3-30x slower.
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
BLASDIR ?= /usr/lib/$(MULTIARCH)/openblas-openmp
LDFLAGS += -L$(BLASDIR) -Wl,-rpath,$(BLASDIR)
LDLIBS  += -lopenblas -lstb -lz -lm
ifeq ($(SAN),1)
  CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
  BUILD   ?= build-san
  # fixtures are the same for both builds: generate them once (tests/run.sh)
  export CC_FIXTURES ?= build/fixtures
  # leaks are reported too; ASan's own allocator must not hide a huge request as a crash
  export ASAN_OPTIONS ?= detect_leaks=1:allocator_may_return_null=1
endif
BUILD ?= build
PY := /usr/bin/python3

LIB_SRC := $(sort $(wildcard src/onnx/*.c src/graph/*.c src/ops/*.c src/util/*.c src/explain/*.c src/image/*.c src/train/*.c src/iqa/*.c))
CLI_SRC := $(sort $(wildcard src/cli/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(sort $(wildcard tests/*.c))
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TOOL_SRC := $(sort $(wildcard tools/*.c))
TOOL_BIN := $(TOOL_SRC:tools/%.c=$(BUILD)/tools/%)
LIB := $(BUILD)/libcontrastcam.a
CLI := $(BUILD)/contrastcam

.PHONY: all deps check check-san demo bench clean fuzz
all: $(LIB) $(CLI) $(TEST_BIN) $(TOOL_BIN)

$(BUILD)/%.o: %.c $(wildcard include/*.h src/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(CLI): $(CLI_OBJ) $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(LIB) $(wildcard tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/bench/bench: bench/bench.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/tools/%: tools/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

deps:
	@sh tools/deps.sh

check: deps
	$(MAKE) all
	@BUILD=$(BUILD) PY=$(PY) sh tests/run.sh

check-san:
	$(MAKE) check SAN=1

demo: deps
	$(MAKE) all
	@BUILD=$(BUILD) sh tools/demo.sh

bench: deps
	$(MAKE) all $(BUILD)/bench/bench
	@BUILD=$(BUILD) PY=$(PY) sh bench/run.sh

# Fuzzing (libFuzzer, clang): each harness in fuzz/ for FUZZ_SECONDS, one at a
# time; see fuzz/fuzz.mk.  Installs clang when missing.
FUZZ_SECONDS ?= 60
fuzz:
	@command -v clang >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq clang; }
	$(MAKE) -f fuzz/fuzz.mk fuzz FUZZ_SECONDS=$(FUZZ_SECONDS)

clean:
	rm -rf build build-san build-fuzz out
