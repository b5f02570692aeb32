/*
 * swift_url.c - the URLs of Swift objects and listings, and the fetches
 * that carry a token to them.
 *
 * Every name is percent-encoded as one path segment, '/' included, so a
 * name reaches Swift as it is: Swift decodes the path before it splits it.
 * The token goes only into the X-Auth-Token header, never into a URL.
 */
#include "swift.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "origin.h"
#include "util.h"

/*
 * Percent-encode s, '/' included: Swift decodes the path before it splits
 * it, and a name like "a/../b" must reach it as it is, not squashed.
 */
static void encode(char **p, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            *(*p)++ = (char)ch;
        } else {
            *(*p)++ = '%';
            *(*p)++ = hex[ch >> 4];
            *(*p)++ = hex[ch & 15];
        }
    }
}

char *gw_swift_object_url(const char *storage_url, const char *container, const char *name)
{
    size_t n = strlen(storage_url) + 3 * (strlen(container) + strlen(name)) + 3;
    char *url = gw_malloc(n);
    char *p = url;
    size_t sl = strlen(storage_url);
    memcpy(p, storage_url, sl);
    p += sl;
    *p++ = '/';
    encode(&p, container);
    *p++ = '/';
    encode(&p, name);
    *p = '\0';
    return url;
}

char *gw_swift_container_url(const char *storage_url, const char *container)
{
    char *url = gw_malloc(strlen(storage_url) + 3 * strlen(container) + 2);
    char *p = url + sprintf(url, "%s/", storage_url);
    encode(&p, container);
    *p = '\0';
    return url;
}

char *gw_swift_listing_url(const char *storage_url, const char *container, const char *prefix,
                           const char *marker)
{
    size_t n = strlen(storage_url) + 3 * (strlen(container) + strlen(prefix) + strlen(marker)) +
               40;
    char *url = gw_malloc(n);
    char *p = url;
    p += sprintf(p, "%s/", storage_url);
    encode(&p, container);
    p += sprintf(p, "?format=json&prefix=");
    encode(&p, prefix);
    if (marker[0]) {
        p += sprintf(p, "&marker=");
        encode(&p, marker);
    }
    *p = '\0';
    return url;
}

struct gw_fetch *gw_swift_fetch_url(struct gw_origin *o, const struct gw_swift_creds *cr,
                                    const char *url, const char *method,
                                    const struct gw_fetch_cbs *cbs, void *ud)
{
    struct gw_fetch *f = gw_fetch_new(o, method, url, cbs, ud);
    if (cr->token[0]) {
        char *h = gw_asprintf("X-Auth-Token: %s", cr->token);
        gw_fetch_add_header(f, h);
        free(h);
    }
    return f;
}

struct gw_fetch *gw_swift_object_fetch(struct gw_origin *o, const struct gw_swift_creds *cr,
                                       const char *container, const char *name,
                                       const char *query, const char *method,
                                       const struct gw_fetch_cbs *cbs, void *ud)
{
    char *url = gw_swift_object_url(cr->storage_url, container, name);
    if (query) {
        char *q = gw_asprintf("%s?%s", url, query);
        free(url);
        url = q;
    }
    struct gw_fetch *f = gw_swift_fetch_url(o, cr, url, method, cbs, ud);
    free(url);
    return f;
}

void gw_swift_trans_extra(struct gw_fetch *f, const char *id)
{
    if (id == NULL || id[0] == '\0') return;
    char h[32 + GW_REQUEST_ID_MAX];
    snprintf(h, sizeof(h), "X-Trans-Id-Extra: %s", id);
    gw_fetch_add_header(f, h);
}
