/*
 * notify.c - the sd_notify(3) protocol without libsystemd.
 *
 * systemd's Type=notify asks a service to send "READY=1" once it serves;
 * the protocol is one datagram of newline-separated assignments on an
 * AF_UNIX socket whose address is in $NOTIFY_SOCKET, '@' standing for the
 * NUL that starts an abstract name.  The socket is opened and closed for
 * each message: messages are rare (ready, stopping), and no descriptor is
 * left for a worker or a child to inherit.  Only the main thread calls it.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"

int gw_notify(const char *state)
{
    const char *name = getenv("NOTIFY_SOCKET");
    if (name == NULL || name[0] == '\0') return 0;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    size_t n = strlen(name);
    if ((name[0] != '/' && name[0] != '@') || n >= sizeof(sa.sun_path)) return -EINVAL;
    memcpy(sa.sun_path, name, n);
    if (name[0] == '@') sa.sun_path[0] = '\0';
    /* An abstract name's length is exactly its bytes; a path's includes its NUL. */
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
                                  (name[0] == '@' ? 0 : 1));

    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    ssize_t sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT,
                          (const struct sockaddr *)&sa, salen);
    int rc = sent < 0 ? -errno : 1;
    close(fd);
    return rc;
}
