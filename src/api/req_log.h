/* The request log's view of a request (src/api/req_log.c): what the net
 * layer writes about it once its answer is written. Internal to src/api. */
#ifndef BK_API_REQ_LOG_H
#define BK_API_REQ_LOG_H

struct bk_call;

/* Names call's request for the request log (API, version, and whether it
 * waits by design); from dispatch, once the request is known good. */
void bk_api_req_log_start(struct bk_call *call);

/* Records the top-level error code of resp (borrowed: a response struct of
 * call's API) for the request log; from dispatch, as the answer is
 * encoded. */
void bk_api_req_log_answer(struct bk_call *call, const void *resp);

#endif /* BK_API_REQ_LOG_H */
