/* replay.c - a main() for the fuzz harnesses without libFuzzer: runs the
   harness once on every file named on the command line (directories: every
   file in them). `make fuzz-replay` links it with gcc against the ordinary
   library, so the seed corpora and saved crash inputs replay wherever the
   library builds, clang or not. Exit status 0 when every input passed (a
   broken invariant aborts). */
#include "fuzz.h"

#include <sys/stat.h>

int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) abort();
    for (size_t got; (got = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap && !(buf = realloc(buf, cap *= 2))) abort();
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

int main(int argc, char **argv) {
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    int bad = 0, runs = 0;
    for (int i = 1; i < argc; i++) {
        struct stat sb;
        if (stat(argv[i], &sb) == 0 && S_ISDIR(sb.st_mode)) {
            DIR *d = opendir(argv[i]);
            struct dirent *e;
            char path[4096];
            while (d && (e = readdir(d))) {
                if (e->d_name[0] == '.') continue;
                snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
                bad |= run_file(path);
                runs++;
            }
            if (d) closedir(d);
        } else {
            bad |= run_file(argv[i]);
            runs++;
        }
    }
    printf("%s: %d inputs replayed\n", argv[0], runs);
    return bad;
}
