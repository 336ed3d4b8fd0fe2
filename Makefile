# mlpflow build.
#   make            build the library and the CLI (installs nothing)
#   make deps       install the Debian packages the build and the tests need (as root)
#   make run        deps + build, then train the built-in example
#   make test       deps + build, then every test (make test T=test_finite: one test)
#
# Portability: the default, install, sanitizer and valgrind builds contain no
# code the build machine's CPU alone can run. The vector kernels are compiled for
# x86-64, x86-64-v3 (AVX2 + FMA) and x86-64-v4 (AVX-512) and chosen at load time
# (MLPF_HOT in src/internal.h); `make NATIVE=1` builds for this CPU only.

PREFIX   ?= /usr/local
BUILD    ?= build
CC       ?= gcc
SAN      ?=
NATIVE   ?=
ifeq ($(NATIVE),1)
OPT      ?= -O3 -march=native -DMLPF_NO_DISPATCH
else
OPT      ?= -O3
endif

# OpenBLAS's OpenMP build, found through its own pkg-config file (Debian installs
# one per variant): its BLAS calls then run serially inside our OpenMP regions
# instead of fighting them with a second thread pool. DT_RPATH (not RUNPATH) so
# that LAPACKE's own liblapack / libblas dependencies resolve to it too.
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
OBLAS_PC  := /usr/lib/$(MULTIARCH)/openblas-openmp/pkgconfig
OBLAS_DIR := $(shell PKG_CONFIG_PATH=$(OBLAS_PC) pkg-config --variable=libdir openblas 2>/dev/null)
OBLAS_DIR := $(if $(OBLAS_DIR),$(patsubst %/,%,$(OBLAS_DIR)),/usr/lib/$(MULTIARCH)/openblas-openmp)
BLAS_LIBS := -L$(OBLAS_DIR) -Wl,--disable-new-dtags -Wl,-rpath,$(OBLAS_DIR) -llapacke -lopenblas

VERSION  := $(shell sed -n 's/^\#define MLPF_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\).*/\2/p' include/mlpflow.h | paste -sd.)

WARN     := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
CFLAGS   += -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(OPT) -fno-math-errno $(WARN) -fPIC -fopenmp \
            -fvisibility=hidden -Iinclude -Isrc -MMD -MP $(SAN)
DEP_LIBS := -lsundials_arkode -lsundials_cvode -lsundials_nvecserial \
            -lsundials_sunmatrixdense -lsundials_sunlinsoldense -lsundials_sunlinsolspgmr -lnlopt \
            -lcjson -lsqlite3 -lmvec -lm -fopenmp
LDLIBS   := $(BLAS_LIBS) $(DEP_LIBS) $(SAN)

LIB_SRC  := $(sort $(shell find src -name '*.c'))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_SRC  := $(sort $(wildcard cli/*.c))
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

.PHONY: all deps lib cli tests test test-c asan-test valgrind-test run install clean bench

all: lib cli

deps:
	@sh scripts/deps.sh

lib: $(BUILD)/libmlpflow.so $(BUILD)/libmlpflow.a
cli: $(BUILD)/mlpflow

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libmlpflow.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# The shared library exports exactly the functions mlpflow.h declares (a version
# script made from the header): -fvisibility=hidden alone lets GCC's ifunc
# resolvers of the dispatched kernels through.
$(BUILD)/mlpflow.map: include/mlpflow.h
	@mkdir -p $(dir $@)
	{ echo '{ global:'; grep -oE '\bmlpf_[a-z0-9_]+ *\(' $< | tr -d ' (' | sort -u | sed 's/$$/;/'; \
	  echo 'local: *; };'; } > $@

$(BUILD)/libmlpflow.so: $(LIB_OBJ) $(BUILD)/mlpflow.map
	$(CC) -shared -Wl,-soname,libmlpflow.so.$(firstword $(subst ., ,$(VERSION))) \
	    -Wl,--version-script=$(BUILD)/mlpflow.map -o $@ $(LIB_OBJ) $(LDLIBS)

$(BUILD)/mlpflow: $(CLI_OBJ) $(BUILD)/libmlpflow.a
	$(CC) -o $@ $(CLI_OBJ) $(BUILD)/libmlpflow.a $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(BUILD)/libmlpflow.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MF $@.d -Itests -o $@ $< $(BUILD)/libmlpflow.a $(LDLIBS)

tests: $(TEST_BIN) $(BUILD)/mlpflow

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_BIN:=.d)

# The whole suite: C tests (each binary prints its checks), CLI tests, Python
# tests. T=name runs the tests whose file name contains name (C, CLI or pytest).
test: deps
	@$(MAKE) --no-print-directory all tests
	@MLPF_ONLY="$(T)" sh scripts/run_tests.sh $(BUILD)

test-c: all tests
	@MLPF_ONLY="$(T)" MLPF_SKIP_PYTHON=1 sh scripts/run_tests.sh $(BUILD)

# The C and CLI tests again under AddressSanitizer + UndefinedBehaviorSanitizer,
# built without dispatch for the baseline x86-64 (the other code path than the
# default build takes on this machine).
asan-test:
	$(MAKE) BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer -DMLPF_NO_DISPATCH" \
	    SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" lib cli tests
	@MLPF_ONLY="$(T)" MLPF_SKIP_PYTHON=1 ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    sh scripts/run_tests.sh build-asan

# valgrind's leak check on the library's test binaries (the ones that take minutes
# under valgrind stay out: test_matfree ~13 min; test_gaussian_train, whose runs
# hit their wall-clock safety nets at valgrind's 50x slowdown; ASan's leak check
# covers them all; OpenMP's
# thread pool is told to stay put so its stacks are not reported). Its own
# build for baseline x86-64: valgrind cannot run AVX-512 code (nor OpenBLAS's
# AVX-512 kernels: an unset OPENBLAS_CORETYPE becomes the baseline Prescott).
VALGRIND_TESTS ?= test_finite test_io test_abi test_activation test_classify test_dynamics \
                  test_glu test_landscape test_loss_error test_minimiser_phase test_symmetry \
                  test_train test_sweep
valgrind-test:
	@$(MAKE) --no-print-directory BUILD=build-vg OPT="-O2 -g -DMLPF_NO_DISPATCH" lib \
	    $(VALGRIND_TESTS:%=build-vg/tests/%)
	@for t in $(VALGRIND_TESTS); do \
	    OPENBLAS_CORETYPE=$${OPENBLAS_CORETYPE:-Prescott} OMP_NUM_THREADS=1 MLPF_UNDER_VALGRIND=1 valgrind -q --error-exitcode=9 --leak-check=full --show-possibly-lost=no --errors-for-leak-kinds=definite,indirect \
	        build-vg/tests/$$t >/dev/null || { echo "valgrind: $$t failed"; exit 1; }; \
	    echo "valgrind: $$t clean"; \
	done

run: deps
	@$(MAKE) --no-print-directory all
	$(BUILD)/mlpflow example

bench: all
	sh bench/run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin \
	    $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/mlpflow.h $(DESTDIR)$(PREFIX)/include/
	install -m 755 $(BUILD)/libmlpflow.so $(DESTDIR)$(PREFIX)/lib/libmlpflow.so.$(VERSION)
	ln -sf libmlpflow.so.$(VERSION) \
	    $(DESTDIR)$(PREFIX)/lib/libmlpflow.so.$(firstword $(subst ., ,$(VERSION)))
	ln -sf libmlpflow.so.$(firstword $(subst ., ,$(VERSION))) $(DESTDIR)$(PREFIX)/lib/libmlpflow.so
	install -m 644 $(BUILD)/libmlpflow.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/mlpflow $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@BLAS_LIBS@|-L$(OBLAS_DIR) -llapacke -lopenblas|' -e 's|@DEP_LIBS@|$(DEP_LIBS)|' \
	    mlpflow.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/mlpflow.pc

clean:
	rm -rf build build-asan build-vg

# ---- sweeps (src/sweep, cli/cmd_sweep.c, cli/sweep_mpi.c) ----
# The library stores sweep results with SQLite (-lsqlite3 in DEP_LIBS). MPI is the CLI's business only:
# with OpenMPI's pkg-config file (ompi-c) the CLI's sweep objects get its flags
# and -DMLPF_HAVE_MPI, and the CLI links libmpi; without it the CLI runs sweeps
# on threads and refuses to run under mpirun.
MPI_CFLAGS := $(shell pkg-config --cflags ompi-c 2>/dev/null)
MPI_LIBS   := $(shell pkg-config --libs ompi-c 2>/dev/null)
ifneq ($(MPI_LIBS),)
$(BUILD)/cli/sweep_mpi.o $(BUILD)/cli/cmd_sweep.o: CFLAGS += $(MPI_CFLAGS) -DMLPF_HAVE_MPI
$(BUILD)/mlpflow: LDLIBS += $(MPI_LIBS)
endif

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

# ---- Python package: a wheel that carries libmlpflow.so, and the API reference ----
# make python                        -> build/dist/mlpflow-<version>-*.whl (offline)
# make python-install PYTHON=venv/bin/python   installs it into that environment
# make docs                          -> build/docs/html (Sphinx, warnings are errors)
PYTHON ?= /usr/bin/python3
PYPKG = $(BUILD)/python-pkg

python: lib
	rm -rf $(PYPKG) $(BUILD)/dist/mlpflow-*.whl
	mkdir -p $(PYPKG) $(BUILD)/dist
	cp -R python/pyproject.toml python/setup.py python/README.md python/mlpflow $(PYPKG)/
	rm -rf $(PYPKG)/mlpflow/__pycache__
	cp $(BUILD)/libmlpflow.so $(PYPKG)/mlpflow/libmlpflow.so
	cd $(PYPKG) && $(PYTHON) -m pip wheel -q --no-build-isolation --no-deps --no-index \
	    -w $(CURDIR)/$(BUILD)/dist .
	@ls $(BUILD)/dist/mlpflow-*.whl

python-install: python
	$(PYTHON) -m pip install -q --no-index --no-deps --force-reinstall $(BUILD)/dist/mlpflow-*.whl

docs: lib
	MLPFLOW_LIB=$(CURDIR)/$(BUILD)/libmlpflow.so PYTHONPATH=$(CURDIR)/python \
	    $(PYTHON) -m sphinx -W --keep-going -q -b html python/docs $(BUILD)/docs/html
	@echo "docs: $(BUILD)/docs/html/index.html"

.PHONY: python python-install docs
