/* The sd_notify datagram protocol (systemd's sd_notify(3) and the
 * NOTIFY_SOCKET contract in systemd.exec(5)): one datagram of
 * "KEY=VALUE\n..." text to the AF_UNIX socket named by $NOTIFY_SOCKET.
 * Written by hand so that brokerd needs no libsystemd; the protocol is a
 * stable, documented interface and this is all of it that brokerd uses. */
#include "server/notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/err.h"

int bk_server_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (path == NULL || path[0] == '\0') {
        return 0;
    }
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    size_t len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path)) {
        return BK_EINVAL;
    }
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@') {
        sa.sun_path[0] = '\0'; /* Linux's abstract namespace */
    }
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
                                  (path[0] == '/' ? 1 : 0));
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return -errno;
    }
    int rv = 0;
    ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL,
                       (const struct sockaddr *)&sa, salen);
    if (n < 0) {
        rv = -errno;
    }
    close(fd);
    return rv;
}
