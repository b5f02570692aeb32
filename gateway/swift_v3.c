/*
 * swift_v3.c - Keystone v3: where to ask for a token, and what its answer
 * says (the object-store endpoint and the expiry).
 *
 * Pure functions of their arguments, so the unit tests reach them without
 * a loop; swift.c sends the request and keeps the token.
 */
#include "swift.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "util.h"

char *gw_swift_v3_tokens_url(const char *auth_url)
{
    size_t n = strlen(auth_url);
    while (n > 0 && auth_url[n - 1] == '/') n--;
    char *base = gw_strndup(auth_url, n);
    char *url;
    if (n >= 12 && strcmp(base + n - 12, "/auth/tokens") == 0)
        url = gw_strdup(base);
    else if (n >= 3 && strcmp(base + n - 3, "/v3") == 0)
        url = gw_asprintf("%s/auth/tokens", base);
    else
        url = gw_asprintf("%s/v3/auth/tokens", base);
    free(base);
    return url;
}

/* Seconds since the epoch of "2026-11-24T18:00:00.000000Z"; -1 if unreadable. */
static int64_t parse_iso8601(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == NULL) return -1;
    return (int64_t)timegm(&tm);
}

/*
 * From Keystone's token: the object-store endpoint of the configured
 * interface (and region, when one is configured), and the expiry.
 * Returns 0, or GW_EAUTH with *why set.
 */
int gw_swift_v3_parse(const char *body, size_t len, const char *interface, const char *region,
                      char **url_out, int64_t *expires_out, const char **why)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    int rc = GW_EAUTH;
    *url_out = NULL;
    *why = "answer is not JSON";
    if (root == NULL) return rc;
    json_t *token = json_object_get(root, "token");
    json_t *expires = json_object_get(token, "expires_at");
    json_t *catalog = json_object_get(token, "catalog");
    *why = "no token.expires_at";
    if (!json_is_string(expires)) goto leave;
    *expires_out = parse_iso8601(json_string_value(expires));
    *why = "unreadable token.expires_at";
    if (*expires_out < 0) goto leave;
    *why = "no object-store endpoint in the catalog for this interface and region";
    if (!json_is_array(catalog)) goto leave;
    size_t i, j;
    json_t *svc, *ep;
    json_array_foreach(catalog, i, svc) {
        json_t *type = json_object_get(svc, "type");
        if (!json_is_string(type) || strcmp(json_string_value(type), "object-store") != 0)
            continue;
        json_array_foreach(json_object_get(svc, "endpoints"), j, ep) {
            json_t *ifc = json_object_get(ep, "interface");
            json_t *reg = json_object_get(ep, "region");
            json_t *regid = json_object_get(ep, "region_id");
            json_t *url = json_object_get(ep, "url");
            if (!json_is_string(ifc) || !json_is_string(url)) continue;
            if (strcmp(json_string_value(ifc), interface) != 0) continue;
            if (region && region[0]) {
                int match = (json_is_string(reg) && strcmp(json_string_value(reg), region) == 0) ||
                            (json_is_string(regid) &&
                             strcmp(json_string_value(regid), region) == 0);
                if (!match) continue;
            }
            *url_out = gw_strdup(json_string_value(url));
            rc = 0;
            goto leave;
        }
    }
leave:
    json_decref(root);
    return rc;
}
