/* json.c - strict JSON input. cJSON accepts an object with a repeated key and
   keeps the first value (Python's json keeps the last): a file read by both
   would silently mean two different things, so a repeated key is an error
   naming the key, its place and the file. Output of non-finite numbers is
   mlpf_json_number's: the strings "inf", "-inf" and "nan". */
#include "io/io.h"

#include <string.h>

static int by_name(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first key that occurs twice among o's members, or NULL. */
static const char *repeated_key(const cJSON *o, int *oom) {
    size_t n = 0;
    const cJSON *it;
    for (it = o->child; it; it = it->next) n++;
    if (n < 2) return NULL;
    const char **names = malloc(n * sizeof *names);
    if (!names) {
        *oom = 1;
        return NULL;
    }
    n = 0;
    for (it = o->child; it; it = it->next) names[n++] = it->string ? it->string : "";
    qsort(names, n, sizeof *names, by_name);
    const char *dup = NULL;
    for (size_t i = 1; i < n && !dup; i++)
        if (!strcmp(names[i - 1], names[i])) dup = names[i];
    free(names);
    return dup;
}

/* Walk v; where (cap bytes) holds the path to v ("train.maxT", "layers[1]"). */
static int check_keys(const cJSON *v, const char *name, char *where, size_t cap,
                      mlpf_error *err) {
    if (cJSON_IsObject(v)) {
        int oom = 0;
        const char *dup = repeated_key(v, &oom);
        if (oom) return mlpf_fail(err, MLPF_ENOMEM, "%s: out of memory checking keys", name);
        if (dup)
            return mlpf_fail(err, MLPF_EFORMAT, "%s: duplicate key \"%s%s%s\" (each key may "
                             "appear once per object)", name, where, *where ? "." : "", dup);
    }
    size_t len = strlen(where), i = 0;
    for (const cJSON *it = v->child; it; it = it->next, i++) {
        if (cJSON_IsObject(v))
            snprintf(where + len, cap - len, "%s%s", len ? "." : "", it->string ? it->string : "");
        else
            snprintf(where + len, cap - len, "[%zu]", i);
        int st = check_keys(it, name, where, cap, err);
        where[len] = '\0';
        if (st) return st;
    }
    return MLPF_OK;
}

int mlpf_json_check_keys(const cJSON *root, const char *name, mlpf_error *err) {
    char where[256] = "";
    return root ? check_keys(root, name, where, sizeof where, err) : MLPF_OK;
}

cJSON *mlpf_json_parse(const char *text, size_t len, const char *name, mlpf_error *err) {
    if (strlen(text) != len) {
        mlpf_fail(err, MLPF_EFORMAT, "%s: not a JSON text (NUL byte at offset %zu)", name,
                  strlen(text));
        return NULL;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    if (!root) {
        size_t off = end && end >= text ? (size_t)(end - text) : 0;
        long line = 1, col = 1;
        for (size_t i = 0; i < off; i++) {
            if (text[i] == '\n') line++, col = 1;
            else col++;
        }
        mlpf_fail(err, MLPF_EFORMAT, "%s: malformed JSON at line %ld, column %ld", name, line,
                  col);
        return NULL;
    }
    if (mlpf_json_check_keys(root, name, err)) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

cJSON *mlpf_json_read(const char *path, mlpf_error *err) {
    char *text;
    size_t len;
    if (mlpf_read_file(path, &text, &len, err)) return NULL;
    cJSON *root = mlpf_json_parse(text, len, path, err);
    free(text);
    return root;
}
