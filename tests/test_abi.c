/* test_abi.c - what bindings rely on: the version the header and the loaded
   library report, the struct layout query, and mlpf_free. */
#include "check.h"
#include "mlpflow.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static void test_version(void) {
    int major = -1, minor = -1, patch = -1;
    const char *v = mlpf_version(&major, &minor, &patch);
    CHECK(major == MLPF_VERSION_MAJOR && minor == MLPF_VERSION_MINOR &&
              patch == MLPF_VERSION_PATCH,
          "mlpf_version gives %d.%d.%d", major, minor, patch);
    CHECK(!strcmp(v, MLPF_VERSION), "version string %s vs header %s", v, MLPF_VERSION);
    char buf[64];
    snprintf(buf, sizeof buf, "%d.%d.%d", major, minor, patch);
    CHECK(!strcmp(v, buf), "string %s vs numbers %s", v, buf);
    CHECK(mlpf_version(NULL, NULL, NULL) == v, "NULL outputs are allowed");
}

static void test_layout_query(void) {
    CHECK(mlpf_abi_sizeof("mlpf_train_options") == sizeof(mlpf_train_options), "options size");
    CHECK(mlpf_abi_sizeof("mlpf_result") == sizeof(mlpf_result), "result size");
    CHECK(mlpf_abi_sizeof("mlpf_error") == sizeof(mlpf_error), "error size");
    CHECK(mlpf_abi_offsetof("mlpf_train_options", "interrupt") ==
              offsetof(mlpf_train_options, interrupt),
          "interrupt offset");
    CHECK(mlpf_abi_offsetof("mlpf_result", "loss_curve") == offsetof(mlpf_result, loss_curve),
          "loss_curve offset");
    CHECK(mlpf_abi_offsetof("mlpf_merge", "lambda") == offsetof(mlpf_merge, lambda),
          "merge lambda offset");
    CHECK(mlpf_abi_sizeof("mlpf_nosuch") == (size_t)-1, "unknown struct");
    CHECK(mlpf_abi_offsetof("mlpf_result", "nosuch") == (size_t)-1, "unknown field");
    CHECK(mlpf_abi_offsetof("mlpf_result", NULL) == (size_t)-1, "NULL field");
    CHECK(mlpf_abi_sizeof(NULL) == (size_t)-1, "NULL struct");
}

static void test_free(void) {
    mlpf_error err;
    double *in = NULL, *w = NULL;
    size_t n = 0;
    CHECK_OK(mlpf_gauss_hermite_data(1, 5, 0, &in, &w, &n, &err), &err);
    CHECK(n == 5, "5 nodes, got %zu", n);
    mlpf_free(in);
    mlpf_free(w);
    mlpf_free(NULL);
}

int main(void) {
    test_version();
    test_layout_query();
    test_free();
    return check_report("test_abi");
}
