/* lazyvfs.c — an SQLite VFS that keeps every write in memory until the file
 * is fsync'd, so that a kill -9 loses exactly what was never made durable: a
 * power cut, as far as the database is concerned (the power-cut campaign,
 * tests/integration/test_powercut.py). In the spirit of LazyFS and of
 * SQLite's own crash tests, without a kernel device-mapper or FUSE.
 *
 * Loaded with LD_PRELOAD=build/lazyvfs.so, a constructor registers it as the
 * default VFS, wrapping "unix". The main database and its -wal and -journal
 * files get an in-memory overlay of 4 KiB blocks: xWrite and xTruncate change
 * only the overlay; xRead and xFileSize see the overlay over the real file;
 * xSync writes the overlay to the real file, then fsyncs it for real. The
 * overlay outlives a close (the page cache does too) and goes with xDelete.
 * Temporary files and the -shm wal-index pass through (SQLite rebuilds the
 * wal-index from the WAL when it reopens after a crash); memory-mapped I/O
 * is refused so that every read goes through xRead.
 *
 * A kill -9 from outside lands at a random moment, most often when nothing is
 * pending (SQLite syncs right after it writes). LAZYVFS_CUT_AT_SYNC=N cuts
 * the power from inside at the worst moment: at the process's Nth xSync that
 * has writes to make durable, with that commit's or checkpoint's writes issued
 * and none durable; with LAZYVFS_CUT_DB=1 only the database file's syncs
 * count, which come at the end of checkpoints. A real disk may
 * have written any of the unsynced blocks by then: LAZYVFS_CUT_KEEP=P writes
 * each with probability P% (seeded by N) before the process kills itself with
 * SIGKILL, after one line on stderr saying what the cut lost and kept.
 *
 * LAZYVFS_FAIL_SYNC=FILE: while FILE exists, xSync fails with
 * SQLITE_IOERR_FSYNC, and the file's unwritten blocks become what Linux makes
 * of dirty pages whose writeback failed (ext4, xfs): clean, so never written
 * by a later fsync, yet still read back from the page cache until they are
 * evicted. posix_fadvise(POSIX_FADV_DONTNEED) on the file evicts them, as the
 * kernel does; a power cut loses them.
 *
 * What it does NOT simulate: torn sectors within a 4 KiB block (unix's
 * xDeviceCharacteristics claims powersafe overwrite, and SQLite relies on
 * it); unsynced writes reaching the disk at a kill -9 from outside (only the
 * inside cut keeps some); several processes writing one database (each keeps
 * its own overlay; another process reads only what was synced, consistent for
 * a writer that syncs every commit, as synchronous=FULL does, since the
 * wal-index passes through); lost directory entries: files are created,
 * renamed and deleted at once. SQLite fsyncs the directory after it creates a
 * -wal or -journal file (before that file's first sync completes), which also
 * makes the database file's own entry in the same directory durable before any
 * commit returns; deleting a rollback journal is synced only with
 * synchronous=EXTRA, which matters for journal_mode=DELETE, not for WAL. */
#include <sqlite3.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLK 4096

struct block {
	sqlite3_int64 no;               /* offset / BLK */
	int dirty;                      /* 0: its writeback failed; read back, never written */
	unsigned char data[BLK];
};

/* What the page cache holds of one file (by path) and its disk does not: the
 * writes since its last sync, and those whose sync failed. */
struct overlay {
	struct overlay *next;
	char *path;
	int pending;                    /* 0: nothing unsynced, the real file is the truth */
	sqlite3_int64 size;             /* the file's size as the process sees it */
	sqlite3_int64 low;              /* the real file's bytes from here on were truncated away */
	struct block **blk;             /* sorted by no */
	int n, cap;
};

/* An open file with an overlay; the real file's handle follows it. */
struct lfile {
	sqlite3_file base;
	struct overlay *ov;
	int is_db;                      /* the main database, not a journal */
	sqlite3_file *real;
};

static sqlite3_vfs *unix_vfs;
static struct overlay *overlays;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long syncs;                              /* xSync calls with something to write */
static long cut_at_sync, cut_keep, cut_db;      /* LAZYVFS_CUT_AT_SYNC, LAZYVFS_CUT_KEEP, LAZYVFS_CUT_DB */

static struct overlay *overlay_get(const char *path)
{
	struct overlay *o;
	for (o = overlays; o; o = o->next)
		if (!strcmp(o->path, path))
			return o;
	o = calloc(1, sizeof *o);
	o->path = strdup(path);
	o->next = overlays;
	overlays = o;
	return o;
}

static void overlay_clear(struct overlay *o)
{
	for (int i = 0; i < o->n; i++)
		free(o->blk[i]);
	o->n = 0;
	o->pending = 0;
}

/* Forget the blocks that are (dirty) or are not (clean) to be written. What
 * stays is read over the real file, which now has the size the process sees,
 * when dirty blocks were just written. */
static void overlay_forget(struct overlay *o, int dirty)
{
	int k = 0;
	for (int i = 0; i < o->n; i++)
		if (o->blk[i]->dirty == dirty)
			free(o->blk[i]);
		else
			o->blk[k++] = o->blk[i];
	o->n = k;
	if (dirty)
		o->low = o->size;
	if (!k && dirty)
		o->pending = 0;
}

/* Index of block no, or of where it would go (*found = 0). */
static int block_find(const struct overlay *o, sqlite3_int64 no, int *found)
{
	int lo = 0, hi = o->n;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		if (o->blk[mid]->no < no)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < o->n && o->blk[lo]->no == no;
	return lo;
}

/* Start tracking changes: until now the real file was the truth. */
static int overlay_begin(struct lfile *f)
{
	struct overlay *o = f->ov;
	if (o->pending)
		return SQLITE_OK;
	int rc = f->real->pMethods->xFileSize(f->real, &o->size);
	if (rc == SQLITE_OK) {
		o->low = o->size;
		o->pending = 1;
	}
	return rc;
}

/* The file's bytes [off, off + amt) as the process sees them; short reads fill
 * with zeros, as unix does. */
static int overlay_read(struct lfile *f, unsigned char *buf, int amt, sqlite3_int64 off)
{
	struct overlay *o = f->ov;
	memset(buf, 0, amt);
	sqlite3_int64 end = off + amt < o->size ? off + amt : o->size;
	if (off < o->low && off < end) {
		int n = (int)((end < o->low ? end : o->low) - off);
		int rc = f->real->pMethods->xRead(f->real, buf, n, off);
		if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ)
			return rc;
	}
	int found;
	for (int i = block_find(o, off / BLK, &found); i < o->n && o->blk[i]->no * BLK < end; i++) {
		sqlite3_int64 b0 = o->blk[i]->no * BLK;
		sqlite3_int64 from = b0 > off ? b0 : off, to = b0 + BLK < end ? b0 + BLK : end;
		if (from < to)
			memcpy(buf + (from - off), o->blk[i]->data + (from - b0), to - from);
	}
	return end - off < amt ? SQLITE_IOERR_SHORT_READ : SQLITE_OK;
}

static int overlay_write(struct lfile *f, const unsigned char *buf, int amt, sqlite3_int64 off)
{
	struct overlay *o = f->ov;
	int rc = overlay_begin(f);
	for (sqlite3_int64 no = off / BLK; rc == SQLITE_OK && no * BLK < off + amt; no++) {
		int found, i = block_find(o, no, &found);
		if (!found) {
			struct block *b = malloc(sizeof *b);
			b->no = no;
			rc = overlay_read(f, b->data, BLK, no * BLK);
			if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ) {
				free(b);
				break;
			}
			rc = SQLITE_OK;
			if (o->n == o->cap) {
				o->cap = o->cap ? 2 * o->cap : 64;
				o->blk = realloc(o->blk, o->cap * sizeof *o->blk);
			}
			memmove(o->blk + i + 1, o->blk + i, (o->n - i) * sizeof *o->blk);
			o->blk[i] = b;
			o->n++;
		}
		sqlite3_int64 b0 = no * BLK;
		sqlite3_int64 from = b0 > off ? b0 : off, to = b0 + BLK < off + amt ? b0 + BLK : off + amt;
		memcpy(o->blk[i]->data + (from - b0), buf + (from - off), to - from);
		o->blk[i]->dirty = 1;
	}
	if (rc == SQLITE_OK && off + amt > o->size)
		o->size = off + amt;
	return rc;
}

static int overlay_truncate(struct lfile *f, sqlite3_int64 size)
{
	struct overlay *o = f->ov;
	int rc = overlay_begin(f);
	if (rc != SQLITE_OK)
		return rc;
	int found, i = block_find(o, size / BLK, &found);
	if (found && size % BLK) {              /* the block holding the new end keeps its head */
		memset(o->blk[i]->data + size % BLK, 0, BLK - size % BLK);
		i++;
	}
	for (int j = i; j < o->n; j++)
		free(o->blk[j]);
	o->n = i;
	o->size = size;
	if (size < o->low)
		o->low = size;
	return SQLITE_OK;
}

/* The real file becomes what the process sees (truncated, written, resized),
 * but for the blocks whose writeback failed before. */
static int overlay_flush(struct lfile *f)
{
	struct overlay *o = f->ov;
	const struct sqlite3_io_methods *m = f->real->pMethods;
	sqlite3_int64 real_size;
	int rc = m->xFileSize(f->real, &real_size);
	if (rc == SQLITE_OK && o->low < real_size)
		rc = m->xTruncate(f->real, o->low);
	for (int i = 0; rc == SQLITE_OK && i < o->n; i++) {
		sqlite3_int64 b0 = o->blk[i]->no * BLK;
		int len = o->size - b0 < BLK ? (int)(o->size - b0) : BLK;
		if (len > 0 && o->blk[i]->dirty)
			rc = m->xWrite(f->real, o->blk[i]->data, len, b0);
	}
	if (rc == SQLITE_OK)
		rc = m->xFileSize(f->real, &real_size);
	if (rc == SQLITE_OK && real_size != o->size)
		rc = m->xTruncate(f->real, o->size);
	return rc;
}

/* The power goes: a random share of the unsynced blocks reaches the disk, the
 * rest (and every block whose writeback failed) is lost with the process.
 * Called with the lock held; does not return. */
static void power_cut(void)
{
	unsigned seed = (unsigned)cut_at_sync;
	long lost = 0, kept = 0, files = 0;
	for (struct overlay *o = overlays; o; o = o->next) {
		int fd = o->n ? open(o->path, O_WRONLY) : -1;
		files += o->n > 0;
		for (int i = 0; i < o->n; i++) {
			sqlite3_int64 b0 = o->blk[i]->no * BLK;
			size_t len = o->size - b0 < BLK ? (size_t)(o->size - b0) : BLK;
			if (fd >= 0 && o->blk[i]->dirty && rand_r(&seed) % 100 < cut_keep && pwrite(fd, o->blk[i]->data, len, b0) == (ssize_t)len)
				kept++;
			else
				lost++;
		}
		if (fd >= 0)
			close(fd);
	}
	fprintf(stderr, "lazyvfs: power cut at %s %ld: %ld unsynced blocks of 4 KiB in %ld files, %ld lost, %ld kept\n",
		cut_db ? "database sync" : "sync", syncs, lost + kept, files, lost, kept);
	fflush(stderr);
	raise(SIGKILL);
}

static int fail_sync_now(void)
{
	const char *trigger = getenv("LAZYVFS_FAIL_SYNC");
	struct stat st;
	return trigger && *trigger && stat(trigger, &st) == 0;
}

static int l_close(sqlite3_file *p)
{
	struct lfile *f = (struct lfile *)p;
	return f->real->pMethods->xClose(f->real);      /* the overlay stays, as the page cache would */
}

static int l_read(sqlite3_file *p, void *buf, int amt, sqlite3_int64 off)
{
	struct lfile *f = (struct lfile *)p;
	pthread_mutex_lock(&lock);
	int rc = f->ov->pending ? overlay_read(f, buf, amt, off) : f->real->pMethods->xRead(f->real, buf, amt, off);
	pthread_mutex_unlock(&lock);
	return rc;
}

static int l_write(sqlite3_file *p, const void *buf, int amt, sqlite3_int64 off)
{
	struct lfile *f = (struct lfile *)p;
	pthread_mutex_lock(&lock);
	int rc = overlay_write(f, buf, amt, off);
	pthread_mutex_unlock(&lock);
	return rc == SQLITE_OK ? rc : SQLITE_IOERR_WRITE;
}

static int l_truncate(sqlite3_file *p, sqlite3_int64 size)
{
	struct lfile *f = (struct lfile *)p;
	pthread_mutex_lock(&lock);
	int rc = overlay_truncate(f, size);
	pthread_mutex_unlock(&lock);
	return rc;
}

static int l_sync(sqlite3_file *p, int flags)
{
	struct lfile *f = (struct lfile *)p;
	int rc = SQLITE_OK;
	pthread_mutex_lock(&lock);
	if (f->ov->pending && (f->is_db || !cut_db) && ++syncs == cut_at_sync)
		power_cut();
	if (fail_sync_now())
		rc = SQLITE_IOERR_FSYNC;
	else if (f->ov->pending)
		rc = overlay_flush(f);
	if (rc == SQLITE_OK)
		overlay_forget(f->ov, 1);       /* on the disk now */
	else
		for (int i = 0; i < f->ov->n; i++)
			f->ov->blk[i]->dirty = 0;   /* the writeback failed: clean, not written */
	pthread_mutex_unlock(&lock);
	return rc == SQLITE_OK ? f->real->pMethods->xSync(f->real, flags) : rc;
}

static int l_file_size(sqlite3_file *p, sqlite3_int64 *size)
{
	struct lfile *f = (struct lfile *)p;
	pthread_mutex_lock(&lock);
	int rc = SQLITE_OK;
	if (f->ov->pending)
		*size = f->ov->size;
	else
		rc = f->real->pMethods->xFileSize(f->real, size);
	pthread_mutex_unlock(&lock);
	return rc;
}

static int l_file_control(sqlite3_file *p, int op, void *arg)
{
	struct lfile *f = (struct lfile *)p;
	if (op == SQLITE_FCNTL_MMAP_SIZE) {     /* no memory map: it would read past the overlay */
		*(sqlite3_int64 *)arg = 0;
		return SQLITE_OK;
	}
	if (op == SQLITE_FCNTL_SIZE_HINT || op == SQLITE_FCNTL_CHUNK_SIZE)
		return SQLITE_OK;               /* hints that would resize the real file */
	return f->real->pMethods->xFileControl(f->real, op, arg);
}

static int l_fetch(sqlite3_file *p, sqlite3_int64 off, int amt, void **pp)
{
	(void)p, (void)off, (void)amt;
	*pp = NULL;                             /* read it with xRead */
	return SQLITE_OK;
}

static int l_unfetch(sqlite3_file *p, sqlite3_int64 off, void *page)
{
	(void)p, (void)off, (void)page;
	return SQLITE_OK;
}

/* The rest passes through to the real file. */
#define REAL(p) (((struct lfile *)(p))->real)
static int l_lock(sqlite3_file *p, int l) { return REAL(p)->pMethods->xLock(REAL(p), l); }
static int l_unlock(sqlite3_file *p, int l) { return REAL(p)->pMethods->xUnlock(REAL(p), l); }
static int l_check_reserved(sqlite3_file *p, int *out) { return REAL(p)->pMethods->xCheckReservedLock(REAL(p), out); }
static int l_sector_size(sqlite3_file *p) { return REAL(p)->pMethods->xSectorSize(REAL(p)); }
static int l_device(sqlite3_file *p) { return REAL(p)->pMethods->xDeviceCharacteristics(REAL(p)); }
static int l_shm_map(sqlite3_file *p, int pg, int sz, int extend, void volatile **pp)
{
	return REAL(p)->pMethods->xShmMap(REAL(p), pg, sz, extend, pp);
}
static int l_shm_lock(sqlite3_file *p, int off, int n, int flags) { return REAL(p)->pMethods->xShmLock(REAL(p), off, n, flags); }
static void l_shm_barrier(sqlite3_file *p) { REAL(p)->pMethods->xShmBarrier(REAL(p)); }
static int l_shm_unmap(sqlite3_file *p, int del) { return REAL(p)->pMethods->xShmUnmap(REAL(p), del); }

static const sqlite3_io_methods lazy_io = {
	3, l_close, l_read, l_write, l_truncate, l_sync, l_file_size, l_lock, l_unlock, l_check_reserved,
	l_file_control, l_sector_size, l_device, l_shm_map, l_shm_lock, l_shm_barrier, l_shm_unmap,
	l_fetch, l_unfetch,
};

static int lazy_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *p, int flags, int *out_flags)
{
	(void)vfs;
	const int durable = SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_MAIN_JOURNAL | SQLITE_OPEN_WAL | SQLITE_OPEN_SUPER_JOURNAL;
	if (!name || !(flags & durable))        /* temporary files: nothing to lose, open in place */
		return unix_vfs->xOpen(unix_vfs, name, p, flags, out_flags);
	struct lfile *f = (struct lfile *)p;
	f->real = (sqlite3_file *)(f + 1);
	int rc = unix_vfs->xOpen(unix_vfs, name, f->real, flags, out_flags);
	if (rc != SQLITE_OK || !f->real->pMethods) {
		f->base.pMethods = NULL;
		return rc;
	}
	pthread_mutex_lock(&lock);
	f->ov = overlay_get(name);
	pthread_mutex_unlock(&lock);
	f->is_db = (flags & SQLITE_OPEN_MAIN_DB) != 0;
	f->base.pMethods = &lazy_io;
	return SQLITE_OK;
}

static int lazy_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	(void)vfs;
	pthread_mutex_lock(&lock);
	for (struct overlay *o = overlays; o; o = o->next)
		if (!strcmp(o->path, name))
			overlay_clear(o);
	pthread_mutex_unlock(&lock);
	return unix_vfs->xDelete(unix_vfs, name, sync_dir);
}

/* The kernel's answer to POSIX_FADV_DONTNEED: clean pages leave the page
 * cache, among them those whose writeback failed, so reads go to the disk. */
int posix_fadvise(int fd, off_t off, off_t len, int advice)
{
	static int (*next)(int, off_t, off_t, int);
	char link[64], path[4096];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof path - 1);
	if (advice == POSIX_FADV_DONTNEED && n > 0) {
		path[n] = '\0';
		pthread_mutex_lock(&lock);
		for (struct overlay *o = overlays; o; o = o->next)
			if (!strcmp(o->path, path))
				overlay_forget(o, 0);
		pthread_mutex_unlock(&lock);
	}
	if (!next)
		next = (int (*)(int, off_t, off_t, int))dlsym(RTLD_NEXT, "posix_fadvise");
	return next ? next(fd, off, len, advice) : 0;
}

static sqlite3_vfs lazy_vfs;

/* Every other method is unix's own: none of them depends on which vfs
 * pointer it is called with. */
__attribute__((constructor)) static void lazyvfs_register(void)
{
	const char *cut = getenv("LAZYVFS_CUT_AT_SYNC"), *keep = getenv("LAZYVFS_CUT_KEEP");
	const char *db = getenv("LAZYVFS_CUT_DB");
	cut_at_sync = cut ? atol(cut) : 0;
	cut_keep = keep ? atol(keep) : 0;
	cut_db = db ? atol(db) : 0;
	unix_vfs = sqlite3_vfs_find("unix");
	if (!unix_vfs)
		abort();
	lazy_vfs = *unix_vfs;
	lazy_vfs.zName = "lazy";
	lazy_vfs.szOsFile = (int)sizeof(struct lfile) + unix_vfs->szOsFile;
	lazy_vfs.pNext = NULL;
	lazy_vfs.xOpen = lazy_open;
	lazy_vfs.xDelete = lazy_delete;
	if (sqlite3_vfs_register(&lazy_vfs, 1) != SQLITE_OK)
		abort();
}
