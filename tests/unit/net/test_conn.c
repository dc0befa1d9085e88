/* Connections end to end over a socketpair: answers mixing memory and
 * sendfile pieces arrive whole and in request order, even when handlers
 * answer out of order and the socket fills up. */
/* cmocka.h needs these headers first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "net/net.h"

#define FILE_BYTES (3 * 1024 * 1024 + 17)
#define NREQ       40

static int data_fd = -1;
static uint8_t *file_copy;

struct later {
    uv_timer_t timer;
    struct bk_req *req;
};

static void answer(struct bk_req *req)
{
    /* frame: [size][seq as int32]["file" bytes][tail], where the file part
     * is sent with sendfile for odd requests. */
    uint32_t seq = (uint32_t)req->seq;
    size_t file_len = (seq % 2) ? (size_t)(FILE_BYTES - seq) : 0;
    uint8_t *head = bk_arena_alloc(&req->arena, 8);
    uint8_t *tail = bk_arena_alloc(&req->arena, 4);
    uint32_t size = (uint32_t)(4 + file_len + 4);
    uint32_t be = htonl(size), bs = htonl(seq);
    memcpy(head, &be, 4);
    memcpy(head + 4, &bs, 4);
    /* Four bytes of a binary frame, not a string. */
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
    memcpy(tail, "TAIL", 4);
    struct bk_out_chunk ch[3] = {
        { .base = head, .len = 8, .fd = -1 },
        { .base = NULL, .len = file_len, .fd = data_fd, .offset = seq },
        { .base = tail, .len = 4, .fd = -1 },
    };
    if (file_len == 0) {
        ch[1] = ch[2];
        bk_req_reply_chunks(req, ch, 2);
    } else {
        bk_req_reply_chunks(req, ch, 3);
    }
}

static void timer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void later_cb(uv_timer_t *t)
{
    struct later *l = t->data;
    answer(l->req);
    t->data = l;
    uv_close((uv_handle_t *)t, timer_closed);
}

static void on_request(struct bk_req *req)
{
    if (req->seq % 3 == 0) {
        /* Answer later than the requests after it. */
        struct later *l = calloc(1, sizeof(*l));
        l->req = req;
        uv_timer_init(&req->shard->loop, &l->timer);
        l->timer.data = l;
        uv_timer_start(&l->timer, later_cb, 5 + (req->seq % 7), 0);
        return;
    }
    answer(req);
}

static void recv_exact(int fd, uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        assert_true(r > 0);
        p += r;
        n -= (size_t)r;
    }
}

static void test_ordered_mixed_answers(void **state)
{
    (void)state;
    char path[] = "/tmp/bk-conn-test-XXXXXX";
    data_fd = mkstemp(path);
    assert_true(data_fd >= 0);
    unlink(path);
    file_copy = malloc(FILE_BYTES);
    for (size_t i = 0; i < FILE_BYTES; i++) {
        file_copy[i] = (uint8_t)(i * 7 + 3);
    }
    assert_int_equal(write(data_fd, file_copy, FILE_BYTES), FILE_BYTES);

    struct bk_shards g;
    struct bk_net_config cfg = { .max_request_bytes = 1 << 20,
                                 .max_inflight = 8,
                                 .max_queued_out_bytes = 1 << 20,
                                 .request_arena_limit = 1 << 20 };
    assert_int_equal(
        bk_shards_init(&g, 2, &cfg, on_request, NULL, NULL, NULL, NULL), 0);
    assert_int_equal(bk_shards_start(&g), 0);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int fl = fcntl(sv[0], F_GETFL);
    fcntl(sv[0], F_SETFL, fl | O_NONBLOCK);
    bk_shards_adopt_fd(&g, sv[0]);

    /* Pipeline every request (each a frame with a 4-byte body). */
    for (int i = 0; i < NREQ; i++) {
        uint8_t frame[8];
        uint32_t be = htonl(4), v = htonl((uint32_t)i);
        memcpy(frame, &be, 4);
        memcpy(frame + 4, &v, 4);
        assert_int_equal(write(sv[1], frame, 8), 8);
    }
    uint8_t *buf = malloc(FILE_BYTES + 16);
    for (uint32_t i = 0; i < NREQ; i++) {
        uint8_t hdr[8];
        recv_exact(sv[1], hdr, 8);
        uint32_t size, seq;
        memcpy(&size, hdr, 4);
        memcpy(&seq, hdr + 4, 4);
        size = ntohl(size);
        seq = ntohl(seq);
        assert_int_equal(seq, i);
        size_t file_len = size - 8;
        recv_exact(sv[1], buf, file_len + 4);
        if (file_len > 0) {
            assert_memory_equal(buf, file_copy + seq, file_len);
        }
        assert_memory_equal(buf + file_len, "TAIL", 4);
    }
    free(buf);
    close(sv[1]);
    bk_shards_stop(&g, 2000);
    bk_shards_close(&g);
    close(data_fd);
    free(file_copy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ordered_mixed_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
