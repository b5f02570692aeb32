/*
 * fuzz_conf.c - libFuzzer target: bytes as swiftgate's INI file, through
 * gw_conf_load(), the loader `serve` and `check-config` use.
 *
 * gw_conf_load() reads a path, so the bytes go to a memory file (memfd)
 * read as /proc/self/fd/N.  No SWIFTGATE_* variable is set while the
 * target runs: it removes them from its environment on its first call.
 *
 * Verdict (fuzz.h): "ok", or "bad.LINE", LINE the line the error names, 0
 * when it names none (a required key missing from the whole file).
 *
 * Invariants (abort on violation):
 *   - a refusal is one non-empty line naming the file ("PATH:LINE: ..." or
 *     "PATH: ..."), at a line the file has; success leaves it empty;
 *     either way every string field is a heap string (gw_conf_free frees
 *     it) and the same bytes load the same way again;
 *   - what loaded is what check-config prints (each key's value as
 *     gw_conf_fmt_value spells it, secrets as they are), and those lines,
 *     loaded as a file, load to the same values: printing is exact.  The
 *     one refusal allowed there is a line grown past the reader's bound
 *     (a value of nearly that length whose canonical spelling is longer).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf_int.h"
#include "fuzz.h"
#include "http.h"
#include "util.h"

extern char **environ;

static int memfd = -1;
static char memfd_path[64];

/* Once: the memory file, and an environment without SWIFTGATE_*. */
static void setup(void)
{
    if (memfd >= 0) return;
    memfd = memfd_create("swiftgate.conf", 0);
    FZ_CHECK(memfd >= 0);
    snprintf(memfd_path, sizeof(memfd_path), "/proc/self/fd/%d", memfd);
    for (int round = 0; round < 1000; round++) {
        char name[256] = "";
        for (char **e = environ; e && *e; e++) {
            const char *eq = strchr(*e, '=');
            if (strncmp(*e, "SWIFTGATE_", 10) == 0 && eq && (size_t)(eq - *e) < sizeof(name)) {
                memcpy(name, *e, (size_t)(eq - *e));
                name[eq - *e] = '\0';
                break;
            }
        }
        if (name[0] == '\0') break;
        unsetenv(name);
    }
}

static void write_file(const void *data, size_t size)
{
    FZ_CHECK(ftruncate(memfd, 0) == 0);
    FZ_CHECK(size == 0 || pwrite(memfd, data, size, 0) == (ssize_t)size);
}

/* The error's line: PATH:LINE: ..., else 0 for PATH: ... */
static unsigned long error_line(const char *err)
{
    size_t pl = strlen(memfd_path);
    FZ_CHECK(strncmp(err, memfd_path, pl) == 0 && err[pl] == ':');
    FZ_CHECK(strchr(err, '\n') == NULL && strlen(err) > pl + 2);
    const char *p = err + pl + 1;
    if (*p < '0' || *p > '9') return 0;
    char *end;
    unsigned long line = strtoul(p, &end, 10);
    FZ_CHECK(*end == ':' && line >= 1);
    return line;
}

/* Every key's value as a file would set it: check-config's output, secrets
 * shown. */
static void print_conf(const struct gw_conf *c, struct gw_buf *b)
{
    const char *section = NULL;
    char value[1024];
    for (size_t i = 0; i < GW_CONF_NKEYS; i++) {
        const struct gw_conf_key *k = &gw_conf_keys[i];
        if (section == NULL || strcmp(section, k->section) != 0) {
            section = k->section;
            gw_buf_printf(b, "[%s]\n", section);
        }
        if (k->flags & GW_CONF_SECRET) {
            char *const *s = gw_conf_str_field((struct gw_conf *)(uintptr_t)c, k);
            snprintf(value, sizeof(value), "%s", *s);
        } else {
            gw_conf_fmt_value(c, k, value, sizeof(value));
        }
        gw_buf_printf(b, "%s = %s\n", k->name, value);
    }
}

static void check_strings(const struct gw_conf *c)
{
    FZ_CHECK(c->path != NULL);
    for (size_t i = 0; i < GW_CONF_NKEYS; i++) {
        const struct gw_conf_key *k = &gw_conf_keys[i];
        if (k->type == GW_CONF_STR || k->type == GW_CONF_WORD)
            FZ_CHECK(*gw_conf_str_field((struct gw_conf *)(uintptr_t)c, k) != NULL);
    }
}

/* Print c, load what was printed, print that: the same text. */
static void check_reprint(const struct gw_conf *c)
{
    struct gw_buf one = {0}, two = {0};
    struct gw_conf again;
    char err[512];
    print_conf(c, &one);
    write_file(one.data, one.len);
    int rc = gw_conf_load(&again, memfd_path, err, sizeof(err));
    if (rc != 0) FZ_CHECK(strstr(err, ": line longer than ") != NULL);
    if (rc == 0) {
        print_conf(&again, &two);
        FZ_CHECK(two.len == one.len && memcmp(one.data, two.data, one.len) == 0);
    }
    gw_conf_free(&again);
    gw_buf_free(&one);
    gw_buf_free(&two);
}

int fuzz_conf_verdict(const uint8_t *data, size_t size, char *out, size_t len)
{
    setup();
    size_t lines = 1;
    for (size_t i = 0; i < size; i++) lines += data[i] == '\n';

    struct gw_conf c, c2;
    char err[512], err2[512];
    write_file(data, size);
    int rc = gw_conf_load(&c, memfd_path, err, sizeof(err));
    check_strings(&c);
    int rc2 = gw_conf_load(&c2, memfd_path, err2, sizeof(err2));
    FZ_CHECK(rc == rc2 && strcmp(err, err2) == 0);
    gw_conf_free(&c2);
    if (rc != 0) {
        FZ_CHECK(rc == -1);
        unsigned long line = error_line(err);
        FZ_CHECK(line <= lines);
        gw_conf_free(&c);
        return fz_verdict(out, len, "bad.%lu", line);
    }
    FZ_CHECK(err[0] == '\0');
    check_reprint(&c);
    gw_conf_free(&c);
    return fz_verdict(out, len, "ok");
}
