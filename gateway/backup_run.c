/*
 * backup_run.c - the transfers of `swiftgate backup`, run opt.run.jobs at
 * a time by batch.c.  Each fractal goes through up to three steps on its
 * slot's handle:
 *
 *   HEAD  the destination (Swift's object, or the gateway's /fractal/<uuid>):
 *         200 keeps its ETag, 404 none; with an MD5 checksum listed that
 *         equals the ETag, the fractal is present and nothing else is sent;
 *   GET   the image from the API, held in memory (at most BACKUP_MAX_IMAGE
 *         bytes), hashed, checked against the listed checksum;
 *   PUT   unless the HEAD's ETag is already the image's MD5 (present): the
 *         bytes with that MD5 (ETag to Swift, Content-MD5 to a gateway),
 *         and the 201's ETag must be it.
 *
 * A connection error, a timeout, 408, 429, 422 (Swift got other bytes than
 * were sent) or a 5xx is tried again after 0.5, 1 and 2 s (the slot waits:
 * batch.c's backoff); a 401 from Swift renews the token once; an image
 * whose bytes twice miss the listed checksum fails.
 *
 * Invariants: each item ends in exactly one outcome (finish()); a slot's
 * image buffer lives from its GET to the item's end; no token is printed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "backup_int.h"
#include "conf.h"
#include "swift.h"
#include "util.h"

#define SLOT_MAGIC 0x4241434bu              /* "BACK" */
#define BACKUP_MAX_IMAGE (64u << 20)
#define BACKUP_RETRIES 3
#define BACKUP_FIRST_BACKOFF_MS 500
#define BACKUP_BODY_KEEP 160                /* bytes of an error body kept for the reason */

enum step { STEP_HEAD, STEP_GET, STEP_PUT };
static const char *const step_names[] = {"HEAD", "GET", "PUT"};

struct backup_slot {
    unsigned magic;         /* SLOT_MAGIC: reached through curl's callbacks */
    struct backup *b;
    size_t item;
    enum step step;
    int tries;              /* retries of this step so far */
    int mismatches;         /* API answers that missed the listed checksum */
    int renewed;            /* this step got a 401 and a new token already */
    long status;            /* of the response being read */
    uint64_t generation;    /* of the Swift token this transfer carries */
    char etag[72];          /* the ETag of the response being read, unquoted */
    char held[72];          /* the destination's ETag (HEAD), "" when it has none */
    char ctype[128];        /* the API's Content-Type */
    char *data;             /* the image (GET), owned */
    size_t len, cap, sent;
    int too_big;
    char md5[33];
    char errbody[BACKUP_BODY_KEEP + 1];
    size_t errbody_len;
    char errbuf[CURL_ERROR_SIZE];
    struct curl_slist *headers;
};

/* ---- curl callbacks ---- */

/* "Name: value" of a header line into out, unquoted (an ETag's quotes, W/ too). */
static void header_value(const char *p, size_t len, size_t skip, char *out, size_t cap)
{
    while (skip < len && (p[skip] == ' ' || p[skip] == '\t')) skip++;
    while (len > skip && (p[len - 1] == '\r' || p[len - 1] == '\n' || p[len - 1] == ' ')) len--;
    if (len - skip >= 2 && p[skip] == 'W' && p[skip + 1] == '/') skip += 2;
    if (len - skip >= 2 && p[skip] == '"' && p[len - 1] == '"') skip++, len--;
    size_t n = len - skip < cap - 1 ? len - skip : cap - 1;
    memcpy(out, p + skip, n);
    out[n] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct backup_slot *sl = ud;
    GW_CHECK_MAGIC(sl, SLOT_MAGIC);
    size_t len = size * n;
    if (len >= 12 && memcmp(p, "HTTP/", 5) == 0) {
        /* A new response (after a 1xx): "HTTP/1.1 200 OK". */
        const char *sp = memchr(p, ' ', len);
        sl->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        sl->etag[0] = sl->ctype[0] = '\0';
    } else if (len >= 5 && strncasecmp(p, "etag:", 5) == 0) {
        header_value(p, len, 5, sl->etag, sizeof(sl->etag));
    } else if (len >= 13 && strncasecmp(p, "content-type:", 13) == 0) {
        header_value(p, len, 13, sl->ctype, sizeof(sl->ctype));
    }
    return len;
}

/* A GET's 200 body is the image; any other body is kept only to explain a failure. */
static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct backup_slot *sl = ud;
    GW_CHECK_MAGIC(sl, SLOT_MAGIC);
    size_t len = size * n;
    if (sl->step == STEP_GET && sl->status == 200) {
        if (sl->len + len > BACKUP_MAX_IMAGE) {
            sl->too_big = 1;
            return 0; /* aborts the transfer */
        }
        if (sl->len + len > sl->cap) {
            sl->cap = (sl->len + len) * 2;
            sl->data = gw_realloc(sl->data, sl->cap);
        }
        memcpy(sl->data + sl->len, p, len);
        sl->len += len;
        return len;
    }
    size_t room = BACKUP_BODY_KEEP - sl->errbody_len;
    size_t k = room < len ? room : len;
    memcpy(sl->errbody + sl->errbody_len, p, k);
    sl->errbody_len += k;
    return len;
}

/* A PUT's body: the image, from where the last call left off. */
static size_t on_read(char *p, size_t size, size_t n, void *ud)
{
    struct backup_slot *sl = ud;
    GW_CHECK_MAGIC(sl, SLOT_MAGIC);
    size_t k = sl->len - sl->sent < size * n ? sl->len - sl->sent : size * n;
    memcpy(p, sl->data + sl->sent, k);
    sl->sent += k;
    return k;
}

/* ---- requests ---- */

static void add_header(struct backup_slot *sl, const char *name, const char *value)
{
    char *line = gw_asprintf("%s: %s", name, value);
    sl->headers = curl_slist_append(sl->headers, line);
    free(line);
}

/* Where the fractal goes: Swift's object, or the gateway's /fractal/<uuid>. */
static char *dest_url(const struct backup *b, const char *uuid)
{
    if (b->opt.gateway) return gw_asprintf("%s/fractal/%s", b->opt.gateway, uuid);
    return gw_swift_object_url(b->storage_url, b->conf->container, uuid);
}

/* The handle made ready for a request of url (caller's) with the slot's callbacks. */
static void prepare(struct backup_slot *sl, CURL *e, const char *url)
{
    const struct backup *b = sl->b;
    curl_easy_reset(e);
    gw_batch_easy(e, "backup", b->opt.run.timeout_ms, sl->errbuf, on_header, on_body, sl, url);
    curl_slist_free_all(sl->headers);
    sl->headers = NULL;
    sl->status = 0;
    sl->errbody_len = 0;
    sl->errbuf[0] = '\0';
    /* Swift's token goes to Swift alone, never to the API. */
    if (b->conf && sl->step != STEP_GET) {
        add_header(sl, "X-Auth-Token", b->swift_token);
        sl->generation = b->token_generation;
    }
}

/* The Content-Type to store: the API's, or what the bytes say when it says nothing useful. */
static const char *image_type(const struct backup_slot *sl)
{
    if (sl->ctype[0] && strcasecmp(sl->ctype, "application/octet-stream") != 0) return sl->ctype;
    const char *t = gw_sniff_image_type((const unsigned char *)sl->data, sl->len);
    return t ? t : "application/octet-stream";
}

/* The PUT: the image, its MD5 for Swift (ETag) or the gateway (Content-MD5). */
static void prepare_put(struct backup_slot *sl, CURL *e)
{
    const struct backup *b = sl->b;
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(e, CURLOPT_READDATA, sl);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)sl->len);
    sl->sent = 0;
    add_header(sl, "Content-Type", image_type(sl));
    add_header(sl, "Expect", "");  /* no wait for a 100 Continue */
    if (b->conf) {
        add_header(sl, "ETag", sl->md5);
        return;
    }
    unsigned char raw[16], b64[32];
    for (int i = 0; i < 16; i++) {
        unsigned v;
        sscanf(sl->md5 + 2 * i, "%2x", &v);
        raw[i] = (unsigned char)v;
    }
    EVP_EncodeBlock(b64, raw, 16);
    add_header(sl, "Content-MD5", (const char *)b64);
    char *auth = gw_asprintf("Bearer %s", b->opt.token);
    add_header(sl, "Authorization", auth);
    free(auth);
}

/* Set the handle up for the slot's step. */
static void send_step(struct backup_slot *sl, CURL *e)
{
    const struct backup *b = sl->b;
    const struct backup_item *it = &b->items[sl->item];
    char *url = sl->step == STEP_GET ? gw_asprintf("%s/fractal/%s", b->api, it->uuid)
                                     : dest_url(b, it->uuid);
    prepare(sl, e, url);
    free(url);
    if (sl->step == STEP_HEAD) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (sl->step == STEP_GET) {
        sl->len = 0;
        sl->too_big = 0;
    } else {
        prepare_put(sl, e);
    }
    if (sl->headers) curl_easy_setopt(e, CURLOPT_HTTPHEADER, sl->headers);
}

/* The next step, from a clean slate: retries and the token renewal count per step. */
static long next_step(struct backup_slot *sl, CURL *e, enum step step)
{
    sl->step = step;
    sl->tries = 0;
    sl->renewed = 0;
    send_step(sl, e);
    return GW_BATCH_NOW;
}

static long item_start(void *ud, unsigned slot, size_t item, CURL *e)
{
    struct backup *b = ud;
    struct backup_slot *sl = &b->slots[slot];
    gw_assert(sl->data == NULL && sl->headers == NULL); /* finish() let them go */
    *sl = (struct backup_slot){.magic = SLOT_MAGIC, .b = b, .item = item};
    return next_step(sl, e, STEP_HEAD);
}

/* ---- outcomes ---- */

/* The item's one outcome; the slot is free after. */
static long finish(struct backup_slot *sl, enum backup_outcome o, const char *reason)
{
    struct backup *b = sl->b;
    b->count[o]++;
    b->tally.done++;
    if (o == BK_STORED) b->tally.bytes += sl->len;
    if (o == BK_FAILED) gw_tally_failure(&b->tally, b->items[sl->item].uuid, reason);
    free(sl->data);
    sl->data = NULL;
    sl->len = sl->cap = 0;
    /* The handle keeps a pointer to the list, unused until its next reset. */
    curl_slist_free_all(sl->headers);
    sl->headers = NULL;
    return GW_BATCH_OVER;
}

/* "<STEP> <what>: HTTP <status>[: <the start of the body>]" into out. */
static void http_reason(const struct backup_slot *sl, const char *what, char *out, size_t cap)
{
    char body[BACKUP_BODY_KEEP + 1];
    gw_cli_first_line(body, sizeof(body), sl->errbody, sl->errbody_len);
    snprintf(out, cap, "%s %s: HTTP %ld%s%s", step_names[sl->step], what, sl->status,
             body[0] ? ": " : "", body);
}

static const char *step_target(const struct backup_slot *sl)
{
    if (sl->step == STEP_GET) return "from the API";
    return sl->b->opt.gateway ? "at the gateway" : "at Swift";
}

/* A failure that may pass: the same step again after a backoff, else the item fails. */
static long retry(struct backup_slot *sl, CURL *e, const char *why)
{
    if (sl->tries >= BACKUP_RETRIES) {
        char reason[CURL_ERROR_SIZE + 512];
        snprintf(reason, sizeof(reason), "%s (after %d retries)", why, BACKUP_RETRIES);
        return finish(sl, BK_FAILED, reason);
    }
    long delay = (long)BACKUP_FIRST_BACKOFF_MS << sl->tries;
    sl->tries++;
    send_step(sl, e);
    return delay;
}

static int transient_status(const struct backup_slot *sl)
{
    long s = sl->status;
    return s == 408 || s == 429 || s >= 500 || (sl->step == STEP_PUT && s == 422);
}

/* Swift said 401 (-c): a new token, once per step, then the same step again. */
static long renew(struct backup_slot *sl, CURL *e)
{
    struct backup *b = sl->b;
    sl->renewed = 1;
    if (sl->generation == b->token_generation) {
        char *url = NULL, *token = NULL;
        if (gw_swift_login(b->conf, &url, &token) != 0)
            return finish(sl, BK_FAILED, "Swift refused the token and gave no new one");
        free(b->storage_url);
        free(b->swift_token);
        b->storage_url = url;
        b->swift_token = token;
        b->token_generation++;
    }
    send_step(sl, e);
    return GW_BATCH_NOW;
}

/* Lower-case hex of the digest `md` of the image into out (2 * its size + 1 bytes). */
static void image_digest(const struct backup_slot *sl, const EVP_MD *md, char *out)
{
    unsigned char raw[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    gw_assert(EVP_Digest(sl->data ? sl->data : "", sl->len, raw, &n, md, NULL) == 1);
    for (unsigned i = 0; i < n; i++) snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

/* ---- the steps' answers ---- */

static long head_done(struct backup_slot *sl, CURL *e)
{
    const struct backup_item *it = &sl->b->items[sl->item];
    char reason[512];
    if (sl->status == 200) {
        memcpy(sl->held, sl->etag, sizeof(sl->held));
    } else if (sl->status != 404) {
        http_reason(sl, step_target(sl), reason, sizeof(reason));
        return finish(sl, BK_FAILED, reason);
    }
    /* An MD5 in the listing tells at once; otherwise the image's bytes must. */
    if (sl->held[0] && strlen(it->checksum) == 32 && strcasecmp(sl->held, it->checksum) == 0)
        return finish(sl, BK_PRESENT, NULL);
    return next_step(sl, e, STEP_GET);
}

static long get_done(struct backup_slot *sl, CURL *e)
{
    const struct backup_item *it = &sl->b->items[sl->item];
    char reason[512];
    if (sl->status != 200) {
        http_reason(sl, step_target(sl), reason, sizeof(reason));
        return finish(sl, BK_FAILED, reason);
    }
    image_digest(sl, EVP_md5(), sl->md5);
    char sha256[65] = "";
    if (strlen(it->checksum) == 64) image_digest(sl, EVP_sha256(), sha256);
    const char *got = strlen(it->checksum) == 64 ? sha256 : sl->md5;
    if (it->checksum[0] && strcmp(got, it->checksum) != 0) {
        if (++sl->mismatches < 2) return next_step(sl, e, STEP_GET);
        snprintf(reason, sizeof(reason),
                 "the API's image does not match its checksum, twice (%s %s, listed on "
                 "page %ld, object %zu)", strlen(it->checksum) == 64 ? "SHA-256" : "MD5", got,
                 it->page, it->index);
        return finish(sl, BK_FAILED, reason);
    }
    if (strcasecmp(sl->held, sl->md5) == 0) return finish(sl, BK_PRESENT, NULL);
    return next_step(sl, e, STEP_PUT);
}

static long put_done(struct backup_slot *sl)
{
    const struct backup *b = sl->b;
    char reason[512];
    if (sl->status == 201 && strcasecmp(sl->etag, sl->md5) == 0) return finish(sl, BK_STORED, NULL);
    if (sl->status == 201)
        snprintf(reason, sizeof(reason), "PUT %s: stored with ETag %s, not the image's MD5 %s",
                 step_target(sl), sl->etag[0] ? sl->etag : "(none)", sl->md5);
    else if (b->opt.gateway && (sl->status == 401 || sl->status == 403))
        snprintf(reason, sizeof(reason), "PUT at the gateway: HTTP %ld: the write token was "
                 "refused", sl->status);
    else if (b->opt.gateway && sl->status == 405)
        snprintf(reason, sizeof(reason), "PUT at the gateway: HTTP 405: it takes no writes "
                 "([server] write_token unset?)");
    else
        http_reason(sl, step_target(sl), reason, sizeof(reason));
    return finish(sl, BK_FAILED, reason);
}

static long item_done(void *ud, unsigned slot, CURL *e, CURLcode res)
{
    struct backup *b = ud;
    struct backup_slot *sl = &b->slots[slot];
    GW_CHECK_MAGIC(sl, SLOT_MAGIC);
    char why[CURL_ERROR_SIZE + 256];
    if (res == CURLE_WRITE_ERROR && sl->too_big)
        return finish(sl, BK_FAILED, "GET from the API: the image is larger than 64 MiB");
    if (res != CURLE_OK) {
        snprintf(why, sizeof(why), "%s %s: %s", step_names[sl->step], step_target(sl),
                 sl->errbuf[0] ? sl->errbuf : curl_easy_strerror(res));
        return retry(sl, e, why);
    }
    if (transient_status(sl)) {
        http_reason(sl, step_target(sl), why, sizeof(why));
        return retry(sl, e, why);
    }
    if (sl->status == 401 && b->conf && sl->step != STEP_GET && !sl->renewed) return renew(sl, e);
    if (sl->step == STEP_HEAD) return head_done(sl, e);
    if (sl->step == STEP_GET) return get_done(sl, e);
    return put_done(sl);
}

/* ---- the run ---- */

static const struct gw_batch_ops backup_ops = {
    .start = item_start,
    .done = item_done,
};

int gw_backup_run(struct backup *b)
{
    b->slots = gw_calloc((size_t)b->opt.run.jobs, sizeof(*b->slots));
    return gw_batch_run_list(&b->batch, "backup", &backup_ops, b, &b->opt.run, b->nitems,
                             &b->tally);
}

void gw_backup_run_free(struct backup *b)
{
    gw_batch_free(&b->batch);
    if (b->slots) {
        for (int i = 0; i < b->opt.run.jobs; i++) {
            free(b->slots[i].data);
            curl_slist_free_all(b->slots[i].headers);
            b->slots[i].magic = 0;
        }
    }
    free(b->slots);
    b->slots = NULL;
}
