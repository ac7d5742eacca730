/* store_pg.h — what store_pg.c and store_pg_sql.c share: the PostgreSQL
 * store's statements, by number. Internal to the PostgreSQL backend. */
#ifndef LT_STORE_PG_H
#define LT_STORE_PG_H

enum {
	Q_MSG_GET, Q_MSG_PUT, Q_MSG_BY_DIGEST, Q_LOCK, Q_DOSSIER_SEQ, Q_EVENT_PUT, Q_CHAIN_BUSY, Q_DELIVERY_PUT,
	Q_READY, Q_MARK_INFLIGHT, Q_NEXT_DUE, Q_ATTEMPT_PUT, Q_DONE, Q_RETRY, Q_PROMOTE, Q_STATS, Q_COUNTS,
	Q_REFUSAL, Q_CURSOR_GET, Q_CURSOR_PUT, Q_DOSSIER_GET, Q_DOSSIER_PUT, Q_OVERDUE, Q_UNCLAIM, Q_UNCLAIM_DEST,
	Q_DLQ_FIND, Q_DLQ_REPLAY, Q_DLQ_PURGE_ATTEMPTS, Q_DLQ_PURGE, Q_RECOVER, Q_RENEW, Q_BACKLOG, Q_PING,
	Q_COUNT
};

/* The tables and indexes, created on a node's first open (one transaction,
 * under an advisory lock, so that nodes starting together do not collide). */
extern const char *const lt_pg_schema_sql;
/* Each statement's text, prepared once per connection under the name "ltN". */
extern const char *const lt_pg_sql[Q_COUNT];

#endif
