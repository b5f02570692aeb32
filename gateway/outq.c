/*
 * outq.c - a connection's output queue (outq.h).
 *
 * An item is bytes in memory or a range of a file.  A memory item's `off`
 * counts the bytes of `data` already sent; a file item's `off` is the next
 * file offset to send and its `len` what is left.  Small copies are packed
 * into the tail's inline block, so a head written in a few pieces is one
 * item and one iovec.
 */
#include "outq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "util.h"

/* A copy block's size: a head and a small text body fit in one. */
#define COPY_BLOCK 4096
/* Memory items gathered into one sendmsg. */
#define IOV_BATCH 64
/* What a corked head's file range may send past the budget, at least. */
#define FILE_CHUNK_MIN (64u * 1024)
/* One sendfile call's ceiling (the kernel's own is about 2 GiB). */
#define FILE_CHUNK_MAX (1u << 30)

struct gw_outq_item {
    struct gw_outq_item *next;
    int fd;                     /* -1: memory */
    uint64_t off;               /* memory: bytes of data sent; file: next offset */
    uint64_t len;               /* memory: bytes in data; file: bytes left */
    char *data;                 /* memory: the bytes, taken or inline */
    size_t cap;                 /* inline copies: room in inl; 0 otherwise */
    void (*release)(void *);    /* file: called once the range is sent or dropped */
    void *arg;
    char inl[];
};

static uint64_t item_left(const struct gw_outq_item *it)
{
    return it->fd < 0 ? it->len - it->off : it->len;
}

static void item_free(struct gw_outq_item *it)
{
    if (it->fd >= 0) {
        if (it->release) it->release(it->arg);
    } else if (it->data != it->inl) {
        free(it->data);
    }
    free(it);
}

static void push(struct gw_outq *q, struct gw_outq_item *it)
{
    it->next = NULL;
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    q->bytes += item_left(it);
}

void gw_outq_init(struct gw_outq *q)
{
    q->head = q->tail = NULL;
    q->bytes = 0;
}

void gw_outq_push_copy(struct gw_outq *q, const void *data, size_t len)
{
    if (len == 0) return;
    struct gw_outq_item *t = q->tail;
    if (t && t->fd < 0 && t->cap >= t->len + len) {
        memcpy(t->inl + t->len, data, len);
        t->len += len;
        q->bytes += len;
        return;
    }
    size_t cap = len < COPY_BLOCK ? COPY_BLOCK : len;
    struct gw_outq_item *it = gw_malloc(sizeof(*it) + cap);
    memset(it, 0, sizeof(*it));
    it->fd = -1;
    it->data = it->inl;
    it->cap = cap;
    memcpy(it->inl, data, len);
    it->len = len;
    push(q, it);
}

void gw_outq_push_taken(struct gw_outq *q, char *data, size_t len)
{
    if (len == 0) {
        free(data);
        return;
    }
    struct gw_outq_item *it = gw_calloc(1, sizeof(*it));
    it->fd = -1;
    it->data = data;
    it->len = len;
    push(q, it);
}

void gw_outq_push_file(struct gw_outq *q, int fd, uint64_t off, uint64_t len,
                       void (*release)(void *), void *arg)
{
    if (len == 0) {
        if (release) release(arg);
        return;
    }
    gw_assert(fd >= 0);
    struct gw_outq_item *it = gw_calloc(1, sizeof(*it));
    it->fd = fd;
    it->off = off;
    it->len = len;
    it->release = release;
    it->arg = arg;
    push(q, it);
}

/* n bytes went out: advance over them, freeing what is all sent. */
static void consume(struct gw_outq *q, uint64_t n)
{
    q->bytes -= n;
    while (n > 0) {
        struct gw_outq_item *it = q->head;
        uint64_t left = item_left(it);
        if (n < left) {
            it->off += n;
            if (it->fd >= 0) it->len -= n;
            return;
        }
        n -= left;
        q->head = it->next;
        if (q->head == NULL) q->tail = NULL;
        item_free(it);
    }
}

/* The memory items at the front, as one sendmsg; *corked when a file follows. */
static ssize_t send_memory(struct gw_outq *q, int sock, uint64_t *want, int *corked)
{
    struct iovec iov[IOV_BATCH];
    int k = 0;
    *want = 0;
    struct gw_outq_item *p = q->head;
    for (; p && p->fd < 0 && k < IOV_BATCH; p = p->next, k++) {
        iov[k].iov_base = p->data + p->off;
        iov[k].iov_len = (size_t)(p->len - p->off);
        *want += iov[k].iov_len;
    }
    *corked = p != NULL && p->fd >= 0;
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)k};
    return sendmsg(sock, &mh, MSG_NOSIGNAL | (*corked ? MSG_MORE : 0));
}

static ssize_t send_file(struct gw_outq_item *it, int sock, uint64_t room, uint64_t *want)
{
    if (room < FILE_CHUNK_MIN) room = FILE_CHUNK_MIN;
    if (room > FILE_CHUNK_MAX) room = FILE_CHUNK_MAX;
    *want = it->len < room ? it->len : room;
    off_t off = (off_t)it->off;
    ssize_t n = sendfile(sock, it->fd, &off, (size_t)*want);
    if (n == 0) {
        errno = EIO; /* the file ends before its range: never send a short body */
        return -1;
    }
    return n;
}

int gw_outq_send(struct gw_outq *q, int sock, uint64_t budget, uint64_t *sent)
{
    *sent = 0;
    int corked = 0;
    while (q->head) {
        if (*sent >= budget && !corked) return GW_OUTQ_BUDGET;
        uint64_t want;
        ssize_t n;
        if (q->head->fd < 0) {
            n = send_memory(q, sock, &want, &corked);
        } else {
            n = send_file(q->head, sock, budget > *sent ? budget - *sent : 0, &want);
            corked = 0;
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return GW_OUTQ_AGAIN;
            return -errno;
        }
        consume(q, (uint64_t)n);
        *sent += (uint64_t)n;
        if ((uint64_t)n < want) return GW_OUTQ_AGAIN;
    }
    return 0;
}

void gw_outq_clear(struct gw_outq *q)
{
    while (q->head) {
        struct gw_outq_item *it = q->head;
        q->head = it->next;
        item_free(it);
    }
    q->tail = NULL;
    q->bytes = 0;
}
