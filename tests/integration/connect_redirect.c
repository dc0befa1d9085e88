/* Test-only LD_PRELOAD shim for test_replication_partition.py: sends a
 * node's TCP connections to other nodes through the proxies the test
 * starts, so that the test can cut one node off from the others while
 * clients still reach it directly.
 *
 * BK_CONNECT_MAP names a file of "<node> <port> <proxy port>" lines. A
 * connect() to 127.0.0.1:<port> from node <node> goes to
 * 127.0.0.1:<proxy port> instead. The node finds its own id in the config
 * file brokerd was started with ("-c FILE": its node.id line). Without the
 * variable, or for any other address, connect() is unchanged. Built
 * without sanitizers, since it must load before their runtime. */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int connect(int fd, const struct sockaddr *addr, socklen_t len);

#define MAX_ROUTES 64

static struct {
    unsigned short from, to;
} routes[MAX_ROUTES];
static int nroutes;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* This process's node.id, from the -c FILE on its command line; -1. */
static long own_node(void)
{
    FILE *f = fopen("/proc/self/cmdline", "r");
    char buf[8192];
    size_t n = f != NULL ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f != NULL) {
        (void)fclose(f);
    }
    buf[n] = '\0';
    const char *conf = NULL;
    for (size_t i = 0; i < n; i += strlen(buf + i) + 1) {
        if (strcmp(buf + i, "-c") == 0 && i + 3 < n) {
            conf = buf + i + 3;
        }
    }
    FILE *c = conf != NULL ? fopen(conf, "r") : NULL;
    long id = -1;
    char line[512];
    while (c != NULL && fgets(line, sizeof(line), c) != NULL) {
        if (strncmp(line, "node.id=", 8) == 0) {
            id = strtol(line + 8, NULL, 10);
        }
    }
    if (c != NULL) {
        (void)fclose(c);
    }
    return id;
}

static void load(void)
{
    const char *path = getenv("BK_CONNECT_MAP");
    long me = path != NULL ? own_node() : -1;
    FILE *f = me >= 0 ? fopen(path, "r") : NULL;
    long node, from, to;
    while (f != NULL && nroutes < MAX_ROUTES &&
           fscanf(f, "%ld %ld %ld", &node, &from, &to) == 3) {
        if (node == me) {
            routes[nroutes].from = (unsigned short)from;
            routes[nroutes].to = (unsigned short)to;
            nroutes++;
        }
    }
    if (f != NULL) {
        (void)fclose(f);
    }
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    int (*next)(int, const struct sockaddr *, socklen_t);
    void *p = dlsym(RTLD_NEXT, "connect");
    memcpy(&next, &p, sizeof(next)); /* object to function pointer */
    pthread_once(&once, load);
    if (addr == NULL || addr->sa_family != AF_INET ||
        len < (socklen_t)sizeof(struct sockaddr_in)) {
        return next(fd, addr, len);
    }
    struct sockaddr_in in;
    memcpy(&in, addr, sizeof(in));
    if (in.sin_addr.s_addr != htonl(INADDR_LOOPBACK)) {
        return next(fd, addr, len);
    }
    for (int i = 0; i < nroutes; i++) {
        if (ntohs(in.sin_port) == routes[i].from) {
            in.sin_port = htons(routes[i].to);
            return next(fd, (const struct sockaddr *)&in, sizeof(in));
        }
    }
    return next(fd, addr, len);
}
