#include "common/err.h"

#include <string.h>

const char *bk_strerror(int err)
{
    switch (err) {
#define BK_ERR_CASE(name, value, text) \
    case value:                        \
        return text;
        BK_ERR_MAP(BK_ERR_CASE)
#undef BK_ERR_CASE
        default:
            break;
    }
    if (err < 0 && err > -1000) {
        return strerror(-err);
    }
    return "unknown error";
}

const char *bk_errname(int err)
{
    switch (err) {
#define BK_ERR_NAME(name, value, text) \
    case value:                        \
        return #name;
        BK_ERR_MAP(BK_ERR_NAME)
#undef BK_ERR_NAME
        default:
            return "UNKNOWN";
    }
}

bool bk_err_transient(int err)
{
    return err == BK_EMFILE || err == BK_ENFILE || err == BK_ENOMEM ||
           err == BK_EAGAIN;
}

bool bk_err_nospace(int err)
{
    return err == BK_ENOSPC || err == BK_EDQUOT;
}
