/*
 * compatd's TCG plugin for QEMU user mode: counts the guest instructions
 * QEMU executes and the translation blocks it translates, and writes both
 * to the file named by its `out=` argument when the program exits.
 *
 * Built by corridor-hal's build script and embedded in corridord, which
 * installs it next to the launched programs' working directories.
 *
 * Debian ships no qemu-plugin.h, so the few declarations used are written
 * here from QEMU's documented plugin API, version 1 (QEMU 4.2 to 8.x;
 * docs/devel/tcg-plugins.rst). A QEMU whose minimum plugin API is above 1
 * refuses to load it, and says so on stderr.
 *
 * Counting: each translated block gets an inline "add its instruction
 * count" on entry, so a block left early (a fault in its middle) counts
 * whole. The inline add is not atomic: exact for a single-threaded guest;
 * concurrent threads can lose increments.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_info_t;

enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 = 0 };

typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

extern void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id,
                                                  qemu_plugin_vcpu_tb_trans_cb_t cb);
extern void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb,
                                                     enum qemu_plugin_op op, void *ptr,
                                                     uint64_t imm);
extern size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
extern void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb,
                                           void *userdata);

#define EXPORT __attribute__((visibility("default")))

EXPORT int qemu_plugin_version = 1;

static uint64_t executed;
static uint64_t translated;
static char out_path[4096];

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    /* Translation can run on several vCPU threads at once. */
    __atomic_fetch_add(&translated, 1, __ATOMIC_RELAXED);
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &executed,
                                             qemu_plugin_tb_n_insns(tb));
}

static void write_counts(qemu_plugin_id_t id, void *userdata)
{
    (void)id;
    (void)userdata;
    FILE *out = fopen(out_path, "w");
    if (out == NULL) {
        return;
    }
    fprintf(out, "instructions %" PRIu64 "\nblocks %" PRIu64 "\n",
            __atomic_load_n(&executed, __ATOMIC_RELAXED),
            __atomic_load_n(&translated, __ATOMIC_RELAXED));
    fclose(out);
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const struct qemu_info_t *info, int argc,
                               char **argv)
{
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "out=", 4) == 0 && strlen(argv[i] + 4) < sizeof(out_path)) {
            strcpy(out_path, argv[i] + 4);
        }
    }
    if (out_path[0] == '\0') {
        fprintf(stderr, "corridor tcg counter: no out=<file> argument\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, write_counts, NULL);
    return 0;
}
