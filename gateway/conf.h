/*
 * conf.h - swiftgate's configuration: an INI file read with inih, then
 * SWIFTGATE_<SECTION>_<KEY> environment overrides, then validation.
 *
 * Every key has one row in the table in conf_keys.c (section, name, type,
 * default, where it lands in struct gw_conf); conf/swiftgate.conf documents
 * each of them with its default.  Errors name where the bad value came from:
 * "FILE:LINE: key: reason" for the file, "env SWIFTGATE_X_Y: reason" for the
 * environment, "FILE: [section] key: reason" for a required key that is
 * missing from both.
 */
#ifndef GW_CONF_H
#define GW_CONF_H

#include <stddef.h>
#include <stdint.h>

enum gw_auth_version {
    GW_AUTH_V1 = 1,      /* TempAuth / swauth: X-Auth-User + X-Auth-Key */
    GW_AUTH_V3 = 3,      /* Keystone v3 password, project scope */
    GW_AUTH_STATIC = 0,  /* storage_url + token given in the config */
};

struct gw_conf {
    char *path;                 /* the file that was read */

    /* [server] */
    char *listen;               /* "host:port"; port 0 = any free port */
    int workers;                /* 0 = auto (one per core) */
    char *admin_listen;         /* "host:port" or "" for none */
    char *admin_token;          /* "" = admin requests need no token */
    char *access_log;           /* path, "-" = stdout, "" or "off" = none */
    char *access_log_format;    /* swiftgate | combined | json */
    char *trusted_proxies;      /* networks whose X-Forwarded-For names the client */
    int proxy_protocol;         /* enum gw_proxy_versions the public listener expects */
    char *log_level;            /* debug | info | warning | error */
    char *run_user;             /* [server] user: "" = stay who we were started as */
    char *run_group;            /* [server] group: "" = run_user's primary group */
    uint64_t max_connections;
    uint64_t admin_max_connections;
    uint64_t max_memory;        /* memguard.h's resident budget; 0: from the cgroup, if any */
    uint64_t max_header_size;   /* bytes, whole request head */
    uint64_t max_headers;       /* header fields per request */
    uint64_t max_url_size;      /* bytes */
    uint64_t header_timeout_ms; /* whole request head must arrive within */
    uint64_t keepalive_timeout_ms; /* idle between requests */
    uint64_t send_timeout_ms;   /* no progress writing to a client */
    uint64_t shutdown_grace_ms; /* SIGTERM: in-flight requests may finish */
    uint64_t drain_delay_ms;    /* SIGTERM: /healthz 503 but still accepting, this long */
    uint64_t write_buffer;      /* high watermark of a connection's queue */
    uint64_t max_body_size;     /* request bodies are read and dropped up to this */
    char *write_token;          /* "" = PUT and DELETE refused (405) */
    uint64_t max_upload_size;   /* largest PUT body */
    uint64_t lingering_timeout_ms; /* after a closing answer, drain input this long */

    /* [swift] */
    int auth_version;           /* enum gw_auth_version */
    char *auth_url;
    char *user;
    char *key;
    char *user_domain;          /* v3 */
    char *project;              /* v3 */
    char *project_domain;       /* v3 */
    char *region;               /* v3: "" = first match */
    char *interface;            /* v3: public | internal | admin */
    char *storage_url;          /* static */
    char *token;                /* static */
    char *container;
    char *ca_path;              /* "" = system default */
    int tls_verify;             /* bool */
    uint64_t connect_timeout_ms;
    uint64_t first_byte_timeout_ms;
    uint64_t segment_parallelism; /* segment fetches ahead of a large object's send cursor,
                                   * and segment uploads at once of a large PUT */
    uint64_t segment_size;      /* a PUT body over this is stored as an SLO of such segments */
    uint64_t stall_timeout_ms;  /* no byte from Swift for this long */
    uint64_t max_fetches;       /* requests to Swift in flight, per process */
    uint64_t fetch_queue;       /* requests waiting for one of those, per process */
    uint64_t fetch_queue_timeout_ms;
    char *segment_containers;   /* containers a large object's segments may be
                                 * in: names separated by commas; the file's
                                 * "" becomes "<container>, <container>_segments" */
    uint64_t max_segments;      /* segments of one large object, nested included */
    uint64_t max_plan_size;     /* bytes of one large object's encoded plan */

    /* [cache] */
    char *dir;                  /* "" = no cache: every request goes to Swift */
    uint64_t max_size;          /* bytes */
    uint64_t max_object_size;   /* bytes; 0 in the file: max_size / 8 */
    uint64_t ttl_ms;
    uint64_t negative_ttl_ms;
    uint64_t negative_max_entries; /* 404s remembered at once (in memory); 0 = none */
    uint64_t stale_if_error_ms; /* how old a stale entry may be served when Swift fails */
    uint64_t stale_while_revalidate_ms; /* expired less than this: served, revalidated behind */
    char *cache_control;        /* sent to clients with objects; "" = none */
    uint64_t range_passthrough; /* a cold Range from this offset on goes to Swift; 0 = never */
    int range_fill;             /* ...and the whole object is filled behind it */
    uint64_t max_entries;
    uint64_t index_size;        /* LMDB map size */
    uint64_t plan_cache_size;   /* decoded plans kept in memory, bytes; 0 = none */

    /* [cors] */
    char *cors_allow_origin;    /* "" = off, "*", or origins separated by commas */
    uint64_t cors_max_age_ms;   /* how long a browser keeps a preflight's answer */
    char *cors_expose_headers;  /* response headers a page's script may read */
};

/*
 * Fill *c with the defaults, read `path` (NULL: defaults and environment
 * only), apply SWIFTGATE_* overrides and validate.  Returns 0, or -1 with a
 * one-line message in err (errlen bytes at most, NUL-terminated) that names
 * file, line and key.  Either way *c owns heap strings: call gw_conf_free().
 */
int gw_conf_load(struct gw_conf *c, const char *path, char *err, size_t errlen);
void gw_conf_free(struct gw_conf *c);

/*
 * A key whose value a reload would change: restart = 1 for a key read
 * only at start (conf/swiftgate.conf says which), whose running value was
 * kept; 0 for one that takes effect.  Values as the file spells them, a
 * secret as "(set)" or "".  Valid only during the call.
 */
struct gw_conf_change {
    const char *section, *name;
    int restart;
    const char *was, *now;      /* running's value, and the file's */
};
typedef void gw_conf_note_fn(void *ud, const struct gw_conf_change *ch);

/*
 * Reload: load path into *c exactly as gw_conf_load() does (the same
 * checks, the same file:line:key errors), then hold it against `running`,
 * the configuration in effect.  Every key that needs a restart keeps
 * running's value in *c, before the checks between keys run, so that *c
 * is a whole configuration the running gateway can use as it is.  On
 * success note(ud, ...) is called once per key whose value differs from
 * running's, in table order.  Returns 0, or -1 with the message in err
 * and nothing noted.  Either way *c must be freed with gw_conf_free().
 */
int gw_conf_reload(struct gw_conf *c, const char *path, const struct gw_conf *running,
                   gw_conf_note_fn *note, void *ud, char *err, size_t errlen);

/*
 * Print the effective configuration as INI on stdout, secrets (key, token,
 * admin_token, write_token) replaced by "(set)".  Used by check-config.
 */
void gw_conf_dump(const struct gw_conf *c);

/*
 * Whether a large object's segments (or nested SLO manifests) may be read
 * from container `name`: it is one of [swift] segment_containers.
 */
int gw_conf_segment_container_ok(const struct gw_conf *c, const char *name);

/*
 * The next item of a list value ("a, b,c"): items are separated by commas,
 * blanks around them are not part of them.  Returns 1 with *item and *len
 * set and *sp moved past it (and its comma), or 0 at the end.  An empty
 * item (",," or a leading comma) is returned with length 0; a comma at the
 * end is not followed by an item: check for it where it matters.
 */
int gw_conf_list_next(const char **sp, const char **item, size_t *len);

/*
 * Value parsers (conf_value.c), shared with the rest of the gateway (the
 * listeners, the warm command line).  Each returns 0 or -1 and leaves *out
 * alone on error.
 *   size:     "1048576", "512K", "10M", "10G", "1T" (binary units, B optional)
 *   duration: "250ms", "10s", "5m", "1h", "1d"; a bare number is seconds
 *   bool:     yes/no, true/false, on/off, 1/0
 *   hostport: "0.0.0.0:8080", "[::1]:8080", "localhost:0"; host at most
 *             hostlen-1 bytes, port 0..65535
 */
int gw_parse_size(const char *s, uint64_t *out);
int gw_parse_duration_ms(const char *s, uint64_t *out);
int gw_parse_bool(const char *s, int *out);
int gw_parse_hostport(const char *s, char *host, size_t hostlen, int *port);

#endif
