# mlpflow build. `make` builds the library and the CLI, `make test` runs every
# test, `make run` trains the built-in example. Missing Debian packages are
# installed with apt-get when run as root (scripts/deps.sh).

PREFIX   ?= /usr/local
BUILD    ?= build
CC       ?= gcc
OPT      ?= -O3 -march=native
SAN      ?=
OBLAS    := /usr/lib/x86_64-linux-gnu/openblas-openmp

WARN     := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
CFLAGS   += -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(OPT) -fno-math-errno $(WARN) -fPIC -fopenmp \
            -Iinclude -Isrc $(SAN)
# Link OpenBLAS's OpenMP build explicitly (DT_RPATH so that LAPACKE's own
# liblapack/libblas dependencies resolve to it too): its BLAS calls run serially
# inside our OpenMP regions instead of fighting them with a second thread pool.
LDLIBS   := -L$(OBLAS) -Wl,--disable-new-dtags -Wl,-rpath,$(OBLAS) \
            -llapacke -lopenblas -lsundials_arkode -lsundials_cvode -lsundials_nvecserial \
            -lsundials_sunmatrixdense -lsundials_sunlinsoldense -lnlopt -lcjson -lmvec -lm -fopenmp $(SAN)

LIB_SRC  := $(sort $(shell find src -name '*.c'))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_SRC  := $(sort $(wildcard cli/*.c))
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

.PHONY: all deps lib cli tests test test-c asan-test valgrind-test run install clean bench

all: deps lib cli

deps:
	@sh scripts/deps.sh

lib: $(BUILD)/libmlpflow.so $(BUILD)/libmlpflow.a
cli: $(BUILD)/mlpflow

$(BUILD)/%.o: %.c include/mlpflow.h src/internal.h $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libmlpflow.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libmlpflow.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libmlpflow.so.0 -o $@ $^ $(LDLIBS)

$(BUILD)/mlpflow: $(CLI_OBJ) $(BUILD)/libmlpflow.a
	$(CC) -o $@ $(CLI_OBJ) $(BUILD)/libmlpflow.a $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/check.h tests/test_objectives.h $(BUILD)/libmlpflow.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(BUILD)/libmlpflow.a $(LDLIBS)

tests: $(TEST_BIN) $(BUILD)/mlpflow

# The whole suite: C tests (each binary prints its checks), CLI tests, Python tests.
test: all tests
	@sh scripts/run_tests.sh $(BUILD)

test-c: all tests
	@MLPF_SKIP_PYTHON=1 sh scripts/run_tests.sh $(BUILD)

# The C and CLI tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
asan-test: deps
	$(MAKE) BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	    SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" lib cli tests
	@MLPF_SKIP_PYTHON=1 ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    sh scripts/run_tests.sh build-asan

# valgrind's leak check on the library's test binaries (fast ones; OpenMP's
# thread pool is told to stay put so its stacks are not reported).
VALGRIND_TESTS ?= test_finite test_io
valgrind-test: all tests
	@command -v valgrind >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -q valgrind >/dev/null; }
	@for t in $(VALGRIND_TESTS); do \
	    [ -x $(BUILD)/tests/$$t ] || continue; \
	    OMP_NUM_THREADS=1 MLPF_UNDER_VALGRIND=1 valgrind -q --error-exitcode=9 --leak-check=full --show-possibly-lost=no --errors-for-leak-kinds=definite,indirect \
	        $(BUILD)/tests/$$t >/dev/null || { echo "valgrind: $$t failed"; exit 1; }; \
	    echo "valgrind: $$t clean"; \
	done

run: all
	$(BUILD)/mlpflow example

bench: all
	sh bench/run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin \
	    $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/mlpflow.h $(DESTDIR)$(PREFIX)/include/
	install -m 755 $(BUILD)/libmlpflow.so $(DESTDIR)$(PREFIX)/lib/libmlpflow.so.0
	ln -sf libmlpflow.so.0 $(DESTDIR)$(PREFIX)/lib/libmlpflow.so
	install -m 644 $(BUILD)/libmlpflow.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/mlpflow $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@OBLAS@|$(OBLAS)|' mlpflow.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/mlpflow.pc

clean:
	rm -rf build build-asan

# ---- fuzzing (tests/fuzz/) ----------------------------------------------------
# `make fuzz` builds one libFuzzer harness per parser / writer with clang
# (-fsanitize=fuzzer,address,undefined) against the library sources compiled
# with -fsanitize=fuzzer-no-link,address,undefined into $(FUZZ_BUILD).
# `make fuzz-run FUZZ_SECONDS=60` runs each harness for that long on its seed
# corpus (tests/fuzz/corpus/<harness>, plus new inputs kept in
# $(FUZZ_BUILD)/corpus/<harness>) and fails on the first crash, leak, timeout or
# broken invariant; the input is saved as $(FUZZ_BUILD)/artifacts/<harness>-crash-*.
# Replay one with: $(FUZZ_BUILD)/<harness> $(FUZZ_BUILD)/artifacts/<file>.
# The harnesses' private temp dirs go to $(FUZZ_BUILD)/tmp (a crash leaves its dir).
# The fuzz objects are built without -fopenmp: the parsers and writers run on one
# thread, and mixing clang's libomp with the libgomp that OpenBLAS's OpenMP build
# loads would put two OpenMP runtimes in one process. The few omp_* calls resolve
# to libgomp (-lgomp), the runtime OpenBLAS already uses.
FUZZ_BUILD   ?= build-fuzz
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all
# no -Werror for the library here: clang may warn where gcc (the build of record) does not
FUZZ_CFLAGS  := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O1 -g -fno-omit-frame-pointer \
                -fno-math-errno -Wall -Wextra -Wno-unused-parameter -Wno-unknown-pragmas \
                -Wno-source-uses-openmp -Iinclude -Isrc $(FUZZ_SAN)
FUZZ_LDLIBS  := $(filter-out -fopenmp,$(LDLIBS)) -lgomp
FUZZ_SRC     := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN     := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)

.PHONY: fuzz fuzz-deps fuzz-run

fuzz-deps:
	@sh scripts/fuzz_deps.sh

fuzz: fuzz-deps $(FUZZ_BIN)

$(FUZZ_BUILD)/obj/%.o: %.c include/mlpflow.h src/internal.h $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BUILD)/libmlpflow-fuzz.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h tests/fuzz/zip_read.h $(FUZZ_BUILD)/libmlpflow-fuzz.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Werror -fsanitize=fuzzer -o $@ $< $(FUZZ_BUILD)/libmlpflow-fuzz.a \
	    $(FUZZ_LDLIBS)

fuzz-run: fuzz
	@mkdir -p $(FUZZ_BUILD)/artifacts $(FUZZ_BUILD)/tmp
	@for h in $(FUZZ_BIN:$(FUZZ_BUILD)/%=%); do \
	    mkdir -p $(FUZZ_BUILD)/corpus/$$h; \
	    dict=; [ -f tests/fuzz/$$h.dict ] && dict=-dict=tests/fuzz/$$h.dict; \
	    echo "fuzz: $$h for $(FUZZ_SECONDS) s"; \
	    OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    TMPDIR=$(FUZZ_BUILD)/tmp \
	    $(FUZZ_BUILD)/$$h -max_total_time=$(FUZZ_SECONDS) -timeout=20 -rss_limit_mb=2048 \
	        -max_len=4096 -print_final_stats=1 $$dict \
	        -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$h- \
	        $(FUZZ_BUILD)/corpus/$$h tests/fuzz/corpus/$$h > $(FUZZ_BUILD)/$$h.log 2>&1 \
	        || { tail -n 60 $(FUZZ_BUILD)/$$h.log; echo "fuzz: $$h FAILED (log $(FUZZ_BUILD)/$$h.log)"; exit 1; }; \
	    grep -E '^stat::number_of_executed_units|^Done' $(FUZZ_BUILD)/$$h.log | tail -n 1; \
	done

fuzz-clean:
	rm -rf $(FUZZ_BUILD)
clean: fuzz-clean
.PHONY: fuzz-clean

# The seed corpora (and any saved crash input) replayed through the harnesses
# with gcc and the ordinary library: no clang needed (tests/fuzz/replay.c).
FUZZ_REPLAY_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz-replay/%)

$(BUILD)/fuzz-replay/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c tests/fuzz/fuzz.h \
        tests/fuzz/zip_read.h $(BUILD)/libmlpflow.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< tests/fuzz/replay.c $(BUILD)/libmlpflow.a $(LDLIBS)

fuzz-replay: lib $(FUZZ_REPLAY_BIN)
	@for h in $(FUZZ_REPLAY_BIN:$(BUILD)/fuzz-replay/%=%); do \
	    OMP_NUM_THREADS=1 $(BUILD)/fuzz-replay/$$h tests/fuzz/corpus/$$h || exit 1; \
	done
.PHONY: fuzz-replay
