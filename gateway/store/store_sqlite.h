/* store_sqlite.h — the SQLite store's tables and statements (store_sqlite_sql.c),
 * shared by its ops in store_sqlite.c. */
#ifndef LT_STORE_SQLITE_H
#define LT_STORE_SQLITE_H

enum {
	Q_MSG_GET, Q_MSG_PUT, Q_MSG_BY_SIGNED_DIGEST, Q_MSG_BY_SIGNED_ID, Q_DOSSIER_SEQ, Q_EVENT_PUT, Q_CHAIN_BUSY, Q_DELIVERY_PUT,
	Q_READY, Q_MARK_INFLIGHT, Q_NEXT_DUE, Q_ATTEMPT_PUT, Q_DONE, Q_RETRY, Q_PROMOTE,
	Q_STATS, Q_COUNTS, Q_REFUSAL, Q_CURSOR_GET, Q_CURSOR_PUT, Q_DOSSIER_GET, Q_DOSSIER_PUT, Q_DOSSIER_EVENTS, Q_OVERDUE, Q_UNCLAIM, Q_UNCLAIM_DEST, Q_DLQ_FIND, Q_DLQ_REPLAY, Q_DLQ_PURGE_ATTEMPTS, Q_DLQ_PURGE, Q_AUDIT_LAST, Q_AUDIT_PUT, Q_DELIVERY_EVENT, Q_SAVEPOINT, Q_RELEASE, Q_ROLLBACK_TO, Q_BEGIN, Q_COMMIT, Q_ROLLBACK,
	Q_COUNT
};

/* Every table and index, CREATE ... IF NOT EXISTS. */
extern const char lt_sq_schema[];
/* Then each column added since that a table lacks (ends with a NULL table),
 * and the indexes on those columns. */
struct lt_sq_column {
	const char *table, *column, *add;
};
extern const struct lt_sq_column lt_sq_added[];
extern const char lt_sq_indexes[];
/* The statements, prepared once per connection, by Q_* number. */
extern const char *const lt_sq_sql[Q_COUNT];

struct lt_buf;
/* The database file at path and its -wal, -shm and -journal must be open to
 * no other user: each that is gets a line in notes and, with fix, loses its
 * group and other bits. A store directory others may read or change gets a
 * line too (never changed: it may be shared). Files that do not exist are
 * fine. */
void lt_sq_private_files(const char *path, int fix, struct lt_buf *notes);

#endif
