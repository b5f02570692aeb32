/*
 * outq.h - a connection's output queue: bytes in memory and ranges of
 * files, sent to a non-blocking socket with as few system calls as fit.
 *
 * Consecutive memory items go out in one sendmsg (writev); a file range
 * goes out with sendfile(2), from the page cache, never through the
 * process.  Memory followed at once by a file range is sent with MSG_MORE
 * and the sendfile follows in the same call, so a head and its body leave
 * in one TCP segment when they fit; MSG_MORE is never used with nothing
 * following (that corks the tail for 200 ms).
 *
 * The queue owns what is in it: copies and taken buffers are freed, a file
 * range's release() is called, once sent or once the queue is cleared.
 * Loop thread only; no locks.
 */
#ifndef GW_OUTQ_H
#define GW_OUTQ_H

#include <stddef.h>
#include <stdint.h>

struct gw_outq_item;

struct gw_outq {
    struct gw_outq_item *head, *tail;
    uint64_t bytes;             /* queued and not yet sent */
};

/* gw_outq_send()'s results besides 0 (the queue is empty) and -errno. */
#define GW_OUTQ_AGAIN 1         /* the socket took less than offered: wait for POLLOUT */
#define GW_OUTQ_BUDGET 2        /* budget bytes went out and more is queued */

void gw_outq_init(struct gw_outq *q);
/* Queue a copy of len bytes (small writes share one block). */
void gw_outq_push_copy(struct gw_outq *q, const void *data, size_t len);
/* Queue len bytes of data, taken: freed (free()) once sent or dropped. */
void gw_outq_push_taken(struct gw_outq *q, char *data, size_t len);
/* Queue bytes [off, off + len) of file fd; release(arg) once sent or dropped. */
void gw_outq_push_file(struct gw_outq *q, int fd, uint64_t off, uint64_t len,
                       void (*release)(void *), void *arg);
/*
 * Send from the front of the queue to sock, about budget bytes at most
 * (a corked head is always followed by its file range, whatever the
 * budget).  *sent is what went out.  Returns 0 when the queue is empty,
 * GW_OUTQ_AGAIN, GW_OUTQ_BUDGET, or -errno (the connection is broken;
 * -EIO when a file is shorter than its range).
 */
int gw_outq_send(struct gw_outq *q, int sock, uint64_t budget, uint64_t *sent);
/* Drop everything queued, releasing it. */
void gw_outq_clear(struct gw_outq *q);

#endif
