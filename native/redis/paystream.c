/* paystream's Redis module: PAYSTREAM.COMMIT, agents/commit.lua as one compiled command, and
 * PAYSTREAM.FANIN, agents/fanin.lua (the read's fan-in counts).
 *
 * Why: the account-state Redis spent about a third of its CPU in Lua around the commit's
 * commands (docs/benchmarks.md, 2026-12-05 midday: perf of redis-server), the largest part
 * building KEYS and ARGV (Lua interns every argument: a hash and a walk of its string table,
 * ~15 strings a transaction) and the script's own loops. Here the arguments stay the strings
 * Redis parsed from the request, the reads look keys up directly, and the writes are the same
 * commands commit.lua calls, called through RedisModule_Call with "!": replicated and written
 * to the AOF as effects, in one MULTI/EXEC, as a script's are. So an AOF or a replica never
 * needs this module: a server without it loads the same files, and the workers fall back to
 * the script (agents/store.py, PAYSTREAM_STATE_COMMIT).
 *
 * The command takes commit.lua's KEYS and ARGV as EVALSHA passes them:
 *     PAYSTREAM.COMMIT numkeys key [key ...] arg [arg ...]
 * and answers what the script answers: "ok", or ["conflict", key, seen, expected] with nothing
 * written. Each section below names the part of commit.lua it is; the comments there say why
 * the layout is what it is. tests/integration/test_redis_module.py holds the two to the same
 * keys, values and AOF effects.
 *
 * Built by `make redis-module` (gcc, no other dependency): redismodule.h is Redis 7.0.15's own
 * header (BSD-3-Clause, Copyright (c) 2006-2020 Salvatore Sanfilippo), vendored as Redis's
 * documentation asks of modules.
 */

#define REDISMODULE_EXPERIMENTAL_API
#include "redismodule.h"

#include <stdlib.h>
#include <string.h>

#define CHUNK_MSET 500 /* account pairs per MSET */
#define CHUNK_RPUSH 2000
#define CHUNK_DEL 1000
#define CHUNK_ZADD 1000 /* pairs per ZADD */
#define DAY_MS 86400000LL

/* Arguments the commands take as they are, made once. */
static RedisModuleString *S_H, *S_S, *S_K, *S_ONE, *S_GT, *S_NEG_INF, *S_LIMIT;

/* The command's arguments: KEYS and ARGV as the script sees them, 0-based here. */
typedef struct {
    RedisModuleString **keys, **args;
    long long nkeys, nargs;
} Args;

typedef enum { OK = 0, FAILED = 1 } Status; /* FAILED: the reply is already sent */

static Status arg_error(RedisModuleCtx *ctx) {
    RedisModule_ReplyWithError(ctx, "ERR paystream: malformed arguments "
                                     "(a section's counts do not match what follows)");
    return FAILED;
}

#define NEED_ARG(i) do { if ((i) < 0 || (i) >= a->nargs) return arg_error(ctx); } while (0)
#define NEED_KEY(i) do { if ((i) < 0 || (i) >= a->nkeys) return arg_error(ctx); } while (0)
/* `count` (>= 0) arguments or keys from `first` on. */
#define NEED_ARGS(first, count) do { \
        if ((count) < 0 || (first) < 0 || (first) + (count) > a->nargs) return arg_error(ctx); \
    } while (0)
#define NEED_KEYS(first, count) do { \
        if ((count) < 0 || (first) < 0 || (first) + (count) > a->nkeys) return arg_error(ctx); \
    } while (0)

static Status arg_ll(RedisModuleCtx *ctx, const Args *a, long long i, long long *out) {
    NEED_ARG(i);
    if (RedisModule_StringToLongLong(a->args[i], out) != REDISMODULE_OK) return arg_error(ctx);
    return OK;
}

static int eq(RedisModuleString *s, const char *c, size_t len) {
    size_t n;
    const char *p = RedisModule_StringPtrLen(s, &n);
    return n == len && memcmp(p, c, len) == 0;
}

/* A call's reply, or the error it was (sent on as the command's reply: the script too stops at
 * a failed redis.call, with what it wrote before left as it is). */
static RedisModuleCallReply *checked(RedisModuleCtx *ctx, RedisModuleCallReply *reply) {
    if (reply == NULL) {
        RedisModule_ReplyWithError(ctx, "ERR paystream.commit: a command could not be called");
        return NULL;
    }
    if (RedisModule_CallReplyType(reply) == REDISMODULE_REPLY_ERROR) {
        RedisModule_ReplyWithCallReply(ctx, reply);
        RedisModule_FreeCallReply(reply);
        return NULL;
    }
    return reply;
}

#define CALL(var, ...) do { \
        var = checked(ctx, RedisModule_Call(ctx, __VA_ARGS__)); \
        if (var == NULL) return FAILED; \
    } while (0)
#define CALL_FREE(...) do { \
        RedisModuleCallReply *r_ = checked(ctx, RedisModule_Call(ctx, __VA_ARGS__)); \
        if (r_ == NULL) return FAILED; \
        RedisModule_FreeCallReply(r_); \
    } while (0)

static Status wrong_type(RedisModuleCtx *ctx) {
    RedisModule_ReplyWithError(ctx, "WRONGTYPE Operation against a key holding the wrong kind "
                                    "of value");
    return FAILED;
}

static void reply_conflict(RedisModuleCtx *ctx, RedisModuleString *key, const char *seen,
                           size_t seen_len, RedisModuleString *expected) {
    RedisModule_ReplyWithArray(ctx, 4);
    RedisModule_ReplyWithStringBuffer(ctx, "conflict", 8);
    RedisModule_ReplyWithString(ctx, key);
    RedisModule_ReplyWithStringBuffer(ctx, seen, seen_len);
    RedisModule_ReplyWithString(ctx, expected);
}

/* A hash field's value (NULL: no such field, or no such key); *type: the key's type. */
static RedisModuleString *hash_field(RedisModuleCtx *ctx, RedisModuleString *keyname,
                                     const char *field, int *type) {
    RedisModuleKey *key = RedisModule_OpenKey(ctx, keyname, REDISMODULE_READ);
    RedisModuleString *value = NULL;
    *type = RedisModule_KeyType(key);
    if (*type == REDISMODULE_KEYTYPE_HASH)
        RedisModule_HashGet(key, REDISMODULE_HASH_CFIELDS, field, &value, NULL);
    RedisModule_CloseKey(key);
    return value;
}

/* Accounts: every version the batch read checked before anything is written (commit.lua's
 * first section); ARGV[0] is their count, then per account its version and its new value. */
static Status check_accounts(RedisModuleCtx *ctx, const Args *a, long long n, int *conflict) {
    NEED_ARGS(1, 2 * n);
    NEED_KEYS(0, n);
    for (long long i = 0; i < n; i++) {
        RedisModuleKey *key = RedisModule_OpenKey(ctx, a->keys[i], REDISMODULE_READ);
        const char *seen = "0";
        size_t seen_len = 1;
        if (RedisModule_KeyType(key) == REDISMODULE_KEYTYPE_STRING) {
            size_t len;
            const char *value = RedisModule_StringDMA(key, &len, REDISMODULE_READ);
            size_t digits = 0;
            while (digits < len && value[digits] >= '0' && value[digits] <= '9') digits++;
            if (digits > 0 && digits < len && value[digits] == '|') {
                seen = value;
                seen_len = digits;
            }
        }
        RedisModuleString *expected = a->args[1 + 2 * i];
        size_t expected_len;
        const char *e = RedisModule_StringPtrLen(expected, &expected_len);
        if (expected_len != seen_len || memcmp(e, seen, seen_len) != 0) {
            reply_conflict(ctx, a->keys[i], seen, seen_len, expected);
            RedisModule_CloseKey(key);
            *conflict = 1;
            return OK;
        }
        RedisModule_CloseKey(key);
    }
    return OK;
}

/* A record this batch creates: if it exists, with this body's hash (else the conflict reply is
 * sent and *conflict set). */
static Status same_body(RedisModuleCtx *ctx, RedisModuleString *keyname,
                        RedisModuleString *hash, int *conflict) {
    int type;
    RedisModuleString *seen = hash_field(ctx, keyname, "h", &type);
    if (type != REDISMODULE_KEYTYPE_EMPTY && type != REDISMODULE_KEYTYPE_HASH)
        return wrong_type(ctx);
    if (seen == NULL) return OK;
    if (RedisModule_StringCompare(seen, hash) != 0) {
        size_t len;
        const char *s = RedisModule_StringPtrLen(seen, &len);
        reply_conflict(ctx, keyname, s, len, hash);
        *conflict = 1;
    }
    RedisModule_FreeString(ctx, seen);
    return OK;
}

/* Records this batch creates: none may exist for another body (commit.lua's second section). */
static Status created_records(RedisModuleCtx *ctx, const Args *a, long long ai, long long ki,
                              long long n, int *conflict) {
    long long aj = ai + 2 * n, kj = ki + n, new_count, others;
    if (arg_ll(ctx, a, aj, &new_count) != OK) return FAILED;
    aj += 1;
    NEED_ARGS(aj, 2 * new_count + 2);
    NEED_KEYS(kj, new_count);
    for (long long i = 0; i < new_count && !*conflict; i++)
        if (same_body(ctx, a->keys[kj + i], a->args[aj + 2 * i], conflict) != OK) return FAILED;
    if (*conflict) return OK;
    kj += new_count;
    aj += 2 * new_count;
    if (arg_ll(ctx, a, aj, &others) != OK) return FAILED;
    aj += 2;  /* the count and the TTL */
    for (long long i = 0; i < others; i++) {
        long long fields;
        NEED_KEY(kj + i);
        if (arg_ll(ctx, a, aj + 1, &fields) != OK) return FAILED;
        aj += 2;
        NEED_ARGS(aj, 2 * fields);
        for (long long f = 0; f < fields; f++, aj += 2) {
            if (!eq(a->args[aj], "h", 1)) continue;
            if (same_body(ctx, a->keys[kj + i], a->args[aj + 1], conflict) != OK) return FAILED;
            if (*conflict) return OK;
        }
    }
    return OK;
}

static Status write_accounts(RedisModuleCtx *ctx, const Args *a, long long *ai, long long *ki) {
    long long n;
    if (arg_ll(ctx, a, *ai, &n) != OK) return FAILED;
    *ai += 1;
    RedisModuleString **pairs = RedisModule_Alloc(sizeof(*pairs) * 2 * CHUNK_MSET);
    for (long long first = 0; first < n; first += CHUNK_MSET) {
        long long count = n - first < CHUNK_MSET ? n - first : CHUNK_MSET;
        for (long long i = 0; i < count; i++) {
            pairs[2 * i] = a->keys[*ki + first + i];
            pairs[2 * i + 1] = a->args[*ai + 2 * (first + i) + 1];
        }
        RedisModuleCallReply *r = checked(ctx, RedisModule_Call(ctx, "MSET", "!v", pairs,
                                                                (size_t)(2 * count)));
        if (r == NULL) {
            RedisModule_Free(pairs);
            return FAILED;
        }
        RedisModule_FreeCallReply(r);
    }
    RedisModule_Free(pairs);
    *ki += n;
    *ai += 2 * n;
    return OK;
}

/* Records: the new ones with their hash and status, then the others (commit.lua's records). */
static Status records(RedisModuleCtx *ctx, const Args *a, long long *ai, long long *ki) {
    long long n, m;
    if (arg_ll(ctx, a, *ai, &n) != OK) return FAILED;
    *ai += 1;
    NEED_ARGS(*ai, 2 * n);
    NEED_KEYS(*ki, n);
    for (long long i = 0; i < n; i++, *ai += 2)
        CALL_FREE("HSET", "!sssss", a->keys[*ki + i], S_H, a->args[*ai], S_S, a->args[*ai + 1]);
    *ki += n;
    if (arg_ll(ctx, a, *ai, &m) != OK) return FAILED;
    NEED_ARG(*ai + 1);
    RedisModuleString *ttl = a->args[*ai + 1];
    *ai += 2;
    for (long long i = 0; i < m; i++) {
        long long fields;
        NEED_KEY(*ki + i);
        RedisModuleString *keyname = a->keys[*ki + i];
        NEED_ARG(*ai);
        int new_indexed = eq(a->args[*ai], "1", 1);
        if (arg_ll(ctx, a, *ai + 1, &fields) != OK) return FAILED;
        *ai += 2;
        NEED_ARGS(*ai, 2 * fields);
        if (fields > 0)
            CALL_FREE("HSET", "!sv", keyname, &a->args[*ai], (size_t)(2 * fields));
        *ai += 2 * fields;
        if (new_indexed) continue;
        RedisModuleKey *key = RedisModule_OpenKey(ctx, keyname, REDISMODULE_READ);
        int type = RedisModule_KeyType(key);
        if (type == REDISMODULE_KEYTYPE_EMPTY) {  /* TTL -2: EXPIRE of no key does nothing */
            RedisModule_CloseKey(key);
            continue;
        }
        if (type != REDISMODULE_KEYTYPE_HASH) {
            RedisModule_CloseKey(key);
            return wrong_type(ctx);
        }
        RedisModuleString *h = NULL, *k = NULL, *s = NULL;
        RedisModule_HashGet(key, REDISMODULE_HASH_CFIELDS, "h", &h, "k", &k, "s", &s, NULL);
        int indexed = h != NULL && k == NULL;
        int held = s != NULL && eq(s, "HELD", 4);
        mstime_t expire = RedisModule_GetExpire(key);
        RedisModule_CloseKey(key);
        if (h) RedisModule_FreeString(ctx, h);
        if (k) RedisModule_FreeString(ctx, k);
        if (s) RedisModule_FreeString(ctx, s);
        if (!indexed && !held && expire == REDISMODULE_NO_EXPIRE)
            CALL_FREE("EXPIRE", "!ss", keyname, ttl);
    }
    *ki += m;
    return OK;
}

/* Record indexes: one RPUSH per partition, in chunks. */
static Status indexes(RedisModuleCtx *ctx, const Args *a, long long *ai, long long *ki) {
    long long x;
    if (arg_ll(ctx, a, *ai, &x) != OK) return FAILED;
    *ai += 1;
    NEED_KEYS(*ki, x);
    for (long long i = 0; i < x; i++) {
        long long left;
        if (arg_ll(ctx, a, *ai, &left) != OK) return FAILED;
        *ai += 1;
        NEED_ARGS(*ai, left);
        while (left > 0) {
            long long chunk = left < CHUNK_RPUSH ? left : CHUNK_RPUSH;
            CALL_FREE("RPUSH", "!sv", a->keys[*ki + i], &a->args[*ai], (size_t)chunk);
            *ai += chunk;
            left -= chunk;
        }
    }
    *ki += x;
    return OK;
}

/* A growable list of key names this command made (freed with it). */
typedef struct {
    RedisModuleString **items;
    size_t len, cap;
} Names;

static void names_push(Names *n, RedisModuleString *s) {
    if (n->len == n->cap) {
        n->cap = n->cap ? 2 * n->cap : 256;
        n->items = RedisModule_Realloc(n->items, sizeof(*n->items) * n->cap);
    }
    n->items[n->len++] = s;
}

static void names_free(RedisModuleCtx *ctx, Names *n) {
    for (size_t i = 0; i < n->len; i++) RedisModule_FreeString(ctx, n->items[i]);
    RedisModule_Free(n->items);
    n->items = NULL;
    n->len = n->cap = 0;
}

static RedisModuleString *record_key(RedisModuleCtx *ctx, RedisModuleString *prefix,
                                     const char *id, size_t id_len) {
    size_t plen;
    const char *p = RedisModule_StringPtrLen(prefix, &plen);
    RedisModuleString *key = RedisModule_CreateString(ctx, p, plen);
    RedisModule_StringAppendBuffer(ctx, key, id, id_len);
    return key;
}

/* The script's drop(): records that may be held are read first and kept, marked, while HELD;
 * the rest go by one DEL per chunk. `maybe_held` and `unread` are record keys. */
static Status drop(RedisModuleCtx *ctx, Names *maybe_held, Names *unread) {
    Names gone = {0};
    Status status = OK;
    for (size_t i = 0; i < maybe_held->len; i++) {
        int type;
        RedisModuleString *s = hash_field(ctx, maybe_held->items[i], "s", &type);
        if (type != REDISMODULE_KEYTYPE_EMPTY && type != REDISMODULE_KEYTYPE_HASH) {
            status = wrong_type(ctx);
            goto done;
        }
        int held = s != NULL && eq(s, "HELD", 4);
        if (s) RedisModule_FreeString(ctx, s);
        if (held) {
            RedisModuleCallReply *r = checked(ctx, RedisModule_Call(
                ctx, "HSET", "!sss", maybe_held->items[i], S_K, S_ONE));
            if (r == NULL) { status = FAILED; goto done; }
            RedisModule_FreeCallReply(r);
        } else {
            names_push(&gone, maybe_held->items[i]);
        }
    }
    for (size_t i = 0; i < unread->len; i++) names_push(&gone, unread->items[i]);
    for (size_t first = 0; first < gone.len; first += CHUNK_DEL) {
        size_t count = gone.len - first < CHUNK_DEL ? gone.len - first : CHUNK_DEL;
        RedisModuleCallReply *r = checked(ctx, RedisModule_Call(ctx, "DEL", "!v",
                                                                gone.items + first, count));
        if (r == NULL) { status = FAILED; goto done; }
        RedisModule_FreeCallReply(r);
    }
done:
    RedisModule_Free(gone.items);  /* its strings belong to the two lists */
    return status;
}

static Status parse_event_time(RedisModuleCtx *ctx, const char *item, size_t len,
                               long long *out) {
    /* What Lua's tonumber() reads of the first 15 characters: index_item writes "%015d". */
    long long value = 0, sign = 1;
    size_t i = 0;
    if (len < 16) goto bad;
    while (i < 15 && item[i] == ' ') i++;
    if (i < 15 && item[i] == '-') { sign = -1; i++; }
    if (i == 15) goto bad;
    for (; i < 15; i++) {
        if (item[i] < '0' || item[i] > '9') goto bad;
        value = value * 10 + (item[i] - '0');
    }
    *out = sign * value;
    return OK;
bad:
    RedisModule_ReplyWithError(ctx, "ERR paystream.commit: a record index item is not "
                                    "\"<event time, 15 digits>|<tx_id>\"");
    return FAILED;
}

/* One partition's mark and pruning (commit.lua's event-time section, one partition). */
static Status prune_partition(RedisModuleCtx *ctx, const Args *a, long long ai, long long ki,
                              long long window, RedisModuleString *prefix) {
    RedisModuleString *mark_key = a->keys[ki], *legacy_key = a->keys[ki + 1],
                      *index_key = a->keys[ki + 2];
    long long high, cap, step, stored = 0;
    if (arg_ll(ctx, a, ai, &high) != OK || arg_ll(ctx, a, ai + 1, &cap) != OK
        || arg_ll(ctx, a, ai + 2, &step) != OK) return FAILED;
    RedisModuleKey *mark = RedisModule_OpenKey(ctx, mark_key, REDISMODULE_READ);
    int mark_type = RedisModule_KeyType(mark);
    if (mark_type == REDISMODULE_KEYTYPE_STRING) {
        size_t len;
        const char *value = RedisModule_StringDMA(mark, &len, REDISMODULE_READ);
        RedisModuleString *copy = RedisModule_CreateString(ctx, value, len);
        int parsed = RedisModule_StringToLongLong(copy, &stored);
        RedisModule_FreeString(ctx, copy);
        if (parsed != REDISMODULE_OK) {
            RedisModule_CloseKey(mark);
            RedisModule_ReplyWithError(ctx, "ERR paystream.commit: an event-time mark is not "
                                            "an integer");
            return FAILED;
        }
    } else if (mark_type != REDISMODULE_KEYTYPE_EMPTY) {
        RedisModule_CloseKey(mark);
        return wrong_type(ctx);
    }
    RedisModule_CloseKey(mark);
    if (stored > high) high = stored;
    CALL_FREE("SET", "!sl", mark_key, high);
    long long bound = high - window;
    Names maybe_held = {0}, unread = {0};
    Status status = OK;

    /* The sorted-set index of before 2026-12-06 drains as it did until it is gone. */
    long long old = 0;
    RedisModuleKey *legacy = RedisModule_OpenKey(ctx, legacy_key, REDISMODULE_READ);
    int legacy_type = RedisModule_KeyType(legacy);
    RedisModule_CloseKey(legacy);
    if (legacy_type != REDISMODULE_KEYTYPE_EMPTY) {
        RedisModuleString *upper = RedisModule_CreateStringPrintf(ctx, "(%lld", bound);
        RedisModuleCallReply *r = checked(ctx, RedisModule_Call(
            ctx, "ZRANGEBYSCORE", "ssssll", legacy_key, S_NEG_INF, upper, S_LIMIT, 0LL, cap));
        RedisModule_FreeString(ctx, upper);
        if (r == NULL) return FAILED;
        old = (long long)RedisModule_CallReplyLength(r);
        for (long long i = 0; i < old; i++) {
            size_t len;
            const char *id = RedisModule_CallReplyStringPtr(
                RedisModule_CallReplyArrayElement(r, i), &len);
            names_push(&maybe_held, record_key(ctx, prefix, id, len));
        }
        RedisModule_FreeCallReply(r);
        status = drop(ctx, &maybe_held, &unread);
        names_free(ctx, &maybe_held);
        if (status != OK) return status;
        if (old > 0) CALL_FREE("ZREMRANGEBYRANK", "!sll", legacy_key, 0LL, old - 1);
    }

    /* The list's head goes while it is a window behind the mark. */
    long long want = cap - old, due = 0;
    int more = 1;
    while (more && due < want) {
        long long n = step < want - due ? step : want - due;
        RedisModuleCallReply *items = checked(
            ctx, RedisModule_Call(ctx, "LRANGE", "sll", index_key, due, due + n - 1));
        if (items == NULL) {
            names_free(ctx, &maybe_held);
            names_free(ctx, &unread);
            return FAILED;
        }
        size_t count = RedisModule_CallReplyLength(items);
        more = (long long)count == n;
        for (size_t i = 0; i < count; i++) {
            size_t len;
            long long event_time;
            const char *item = RedisModule_CallReplyStringPtr(
                RedisModule_CallReplyArrayElement(items, i), &len);
            if (item == NULL || parse_event_time(ctx, item, len, &event_time) != OK) {
                if (item == NULL) arg_error(ctx);
                RedisModule_FreeCallReply(items);
                names_free(ctx, &maybe_held);
                names_free(ctx, &unread);
                return FAILED;
            }
            if (event_time >= bound) { more = 0; break; }
            names_push(item[15] == '-' ? &unread : &maybe_held,
                       record_key(ctx, prefix, item + 16, len - 16));
            due++;
        }
        RedisModule_FreeCallReply(items);
        step *= 2;
    }
    status = drop(ctx, &maybe_held, &unread);
    names_free(ctx, &maybe_held);
    names_free(ctx, &unread);
    if (status != OK) return status;
    if (due > 0) CALL_FREE("LTRIM", "!sll", index_key, due, -1LL);
    return OK;
}

static Status marks(RedisModuleCtx *ctx, const Args *a, long long *ai, long long *ki) {
    long long p, window;
    if (arg_ll(ctx, a, *ai, &p) != OK || arg_ll(ctx, a, *ai + 1, &window) != OK) return FAILED;
    NEED_ARG(*ai + 2);
    RedisModuleString *prefix = a->args[*ai + 2];
    *ai += 3;
    NEED_KEYS(*ki, 3 * p);
    NEED_ARGS(*ai, 3 * p);
    for (long long i = 0; i < p; i++, *ai += 3)
        if (prune_partition(ctx, a, *ai, *ki + 3 * i, window, prefix) != OK) return FAILED;
    *ki += 3 * p;
    return OK;
}

static Status holds(RedisModuleCtx *ctx, const Args *a, long long *ai, long long *ki) {
    long long h;
    if (arg_ll(ctx, a, *ai, &h) != OK) return FAILED;
    *ai += 1;
    NEED_KEYS(*ki, h);
    NEED_ARGS(*ai, 2 * h);
    for (long long i = 0; i < h; i++, *ai += 2) {
        if (eq(a->args[*ai + 1], "", 0))
            CALL_FREE("ZREM", "!ss", a->keys[*ki + i], a->args[*ai]);
        else
            CALL_FREE("ZADD", "!sss", a->keys[*ki + i], a->args[*ai + 1], a->args[*ai]);
    }
    *ki += h;
    return OK;
}

/* Fan-in sets and payments per day (commit.lua's fan-in section). */
static Status fan_in(RedisModuleCtx *ctx, const Args *a, long long *ai, long long *ki) {
    long long f, cap, days_kept;
    if (arg_ll(ctx, a, *ai, &f) != OK || arg_ll(ctx, a, *ai + 2, &cap) != OK
        || arg_ll(ctx, a, *ai + 3, &days_kept) != OK) return FAILED;
    RedisModuleString *fan_window = a->args[*ai + 1];
    *ai += 4;
    NEED_KEYS(*ki, 2 * f);
    for (long long i = 0; i < f; i++) {
        RedisModuleString *key = a->keys[*ki + 2 * i], *days_key = a->keys[*ki + 2 * i + 1];
        long long n, added = 0, days;
        if (arg_ll(ctx, a, *ai, &n) != OK) return FAILED;
        *ai += 1;
        NEED_ARGS(*ai, 2 * n);
        for (long long first = 0; first < n; first += CHUNK_ZADD) {
            long long count = n - first < CHUNK_ZADD ? n - first : CHUNK_ZADD;
            RedisModuleCallReply *r;
            CALL(r, "ZADD", "!ssv", key, S_GT, &a->args[*ai + 2 * first], (size_t)(2 * count));
            added += RedisModule_CallReplyInteger(r);
            RedisModule_FreeCallReply(r);
        }
        *ai += 2 * n;
        if (added > 0) CALL_FREE("ZREMRANGEBYRANK", "!sll", key, 0LL, -(cap + 1));
        CALL_FREE("PEXPIRE", "!ss", key, fan_window);
        if (arg_ll(ctx, a, *ai, &days) != OK) return FAILED;
        *ai += 1;
        NEED_ARGS(*ai, 2 * days);
        int opened = 0;
        for (long long d = 0; d < days; d++, *ai += 2) {
            long long day, count;
            if (arg_ll(ctx, a, *ai, &day) != OK || arg_ll(ctx, a, *ai + 1, &count) != OK)
                return FAILED;
            RedisModuleCallReply *r;
            CALL(r, "HINCRBY", "!sss", days_key, a->args[*ai], a->args[*ai + 1]);
            long long total = RedisModule_CallReplyInteger(r);
            RedisModule_FreeCallReply(r);
            if (total == count) {
                CALL_FREE("HDEL", "!sl", days_key, day - days_kept);
                opened = 1;
            }
        }
        if (opened) CALL_FREE("PEXPIRE", "!sl", days_key, days_kept * DAY_MS);
    }
    *ki += 2 * f;
    return OK;
}

static Status outboxes(RedisModuleCtx *ctx, const Args *a, long long *ai, long long *ki) {
    long long o, d;
    if (arg_ll(ctx, a, *ai, &o) != OK) return FAILED;
    *ai += 1;
    NEED_KEYS(*ki, o);
    NEED_ARGS(*ai, 2 * o);
    for (long long i = 0; i < o; i++, *ai += 2)
        CALL_FREE("HSET", "!sss", a->keys[*ki + i], a->args[*ai], a->args[*ai + 1]);
    *ki += o;
    /* Earlier batches' entries whose outputs Kafka has acknowledged since. */
    if (arg_ll(ctx, a, *ai, &d) != OK) return FAILED;
    *ai += 1;
    NEED_KEYS(*ki, d);
    NEED_ARGS(*ai, d);
    for (long long i = 0; i < d; i++, *ai += 1)
        CALL_FREE("HDEL", "!ss", a->keys[*ki + i], a->args[*ai]);
    *ki += d;
    return OK;
}

/* A command's KEYS and ARGV from "<command> numkeys key... arg...", as EVALSHA takes them;
 * FAILED (the error sent) if numkeys is not a count of keys there. */
static Status split_args(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, Args *out) {
    long long numkeys;
    if (argc < 2) {
        RedisModule_WrongArity(ctx);
        return FAILED;
    }
    if (RedisModule_StringToLongLong(argv[1], &numkeys) != REDISMODULE_OK || numkeys < 0
        || numkeys > argc - 2) {
        RedisModule_ReplyWithError(ctx, "ERR paystream: numkeys is not a count of the keys "
                                        "that follow");
        return FAILED;
    }
    *out = (Args){argv + 2, argv + 2 + numkeys, numkeys, argc - 2 - numkeys};
    return OK;
}

static int commit_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    Args a;
    if (split_args(ctx, argv, argc, &a) != OK) return REDISMODULE_OK;
    long long ai = 0, ki = 0, n;
    int conflict = 0;
    /* Nothing is written unless every check passes: a conflict's reply is sent, and OK. */
    if (arg_ll(ctx, &a, 0, &n) != OK || check_accounts(ctx, &a, n, &conflict) != OK || conflict
        || created_records(ctx, &a, 1, 0, n, &conflict) != OK || conflict)
        return REDISMODULE_OK;
    if (write_accounts(ctx, &a, &ai, &ki) != OK || records(ctx, &a, &ai, &ki) != OK
        || indexes(ctx, &a, &ai, &ki) != OK || marks(ctx, &a, &ai, &ki) != OK
        || holds(ctx, &a, &ai, &ki) != OK || fan_in(ctx, &a, &ai, &ki) != OK
        || outboxes(ctx, &a, &ai, &ki) != OK)
        return REDISMODULE_OK;
    return RedisModule_ReplyWithStringBuffer(ctx, "ok", 2);
}

/* PAYSTREAM.FANIN: agents/fanin.lua, the fan-in counts of a batch's payments, compiled.
 *     PAYSTREAM.FANIN numkeys fan-in-key [...] (per key: #payments, their "(<since_ms>"...,
 *     their payers...)
 * Per destination: per payment the payers counted since its since_ms (the set's size less
 * those before it), then its payers' times (ZMSCORE's) or, where every count is 0, an empty
 * array. The script's comments say why it is shaped so; here the set is read directly, with no
 * command per payment. */
static int fan_in_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    Args args;
    if (split_args(ctx, argv, argc, &args) != OK) return REDISMODULE_OK;
    const Args *a = &args;
    long long numkeys = a->nkeys;
    /* Every section checked before the reply starts: an error must be the whole reply. */
    for (long long i = 0, ai = 0; i < numkeys; i++) {
        long long n;
        if (arg_ll(ctx, a, ai, &n) != OK) return REDISMODULE_OK;
        if (n < 0 || ai + 1 + 2 * n > a->nargs) {
            arg_error(ctx);
            return REDISMODULE_OK;
        }
        for (long long j = 0; j < n; j++) {
            size_t len;
            const char *since = RedisModule_StringPtrLen(a->args[ai + 1 + j], &len);
            if (len < 2 || since[0] != '(') {
                arg_error(ctx);
                return REDISMODULE_OK;
            }
        }
        ai += 1 + 2 * n;
        RedisModuleKey *key = RedisModule_OpenKey(ctx, a->keys[i], REDISMODULE_READ);
        int type = RedisModule_KeyType(key);
        RedisModule_CloseKey(key);
        if (type != REDISMODULE_KEYTYPE_EMPTY && type != REDISMODULE_KEYTYPE_ZSET) {
            wrong_type(ctx);
            return REDISMODULE_OK;
        }
    }
    long replies = 0;
    RedisModule_ReplyWithArray(ctx, REDISMODULE_POSTPONED_LEN);
    for (long long i = 0, ai = 0; i < numkeys; i++) {
        long long n, counted = 0;
        RedisModule_StringToLongLong(a->args[ai], &n);
        ai += 1;
        RedisModuleKey *key = RedisModule_OpenKey(ctx, a->keys[i], REDISMODULE_READ);
        long long held = RedisModule_KeyType(key) == REDISMODULE_KEYTYPE_ZSET
            ? (long long)RedisModule_ValueLength(key) : 0;
        for (long long j = 0; j < n; j++) {
            long long count = 0;
            if (held > 0) {
                size_t len;
                const char *since = RedisModule_StringPtrLen(a->args[ai + j], &len);
                double bound = strtod(since + 1, NULL);
                long long before = 0;
                if (RedisModule_ZsetFirstInScoreRange(key, REDISMODULE_NEGATIVE_INFINITE, bound,
                                                      0, 1) == REDISMODULE_OK) {
                    while (!RedisModule_ZsetRangeEndReached(key)) {
                        before++;
                        if (!RedisModule_ZsetRangeNext(key)) break;
                    }
                    RedisModule_ZsetRangeStop(key);
                }
                count = held - before;
            }
            RedisModule_ReplyWithLongLong(ctx, count);
            replies++;
            counted += count;
        }
        if (counted > 0) {
            RedisModule_ReplyWithArray(ctx, n);
            for (long long j = 0; j < n; j++) {
                double score;
                if (RedisModule_ZsetScore(key, a->args[ai + n + j], &score) == REDISMODULE_OK)
                    RedisModule_ReplyWithDouble(ctx, score);
                else
                    RedisModule_ReplyWithNull(ctx);
            }
        } else {
            RedisModule_ReplyWithArray(ctx, 0);
        }
        replies++;
        RedisModule_CloseKey(key);
        ai += 2 * n;
    }
    RedisModule_ReplySetArrayLength(ctx, replies);
    return REDISMODULE_OK;
}

static RedisModuleString *constant(const char *s) {
    return RedisModule_CreateString(NULL, s, strlen(s));
}

/* A command whose keys are its numkeys keys, as EVALSHA's: Redis finds them for ACLs and a
 * cluster's slot checks from this key spec (copied by Redis), not by asking the module. */
static int add_command(RedisModuleCtx *ctx, const char *name, RedisModuleCmdFunc func,
                       const char *flags, uint64_t key_flags, const char *summary) {
    if (RedisModule_CreateCommand(ctx, name, func, flags, 0, 0, 0) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    RedisModuleCommand *command = RedisModule_GetCommand(ctx, name);
    RedisModuleCommandKeySpec specs[] = {
        {.notes = "numkeys, then the keys",
         .flags = key_flags,
         .begin_search_type = REDISMODULE_KSPEC_BS_INDEX,
         .bs.index.pos = 1,
         .find_keys_type = REDISMODULE_KSPEC_FK_KEYNUM,
         .fk.keynum = {0, 1, 1}},
        {0}};
    RedisModuleCommandInfo info = {
        .version = REDISMODULE_COMMAND_INFO_VERSION,
        .summary = summary,
        .arity = -2,
        .key_specs = specs,
    };
    return command == NULL ? REDISMODULE_ERR : RedisModule_SetCommandInfo(command, &info);
}

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    if (RedisModule_Init(ctx, "paystream", 1, REDISMODULE_APIVER_1) == REDISMODULE_ERR
        || add_command(ctx, "paystream.commit", commit_command, "write deny-oom",
                       REDISMODULE_CMD_KEY_RW | REDISMODULE_CMD_KEY_UPDATE,
                       "Apply one paystream batch atomically (agents/commit.lua, compiled)")
           == REDISMODULE_ERR
        || add_command(ctx, "paystream.fanin", fan_in_command, "readonly",
                       REDISMODULE_CMD_KEY_RO | REDISMODULE_CMD_KEY_ACCESS,
                       "A batch's fan-in counts (agents/fanin.lua, compiled)") == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    S_H = constant("h");
    S_S = constant("s");
    S_K = constant("k");
    S_ONE = constant("1");
    S_GT = constant("GT");
    S_NEG_INF = constant("-inf");
    S_LIMIT = constant("LIMIT");
    return REDISMODULE_OK;
}
