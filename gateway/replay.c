/*
 * replay.c - Swift's per-object Cache-Control, Expires and
 * Content-Disposition, kept and passed on (replay.h).
 */
#include "replay.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "origin.h"
#include "util.h"

static const char *const replay_names[] = {"Cache-Control", "Expires", "Content-Disposition"};
#define NNAMES (sizeof(replay_names) / sizeof(replay_names[0]))

void gw_replay_collect(const struct gw_fetch *fe, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < NNAMES; i++) {
        const char *v = gw_fetch_header(fe, replay_names[i]);
        if (v == NULL || v[0] == '\0') continue;
        size_t need = strlen(replay_names[i]) + 2 + strlen(v) + 2;
        if (len + need + 1 > cap) {
            gw_warn("replay", "%s from Swift is too long to pass on (%zu bytes); left out",
                    replay_names[i], strlen(v));
            continue;
        }
        len += (size_t)snprintf(out + len, cap - len, "%s: %s\r\n", replay_names[i], v);
    }
}

/* The line of replay naming name, or NULL; *len is its length with CRLF. */
static const char *find_line(const char *replay, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    for (const char *p = replay; p && *p;) {
        const char *end = strstr(p, "\r\n");
        if (end == NULL) return NULL;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            *len = (size_t)(end - p) + 2;
            return p;
        }
        p = end + 2;
    }
    return NULL;
}

int gw_replay_has_cache_control(const char *replay)
{
    size_t len;
    return replay != NULL && find_line(replay, "Cache-Control", &len) != NULL;
}

void gw_replay_write(struct gw_buf *b, const char *replay, int status)
{
    if (replay == NULL || replay[0] == '\0') return;
    if (status != 304) {
        gw_buf_append(b, replay, strlen(replay));
        return;
    }
    static const char *const kept[] = {"Cache-Control", "Expires"};
    for (size_t i = 0; i < 2; i++) {
        size_t len;
        const char *line = find_line(replay, kept[i], &len);
        if (line) gw_buf_append(b, line, len);
    }
}
