/* budget.c - the memory budget: the most bytes one request may ask for. Sizes
   that come from files and specs (array shapes, unit and sample counts,
   quadrature orders) are checked against it before anything is allocated, so a
   huge number fails at once with a message naming the field and the bytes it
   needs, instead of swapping or dying in malloc. The default is half the
   physical memory; the environment variable MLPF_MAX_BYTES overrides it
   (a byte count, optionally with a K, M, G or T suffix: powers of 1024). */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int mlpf_memory_budget(size_t *bytes, mlpf_error *err) {
    const char *s = getenv("MLPF_MAX_BYTES");
    if (s && *s) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        unsigned shift = 0;
        if (*end && !end[1]) {
            const char *units = "KMGT", *u = strchr(units, *end);
            if (u) {
                shift = 10u * (unsigned)(u - units + 1);
                end++;
            }
        }
        if (s[0] == '-' || end == s || *end || errno || v == 0 || v > (SIZE_MAX >> shift))
            return mlpf_fail(err, MLPF_EINVAL,
                             "MLPF_MAX_BYTES=\"%s\": need a positive byte count such as "
                             "4000000000 or 4G", s);
        *bytes = (size_t)(v << shift);
        return MLPF_OK;
    }
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    double half = pages > 0 && page > 0 ? 0.5 * (double)pages * (double)page : 4e9;
    *bytes = half >= (double)SIZE_MAX ? SIZE_MAX : (size_t)half;
    return MLPF_OK;
}

int mlpf_check_budget(const char *what, double bytes, mlpf_error *err) {
    size_t budget = 0;
    int st = mlpf_memory_budget(&budget, err);
    if (st) return st;
    if (!(bytes <= (double)budget))
        return mlpf_fail(err, MLPF_ENOMEM,
                         "%s needs %.4g bytes (%.3g GiB), more than the memory budget of %zu "
                         "bytes (set MLPF_MAX_BYTES to change it)",
                         what, bytes, bytes / 1073741824.0, budget);
    return MLPF_OK;
}
