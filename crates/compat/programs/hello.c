/* compatd's test program: says hello, then acts on each argument:
 *   read:<path>  tries to read the file and reports ok or the error;
 *   crash        dereferences a null pointer (SIGSEGV);
 *   spin         never ends;
 *   exit:<n>     exits with n.
 * Built static for riscv64 and aarch64 by the tests. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    printf("hello from %s\n", argc > 0 ? argv[0] : "?");
    fflush(stdout);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "read:", 5) == 0) {
            FILE *f = fopen(arg + 5, "rb");
            if (!f) {
                printf("read %s: denied (%s)\n", arg + 5, strerror(errno));
            } else {
                char buf[4096];
                size_t n = fread(buf, 1, sizeof buf, f);
                printf("read %s: ok %zu bytes\n", arg + 5, n);
                fclose(f);
            }
        } else if (strcmp(arg, "crash") == 0) {
            fflush(stdout);
            volatile int *p = NULL;
            *p = 1;
        } else if (strcmp(arg, "spin") == 0) {
            fflush(stdout);
            for (volatile unsigned long n = 0;; n++) {
            }
        } else if (strncmp(arg, "exit:", 5) == 0) {
            fflush(stdout);
            return atoi(arg + 5);
        }
        fflush(stdout);
    }
    return 0;
}
