/* budget.c - the memory budget: the most bytes one request may ask for. Sizes
   that come from files and specs (array shapes, unit and sample counts,
   quadrature orders) are checked against it before anything is allocated, so a
   huge number fails at once with a message naming the field and the bytes it
   needs, instead of swapping or dying in malloc. The default is half the
   memory this process may use: the physical memory, or the limit of its
   control group when that is lower (containers and batch jobs usually run
   under one); the environment variable MLPF_MAX_BYTES overrides it (a byte
   count, optionally with a K, M, G or T suffix: powers of 1024). */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The number in file path, or SIZE_MAX when it is absent or says "max"
   (cgroup v2) or a value near 2^63 (cgroup v1's "no limit"). */
static size_t limit_in_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return SIZE_MAX;
    unsigned long long v = 0;
    int ok = fscanf(f, "%llu", &v) == 1;
    fclose(f);
    return ok && v > 0 && v < (1ull << 62) && v < SIZE_MAX ? (size_t)v : SIZE_MAX;
}

/* The lowest limit in file name of directory dir and each of its parents up to
   root (a group's limit applies to every group below it). */
static size_t lowest_limit_up(const char *root, const char *dir, const char *name) {
    char path[4096];
    size_t lowest = SIZE_MAX;
    int n = snprintf(path, sizeof path, "%s%s", root, dir);
    if (n < 0 || (size_t)n >= sizeof path) return SIZE_MAX;
    size_t rootlen = strlen(root);
    for (;;) {
        size_t len = strlen(path);
        while (len > rootlen && path[len - 1] == '/') path[--len] = '\0';
        char file[4200];
        snprintf(file, sizeof file, "%s/%s", path, name);
        size_t v = limit_in_file(file);
        if (v < lowest) lowest = v;
        char *slash = strrchr(path + rootlen, '/');
        if (!slash) break;
        *slash = '\0';
    }
    return lowest;
}

size_t mlpf_cgroup_memory_limit(const char *sysroot) {
    char path[4096];
    snprintf(path, sizeof path, "%s/proc/self/cgroup", sysroot);
    FILE *f = fopen(path, "r");
    if (!f) return SIZE_MAX;
    size_t lowest = SIZE_MAX;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        /* "ID:CONTROLLERS:PATH": v2 is "0::PATH", v1 lists "memory" among its controllers */
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2) continue;
        *c1 = *c2 = '\0';
        const char *controllers = c1 + 1, *group = c2 + 1;
        char root[4096];
        size_t v = SIZE_MAX;
        if (!*controllers && !strcmp(line, "0")) {
            for (int k = 0; k < 2; k++) {   /* a v2-only mount, or the hybrid "unified" one */
                snprintf(root, sizeof root, "%s/sys/fs/cgroup%s", sysroot, k ? "/unified" : "");
                size_t w = lowest_limit_up(root, group, "memory.max");
                if (w < v) v = w;
            }
        } else if (strstr(controllers, "memory")) {
            snprintf(root, sizeof root, "%s/sys/fs/cgroup/memory", sysroot);
            v = lowest_limit_up(root, group, "memory.limit_in_bytes");
        }
        if (v < lowest) lowest = v;
    }
    fclose(f);
    return lowest;
}

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
    double usable = pages > 0 && page > 0 ? (double)pages * (double)page : 8e9;
    size_t group = mlpf_cgroup_memory_limit("");
    if ((double)group < usable) usable = (double)group;
    double half = 0.5 * usable;
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
