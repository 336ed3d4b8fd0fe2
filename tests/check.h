/* check.h - the test suite's few macros. Each test binary counts its checks and
   prints "checks: N passed, M failed" last; scripts/run_tests.sh adds them up. */
#ifndef MLPF_CHECK_H
#define MLPF_CHECK_H
#include <math.h>
#include <stdio.h>
#include <string.h>

static int check_passed_, check_failed_;

#define CHECK(cond, ...)                                                         \
    do {                                                                         \
        if (cond) {                                                              \
            check_passed_++;                                                     \
        } else {                                                                 \
            check_failed_++;                                                     \
            fprintf(stderr, "FAIL %s:%d in %s: %s: ", __FILE__, __LINE__, __func__, \
                    #cond);                                                      \
            fprintf(stderr, __VA_ARGS__);                                        \
            fputc('\n', stderr);                                                 \
        }                                                                        \
    } while (0)

/* |a - b| <= atol + rtol |b| */
#define CHECK_CLOSE(a, b, atol, rtol, ...)                                       \
    do {                                                                         \
        double a_ = (a), b_ = (b);                                               \
        int ok_ = fabs(a_ - b_) <= (atol) + (rtol) * fabs(b_);                  \
        CHECK(ok_, __VA_ARGS__);                                                 \
        if (!ok_) fprintf(stderr, "    got %.17g, expected %.17g\n", a_, b_);    \
    } while (0)

#define CHECK_OK(call, errp)                                                     \
    do {                                                                         \
        int st_ = (call);                                                        \
        CHECK(st_ == MLPF_OK, "status %d: %s", st_, (errp)->msg);                \
    } while (0)

static inline int check_report(const char *name) {
    printf("%s: %d passed, %d failed\n", name, check_passed_, check_failed_);
    return check_failed_ ? 1 : 0;
}
#endif
