/*
 * thread.c - the cache's per-thread state: the SHA-256 context that
 * gw_cache_key() reuses from one call to the next.
 *
 * Invariants:
 *  - The SHA-256 implementation is fetched from OpenSSL once per process
 *    (EVP_sha256() alone makes every EVP_DigestInit_ex() look the digest
 *    up again, which costs more than hashing a short name).  It is never
 *    freed: the process holds it to the end, like OpenSSL's own tables.
 *  - A thread's state is created at its first use and freed when the
 *    thread exits, by the destructor of a pthread key; a thread that never
 *    exits (the main thread) keeps its state reachable from a thread-local
 *    pointer, so a leak checker sees nothing lost.
 *  - Only its own thread uses a state; nothing here takes a lock.
 */
#include "cache_int.h"

#include <stdlib.h>

#include <openssl/evp.h>

struct gwc_thread {
    EVP_MD_CTX *md_ctx;         /* for gw_cache_key(); reinitialised per key */
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t thread_key;        /* its destructor frees a thread's state */
static EVP_MD *sha256;
static _Thread_local struct gwc_thread *self;

static void thread_free(void *p)
{
    struct gwc_thread *t = p;

    EVP_MD_CTX_free(t->md_ctx);
    free(t);
    self = NULL;
}

static void once_init(void)
{
    GWC_ASSERT(pthread_key_create(&thread_key, thread_free) == 0);
    sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
    GWC_ASSERT(sha256 != NULL);
}

static struct gwc_thread *thread_state(void)
{
    struct gwc_thread *t = self;

    if (t != NULL) return t;
    pthread_once(&once, once_init);
    t = calloc(1, sizeof(*t));
    GWC_ASSERT(t != NULL);
    t->md_ctx = EVP_MD_CTX_new();
    GWC_ASSERT(t->md_ctx != NULL);
    GWC_ASSERT(pthread_setspecific(thread_key, t) == 0);
    self = t;
    return t;
}

EVP_MD_CTX *gwc_sha256_ctx(void)
{
    struct gwc_thread *t = thread_state();

    /* The same digest on the same context: OpenSSL keeps what it set up. */
    GWC_ASSERT(EVP_DigestInit_ex2(t->md_ctx, sha256, NULL) == 1);
    return t->md_ctx;
}
