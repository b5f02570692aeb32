/*
 * notify.h - readiness for a service manager: the sd_notify(3) datagram
 * protocol written directly (a line or two of "KEY=VALUE" sent to the
 * AF_UNIX socket named by $NOTIFY_SOCKET), so a systemd unit can be
 * Type=notify without linking libsystemd.
 */
#ifndef GW_NOTIFY_H
#define GW_NOTIFY_H

/*
 * Send `state` (e.g. "READY=1", "STOPPING=1") to $NOTIFY_SOCKET: a path,
 * or an abstract socket name when it starts with '@'.  Returns 1 when it
 * was sent, 0 when NOTIFY_SOCKET is unset or empty (not run by a service
 * manager that asks), or a negative errno (-EINVAL for a name that does
 * not fit sockaddr_un or is not absolute) when sending failed.  Never
 * blocks: the datagram is sent with MSG_DONTWAIT.
 */
int gw_notify(const char *state);

#endif
