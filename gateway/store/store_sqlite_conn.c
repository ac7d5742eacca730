/* store_sqlite_conn.c — the SQLite store's connection: the file, its lock
 * and its mode, opening and upgrading the schema, letting go after a failure,
 * transactions, and the pipelined group commit (a commit ended without
 * fsync, made durable by lt_sq_sync on store.c's sync thread, and the
 * checkpoints this connection then owns). The ops are in store_sqlite.c. */
#include "store_int.h"
#include "log.h"
#include "store_sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
/* Let go of the database file: statements and connection closed, so that
 * an operator can unmount, repair or move the disk. The next begin opens it
 * again. */
void lt_sq_detach(void *db)
{
	struct sq *q = db;
	/* closing may checkpoint: with the log synced first and the database after */
	if (q->db)
		sqlite3_exec(q->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
	q->wal = NULL;
	q->wal_frames = 0;
	for (int i = 0; i < Q_COUNT; i++) {
		sqlite3_finalize(q->st[i]);
		q->st[i] = NULL;
	}
	lt_sq_prune_forget(q->db);
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

void lt_sq_close(void *db)
{
	struct sq *q = db;
	if (!q)
		return;
	lt_sq_detach(q);
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
		lt_sq_detach(q);
		return LT_EIO;
	}
	return LT_OK;
}

/* After each commit: how long the log has grown (also keeps SQLite from
 * checkpointing on its own: a hook replaces the automatic checkpoint). */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	(void)db;
	(void)name;
	((struct sq *)arg)->wal_frames = frames;
	return SQLITE_OK;
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
		lt_sq_detach(q);
		return LT_EIO;
	}
	sqlite3_busy_timeout(q->db, 5000);
	if (sqlite3_db_readonly(q->db, "main") == 1) {
		/* SQLite opens a file it cannot write read-only, silently */
		lt_err_set(err, LT_EIO, "store %s: the database file or its disk is read-only", q->path);
		lt_sq_detach(q);
		return LT_EIO;
	}
	char *msg = NULL;
	if (sqlite3_exec(q->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY;",
			 NULL, NULL, &msg) ||
	    sqlite3_exec(q->db, lt_sq_schema, NULL, NULL, &msg)) {
		lt_err_set(err, LT_EIO, "store %s: %s", q->path, msg ? msg : sqlite3_errmsg(q->db));
		sqlite3_free(msg);
		lt_sq_detach(q);
		return LT_EIO;
	}
	if (sq_upgrade(q, err))
		return LT_EIO;
	/* from here on commits are made durable by lt_sq_sync, checkpoints by lt_sq_checkpoint */
	if (sqlite3_exec(q->db, "PRAGMA synchronous=OFF", NULL, NULL, &msg)) {
		lt_err_set(err, LT_EIO, "store %s: %s", q->path, msg ? msg : sqlite3_errmsg(q->db));
		sqlite3_free(msg);
		lt_sq_detach(q);
		return LT_EIO;
	}
	sqlite3_wal_hook(q->db, wal_hook, q);
	for (int i = 0; i < Q_COUNT; i++)
		if (sqlite3_prepare_v3(q->db, lt_sq_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &q->st[i], NULL)) {
			lt_err_set(err, LT_EIO, "store: preparing statement %d: %s", i, sqlite3_errmsg(q->db));
			lt_sq_detach(q);
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
int lt_sq_open(const char *dsn, const struct lt_calendar *cal, const struct lt_store_node *node, void **out,
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
		lt_sq_close(q);
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

int lt_sq_count_backlog(void *db, int64_t *backlog, struct lt_err *err)
{
	return exec_sql(db, "SELECT COUNT(*) FROM deliveries WHERE state IN (0, 1, 4)", count_cb, backlog,
			"counting unfinished deliveries", err);
}

int lt_sq_recover(void *db, int64_t *backlog, struct lt_err *err)
{
	return exec_sql(db, "UPDATE deliveries SET state = 0 WHERE state = 1", NULL, NULL,
			"recovering in-flight deliveries", err) ?: lt_sq_count_backlog(db, backlog, err);
}

int lt_sq_begin(void *db, struct lt_err *err)
{
	struct sq *q = db;
	if (!q->db && sq_connect(q, 0, err))
		return LT_EIO;
	return exec1(q, Q_BEGIN) ? sq_fail(q, err, "begin") : 0;
}

int lt_sq_commit_lazy(void *db, struct lt_err *err)
{
	struct sq *q = db;
	if (exec1(q, Q_COMMIT))
		return sq_fail(q, err, "commit");
	if (!q->wal && (sqlite3_file_control(q->db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &q->wal) != SQLITE_OK ||
			!q->wal || !q->wal->pMethods)) {
		q->wal = NULL;
		return lt_err_set(err, LT_EIO, "store %s: its write-ahead log is not open after a commit", q->path);
	}
	return LT_OK;
}

/* Through the log's own file object (SQLite's VFS, not a file descriptor of
 * ours), as SQLite syncs it at a commit with synchronous=FULL. */
int lt_sq_sync(void *db, struct lt_err *err)
{
	struct sq *q = db;
	if (!q->wal)
		return lt_err_set(err, LT_EIO, "store %s: the connection was closed before its commit was made durable",
				  q->path);
	int rc = q->wal->pMethods->xSync(q->wal, SQLITE_SYNC_NORMAL);
	if (rc != SQLITE_OK)
		return lt_err_set(err, LT_EIO, "store %s: making the commit durable (fsync of %s-wal): %s", q->path,
				  q->path, sqlite3_errstr(rc));
	return LT_OK;
}

int lt_sq_commit(void *db, struct lt_err *err)
{
	return lt_sq_commit_lazy(db, err) ?: lt_sq_sync(db, err);
}

/* As often as SQLite's automatic checkpoint would (1 000 frames). */
#define CHECKPOINT_FRAMES 1000

int lt_sq_checkpoint(void *db, int run, struct lt_err *err)
{
	struct sq *q = db;
	if (!q->db || q->wal_frames < CHECKPOINT_FRAMES)
		return LT_OK;
	if (!run)
		return 1;
	int rc = sqlite3_exec(q->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_wal_checkpoint_v2(q->db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
			rc = SQLITE_OK;         /* a reader holds old pages: the next one goes further */
	}
	if (rc != SQLITE_OK)
		lt_err_set(err, LT_EIO, "store %s: checkpoint of the write-ahead log: %s", q->path, sqlite3_errmsg(q->db));
	if (sqlite3_exec(q->db, "PRAGMA synchronous=OFF", NULL, NULL, NULL) != SQLITE_OK && rc == SQLITE_OK)
		return sq_fail(q, err, "checkpoint");
	q->wal_frames = 0;
	return rc == SQLITE_OK ? LT_OK : LT_EIO;
}

void lt_sq_rollback(void *db)
{
	struct sq *q = db;
	q->audit_last[0] = '\0';
	if (q->db && !sqlite3_get_autocommit(q->db))
		exec1(q, Q_ROLLBACK);
}

int lt_sq_savepoint(void *db)
{
	return exec1(db, Q_SAVEPOINT);
}

void lt_sq_release(void *db, int ok)
{
	if (!ok) {
		exec1(db, Q_ROLLBACK_TO);
		((struct sq *)db)->audit_last[0] = '\0';
	}
	exec1(db, Q_RELEASE);
}