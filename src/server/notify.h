/* systemd's readiness protocol (sd_notify(3)), by hand: brokerd runs as a
 * Type=notify service without linking libsystemd. */
#ifndef BK_SERVER_NOTIFY_H
#define BK_SERVER_NOTIFY_H

/* Sends state (borrowed; "READY=1", "STOPPING=1", ...: newline-separated
 * assignments) as one datagram to the AF_UNIX socket named by
 * $NOTIFY_SOCKET: a path, or "@name" for the abstract namespace. Returns
 * 0 when sent or when NOTIFY_SOCKET is unset or empty (not run by
 * systemd), BK_EINVAL for an address that is neither, or a negative errno
 * of socket(2)/sendto(2). Never blocks for long: the datagram is sent
 * non-blocking. */
int bk_server_notify(const char *state);

#endif /* BK_SERVER_NOTIFY_H */
