/* store_sqlite.h — what the SQLite store's files share (none else includes it):
 * its tables and statements (store_sqlite_sql.c), its connection
 * (store_sqlite_conn.c) and the ops on it (store_sqlite.c). */
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

/* ---- shared by store_sqlite.c (the ops) and store_sqlite_conn.c (the connection) ---- */
#include <sqlite3.h>
#include "store_int.h"

struct sq {
	const struct lt_calendar *cal;
	char *path;
	sqlite3 *db;            /* NULL while detached after a failure */
	int lock_fd;            /* PATH.lock, write-locked while attached; -1 when not */
	sqlite3_stmt *st[Q_COUNT];
	struct lt_err *err;     /* where the current op's error goes */
	char audit_last[65];    /* the audit trail's last hash, "" = read it again (after a rollback) */
	sqlite3_file *wal;      /* the write-ahead log, for lt_sq_sync; NULL until the first commit */
	int wal_frames;         /* frames in it since the last checkpoint (SQLite's wal hook) */
};

static inline int sq_fail(struct sq *q, struct lt_err *err, const char *what)
{
	return lt_err_set(err, LT_EIO, "store: %s: %s", what, sqlite3_errmsg(q->db));
}

/* Reset and return a cached statement. */
static inline sqlite3_stmt *stmt(struct sq *q, int id)
{
	sqlite3_stmt *s = q->st[id];
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return s;
}

static inline int exec1(struct sq *q, int id)
{
	sqlite3_stmt *s = stmt(q, id);
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : rc;
}

int lt_sq_open(const char *dsn, const struct lt_calendar *cal, const struct lt_store_node *node, void **out,
	       struct lt_err *err);
void lt_sq_close(void *db);
void lt_sq_detach(void *db);
int lt_sq_recover(void *db, int64_t *backlog, struct lt_err *err);
int lt_sq_count_backlog(void *db, int64_t *backlog, struct lt_err *err);
int lt_sq_begin(void *db, struct lt_err *err);
/* The connection runs with synchronous=OFF: a commit only writes the log.
 * lt_sq_commit_lazy ends the transaction so; lt_sq_sync (on store.c's sync
 * thread, while the next batch runs) fsyncs the log, making every commit
 * ended before it durable; lt_sq_commit is both. The checkpoints are this
 * connection's own (SQLite's automatic ones would copy pages of commits not
 * yet durable into the database file): lt_sq_checkpoint, between batches
 * (run = 0: only whether one is due),
 * with synchronous=FULL for its duration, so that it syncs the log before
 * it copies and the database after. */
int lt_sq_commit(void *db, struct lt_err *err);
int lt_sq_commit_lazy(void *db, struct lt_err *err);
int lt_sq_sync(void *db, struct lt_err *err);
int lt_sq_checkpoint(void *db, int run, struct lt_err *err);
void lt_sq_rollback(void *db);
int lt_sq_savepoint(void *db);
void lt_sq_release(void *db, int ok);
/* The retention's prepared statements of connection db are finalized (store_sqlite.c). */
void lt_sq_prune_forget(sqlite3 *db);

#endif
