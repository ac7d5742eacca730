/* store_sqlite_sql.c — the SQLite store's schema and statements. */
#include "store_sqlite.h"
#include "sla.h"

#include <stddef.h>

const char lt_sq_schema[] =
	"CREATE TABLE IF NOT EXISTS messages("
	" peer TEXT NOT NULL, message_id TEXT NOT NULL, digest TEXT NOT NULL,"
	" received_at INTEGER NOT NULL, receipt TEXT NOT NULL, signed_digest TEXT, signed_id TEXT,"
	" PRIMARY KEY(peer, message_id)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS events("
	" seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, dossier_code TEXT NOT NULL,"
	" dossier_seq INTEGER NOT NULL, type TEXT NOT NULL, source TEXT NOT NULL,"
	" message_id TEXT NOT NULL, received_at INTEGER NOT NULL, routed INTEGER NOT NULL,"
	" body TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS events_dossier ON events(dossier_code, dossier_seq);"
	"CREATE TABLE IF NOT EXISTS deliveries("
	" id INTEGER PRIMARY KEY, event_seq INTEGER NOT NULL, dest TEXT NOT NULL,"
	" dossier_code TEXT NOT NULL, state INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
	" created_at INTEGER NOT NULL, next_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
	" last_status INTEGER, last_error TEXT, last_response TEXT, flags INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX IF NOT EXISTS deliveries_ready ON deliveries(dest, next_at) WHERE state = 0;"
	/* a dossier's unfinished deliveries to a destination (pending, in flight, blocked). Written
	 * NOT IN (2, 3): SQLite tests a list of more than two values through a temporary table it
	 * builds for every row written, and a partial index's condition is tested on every write */
	"CREATE INDEX IF NOT EXISTS deliveries_open ON deliveries(dest, dossier_code, id) WHERE state NOT IN (2, 3);"
	"CREATE INDEX IF NOT EXISTS deliveries_blocked ON deliveries(dest, dossier_code, id) WHERE state = 4;"
	"CREATE INDEX IF NOT EXISTS deliveries_state ON deliveries(state, dest);"
	"CREATE INDEX IF NOT EXISTS deliveries_event ON deliveries(event_seq);"
	"CREATE TABLE IF NOT EXISTS attempts("
	" delivery_id INTEGER NOT NULL, n INTEGER NOT NULL, at INTEGER NOT NULL,"
	" duration_ms INTEGER NOT NULL, status INTEGER, error TEXT, outcome TEXT NOT NULL,"
	" PRIMARY KEY(delivery_id, n)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS dossiers("
	" code TEXT PRIMARY KEY, status INTEGER NOT NULL, channel TEXT, procedure TEXT, receiving_agency TEXT,"
	" handling_agency TEXT, received_at INTEGER NOT NULL, due_at INTEGER NOT NULL, resolved_at INTEGER NOT NULL,"
	" returned_at INTEGER NOT NULL, paused_at INTEGER NOT NULL, apologies INTEGER NOT NULL,"
	" overdue_notified_for INTEGER NOT NULL, last_event TEXT, updated_at INTEGER NOT NULL,"
	" last_at INTEGER NOT NULL DEFAULT 0, last_seq INTEGER) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS dossiers_due ON dossiers(due_at) WHERE resolved_at = 0 AND returned_at = 0;"
	"CREATE TABLE IF NOT EXISTS cursors("
	" peer TEXT PRIMARY KEY, cursor TEXT NOT NULL, updated_at INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS refusals("
	" id INTEGER PRIMARY KEY, at INTEGER NOT NULL, peer TEXT NOT NULL, message_id TEXT,"
	" status INTEGER NOT NULL, reason TEXT NOT NULL, body_sha256 TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS audit("
	" seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, direction TEXT NOT NULL, peer TEXT NOT NULL,"
	" message_id TEXT NOT NULL, body_sha256 TEXT NOT NULL, sig_sha256 TEXT NOT NULL,"
	" prev TEXT NOT NULL, hash TEXT NOT NULL, trust TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX IF NOT EXISTS audit_message ON audit(message_id);"
	/* retention (store_prune.c): what went of each dossier, and the audit trail's checkpoints */
	"CREATE TABLE IF NOT EXISTS pruned_dossiers("
	" code TEXT PRIMARY KEY, through_seq INTEGER NOT NULL, events INTEGER NOT NULL, deliveries INTEGER NOT NULL,"
	" attempts INTEGER NOT NULL, first_at INTEGER NOT NULL, last_at INTEGER NOT NULL, pruned_at INTEGER NOT NULL)"
	" WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS audit_pruned("
	" seq INTEGER PRIMARY KEY, hash TEXT NOT NULL, first_seq INTEGER NOT NULL, row_count INTEGER NOT NULL,"
	" at INTEGER NOT NULL);";

/* A store made before audit rows said what vouched for a message gains the
 * column; its old rows keep "" and verify as before (lt_audit_hash). */

/* Columns added since the first release: a store made before gets them. */
const struct lt_sq_column lt_sq_added[] = {
	{ "messages", "signed_digest", "ALTER TABLE messages ADD COLUMN signed_digest TEXT" },
	{ "messages", "signed_id", "ALTER TABLE messages ADD COLUMN signed_id TEXT" },
	{ "audit", "trust", "ALTER TABLE audit ADD COLUMN trust TEXT NOT NULL DEFAULT ''" },
	{ "dossiers", "last_at", "ALTER TABLE dossiers ADD COLUMN last_at INTEGER NOT NULL DEFAULT 0" },
	/* the dossier's last dossier_seq; NULL in rows written before: read from events once */
	{ "dossiers", "last_seq", "ALTER TABLE dossiers ADD COLUMN last_seq INTEGER" },
	{ NULL, NULL, NULL },
};
const char lt_sq_indexes[] =
	"DROP INDEX IF EXISTS messages_digest;"     /* for the replay check by raw bytes, gone */
	"DROP INDEX IF EXISTS deliveries_chain;"    /* deliveries_open, written so that it costs no temporary table */
	"CREATE INDEX IF NOT EXISTS messages_signed_digest ON messages(signed_digest) WHERE signed_digest IS NOT NULL;"
	"CREATE INDEX IF NOT EXISTS messages_signed_id ON messages(peer, signed_id) WHERE signed_id IS NOT NULL;";

const char *const lt_sq_sql[Q_COUNT] = {
	[Q_MSG_GET] = "SELECT digest, receipt, signed_digest FROM messages WHERE peer = ?1 AND message_id = ?2",
	[Q_MSG_BY_SIGNED_DIGEST] = "SELECT peer, message_id FROM messages WHERE signed_digest = ?1 LIMIT 1",
	[Q_MSG_BY_SIGNED_ID] = "SELECT message_id FROM messages WHERE peer = ?1 AND signed_id = ?2 LIMIT 1",
	[Q_MSG_PUT] = "INSERT INTO messages(peer, message_id, digest, received_at, receipt, signed_digest, signed_id)"
		      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	/* a pruned dossier's chain goes on after its last pruned event */
	[Q_DOSSIER_SEQ] = "SELECT MAX(COALESCE((SELECT MAX(dossier_seq) FROM events WHERE dossier_code = ?1), 0),"
			  " COALESCE((SELECT through_seq FROM pruned_dossiers WHERE code = ?1), 0)) + 1",
	[Q_EVENT_PUT] = "INSERT INTO events(event_id, dossier_code, dossier_seq, type, source, message_id, received_at, routed, body)"
			" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[Q_CHAIN_BUSY] = "SELECT 1 FROM deliveries WHERE dest = ?1 AND dossier_code = ?2 AND state NOT IN (2, 3) LIMIT 1",
	[Q_DELIVERY_PUT] = "INSERT INTO deliveries(event_seq, dest, dossier_code, state, created_at, next_at, updated_at)"
			   " VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?5)",
	[Q_READY] = "SELECT d.id, e.event_id, d.dossier_code, e.type, d.attempts, d.created_at, e.body, d.flags"
		    " FROM deliveries d JOIN events e ON e.seq = d.event_seq"
		    " WHERE d.dest = ?1 AND d.state = 0 AND d.next_at <= ?2 ORDER BY d.next_at, d.id LIMIT ?3",
	[Q_MARK_INFLIGHT] = "UPDATE deliveries SET state = 1, updated_at = ?2 WHERE id = ?1",
	[Q_NEXT_DUE] = "SELECT MIN(next_at) FROM deliveries WHERE dest = ?1 AND state = 0",
	[Q_ATTEMPT_PUT] = "INSERT OR REPLACE INTO attempts(delivery_id, n, at, duration_ms, status, error, outcome)"
			  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	/* an outcome is written once: attempts < n finds it not yet written (see sq_finish) */
	[Q_DONE] = "UPDATE deliveries SET state = ?2, attempts = ?3, updated_at = ?4, last_status = ?5,"
		   " last_error = ?6, last_response = ?7 WHERE id = ?1 AND attempts < ?3",
	[Q_RETRY] = "UPDATE deliveries SET state = 0, attempts = ?2, updated_at = ?3, next_at = ?4,"
		    " last_status = ?5, last_error = ?6, last_response = ?7, flags = ?8 WHERE id = ?1 AND attempts < ?2",
	/* the chain's next delivery, unless the chain has a head already (an outcome written
	 * again after a commit whose result was unknown must not release a second one) */
	[Q_PROMOTE] = "UPDATE deliveries SET state = 0, next_at = ?3 WHERE id ="
		      " (SELECT id FROM deliveries INDEXED BY deliveries_blocked"
		      " WHERE dest = ?1 AND dossier_code = ?2 AND state = 4 ORDER BY id LIMIT 1)"
		      " AND NOT EXISTS (SELECT 1 FROM deliveries INDEXED BY deliveries_open"
		      " WHERE dest = ?1 AND dossier_code = ?2 AND state NOT IN (2, 3) AND state IN (0, 1))",
	[Q_STATS] = "SELECT dest, state, COUNT(*), MIN(created_at) FROM deliveries"
		    " WHERE state IN (0, 1, 3, 4) GROUP BY dest, state",
	[Q_COUNTS] = "SELECT (SELECT COUNT(*) FROM events), (SELECT COUNT(*) FROM messages)",
	[Q_REFUSAL] = "INSERT INTO refusals(at, peer, message_id, status, reason, body_sha256) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[Q_CURSOR_GET] = "SELECT cursor FROM cursors WHERE peer = ?1",
	[Q_CURSOR_PUT] = "INSERT INTO cursors(peer, cursor, updated_at) VALUES (?1, ?2, ?3)"
			 " ON CONFLICT(peer) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
	[Q_DOSSIER_GET] = "SELECT code, status, channel, procedure, receiving_agency, handling_agency, received_at, due_at,"
			  " resolved_at, returned_at, paused_at, apologies, overdue_notified_for, last_event, last_at, last_seq"
			  " FROM dossiers WHERE code = ?1",
	[Q_DOSSIER_PUT] = "INSERT OR REPLACE INTO dossiers(code, status, channel, procedure, receiving_agency,"
			  " handling_agency, received_at, due_at, resolved_at, returned_at, paused_at, apologies,"
			  " overdue_notified_for, last_event, updated_at, last_at, last_seq)"
			  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
	[Q_OVERDUE] = "SELECT code FROM dossiers WHERE resolved_at = 0 AND returned_at = 0 AND due_at > 0"
		      " AND due_at < ?1 AND paused_at = 0 AND status NOT IN " LT_STATUS_CLOSED_SQL
		      " AND overdue_notified_for <> due_at LIMIT 500",
	[Q_DOSSIER_EVENTS] = "SELECT body FROM events WHERE dossier_code = ?1 ORDER BY dossier_seq DESC LIMIT 1000",
	[Q_UNCLAIM] = "UPDATE deliveries SET state = 0 WHERE id = ?1 AND state = 1",
	[Q_UNCLAIM_DEST] = "UPDATE deliveries SET state = 0 WHERE dest = ?1 AND state = 1",
	[Q_DLQ_FIND] = "SELECT d.id, d.dest, d.dossier_code, e.event_id FROM deliveries d JOIN events e ON e.seq = d.event_seq"
		       " WHERE d.state = 3 AND (?1 IS NULL OR d.dest = ?1) AND (?2 IS NULL OR d.dossier_code = ?2)"
		       " AND (?3 = 0 OR d.updated_at < ?3) AND (?4 IS NULL OR d.id IN (SELECT value FROM json_each(?4)))"
		       " ORDER BY d.id LIMIT ?5",
	[Q_DLQ_REPLAY] = "UPDATE deliveries SET state = ?2, next_at = ?3, created_at = ?3, updated_at = ?3 WHERE id = ?1",
	[Q_DLQ_PURGE_ATTEMPTS] = "DELETE FROM attempts WHERE delivery_id = ?1",
	[Q_DLQ_PURGE] = "DELETE FROM deliveries WHERE id = ?1",
	[Q_AUDIT_LAST] = "SELECT hash FROM audit ORDER BY seq DESC LIMIT 1",
	[Q_AUDIT_PUT] = "INSERT INTO audit(at, direction, peer, message_id, body_sha256, sig_sha256, prev, hash, trust)"
			" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[Q_DELIVERY_EVENT] = "SELECT e.event_id FROM deliveries d JOIN events e ON e.seq = d.event_seq WHERE d.id = ?1",
	[Q_SAVEPOINT] = "SAVEPOINT op",
	[Q_RELEASE] = "RELEASE op",
	[Q_ROLLBACK_TO] = "ROLLBACK TO op",
	[Q_BEGIN] = "BEGIN IMMEDIATE",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
};
