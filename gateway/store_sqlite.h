/* store_sqlite.h — the SQLite store's tables and statements (store_sqlite_sql.c),
 * shared by its ops in store_sqlite.c. */
#ifndef LT_STORE_SQLITE_H
#define LT_STORE_SQLITE_H

enum {
	Q_MSG_GET, Q_MSG_PUT, Q_MSG_BY_DIGEST, Q_DOSSIER_SEQ, Q_EVENT_PUT, Q_CHAIN_BUSY, Q_DELIVERY_PUT,
	Q_READY, Q_MARK_INFLIGHT, Q_NEXT_DUE, Q_ATTEMPT_PUT, Q_DONE, Q_RETRY, Q_PROMOTE,
	Q_STATS, Q_COUNTS, Q_REFUSAL, Q_CURSOR_GET, Q_CURSOR_PUT, Q_DOSSIER_GET, Q_DOSSIER_PUT, Q_OVERDUE, Q_UNCLAIM, Q_UNCLAIM_DEST, Q_DLQ_FIND, Q_DLQ_REPLAY, Q_DLQ_PURGE_ATTEMPTS, Q_DLQ_PURGE, Q_AUDIT_LAST, Q_AUDIT_PUT, Q_DELIVERY_EVENT, Q_SAVEPOINT, Q_RELEASE, Q_ROLLBACK_TO, Q_BEGIN, Q_COMMIT, Q_ROLLBACK,
	Q_COUNT
};

/* Every table and index, CREATE ... IF NOT EXISTS. */
extern const char lt_sq_schema[];
/* Adds audit.trust to a store created without it. */
extern const char lt_sq_audit_trust[];
/* The statements, prepared once per connection, by Q_* number. */
extern const char *const lt_sq_sql[Q_COUNT];

#endif
