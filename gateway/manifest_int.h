/*
 * manifest_int.h - what plan.c, slo.c and dlo.c share: the checks every
 * builder of a plan makes, MD5 helpers, and the plan's storage.  Only those
 * three files include it; manifest.h is the module's one public header.
 *
 * Everything here is defined in plan.c, dies on OOM (or on an OpenSSL
 * failure, which only OOM causes) and keeps no state.
 */
#ifndef GW_MANIFEST_INT_H
#define GW_MANIFEST_INT_H

#include "manifest.h"

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

/* Set *why (when why is not NULL) to reason, a static string; return err. */
static inline int gwm_fail(const char **why, const char *reason, int err)
{
    if (why) *why = reason;
    return err;
}

/* ---- MD5 ---- */

EVP_MD_CTX *gwm_md5_new(void);
void gwm_md5_add(EVP_MD_CTX *c, const void *p, size_t n);
/* Finish into lower-case hex and free the context. */
void gwm_md5_end_hex(EVP_MD_CTX *c, char out[33]);
/* The MD5 of n bytes at p, in lower-case hex. */
void gwm_md5_hex(const void *p, size_t n, char out[33]);

/* ---- names and hashes ---- */

/* Exactly 32 hex digits, of either case. */
int gwm_is_hex32(const char *s, size_t n);
/* A container name as Swift allows it: 1..GW_CONTAINER_MAX bytes of
 * UTF-8, no NUL, no '/'. */
int gwm_container_ok(const char *s, size_t n);
/* An object name: 1..GW_OBJECT_MAX bytes of UTF-8, no NUL. */
int gwm_object_ok(const char *s, size_t n);

/* ---- plan storage ---- */

/* Room in p->seg for extra segments after the p->n there are. */
void gwm_plan_reserve(struct gw_plan *p, size_t extra);
/* s->container and s->object from cl and ol bytes (not NUL-terminated),
 * in one allocation "container\0object\0" that s owns. */
void gwm_seg_set_names(struct gw_segment *s, const char *c, size_t cl, const char *o, size_t ol);
/* Set every segment's offset from the ranges and p->bytes; returns the sum
 * of range_len. */
uint64_t gwm_plan_reoffset(struct gw_plan *p);
/* The encoded size of a plan without segments. */
size_t gwm_plan_empty_bytes(void);
/* What segment s adds to its plan's encoded size. */
size_t gwm_seg_bytes(const struct gw_segment *s);
/* 0 when a plan of n segments and `bytes` encoded bytes is within p's
 * limits, else GW_ELIMIT and the reason in *why. */
int gwm_plan_fits(const struct gw_plan *p, size_t n, size_t bytes, const char **why);

#endif
