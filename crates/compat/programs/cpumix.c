/* A small CPU mix for the translation benchmark: sieve, FNV-1a hashing,
 * qsort with a callback, a matrix multiply and CRC-32. Prints one
 * checksum, which must be equal native and translated. Argument: rounds
 * (default 1). Deterministic: no time, no randomness but a fixed LCG. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t lcg_state = 12345;
static uint32_t lcg(void) { return lcg_state = lcg_state * 1103515245u + 12345u; }

static uint64_t sieve(int n) {
    char *composite = calloc((size_t)n + 1, 1);
    uint64_t sum = 0;
    for (int i = 2; i <= n; i++) {
        if (composite[i]) continue;
        sum += (uint64_t)i;
        for (long j = (long)i * i; j <= n; j += i) composite[j] = 1;
    }
    free(composite);
    return sum;
}

static uint64_t fnv(int n) {
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < n; i++) {
        h ^= (uint64_t)(lcg() & 0xff);
        h *= 1099511628211ull;
    }
    return h;
}

static int cmp(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static uint64_t sort(int n) {
    uint32_t *v = malloc(sizeof *v * (size_t)n);
    for (int i = 0; i < n; i++) v[i] = lcg();
    qsort(v, (size_t)n, sizeof *v, cmp);
    uint64_t s = 0;
    for (int i = 0; i < n; i += 97) s = s * 31 + v[i];
    free(v);
    return s;
}

static uint64_t matmul(int n) {
    double *a = malloc(sizeof(double) * (size_t)(n * n));
    double *b = malloc(sizeof(double) * (size_t)(n * n));
    double *c = calloc((size_t)(n * n), sizeof(double));
    for (int i = 0; i < n * n; i++) {
        a[i] = (double)(lcg() % 1000) / 100.0;
        b[i] = (double)(lcg() % 1000) / 100.0;
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++)
            for (int j = 0; j < n; j++) c[i * n + j] += a[i * n + k] * b[k * n + j];
    uint64_t s = 0;
    /* Integer parts only: exact and equal on every IEEE-754 target. */
    for (int i = 0; i < n * n; i += 7) s += (uint64_t)c[i];
    free(a);
    free(b);
    free(c);
    return s;
}

static uint32_t crc32(int n) {
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    uint32_t crc = 0xFFFFFFFFu;
    for (int i = 0; i < n; i++) crc = table[(crc ^ (lcg() & 0xff)) & 0xff] ^ (crc >> 8);
    return crc ^ 0xFFFFFFFFu;
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 1;
    uint64_t total = 0;
    for (int r = 0; r < rounds; r++) {
        total = total * 1000003u + sieve(2000000);
        total = total * 1000003u + fnv(4000000);
        total = total * 1000003u + sort(300000);
        total = total * 1000003u + matmul(120);
        total = total * 1000003u + crc32(4000000);
    }
    printf("checksum %016llx\n", (unsigned long long)total);
    return 0;
}
