/* store_sqlite.c — the embedded default store: one SQLite file in WAL mode
 * with synchronous=FULL, used only by the store thread. */
#include "store_int.h"
#include "sla.h"
#include "log.h"
#include "store_sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct sq {
	const struct lt_calendar *cal;
	char *path;
	sqlite3 *db;            /* NULL while detached after a failure */
	int lock_fd;            /* PATH.lock, write-locked while attached; -1 when not */
	sqlite3_stmt *st[Q_COUNT];
	struct lt_err *err;     /* where the current op's error goes */
	char audit_last[65];    /* the audit trail's last hash, "" = read it again (after a rollback) */
};

static void sq_prune_forget(sqlite3 *db);

static int sq_fail(struct sq *q, struct lt_err *err, const char *what)
{
	return lt_err_set(err, LT_EIO, "store: %s: %s", what, sqlite3_errmsg(q->db));
}

/* Reset and return a cached statement. */
static sqlite3_stmt *stmt(struct sq *q, int id)
{
	sqlite3_stmt *s = q->st[id];
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return s;
}

static int exec1(struct sq *q, int id)
{
	sqlite3_stmt *s = stmt(q, id);
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : rc;
}

/* Let go of the database file: statements and connection closed, so that
 * an operator can unmount, repair or move the disk. The next begin opens it
 * again. */
static void sq_detach(void *db)
{
	struct sq *q = db;
	for (int i = 0; i < Q_COUNT; i++) {
		sqlite3_finalize(q->st[i]);
		q->st[i] = NULL;
	}
	sq_prune_forget(q->db);
	sqlite3_close(q->db);
	q->db = NULL;
	q->audit_last[0] = '\0';
	if (q->lock_fd >= 0)
		close(q->lock_fd);      /* releases the lock: the disk can be unmounted */
	q->lock_fd = -1;
}

/* One gateway per SQLite file: two would send the same queue. A POSIX lock
 * on PATH.lock (holding the owner's pid, for people) is taken before the
 * database is opened and held while it is; the kernel drops it when the
 * process dies, so a kill -9 leaves nothing to clean up. */
static int lock_store(struct sq *q, int create, struct lt_err *err)
{
	char path[4096];
	snprintf(path, sizeof path, "%s.lock", q->path);
	int fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
	if (fd < 0 && errno == EROFS)
		return lt_err_set(err, LT_EIO, "store %s: the database file or its disk is read-only (its lock file "
				  "%s cannot be written)", q->path, path);
	if (fd < 0)
		return lt_err_set(err, LT_EIO, "store %s: cannot open its lock file %s: %s", q->path, path,
				  strerror(errno));
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	if (fcntl(fd, F_SETLK, &fl) != 0) {
		int e = errno;
		struct flock who = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		int pid = fcntl(fd, F_GETLK, &who) == 0 && who.l_type != F_UNLCK ? (int)who.l_pid : 0;
		close(fd);
		if (e == EACCES || e == EAGAIN)
			return lt_err_set(err, LT_EBUSY, "store %s is in use by another lienthong process (pid %d): one "
					  "gateway per SQLite store (several nodes need the PostgreSQL store)", q->path, pid);
		return lt_err_set(err, LT_EIO, "store %s: cannot lock %s: %s", q->path, path, strerror(e));
	}
	char pid[32];
	int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
		/* the pid is for people; the lock is what counts */
	}
	q->lock_fd = fd;
	return LT_OK;
}

static void sq_close(void *db)
{
	struct sq *q = db;
	if (!q)
		return;
	sq_detach(q);
	free(q->path);
	free(q);
}

/* Add the columns a store made by an earlier version lacks, then their indexes. */
static int sq_upgrade(struct sq *q, struct lt_err *err)
{
	sqlite3_stmt *has = NULL;
	char *msg = NULL;
	int rc = sqlite3_prepare_v2(q->db, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", -1, &has, NULL);
	for (const struct lt_sq_column *c = lt_sq_added; rc == SQLITE_OK && c->table; c++) {
		sqlite3_bind_text(has, 1, c->table, -1, SQLITE_STATIC);
		sqlite3_bind_text(has, 2, c->column, -1, SQLITE_STATIC);
		int found = sqlite3_step(has);
		sqlite3_reset(has);
		if (found == SQLITE_DONE)
			rc = sqlite3_exec(q->db, c->add, NULL, NULL, &msg);
		else if (found != SQLITE_ROW)
			rc = found;
	}
	sqlite3_finalize(has);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(q->db, lt_sq_indexes, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		lt_err_set(err, LT_EIO, "store %s: adding the columns of this version: %s", q->path,
			   msg ? msg : sqlite3_errmsg(q->db));
		sqlite3_free(msg);
		sq_detach(q);
		return LT_EIO;
	}
	return LT_OK;
}

/* Make the next reads of the database and its WAL come from the disk. After a
 * failed fsync Linux keeps the writes it could not make durable in the page
 * cache, marked clean: a reopen would read them back, WAL recovery would take
 * the commit that failed (answered 503) for a durable one, later commits would
 * be appended after it and acknowledged, and a power cut would lose them all,
 * since recovery stops at the frames that never reached the disk. Clean pages
 * leave the cache on POSIX_FADV_DONTNEED. */
static void drop_cached_pages(const char *path)
{
	static const char *const suffixes[] = { "", "-wal" };
	char name[4096];
	for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
		snprintf(name, sizeof name, "%s%s", path, suffixes[i]);
		int fd = open(name, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
}

/* Open the file and prepare every statement. The first open may create the
 * database; a reopen after a failure may not, so that a disk that is not
 * mounted yet is not mistaken for an empty store. */
static int sq_connect(struct sq *q, int create, struct lt_err *err)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
	int rc = lock_store(q, create, err);
	if (rc)
		return rc;
	drop_cached_pages(q->path);     /* what a failed fsync left in the cache is not the disk */
	if (sqlite3_open_v2(q->path, &q->db, flags, NULL)) {
		lt_err_set(err, LT_EIO, "store %s: cannot open: %s", q->path, sqlite3_errmsg(q->db));
		sq_detach(q);
		return LT_EIO;
	}
	sqlite3_busy_timeout(q->db, 5000);
	if (sqlite3_db_readonly(q->db, "main") == 1) {
		/* SQLite opens a file it cannot write read-only, silently */
		lt_err_set(err, LT_EIO, "store %s: the database file or its disk is read-only", q->path);
		sq_detach(q);
		return LT_EIO;
	}
	char *msg = NULL;
	if (sqlite3_exec(q->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY;",
			 NULL, NULL, &msg) ||
	    sqlite3_exec(q->db, lt_sq_schema, NULL, NULL, &msg)) {
		lt_err_set(err, LT_EIO, "store %s: %s", q->path, msg ? msg : sqlite3_errmsg(q->db));
		sqlite3_free(msg);
		sq_detach(q);
		return LT_EIO;
	}
	if (sq_upgrade(q, err))
		return LT_EIO;
	for (int i = 0; i < Q_COUNT; i++)
		if (sqlite3_prepare_v3(q->db, lt_sq_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &q->st[i], NULL)) {
			lt_err_set(err, LT_EIO, "store: preparing statement %d: %s", i, sqlite3_errmsg(q->db));
			sq_detach(q);
			return LT_EIO;
		}
	return LT_OK;
}

void lt_sq_private_files(const char *path, int fix, struct lt_buf *notes)
{
	static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
	char f[4096];
	struct stat st;
	for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
		snprintf(f, sizeof f, "%s%s", path, suffixes[i]);
		if (stat(f, &st) || !S_ISREG(st.st_mode) || !(st.st_mode & 077))
			continue;
		unsigned was = st.st_mode & 07777, now = st.st_mode & 0700;
		if (!fix)
			lt_buf_printf(notes, "store %s is open to other users (mode %04o): the gateway makes it %04o "
				      "when it starts\n", f, was, now);
		else if (chmod(f, now))
			lt_buf_printf(notes, "store %s is open to other users (mode %04o) and cannot be made %04o: %s\n",
				      f, was, now, strerror(errno));
		else
			lt_buf_printf(notes, "store %s was open to other users (mode %04o): now %04o\n", f, was, now);
	}
	const char *slash = strrchr(path, '/');
	snprintf(f, sizeof f, "%.*s", slash ? (int)(slash - path) + (slash == path) : 1, slash ? path : ".");
	if (stat(f, &st) == 0 && (st.st_mode & 0006))
		lt_buf_printf(notes, "the store's directory %s lets other users list or change it (mode %04o): "
			      "make it 0700 or 0750 (the gateway does not change a directory)\n", f,
			      (unsigned)(st.st_mode & 07777));
}

/* One node only: `node` (whose claims, for how long) means nothing here. */
static int sq_open(const char *dsn, const struct lt_calendar *cal, const struct lt_store_node *node, void **out,
		   struct lt_err *err)
{
	(void)node;
	struct sq *q = calloc(1, sizeof *q);
	q->cal = cal;
	q->path = strdup(dsn + strlen("sqlite:"));
	q->lock_fd = -1;
	*out = NULL;
	/* the store holds citizens' names and ID numbers: a new file is 0600
	 * whatever the umask, and SQLite gives its -wal, -shm and -journal the
	 * database's mode; an existing one open to others is tightened */
	int fd = open(q->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
	struct lt_buf notes = { 0 };
	lt_sq_private_files(q->path, 1, &notes);
	for (char *line = notes.data, *nl; line && (nl = strchr(line, '\n')); line = nl + 1) {
		*nl = '\0';
		lt_log(LT_WARN, "store.permissions", json_pack("{s:s}", "path", q->path), "%s", line);
	}
	lt_buf_free(&notes);
	int rc = sq_connect(q, 1, err);
	if (rc) {
		sq_close(q);
		return rc == LT_EBUSY ? rc : LT_EIO;
	}
	*out = q;
	return LT_OK;
}

/* A previous process may have died with deliveries in flight: they go back
 * to the queue, to be sent again with the same message id. */
static int count_cb(void *arg, int n, char **vals, char **cols)
{
	(void)n;
	(void)cols;
	*(int64_t *)arg = vals[0] ? strtoll(vals[0], NULL, 10) : 0;
	return 0;
}

/* Run sql (rows to cb), or say what failed in err. */
static int exec_sql(struct sq *q, const char *sql, int (*cb)(void *, int, char **, char **), void *arg,
		    const char *what, struct lt_err *err)
{
	char *msg = NULL;
	if (sqlite3_exec(q->db, sql, cb, arg, &msg) == SQLITE_OK)
		return LT_OK;
	lt_err_set(err, LT_EIO, "store: %s: %s", what, msg ? msg : sqlite3_errmsg(q->db));
	sqlite3_free(msg);
	return LT_EIO;
}

static int sq_count_backlog(void *db, int64_t *backlog, struct lt_err *err)
{
	return exec_sql(db, "SELECT COUNT(*) FROM deliveries WHERE state IN (0, 1, 4)", count_cb, backlog,
			"counting unfinished deliveries", err);
}

static int sq_recover(void *db, int64_t *backlog, struct lt_err *err)
{
	return exec_sql(db, "UPDATE deliveries SET state = 0 WHERE state = 1", NULL, NULL,
			"recovering in-flight deliveries", err) ?: sq_count_backlog(db, backlog, err);
}

static int sq_begin(void *db, struct lt_err *err)
{
	struct sq *q = db;
	if (!q->db && sq_connect(q, 0, err))
		return LT_EIO;
	return exec1(q, Q_BEGIN) ? sq_fail(q, err, "begin") : 0;
}

static int sq_commit(void *db, struct lt_err *err)
{
	struct sq *q = db;
	return exec1(q, Q_COMMIT) ? sq_fail(q, err, "commit") : 0;
}

static void sq_rollback(void *db)
{
	struct sq *q = db;
	q->audit_last[0] = '\0';
	if (q->db && !sqlite3_get_autocommit(q->db))
		exec1(q, Q_ROLLBACK);
}

static int sq_savepoint(void *db)
{
	return exec1(db, Q_SAVEPOINT);
}

static void sq_release(void *db, int ok)
{
	if (!ok) {
		exec1(db, Q_ROLLBACK_TO);
		((struct sq *)db)->audit_last[0] = '\0';
	}
	exec1(db, Q_RELEASE);
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

static char *dump(const json_t *j)
{
	return json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
}

static void copy_col(char *dst, size_t n, sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	snprintf(dst, n, "%s", t ? (const char *)t : "");
}

/* A dossier's state, and (last_seq not NULL) the dossier_seq of its last event: 0 when
 * not known (no row, or a row written before the column) — the caller reads it from events. */
static int dossier_get(struct sq *q, const char *code, struct lt_dossier *d, int64_t *last_seq, struct lt_err *err)
{
	memset(d, 0, sizeof *d);
	if (last_seq)
		*last_seq = 0;
	snprintf(d->code, sizeof d->code, "%s", code);
	sqlite3_stmt *s = stmt(q, Q_DOSSIER_GET);
	bind_text(s, 1, code);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		d->status = sqlite3_column_int(s, 1);
		copy_col(d->channel, sizeof d->channel, s, 2);
		copy_col(d->procedure, sizeof d->procedure, s, 3);
		copy_col(d->receiving_agency, sizeof d->receiving_agency, s, 4);
		copy_col(d->handling_agency, sizeof d->handling_agency, s, 5);
		d->received_at = sqlite3_column_int64(s, 6);
		d->due_at = sqlite3_column_int64(s, 7);
		d->resolved_at = sqlite3_column_int64(s, 8);
		d->returned_at = sqlite3_column_int64(s, 9);
		d->paused_at = sqlite3_column_int64(s, 10);
		d->apologies = sqlite3_column_int(s, 11);
		d->overdue_notified_for = sqlite3_column_int64(s, 12);
		copy_col(d->last_event, sizeof d->last_event, s, 13);
		d->last_at = sqlite3_column_int64(s, 14);
		if (last_seq)
			*last_seq = sqlite3_column_int64(s, 15);
	}
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? LT_OK : sq_fail(q, err, "reading dossier");
}

static int dossier_get_cb(void *db, const char *code, struct lt_dossier *d, struct lt_err *err)
{
	return dossier_get(db, code, d, NULL, err);
}

/* A dossier's events, the last 1000 as stored, appended in order to out. */
static int sq_dossier_events(void *db, const char *code, json_t *out, struct lt_err *err)
{
	struct sq *q = db;
	sqlite3_stmt *s = stmt(q, Q_DOSSIER_EVENTS);
	json_t *newest_first = json_array();
	int rc;
	bind_text(s, 1, code);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *body = (const char *)sqlite3_column_text(s, 0);
		json_t *ev = body ? json_loads(body, 0, NULL) : NULL;
		if (ev)
			json_array_append_new(newest_first, ev);
	}
	sqlite3_reset(s);
	for (size_t i = json_array_size(newest_first); i-- > 0;)
		json_array_append(out, json_array_get(newest_first, i));
	json_decref(newest_first);
	return rc == SQLITE_DONE ? LT_OK : sq_fail(q, err, "reading the dossier's events");
}

static int dossier_put(struct sq *q, const struct lt_dossier *d, int64_t last_seq, int64_t now_ms, struct lt_err *err)
{
	sqlite3_stmt *s = stmt(q, Q_DOSSIER_PUT);
	bind_text(s, 1, d->code);
	sqlite3_bind_int(s, 2, d->status);
	bind_text(s, 3, d->channel[0] ? d->channel : NULL);
	bind_text(s, 4, d->procedure[0] ? d->procedure : NULL);
	bind_text(s, 5, d->receiving_agency[0] ? d->receiving_agency : NULL);
	bind_text(s, 6, d->handling_agency[0] ? d->handling_agency : NULL);
	sqlite3_bind_int64(s, 7, d->received_at);
	sqlite3_bind_int64(s, 8, d->due_at);
	sqlite3_bind_int64(s, 9, d->resolved_at);
	sqlite3_bind_int64(s, 10, d->returned_at);
	sqlite3_bind_int64(s, 11, d->paused_at);
	sqlite3_bind_int(s, 12, d->apologies);
	sqlite3_bind_int64(s, 13, d->overdue_notified_for);
	bind_text(s, 14, d->last_event);
	sqlite3_bind_int64(s, 15, now_ms);
	sqlite3_bind_int64(s, 16, d->last_at);
	sqlite3_bind_int64(s, 17, last_seq);
	return sqlite3_step(s) == SQLITE_DONE ? LT_OK : sq_fail(q, err, "writing dossier");
}

/* Store events and one delivery per destination; a delivery waits
 * (blocked) behind an unfinished earlier one of the same dossier to the same
 * destination. Shared by inbound messages, carried events and polls. */
static int insert_events(struct sq *q, const char *source, const char *message_id, json_t *events, json_t *routes,
			 int64_t now_ms, struct lt_err *err)
{
	sqlite3_stmt *s;
	int rc;
	size_t i;
	json_t *ev;
	json_array_foreach(events, i, ev) {
		const char *dossier = json_string_value(json_object_get(ev, "dossier_code"));
		json_t *dests = json_array_get(routes, i);
		/* the dossier's row keeps its last sequence number: a MAX over events_dossier read
		 * random pages of an index that grows with history (+23 % per event at 330 000) */
		struct lt_dossier dstate;
		int64_t dseq;
		if ((rc = dossier_get(q, dossier, &dstate, &dseq, err)))
			return rc;
		if (dseq > 0) {
			dseq++;
		} else {        /* a new dossier, or a row written before last_seq */
			s = stmt(q, Q_DOSSIER_SEQ);
			bind_text(s, 1, dossier);
			if (sqlite3_step(s) != SQLITE_ROW)
				return sq_fail(q, err, "reading dossier sequence");
			dseq = sqlite3_column_int64(s, 0);
			sqlite3_reset(s);
		}

		char *body = dump(ev);
		s = stmt(q, Q_EVENT_PUT);
		bind_text(s, 1, json_string_value(json_object_get(ev, "event_id")));
		bind_text(s, 2, dossier);
		sqlite3_bind_int64(s, 3, dseq);
		bind_text(s, 4, json_string_value(json_object_get(ev, "type")));
		bind_text(s, 5, source);
		bind_text(s, 6, message_id);
		sqlite3_bind_int64(s, 7, now_ms);
		sqlite3_bind_int(s, 8, (int)json_array_size(dests));
		bind_text(s, 9, body);
		free(body);
		if ((rc = sqlite3_step(s)) != SQLITE_DONE) {
			if ((rc & 0xff) == SQLITE_CONSTRAINT)
				return lt_err_set(err, LT_ECONFLICT, "event_id %s is already stored; event ids must be unique",
						  json_string_value(json_object_get(ev, "event_id")));
			return sq_fail(q, err, "writing event");
		}
		int64_t seq = sqlite3_last_insert_rowid(q->db);
		lt_dossier_apply(q->cal, &dstate, ev);
		if ((rc = dossier_put(q, &dstate, dseq, now_ms, err)))
			return rc;

		size_t j;
		json_t *d;
		json_array_foreach(dests, j, d) {
			s = stmt(q, Q_CHAIN_BUSY);
			bind_text(s, 1, json_string_value(d));
			bind_text(s, 2, dossier);
			int busy = sqlite3_step(s) == SQLITE_ROW;
			sqlite3_reset(s);
			s = stmt(q, Q_DELIVERY_PUT);
			sqlite3_bind_int64(s, 1, seq);
			bind_text(s, 2, json_string_value(d));
			bind_text(s, 3, dossier);
			sqlite3_bind_int(s, 4, busy ? LT_DS_BLOCKED : LT_DS_PENDING);
			sqlite3_bind_int64(s, 5, now_ms);
			if (sqlite3_step(s) != SQLITE_DONE)
				return sq_fail(q, err, "writing delivery");
		}
	}
	return LT_OK;
}

/* Append one row to the audit trail, chained to the last one. */
static int audit_put(struct sq *q, struct lt_audit_row *r, struct lt_err *err)
{
	sqlite3_stmt *s;
	if (!q->audit_last[0]) {
		s = stmt(q, Q_AUDIT_LAST);
		int rc = sqlite3_step(s);
		if (rc == SQLITE_ROW)
			snprintf(q->audit_last, sizeof q->audit_last, "%s", (const char *)sqlite3_column_text(s, 0));
		else if (rc == SQLITE_DONE)
			memset(q->audit_last, '0', 64);
		else
			return sq_fail(q, err, "reading the audit trail");
		q->audit_last[64] = '\0';
		sqlite3_reset(s);
	}
	char hash[65];
	r->prev = q->audit_last;
	lt_audit_hash(r, hash);
	s = stmt(q, Q_AUDIT_PUT);
	sqlite3_bind_int64(s, 1, r->at_ms);
	bind_text(s, 2, r->direction);
	bind_text(s, 3, r->peer);
	bind_text(s, 4, r->message_id);
	bind_text(s, 5, r->body_sha256);
	bind_text(s, 6, r->sig_sha256);
	bind_text(s, 7, r->prev);
	bind_text(s, 8, hash);
	bind_text(s, 9, r->trust ? r->trust : "");
	if (sqlite3_step(s) != SQLITE_DONE)
		return sq_fail(q, err, "writing the audit trail");
	memcpy(q->audit_last, hash, sizeof hash);
	return LT_OK;
}

/* A signed document already stored under another message id is a replay:
 * the same signed content from any peer, or the same signed identity from
 * this one. */
static int sq_replay(struct sq *q, struct lt_ingest *op)
{
	struct lt_err *err = &op->op.err;
	sqlite3_stmt *s;
	int rc = LT_OK, found;
	if (op->signed_digest[0]) {
		s = stmt(q, Q_MSG_BY_SIGNED_DIGEST);
		bind_text(s, 1, op->signed_digest);
		if ((found = sqlite3_step(s)) == SQLITE_ROW)
			rc = lt_err_set(err, LT_ECONFLICT, "replay: this signed document (the same signed content, "
					"SHA-256 %.16s…) was already received as message %.128s from peer %.64s",
					op->signed_digest, (const char *)sqlite3_column_text(s, 1),
					(const char *)sqlite3_column_text(s, 0));
		else if (found != SQLITE_DONE)
			return sq_fail(q, err, "reading messages");
		sqlite3_reset(s);
	}
	if (!rc && op->signed_id[0]) {
		s = stmt(q, Q_MSG_BY_SIGNED_ID);
		bind_text(s, 1, op->peer);
		bind_text(s, 2, op->signed_id);
		if ((found = sqlite3_step(s)) == SQLITE_ROW)
			rc = lt_err_set(err, LT_ECONFLICT, "replay: the signed message (%.320s) was already received as "
					"message %.128s", op->signed_id, (const char *)sqlite3_column_text(s, 0));
		else if (found != SQLITE_DONE)
			return sq_fail(q, err, "reading messages");
		sqlite3_reset(s);
	}
	op->replay = rc != LT_OK;
	return rc;
}

/* Bind text, or NULL for "". */
static void bind_opt(sqlite3_stmt *s, int i, const char *v)
{
	if (v && *v)
		bind_text(s, i, v);
	else
		sqlite3_bind_null(s, i);
}

static int sq_ingest(void *db, struct lt_ingest *op)
{
	struct sq *q = db;
	struct lt_err *err = &op->op.err;
	sqlite3_stmt *s = stmt(q, Q_MSG_GET);
	bind_text(s, 1, op->peer);
	bind_text(s, 2, op->message_id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		/* a signed document is the same when its signed content is */
		const char *was = (const char *)sqlite3_column_text(s, 2);
		int same = op->signed_digest[0] && was ? strcmp(was, op->signed_digest) == 0
						       : strcmp((const char *)sqlite3_column_text(s, 0), op->digest) == 0;
		if (!same) {
			sqlite3_reset(s);
			return lt_err_set(err, LT_ECONFLICT,
					  "message id %s was already used by peer %s for a different body",
					  op->message_id, op->peer);
		}
		op->duplicate = 1;
		op->original = json_loads((const char *)sqlite3_column_text(s, 1), 0, NULL);
		sqlite3_reset(s);
		return LT_OK;
	}
	if (rc != SQLITE_DONE)
		return sq_fail(q, err, "reading messages");
	if ((rc = sq_replay(q, op)))
		return rc;

	char *receipt = op->receipt_text ? NULL : dump(op->receipt);
	s = stmt(q, Q_MSG_PUT);
	bind_text(s, 1, op->peer);
	bind_text(s, 2, op->message_id);
	bind_text(s, 3, op->digest);
	sqlite3_bind_int64(s, 4, op->now_ms);
	bind_text(s, 5, receipt ? receipt : op->receipt_text);
	bind_opt(s, 6, op->signed_digest);
	bind_opt(s, 7, op->signed_id);
	free(receipt);
	if (sqlite3_step(s) != SQLITE_DONE)
		return sq_fail(q, err, "writing message");
	struct lt_audit_row in = { .at_ms = op->now_ms, .direction = "in", .peer = op->peer,
				   .message_id = op->message_id, .body_sha256 = op->digest, .sig_sha256 = op->sig_sha256,
				   .trust = op->trust };
	if ((rc = audit_put(q, &in, err)))
		return rc;

	if ((rc = insert_events(q, op->peer, op->message_id, op->events, op->routes, op->now_ms, err)))
		return rc;
	if (op->cursor) {
		s = stmt(q, Q_CURSOR_PUT);
		bind_text(s, 1, op->peer);
		bind_text(s, 2, op->cursor);
		sqlite3_bind_int64(s, 3, op->now_ms);
		if (sqlite3_step(s) != SQLITE_DONE)
			return sq_fail(q, err, "writing cursor");
	}
	return LT_OK;
}


static int sq_claim(void *db, struct lt_claim *op)
{
	struct sq *q = db;
	struct lt_err *err = &op->op.err;
	op->rows = calloc((size_t)op->max, sizeof *op->rows);
	op->n = 0;
	sqlite3_stmt *s = stmt(q, Q_READY);
	bind_text(s, 1, op->dest);
	sqlite3_bind_int64(s, 2, op->now_ms);
	sqlite3_bind_int(s, 3, op->max);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct lt_claimed *c = &op->rows[op->n++];
		c->id = sqlite3_column_int64(s, 0);
		copy_col(c->event_id, sizeof c->event_id, s, 1);
		copy_col(c->dossier_code, sizeof c->dossier_code, s, 2);
		copy_col(c->type, sizeof c->type, s, 3);
		c->attempts = sqlite3_column_int(s, 4);
		c->created_at = sqlite3_column_int64(s, 5);
		c->body = strdup((const char *)sqlite3_column_text(s, 6));
		c->flags = sqlite3_column_int(s, 7);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		lt_claim_release(op);
		return sq_fail(q, err, "reading ready deliveries");
	}
	for (int i = 0; i < op->n; i++) {
		s = stmt(q, Q_MARK_INFLIGHT);
		sqlite3_bind_int64(s, 1, op->rows[i].id);
		sqlite3_bind_int64(s, 2, op->now_ms);
		if (sqlite3_step(s) != SQLITE_DONE) {
			lt_claim_release(op);
			return sq_fail(q, err, "claiming delivery");
		}
	}
	s = stmt(q, Q_NEXT_DUE);
	bind_text(s, 1, op->dest);
	op->next_due_ms = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return LT_OK;
}

static int sq_finish(void *db, struct lt_finish *op)
{
	struct sq *q = db;
	struct lt_err *err = &op->op.err;
	sqlite3_stmt *s = stmt(q, Q_ATTEMPT_PUT);
	sqlite3_bind_int64(s, 1, op->delivery_id);
	sqlite3_bind_int(s, 2, op->attempt);
	sqlite3_bind_int64(s, 3, op->at_ms);
	sqlite3_bind_int64(s, 4, op->duration_ms);
	if (op->status)
		sqlite3_bind_int64(s, 5, op->status);
	bind_text(s, 6, op->error[0] ? op->error : NULL);
	bind_text(s, 7, lt_finish_outcome(op));
	if (sqlite3_step(s) != SQLITE_DONE)
		return sq_fail(q, err, "writing attempt");

	int again = op->next == LT_DS_PENDING;
	if (again) {
		s = stmt(q, Q_RETRY);
		sqlite3_bind_int64(s, 4, op->next_at_ms);
		sqlite3_bind_int(s, 8, op->flags);
	} else {
		s = stmt(q, Q_DONE);
		sqlite3_bind_int(s, 2, op->next);
	}
	sqlite3_bind_int64(s, 1, op->delivery_id);
	sqlite3_bind_int(s, again ? 2 : 3, op->attempt);
	sqlite3_bind_int64(s, again ? 3 : 4, op->at_ms + op->duration_ms);
	if (op->status)
		sqlite3_bind_int64(s, 5, op->status);
	bind_text(s, 6, op->error[0] ? op->error : NULL);
	bind_text(s, 7, op->response);
	if (sqlite3_step(s) != SQLITE_DONE)
		return sq_fail(q, err, "updating delivery");
	if (sqlite3_changes(q->db) == 0) {
		/* written again after a commit whose result was unknown, and that
		 * commit had reached the disk: its carried events and the chain's
		 * next delivery are there already */
		op->recorded_before = 1;
		return LT_OK;
	}
	if (op->sent_sha256[0]) {
		char mid[40];
		sqlite3_stmt *e = stmt(q, Q_DELIVERY_EVENT);
		sqlite3_bind_int64(e, 1, op->delivery_id);
		snprintf(mid, sizeof mid, "%s", sqlite3_step(e) == SQLITE_ROW ? (const char *)sqlite3_column_text(e, 0) : "");
		sqlite3_reset(e);
		struct lt_audit_row out = { .at_ms = op->at_ms, .direction = "out", .peer = op->dest, .message_id = mid,
					    .body_sha256 = op->sent_sha256, .sig_sha256 = op->sent_sig_sha256 };
		int rc = audit_put(q, &out, err);
		if (rc)
			return rc;
	}

	if (op->carried && json_array_size(op->carried)) {
		char mid[160];
		snprintf(mid, sizeof mid, "answer:%lld:%d", (long long)op->delivery_id, op->attempt);
		/* the answer they came in, and what vouched for it */
		struct lt_audit_row ans = { .at_ms = op->at_ms, .direction = "answer", .peer = op->dest, .message_id = mid,
					    .body_sha256 = op->answer_sha256, .sig_sha256 = op->answer_sig_sha256,
					    .trust = op->trust };
		int rc = audit_put(q, &ans, err);
		if (!rc)
			rc = insert_events(q, op->dest, mid, op->carried, op->carried_routes, op->at_ms, err);
		if (rc)
			return rc;
	}
	if (!again) {
		s = stmt(q, Q_PROMOTE);
		bind_text(s, 1, op->dest);
		bind_text(s, 2, op->dossier_code);
		sqlite3_bind_int64(s, 3, op->at_ms);
		if (sqlite3_step(s) != SQLITE_DONE)
			return sq_fail(q, err, "releasing the next delivery of the dossier");
	}
	return LT_OK;
}

static int sq_stats(void *db, struct lt_stats *op)
{
	struct sq *q = db;
	sqlite3_stmt *s = stmt(q, Q_STATS);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		lt_stats_add(op, (const char *)sqlite3_column_text(s, 0), sqlite3_column_int(s, 1),
			     sqlite3_column_int64(s, 2), sqlite3_column_int64(s, 3));
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return sq_fail(q, &op->op.err, "reading queue figures");
	s = stmt(q, Q_COUNTS);
	if (sqlite3_step(s) == SQLITE_ROW) {
		op->events = sqlite3_column_int64(s, 0);
		op->messages = sqlite3_column_int64(s, 1);
	}
	sqlite3_reset(s);
	return LT_OK;
}

static int sq_refusal(void *db, struct lt_refusal *op)
{
	struct sq *q = db;
	sqlite3_stmt *s = stmt(q, Q_REFUSAL);
	sqlite3_bind_int64(s, 1, op->at_ms);
	bind_text(s, 2, op->peer);
	bind_text(s, 3, op->message_id[0] ? op->message_id : NULL);
	sqlite3_bind_int(s, 4, op->status);
	bind_text(s, 5, op->reason);
	bind_text(s, 6, op->digest);
	return sqlite3_step(s) == SQLITE_DONE ? LT_OK : sq_fail(q, &op->op.err, "writing refusal");
}

static int sq_cursor(void *db, struct lt_cursor *op)
{
	struct sq *q = db;
	sqlite3_stmt *s = stmt(q, Q_CURSOR_GET);
	bind_text(s, 1, op->peer);
	int rc = sqlite3_step(s);
	const unsigned char *t = rc == SQLITE_ROW ? sqlite3_column_text(s, 0) : NULL;
	snprintf(op->cursor, sizeof op->cursor, "%s", t ? (const char *)t : "");
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? LT_OK : sq_fail(q, &op->op.err, "reading cursor");
}

/* The watchdog: a dossier.overdue event for each dossier past its due date
 * that has none for that date yet, stored and routed like any event. */
static int sq_overdue(void *db, struct lt_overdue *op)
{
	struct sq *q = db;
	struct lt_err *err = &op->op.err;
	int64_t now = op->now_ms / 1000;
	json_t *codes = json_array();
	sqlite3_stmt *s = stmt(q, Q_OVERDUE);
	sqlite3_bind_int64(s, 1, now);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		json_array_append_new(codes, json_string((const char *)sqlite3_column_text(s, 0)));
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		json_decref(codes);
		return sq_fail(q, err, "looking for overdue dossiers");
	}
	rc = lt_store_overdue_build(op, codes, dossier_get_cb, q, err);
	json_decref(codes);
	if (rc)
		return rc;
	char mid[64];
	snprintf(mid, sizeof mid, "sla:%lld", (long long)op->now_ms);
	return insert_events(q, op->source, mid, op->events, op->routes, op->now_ms, err);
}

static int sq_unclaim(void *db, struct lt_release *op)
{
	struct sq *q = db;
	if (op->dest) {
		sqlite3_stmt *s = stmt(q, Q_UNCLAIM_DEST);
		bind_text(s, 1, op->dest);
		if (sqlite3_step(s) != SQLITE_DONE)
			return sq_fail(q, &op->op.err, "returning deliveries to the queue");
		op->n = sqlite3_changes(q->db);
		return LT_OK;
	}
	for (int i = 0; i < op->n; i++) {
		sqlite3_stmt *s = stmt(q, Q_UNCLAIM);
		sqlite3_bind_int64(s, 1, op->ids[i]);
		if (sqlite3_step(s) != SQLITE_DONE)
			return sq_fail(q, &op->op.err, "returning deliveries to the queue");
	}
	return LT_OK;
}

/* Replay or purge the dead letters matching the op's filters. */
static int sq_dlq(void *db, struct lt_dlq *op)
{
	struct sq *q = db;
	sqlite3_stmt *s = stmt(q, Q_DLQ_FIND);
	bind_text(s, 1, op->dest);
	bind_text(s, 2, op->dossier_code);
	sqlite3_bind_int64(s, 3, op->before_ms);
	char *ids = op->ids ? dump(op->ids) : NULL;
	bind_text(s, 4, ids);
	free(ids);
	sqlite3_bind_int(s, 5, LT_DLQ_BATCH);
	op->deliveries = json_array();
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		json_array_append_new(op->deliveries,
				      json_pack("{s:I,s:s,s:s,s:s}", "delivery_id", (json_int_t)sqlite3_column_int64(s, 0),
						"peer", sqlite3_column_text(s, 1), "dossier_code", sqlite3_column_text(s, 2),
						"message_id", sqlite3_column_text(s, 3)));
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return sq_fail(q, &op->op.err, "finding dead letters");
	size_t i;
	json_t *d;
	json_array_foreach(op->deliveries, i, d) {
		sqlite3_int64 id = json_integer_value(json_object_get(d, "delivery_id"));
		if (op->action == LT_DLQ_REPLAY) {
			/* behind the dossier's chain to that peer if it has one, as at intake */
			s = stmt(q, Q_CHAIN_BUSY);
			bind_text(s, 1, json_string_value(json_object_get(d, "peer")));
			bind_text(s, 2, json_string_value(json_object_get(d, "dossier_code")));
			int busy = sqlite3_step(s) == SQLITE_ROW;
			sqlite3_reset(s);
			s = stmt(q, Q_DLQ_REPLAY);
			sqlite3_bind_int64(s, 1, id);
			sqlite3_bind_int(s, 2, busy ? LT_DS_BLOCKED : LT_DS_PENDING);
			sqlite3_bind_int64(s, 3, op->now_ms);
			if (sqlite3_step(s) != SQLITE_DONE)
				return sq_fail(q, &op->op.err, "replaying a dead letter");
		} else {
			for (int k = Q_DLQ_PURGE_ATTEMPTS; k <= Q_DLQ_PURGE; k++) {
				s = stmt(q, k);
				sqlite3_bind_int64(s, 1, id);
				if (sqlite3_step(s) != SQLITE_DONE)
					return sq_fail(q, &op->op.err, "purging a dead letter");
			}
		}
		/* who asked, in the same commit as the change */
		struct lt_audit_row row = { .at_ms = op->now_ms, .peer = json_string_value(json_object_get(d, "peer")),
					    .message_id = json_string_value(json_object_get(d, "message_id")),
					    .direction = op->action == LT_DLQ_REPLAY ? "replay" : "purge",
					    .body_sha256 = "", .sig_sha256 = "", .trust = op->who ? op->who : "" };
		if ((rc = audit_put(q, &row, &op->op.err)))
			return rc;
	}
	return LT_OK;
}

static int sq_prune(void *db, struct lt_prune *op);

const struct lt_store_backend lt_store_sqlite = {
	.scheme = "sqlite:",
	.open = sq_open,
	.close = sq_close,
	.detach = sq_detach,
	.recover = sq_recover,
	.count_backlog = sq_count_backlog,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.savepoint = sq_savepoint,
	.release = sq_release,
	.ingest = sq_ingest,
	.claim = sq_claim,
	.finish = sq_finish,
	.stats = sq_stats,
	.refusal = sq_refusal,
	.cursor = sq_cursor,
	.overdue = sq_overdue,
	.unclaim = sq_unclaim,
	.dlq = sq_dlq,
	.dossier_events = sq_dossier_events,
	.prune = sq_prune,
};

/* ---- retention (store_prune.c) ---- */

/* The pruning's statements (store_prune.c's constant texts), prepared once
 * per connection; finalized when it closes (sq_detach). */
#define PRUNE_STMTS 24
static struct {
	sqlite3 *db;
	const char *sql;
	sqlite3_stmt *st;
} prune_stmts[PRUNE_STMTS];

static void sq_prune_forget(sqlite3 *db)
{
	for (int i = 0; i < PRUNE_STMTS; i++)
		if (prune_stmts[i].db == db && db) {
			sqlite3_finalize(prune_stmts[i].st);
			prune_stmts[i].db = NULL;
			prune_stmts[i].sql = NULL;
			prune_stmts[i].st = NULL;
		}
}

static sqlite3_stmt *prune_stmt(struct sq *q, const char *sql)
{
	int free_slot = -1;
	for (int i = 0; i < PRUNE_STMTS; i++) {
		if (prune_stmts[i].db == q->db && prune_stmts[i].sql == sql) {
			sqlite3_reset(prune_stmts[i].st);
			sqlite3_clear_bindings(prune_stmts[i].st);
			return prune_stmts[i].st;
		}
		if (!prune_stmts[i].db && free_slot < 0)
			free_slot = i;
	}
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v3(q->db, sql, -1, free_slot >= 0 ? SQLITE_PREPARE_PERSISTENT : 0, &s, NULL))
		return NULL;
	if (free_slot >= 0) {
		prune_stmts[free_slot].db = q->db;
		prune_stmts[free_slot].sql = sql;
		prune_stmts[free_slot].st = s;
	}
	return s;
}

static int cached(struct sq *q, sqlite3_stmt *s)
{
	for (int i = 0; i < PRUNE_STMTS; i++)
		if (prune_stmts[i].db == q->db && prune_stmts[i].st == s)
			return 1;
	return 0;
}

/* A statement of the pruning, its $N parameters bound as text (a column's
 * affinity compares them as numbers). */
static int sq_sql(void *db, const char *sql, int nargs, const char *const *args, lt_store_row_fn *row, void *arg,
		  int64_t *changed, struct lt_err *err)
{
	struct sq *q = db;
	sqlite3_stmt *s = prune_stmt(q, sql);
	if (!s)
		return sq_fail(q, err, "pruning");
	for (int i = 0; i < nargs; i++) {
		char name[8];
		snprintf(name, sizeof name, "$%d", i + 1);
		int at = sqlite3_bind_parameter_index(s, name);
		if (at)
			sqlite3_bind_text(s, at, args[i], -1, SQLITE_STATIC);
	}
	int rc, ncols = sqlite3_column_count(s), stop = 0;
	const char *vals[16];
	while (!stop && (rc = sqlite3_step(s)) == SQLITE_ROW && row) {
		for (int i = 0; i < ncols && i < 16; i++)
			vals[i] = (const char *)sqlite3_column_text(s, i);
		stop = row(arg, ncols < 16 ? ncols : 16, vals);
	}
	if (!stop && rc != SQLITE_DONE && rc != SQLITE_ROW)
		sq_fail(q, err, "pruning");
	else if (changed)
		*changed = sqlite3_changes(q->db);
	int failed = !stop && rc != SQLITE_DONE && rc != SQLITE_ROW;
	if (cached(q, s))
		sqlite3_reset(s);
	else
		sqlite3_finalize(s);
	return failed ? LT_EIO : LT_OK;
}

static int sq_prune(void *db, struct lt_prune *op)
{
	struct sq *q = db;
	q->err = &op->op.err;
	return lt_store_prune_run(op, sq_sql, q);
}
