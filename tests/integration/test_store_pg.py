"""The PostgreSQL store: the spine against a real server, kill -9, two
gateway nodes sharing one database (per-dossier order, leases that bring a
dead node's deliveries back), and the database going away and coming back.

Each test starts its own PostgreSQL 15 in its temporary directory, as the
postgres system user, listening only on a unix socket there (no TCP), with
fsync on."""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

from harness import LIENTHONG, Gateway, Peersim, event, pg_query, wait_until
from test_crash import Sender

PGBIN = os.environ.get("LT_PGBIN", "/usr/lib/postgresql/15/bin")


class Postgres:
    """A throwaway PostgreSQL server: data and socket in tmp/pg."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "pg")
        self.data = os.path.join(self.dir, "data")
        self.log_path = os.path.join(tmp, "postgres.txt")   # not .log: run.py reads those for sanitizer reports
        self.proc = None
        # the server refuses to run as root: as the postgres user when we are root
        self.as_user = []
        if os.geteuid() == 0:
            self.as_user = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]
            os.chmod(tmp, 0o711)            # let postgres reach tmp/pg, nothing more
        os.mkdir(self.dir, 0o700)
        if self.as_user:
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(self.as_user + [os.path.join(PGBIN, "initdb"), "-D", self.data, "-U", "postgres",
                                       "--auth=trust", "--no-instructions", "-E", "UTF8"],
                       check=True, capture_output=True, timeout=120)
        self.dsn = "postgresql:///lienthong?host=%s&user=postgres" % self.dir
        self.start()
        subprocess.run(["psql", "-X", "-q", "-d", "postgresql:///postgres?host=%s&user=postgres" % self.dir,
                        "-c", "CREATE DATABASE lienthong"], check=True, capture_output=True, timeout=60)

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.as_user + [
            os.path.join(PGBIN, "postgres"), "-D", self.data, "-k", self.dir, "-c", "listen_addresses=",
            "-c", "fsync=on", "-c", "synchronous_commit=on", "-c", "max_connections=30",
            "-c", "shared_buffers=16MB"], stdout=self.log, stderr=self.log)
        wait_until(self.ready, timeout=60, what="postgres to accept connections (see %s)" % self.log_path)

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("postgres exited with %s" % self.proc.returncode)
        return subprocess.run([os.path.join(PGBIN, "pg_isready"), "-q", "-h", self.dir],
                              capture_output=True).returncode == 0

    def stop(self):
        """Fast shutdown: sessions are cut, what was committed stays."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()


def pg_gateway(tmp, cleanup, pg, dests=("portal",), sims=None, gateway=None, retry=None, name="gateway",
               peer_opts=None):
    sims = sims or {d: cleanup.add(Peersim(tmp, d)) for d in dests}
    peers = {"peer-a": {"inbound": "push"}}
    for d, sim in sims.items():
        peers[d] = {"url": sim.url, "concurrency": 4}
        peers[d].update(peer_opts or {})
    gw = cleanup.add(Gateway(tmp, peers, {"all": {"from": "peer-a", "to": " ".join(sims)}}, retry=retry,
                             gateway=gateway, store=pg.dsn, name=name))
    return gw, sims


def admin_post(gw, path, body):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (gw.admin_port, path), data=json.dumps(body).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def readyz(gw):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % gw.admin_port, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def audit_chain_breaks(gw):
    """Rows of the audit trail whose prev or hash is not what lt_audit_hash makes of the
    row before; [] when the one chain is whole (whichever node wrote each row). What
    vouched for a row (trust) is hashed after the other fields when there is one."""
    prev, bad = "0" * 64, []
    for seq, at, *fields, row_prev, row_hash, trust in gw.query(
            "SELECT seq, at, direction, peer, message_id, body_sha256, sig_sha256, prev, hash, trust FROM audit"
            " ORDER BY seq"):
        text = "lienthong-audit-1;%d;" % at + "".join("%d:%s;" % (len(f.encode()), f) for f in [row_prev] + fields)
        if trust:
            text += "trust:%d:%s;" % (len(trust.encode()), trust)
        if row_prev != prev or hashlib.sha256(text.encode()).hexdigest() != row_hash:
            bad.append(seq)
        prev = row_hash
    return bad


def test_pg_spine_intake_duplicates_delivery_retry_dead_letter_and_replay(tmp, cleanup):
    pg = cleanup.add(Postgres(tmp))
    gw, sims = pg_gateway(tmp, cleanup, pg, dests=("portal", "office"))
    portal, office = sims["portal"], sims["office"]
    # 202: durable before the answer — the rows are in the database
    status, doc, _ = gw.post("peer-a", event("PG-SPINE-1"), "pg-m-1")
    assert status == 202 and doc["status"] == "accepted", (status, doc)
    ev = doc["events"][0]
    assert sorted(ev["routed_to"]) == ["office", "portal"]
    assert gw.query("SELECT message_id FROM messages WHERE peer = ?", "peer-a") == [("pg-m-1",)]
    assert gw.query("SELECT event_id, dossier_seq FROM events") == [(ev["event_id"], 1)]
    # the same message again: 200 with the original receipt; the same id with another body: 409
    status, dup, _ = gw.post("peer-a", event("PG-SPINE-1"), "pg-m-1")
    assert status == 200 and dup["status"] == "duplicate" and dup["events"] == doc["events"], dup
    status, conflict, _ = gw.post("peer-a", event("PG-SPINE-OTHER"), "pg-m-1")
    assert status == 409 and conflict["error"] == "conflict" and "different body" in conflict["detail"], conflict
    # delivered, with the event id as message id and idempotency key
    got = wait_until(lambda: portal.received(ok_only=True), what="delivery to the portal")
    assert got[0]["headers"]["x-message-id"] == ev["event_id"] == got[0]["headers"]["idempotency-key"]
    wait_until(lambda: gw.query("SELECT COUNT(*) FROM deliveries WHERE state = 2")[0][0] == 2, what="both done")

    # a 503 then a 200: retried with the same key, recorded as retry then done
    portal.fail(status=503, count=2)
    status, doc, _ = gw.post("peer-a", event("PG-SPINE-2"), "pg-m-2")
    assert status == 202
    eid = doc["events"][0]["event_id"]
    wait_until(lambda: gw.query("SELECT state FROM deliveries d JOIN events e ON e.seq = d.event_seq"
                                " WHERE e.event_id = ? AND d.dest = 'portal'", eid) == [(2,)], what="retried then done")
    tries = [r for r in portal.received() if r["headers"]["x-message-id"] == eid]
    assert [r["status"] for r in tries] == [503, 503, 200], tries
    assert {r["headers"]["idempotency-key"] for r in tries} == {eid}
    outcomes = gw.query("SELECT a.n, a.outcome FROM attempts a JOIN deliveries d ON d.id = a.delivery_id"
                        " JOIN events e ON e.seq = d.event_seq WHERE e.event_id = ? AND d.dest = 'portal'"
                        " ORDER BY a.n", eid)
    assert outcomes == [(1, "retry"), (2, "retry"), (3, "done")], outcomes

    # a 4xx: dead letter with the answer kept; replay brings it back and it arrives
    portal.fail(status=400, body='{"error":"ma_ho_so khong hop le"}')
    status, doc, _ = gw.post("peer-a", event("PG-SPINE-3"), "pg-m-3")
    assert status == 202
    eid = doc["events"][0]["event_id"]
    dead = wait_until(lambda: gw.query("SELECT id, last_status, last_response FROM deliveries WHERE state = 3"),
                      what="a dead letter")
    assert dead[0][1] == 400 and "khong hop le" in dead[0][2], dead
    portal.clear()
    status, out = admin_post(gw, "/v1/admin/dlq/replay", {"peer": "portal"})
    assert status == 200, out
    wait_until(lambda: any(r["headers"]["x-message-id"] == eid for r in portal.received(ok_only=True)),
               what="the replayed dead letter delivered")
    wait_until(lambda: gw.query("SELECT COUNT(*) FROM deliveries WHERE state <> 2")[0][0] == 0, what="all done")
    wait_until(lambda: gw.metric("lienthong_backlog") == 0, what="backlog 0")
    assert len(office.received(ok_only=True)) == 3
    # the audit trail: each accepted message in, each attempt that reached the wire out, one chain
    ins = gw.query("SELECT message_id FROM audit WHERE direction = 'in' ORDER BY seq")
    assert ins == [("pg-m-1",), ("pg-m-2",), ("pg-m-3",)], ins
    trusts = gw.query("SELECT DISTINCT trust FROM audit WHERE direction = 'in'")     # what vouched for each
    assert len(trusts) == 1 and trusts[0][0].startswith("signature;jws;kid="), trusts
    outs = gw.query("SELECT COUNT(*) FROM audit WHERE direction = 'out'")[0][0]
    assert outs == len(portal.received()) + len(office.received()), outs
    assert gw.query("SELECT COUNT(*) FROM audit") and audit_chain_breaks(gw) == []
    assert gw.stop() == 0
    errors = [l for l in gw.log_lines() if l.get("level") in ("error", "fatal") and l["event"] != "delivery.dead"]
    assert not errors, errors


def test_pg_kill9_during_stream_loses_no_acknowledged_event(tmp, cleanup):
    pg = cleanup.add(Postgres(tmp))
    gw, sims = pg_gateway(tmp, cleanup, pg, dests=("portal",), retry={"initial": "50ms", "max_delay": "300ms"})
    portal = sims["portal"]
    portal.fail(status=503, share=0.3, seed=11)
    sender = Sender(gw, 100000)
    sender.start()
    try:
        for _ in range(4):
            time.sleep(0.6)
            gw.kill9()
            time.sleep(0.1)
            gw.start()
    finally:
        time.sleep(0.5)
        sender.stop_flag = True
        sender.join(10)
    portal.clear()
    acked = {e for evs in sender.acked.values() for e in evs}
    assert len(acked) > 30, len(acked)

    def delivered():
        return {r["headers"]["x-message-id"] for r in portal.received(ok_only=True)}
    wait_until(lambda: acked <= delivered(), timeout=60,
               what="every acknowledged event delivered (%d missing)" % len(acked - delivered()))
    stored = {e for (e,) in gw.query("SELECT event_id FROM events")}
    assert acked <= stored
    print("    pg crash: acknowledged=%d delivered=%d duplicates=%d" % (
        len(acked), len(delivered()), len(portal.received(ok_only=True)) - len(delivered())))


def per_dossier_overlaps(records):
    """Pairs of deliveries of one dossier that were at the receiver at the same time."""
    by = {}
    for r in records:
        by.setdefault(json.loads(r["body"])["dossier_code"], []).append(r)
    bad = []
    for code, rs in by.items():
        rs.sort(key=lambda r: r["at_ms"])
        for a, b in zip(rs, rs[1:]):
            if b["at_ms"] < a["answered_ms"]:
                bad.append((code, a["headers"]["x-message-id"], b["headers"]["x-message-id"]))
    return bad


def test_pg_a_database_made_before_numbers_each_dossier_on_from_its_events(tmp, cleanup):
    """A dossier's row keeps its last dossier_seq (numbering an event reads no index of all
    events); a database made before that column gains it when the gateway opens it, and its
    dossiers go on from their stored events."""
    pg = cleanup.add(Postgres(tmp))
    gw, _ = pg_gateway(tmp, cleanup, pg)
    for i in (1, 2):
        assert gw.post("peer-a", event("PG-SEQ-A"), "pg-seq-%d" % i)[0] == 202
    assert gw.query("SELECT last_seq FROM dossiers WHERE code = ?", "PG-SEQ-A") == [(2,)]
    gw.stop()
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", pg.dsn, "-c",
                    "ALTER TABLE dossiers DROP COLUMN last_seq"], check=True, capture_output=True, timeout=60)
    gw.start()
    for i, code in ((3, "PG-SEQ-A"), (4, "PG-SEQ-B"), (5, "PG-SEQ-A")):
        assert gw.post("peer-a", event(code), "pg-seq-%d" % i)[0] == 202
    assert gw.query("SELECT dossier_code, dossier_seq FROM events ORDER BY seq") == [
        ("PG-SEQ-A", 1), ("PG-SEQ-A", 2), ("PG-SEQ-A", 3), ("PG-SEQ-B", 1), ("PG-SEQ-A", 4)]
    assert gw.query("SELECT code, last_seq FROM dossiers ORDER BY code") == [("PG-SEQ-A", 4), ("PG-SEQ-B", 1)]


def test_two_nodes_share_one_database_and_keep_each_dossiers_order(tmp, cleanup):
    pg = cleanup.add(Postgres(tmp))
    portal = cleanup.add(Peersim(tmp, "portal"))
    portal.fail(delay_ms=15)            # deliveries overlap: order has to be kept, not happen to hold
    gws = [pg_gateway(tmp, cleanup, pg, sims={"portal": portal}, name="node-%d" % n,
                      gateway={"node_id": "gw-node-%d" % n}, peer_opts={"concurrency": 6})[0] for n in (1, 2)]
    dossiers = ["PG-2N-%02d" % k for k in range(12)]
    answers = {}

    def send(n):
        gw = gws[n]
        for i in range(60):
            code = dossiers[(i * 5 + n) % len(dossiers)]
            status, doc, _ = gw.post("peer-a", {"events": [event(code, "dossier.step", detail={"n": i, "node": n})]},
                                     "pg2-%d-%d" % (n, i))
            answers[(n, i)] = (status, doc)

    threads = [threading.Thread(target=send, args=(n,)) for n in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(answers) == 120 and all(s == 202 for s, _ in answers.values()), \
        [a for a in answers.values() if a[0] != 202][:3]
    n_events = len(answers)
    wait_until(lambda: gws[0].query("SELECT COUNT(*) FROM deliveries WHERE state = 2")[0][0] == n_events,
               timeout=60, what="every delivery done")
    ok = portal.received(ok_only=True)
    got = {}
    for r in ok:
        got.setdefault(json.loads(r["body"])["dossier_code"], []).append(r["headers"]["x-message-id"])
    assert sum(len(v) for v in got.values()) == n_events, "each event delivered once"
    for code in dossiers:
        want = [e for (e,) in gws[0].query("SELECT event_id FROM events WHERE dossier_code = ? ORDER BY dossier_seq",
                                           code)]
        assert got.get(code) == want, (code, got.get(code), want)
        # numbered from the dossier's row by whichever node wrote the event: 1, 2, 3 … without a gap
        seqs = [s for (s,) in gws[0].query("SELECT dossier_seq FROM events WHERE dossier_code = ? ORDER BY seq", code)]
        assert seqs == list(range(1, len(want) + 1)), (code, seqs)
    assert per_dossier_overlaps(ok) == []
    # both nodes delivered; the database never held two deliveries of a chain in flight at once
    nodes = dict(gws[0].query("SELECT node, COUNT(*) FROM deliveries GROUP BY node"))
    assert set(nodes) == {"gw-node-1", "gw-node-2"}, nodes
    assert portal.count()["max_inflight"] > 1
    # one audit chain, written by both nodes in turn
    assert gws[0].query("SELECT COUNT(*) FROM audit")[0][0] == 2 * n_events
    assert audit_chain_breaks(gws[0]) == []
    # each node's backlog figure follows the shared database
    for gw in gws:
        wait_until(lambda: gw.metric("lienthong_backlog") == 0, what="backlog 0 on both nodes")
        errors = [l for l in gw.log_lines() if l.get("level") in ("error", "fatal")]
        assert not errors, errors[:3]
    print("    two nodes: %d events, node-1 delivered %d, node-2 %d, at most %d in flight at the portal" % (
        n_events, nodes["gw-node-1"], nodes["gw-node-2"], portal.count()["max_inflight"]))


def test_two_busy_nodes_never_deadlock_claims_against_the_journal_lock(tmp, cleanup):
    """Issue 14 under load: both nodes ingesting and delivering at once over many
    dossiers. A batch that locked delivery rows (a claim) and then waited for
    the journal lock deadlocked against the other node's journal-locked update
    of those rows. A race (it did not show on every run before the fix): the
    deterministic case is test_a_batch_never_holds_rows_while_it_waits_for_the_journal_lock."""
    pg = cleanup.add(Postgres(tmp))
    portal = cleanup.add(Peersim(tmp, "portal"))
    office = cleanup.add(Peersim(tmp, "office"))
    portal.fail(status=503, count=30)       # retries: finishes that lock rows without the journal lock
    sims = {"portal": portal, "office": office}
    gws = [pg_gateway(tmp, cleanup, pg, sims=sims, name="node-%d" % n, gateway={"node_id": "gw-dl-%d" % n},
                      retry={"initial": "20ms", "max_delay": "100ms"},
                      peer_opts={"concurrency": 16})[0] for n in (1, 2)]
    dossiers = ["PG-DL-%03d" % k for k in range(120)]
    answers = {}

    def send(n, t):
        for i in range(60):
            code = dossiers[(i * 7 + t * 3 + n) % len(dossiers)]
            status, doc, _ = gws[n].post("peer-a", {"events": [event(code, "dossier.step", detail={"i": i, "t": t})]},
                                         "pgdl-%d-%d-%d" % (n, t, i))
            answers[(n, t, i)] = status

    threads = [threading.Thread(target=send, args=(n, t)) for n in (0, 1) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    n_events = len(answers)
    assert n_events == 720 and set(answers.values()) == {202}, sorted(set(answers.values()))
    wait_until(lambda: gws[0].query("SELECT COUNT(*) FROM deliveries WHERE state = 2")[0][0] == 2 * n_events,
               timeout=120, what="every delivery done")
    for gw in gws:
        text = gw.log_text()
        assert "deadlock detected" not in text, [l for l in text.splitlines() if "deadlock" in l][:3]
        errors = [l for l in gw.log_lines() if l.get("level") in ("error", "fatal")]
        assert not errors, errors[:3]
    with open(pg.log_path, "rb") as f:
        assert b"deadlock detected" not in f.read()
    assert audit_chain_breaks(gws[0]) == []
    retries = [gw.metric("lienthong_store_retries_total", reason="deadlock") or 0 for gw in gws]
    print("    two busy nodes: %d events to 2 destinations, store retries after a deadlock %s" % (n_events, retries))


class OtherNode:
    """A psql session standing for another node's transaction, fed one statement at
    a time; what it holds or waits for is read from pg_stat_activity."""

    def __init__(self, pg, name="other-node"):
        self.pg, self.name = pg, name
        self.proc = subprocess.Popen(["psql", "-X", "-q", "-d", "%s&application_name=%s" % (pg.dsn, name)],
                                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)

    def send(self, sql):
        self.proc.stdin.write(sql + "\n")
        self.proc.stdin.flush()

    def activity(self, who):
        return pg_query(self.pg.dsn, "SELECT state, wait_event_type, query FROM pg_stat_activity"
                                     " WHERE application_name = ?", who)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(30)


def test_a_deadlock_with_another_node_reruns_the_batch_at_once_and_loses_nothing(tmp, cleanup):
    """Issue 14, what is left of it: the database ends a batch in a deadlock
    (here another node's transaction takes the delivery's row, then the journal
    lock: the order this node no longer uses). The batch runs again at once and
    is counted; nothing is refused, logged as an error or delayed by a second."""
    pg = cleanup.add(Postgres(tmp))
    portal = cleanup.add(Peersim(tmp, "portal"))
    portal.fail(delay_ms=1500, count=1)
    gw, _ = pg_gateway(tmp, cleanup, pg, sims={"portal": portal})
    status, doc, _ = gw.post("peer-a", event("PG-DEADLOCK-1"), "pg-dl-1")
    assert status == 202, doc
    wait_until(lambda: gw.query("SELECT state FROM deliveries") == [(1,)], what="the delivery in flight")
    other = OtherNode(pg)
    try:
        other.send("BEGIN; SELECT id FROM deliveries WHERE state = 1 FOR UPDATE;")
        wait_until(lambda: other.activity("other-node") and other.activity("other-node")[0][0] == "idle in transaction",
                   what="the other node holding the delivery's row")
        # the portal answers: this node's finish takes the journal lock, then waits for the row
        wait_until(lambda: any(w == "Lock" for _, w, _ in other.activity("lienthong")), timeout=10,
                   what="this node's finish waiting for the row")
        other.send("SELECT pg_advisory_xact_lock(19540, 1);")      # and the other waits for the journal lock
        wait_until(lambda: other.activity("other-node")[0][0] == "idle in transaction", timeout=10,
                   what="the other node granted the journal lock (this node's transaction ended)")
        other.send("COMMIT;")
    finally:
        other.close()
    wait_until(lambda: gw.query("SELECT state FROM deliveries") == [(2,)], timeout=10, what="the delivery done")
    assert gw.metric("lienthong_store_retries_total", reason="deadlock") == 1
    with open(pg.log_path, "rb") as f:
        assert f.read().count(b"ERROR:  deadlock detected") == 1
    assert [l["event"] for l in gw.log_lines() if l["event"].startswith("store.")] == ["store.conflict_retry"]
    errors = [l for l in gw.log_lines() if l.get("level") in ("error", "fatal")]
    assert not errors, errors[:3]
    assert audit_chain_breaks(gw) == []


def test_a_batch_never_holds_rows_while_it_waits_for_the_journal_lock(tmp, cleanup):
    """Issue 14, deterministically: another node holds the journal lock while this
    node's store thread gathers a claim (a delivery due again) and an ingest into
    one batch; then the other node updates the deliveries. Before the fix the batch
    claimed rows, then waited for the journal lock, and PostgreSQL found a
    deadlock; now it takes the journal lock first and holds no row meanwhile."""
    pg = cleanup.add(Postgres(tmp))
    portal = cleanup.add(Peersim(tmp, "portal"))
    portal.fail(status=503, retry_after="4", count=1)
    gw, _ = pg_gateway(tmp, cleanup, pg, sims={"portal": portal}, retry={"max_delay": "10s"})
    assert gw.post("peer-a", event("PG-ORDER-0"), "pg-order-0")[0] == 202
    wait_until(lambda: gw.query("SELECT state, attempts FROM deliveries") == [(0, 1)], what="a retry due in 4 s")
    due_ms = gw.query("SELECT next_at FROM deliveries")[0][0]
    answers = []
    other = OtherNode(pg)

    def waiting():
        return any(w == "Lock" for _, w, _ in other.activity("lienthong"))

    def idle():
        return other.activity("other-node")[0][0] == "idle in transaction"

    try:
        other.send("BEGIN; SELECT pg_advisory_xact_lock(19540, 1);")
        wait_until(lambda: other.activity("other-node") and idle(), what="the other node holding the journal lock")
        post = lambda n: answers.append(gw.post("peer-a", event("PG-ORDER-%d" % n), "pg-order-%d" % n)[0])
        threading.Thread(target=post, args=(1,)).start()                # batch 1: waits for the lock
        wait_until(waiting, what="this node's first batch waiting for the journal lock")
        time.sleep(max(0.0, due_ms / 1000 - time.time()) + 0.5)        # the retry due: a claim queued
        threading.Thread(target=post, args=(2,)).start()                # then an ingest, in the same batch
        time.sleep(1.0)
        other.send("COMMIT; BEGIN; SELECT pg_advisory_xact_lock(19540, 1);")    # batch 1 goes, the other takes it again
        wait_until(lambda: len(answers) >= 1 and idle(), what="batch 1 committed, the journal lock the other's")
        wait_until(waiting, what="this node's second batch waiting for the journal lock")
        other.send("UPDATE deliveries SET updated_at = updated_at WHERE state IN (0, 1);")
        wait_until(idle, timeout=15, what="the other node's update done")
        other.send("COMMIT;")
    finally:
        other.close()
    wait_until(lambda: len(answers) == 2, what="both answered")
    assert answers == [202, 202], answers
    wait_until(lambda: gw.query("SELECT COUNT(*) FROM deliveries WHERE state = 2")[0][0] == 3, timeout=20,
               what="the three deliveries done")
    with open(pg.log_path, "rb") as f:
        log = f.read()
    assert b"deadlock detected" not in log, log[log.find(b"deadlock detected") - 40:][:600]
    errors = [l for l in gw.log_lines() if l.get("level") in ("error", "fatal")]
    assert not errors, errors[:3]


def test_a_dead_nodes_deliveries_are_sent_by_the_other_after_its_lease(tmp, cleanup):
    pg = cleanup.add(Postgres(tmp))
    portal = cleanup.add(Peersim(tmp, "portal"))
    lease = 3.0
    opts = {"lease": "3s"}
    node_a, _ = pg_gateway(tmp, cleanup, pg, sims={"portal": portal}, name="node-a",
                           gateway=dict(opts, node_id="gw-a"), peer_opts={"timeout": "60s"})
    portal.fail(hang=True, count=3)     # the first three deliveries hang: node A holds them in flight
    ids = []
    for k, code in enumerate(["PG-LEASE-1", "PG-LEASE-2", "PG-LEASE-3", "PG-LEASE-1"]):
        status, doc, _ = node_a.post("peer-a", event(code, "dossier.step", detail={"k": k}), "lease-%d" % k)
        assert status == 202, doc
        ids.append(doc["events"][0]["event_id"])
    wait_until(lambda: portal.count()["inflight"] == 3, what="three deliveries hanging at the portal")
    assert node_a.query("SELECT state, node FROM deliveries ORDER BY id") == [
        (1, "gw-a"), (1, "gw-a"), (1, "gw-a"), (4, None)]

    # node B starts beside A: it takes none of A's live claims, for longer than a lease
    node_b, _ = pg_gateway(tmp, cleanup, pg, sims={"portal": portal}, name="node-b",
                           gateway=dict(opts, node_id="gw-b"))
    time.sleep(2 * lease)
    assert len(portal.received()) == 3, "node B sent nothing that node A holds"
    assert node_b.query("SELECT COUNT(*) FROM deliveries WHERE node = 'gw-b'") == [(0,)]

    node_a.kill9()
    killed = time.monotonic()
    time.sleep(0.2)                     # a renewal the server had already received has landed
    expiry = node_b.query("SELECT MIN(lease_until) FROM deliveries WHERE node = 'gw-a' AND state = 1")[0][0]
    wait_until(lambda: {r["headers"]["x-message-id"] for r in portal.received(ok_only=True)} == set(ids),
               timeout=30, what="node B delivering what node A held")
    took = time.monotonic() - killed
    ok = portal.received(ok_only=True)
    # not before A's lease ran out (the database's clock and the portal's are this machine's)
    assert expiry and min(r["at_ms"] for r in ok) >= expiry, (expiry, [r["at_ms"] for r in ok])
    assert took <= lease + 5, took
    assert [r["headers"]["x-message-id"] for r in ok if "PG-LEASE-1" in r["body"]] == [ids[0], ids[3]]
    assert per_dossier_overlaps(ok) == []
    assert node_b.query("SELECT DISTINCT node, state FROM deliveries") == [("gw-b", 2)]
    print("    lease %.0fs: node B delivered node A's %d deliveries %.1fs after kill -9" % (lease, len(ids), took))


def test_database_away_is_503_and_not_ready_then_recovers_by_itself(tmp, cleanup):
    pg = cleanup.add(Postgres(tmp))
    gw, sims = pg_gateway(tmp, cleanup, pg, retry={"initial": "100ms", "max_delay": "300ms"})
    portal = sims["portal"]
    portal.fail(status=503)             # acknowledged events wait in the store
    acked = []
    for i in range(5):
        status, doc, _ = gw.post("peer-a", event("PG-AWAY-%d" % i), "away-%d" % i)
        assert status == 202, doc
        acked.append(doc["events"][0]["event_id"])
    assert readyz(gw)[0] == 200

    pg.stop()
    status, doc, headers = gw.post("peer-a", event("PG-AWAY-X"), "away-x")
    assert status == 503 and doc["error"] == "store_unavailable", (status, doc)
    assert "nothing was kept" in doc["detail"] and "store" in doc["detail"], doc
    assert int(headers.get("Retry-After", "0")) > 0, headers
    code, body = wait_until(lambda: (lambda r: r if r[0] == 503 else None)(readyz(gw)), timeout=10,
                            what="/readyz not ready")
    assert body["store_healthy"] is False, body

    pg.start()
    portal.clear()
    wait_until(lambda: readyz(gw)[0] == 200, timeout=20, what="/readyz ready again by itself")
    status, doc, _ = gw.post("peer-a", event("PG-AWAY-X"), "away-x")
    assert status == 202, (status, doc)         # not a duplicate: the refused message was not kept
    acked.append(doc["events"][0]["event_id"])
    wait_until(lambda: set(acked) <= {r["headers"]["x-message-id"] for r in portal.received(ok_only=True)},
               timeout=30, what="every acknowledged event delivered after the database came back")
    wait_until(lambda: gw.metric("lienthong_backlog") == 0, what="backlog 0")


def test_check_config_takes_postgres_dsns_and_checks_the_lease(tmp, cleanup):
    from harness import LIENTHONG, pki
    path = os.path.join(tmp, "pg.ini")
    base = "[gateway]\ntls = off\nsign_key = %s\nsign_cert = %s\n" % (pki("gateway", "sign.key"),
                                                                         pki("gateway", "sign.pem"))
    for store in ("postgresql://lt@db.example/lienthong", "postgres:///lienthong?host=/run/postgresql"):
        with open(path, "w") as f:
            f.write(base + "store = %s\nlease = 2m\n" % store)
        p = subprocess.run([LIENTHONG, "check-config", "-c", path], capture_output=True, text=True)
        assert p.returncode == 0, (store, p.stderr)
    with open(path, "w") as f:
        f.write(base + "store = mysql://x\nlease = 2s\n")
    p = subprocess.run([LIENTHONG, "check-config", "-c", path], capture_output=True, text=True)
    assert p.returncode == 2
    assert "%s:5: store must be sqlite:PATH or postgresql://" % path in p.stderr, p.stderr
    assert "%s:6: lease must be a duration of at least 3s" % path in p.stderr, p.stderr


def test_a_second_node_with_the_same_node_id_is_refused(tmp, cleanup):
    pg = cleanup.add(Postgres(tmp))
    first, sims = pg_gateway(tmp, cleanup, pg, gateway={"node_id": "gw-same"})
    twin = Gateway(tmp, {"peer-a": {"inbound": "push"}, "portal": {"url": sims["portal"].url}},
                   {"all": {"from": "peer-a", "to": "portal"}}, store=pg.dsn, gateway={"node_id": "gw-same"},
                   start=False, name="twin")
    p = subprocess.run([LIENTHONG, "run", "-c", twin.config], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "node_id gw-same is already running on this database" in p.stderr, p.stderr[-2000:]
    # another node_id is welcome, and the first one goes on
    other, _ = pg_gateway(tmp, cleanup, pg, sims=sims, gateway={"node_id": "gw-other"}, name="other")
    assert first.post("peer-a", event("PG-SAME-1"), "same-1")[0] == 202
    # once the first has died, its node_id can start again at once (kill -9, then a restart)
    first.kill9()
    again, _ = pg_gateway(tmp, cleanup, pg, sims=sims, gateway={"node_id": "gw-same"}, name="again")
    assert again.post("peer-a", event("PG-SAME-2"), "same-2")[0] == 202


def test_pg_signed_xml_replay_is_refused_by_what_the_signature_covers_on_every_node(tmp, cleanup):
    from harness import sign_xml, vn_time
    from test_replay import LAND, envelope, status, vn
    pg = cleanup.add(Postgres(tmp))
    # a database made before messages had signed_digest and signed_id
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", pg.dsn, "-c",
                    "CREATE TABLE messages(peer TEXT NOT NULL, message_id TEXT NOT NULL, digest TEXT NOT NULL,"
                    " received_at BIGINT NOT NULL, receipt TEXT NOT NULL, PRIMARY KEY(peer, message_id))"],
                   check=True, capture_output=True, timeout=60)
    gws = [cleanup.add(Gateway(tmp, {LAND: {"adapter": "edxml"}}, {}, store=pg.dsn, name="node-%d" % n,
                               gateway={"node_id": "gw-node-%d" % n})) for n in (1, 2)]

    def post(n, body, mid):
        return gws[n].post(LAND, body, mid, content_type="application/xml", raw=True, sign=False)

    signed = sign_xml(envelope(vn_time(-20)), LAND)
    st, first, _ = post(0, signed, "pg-env-1")
    assert st == 202, first
    # the same signed content in other bytes, at the other node: a replay under a new id...
    st, doc, _ = post(1, signed + b"\r\n", "pg-env-2")
    assert st == 409 and doc["detail"].startswith("replay: this signed document") and "pg-env-1" in doc["detail"], doc
    # ...and the same message under its own id
    st, dup, _ = post(1, signed.replace(b"\n", b"\r\n"), "pg-env-1")
    assert st == 200 and dup["status"] == "duplicate" and dup["events"] == first["events"], dup
    # an old document is refused before the store; a signed identity seen before is a replay
    st, doc, _ = post(1, sign_xml(envelope(vn_time(-7200)), LAND), "pg-env-old")
    assert st == 401 and "timestamp out of window" in doc["detail"], doc
    at = vn_time(-5)
    assert post(1, sign_xml(status(at, "Đã hoàn thành"), LAND), "pg-st-1")[0] == 202
    st, doc, _ = post(0, sign_xml(status(at, "Hoàn thành"), LAND), "pg-st-2")
    assert st == 409 and "replay: the signed message (edXML status 06 about" in doc["detail"], doc
    assert "%s)" % vn(at) in doc["detail"] and "pg-st-1" in doc["detail"], doc
    assert gws[0].query("SELECT COUNT(*) FROM events") == [(2,)]
    assert gws[0].query("SELECT COUNT(*) FROM messages WHERE signed_digest IS NOT NULL AND signed_id LIKE 'edXML %'") \
        == [(2,)]


def test_pg_an_answer_that_carried_events_is_in_the_one_audit_chain_with_what_vouched_for_it(tmp, cleanup):
    from test_answers import POST, order_answer, post_gateway, tls_fingerprint
    from test_flows import sample
    pg = cleanup.add(Postgres(tmp))
    post = cleanup.add(Peersim(tmp, POST))
    post.control("POST", "/_sim/reply", {"status": 200, "body": order_answer(sample("onestop/push.returned.json")
                                                                             ["dossier"]["code"])})
    gw, _ = post_gateway(tmp, cleanup, post, store=pg.dsn)
    wait_until(lambda: gw.query("SELECT COUNT(*) FROM events WHERE type = 'postal.order_created'") == [(1,)],
               what="the order the answer carried")
    assert gw.query("SELECT trust FROM audit WHERE direction = 'answer'") == [
        ("tls;sha256=%s;CN=%s" % (tls_fingerprint(POST), POST),)]
    (mid,), = gw.query("SELECT message_id FROM audit WHERE direction = 'answer'")
    assert gw.query("SELECT type FROM events WHERE message_id = ?", mid) == [("postal.order_created",)]
    assert audit_chain_breaks(gw) == []


def test_pg_replay_and_purge_are_in_the_one_audit_chain_with_who_asked(tmp, cleanup):
    from test_admin_remote import ALICE, BOB, token_file
    pg = cleanup.add(Postgres(tmp))
    gw, sims = pg_gateway(tmp, cleanup, pg, gateway={"admin_token_file": token_file(tmp)})
    sims["portal"].fail(status=400)
    for i in range(2):
        assert gw.post("peer-a", event("PG-WHO-%d" % i), "pg-who-%d" % i)[0] == 202
    wait_until(lambda: gw.query("SELECT COUNT(*) FROM deliveries WHERE state = 3")[0][0] == 2, what="dead letters")
    sims["portal"].clear()
    assert gw.admin_request("POST", "/v1/admin/dlq/replay", {"dossier_code": "PG-WHO-0"})[0] == 401
    gw.admin_token = ALICE
    assert gw.admin_request("POST", "/v1/admin/dlq/replay", {"dossier_code": "PG-WHO-0"})[1]["count"] == 1
    gw.admin_token = BOB
    assert gw.admin_request("POST", "/v1/admin/dlq/purge", {"dossier_code": "PG-WHO-1"})[1]["count"] == 1
    rows = gw.query("SELECT direction, peer, trust FROM audit WHERE direction IN ('replay', 'purge') ORDER BY seq")
    assert rows == [("replay", "portal", "token:alice"), ("purge", "portal", "token:bob")], rows
    assert audit_chain_breaks(gw) == []
    p = subprocess.run([LIENTHONG, "audit", "actions", "-c", gw.config], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "2 operator actions" in p.stdout and "by token:bob" in p.stdout, p.stdout + p.stderr


def test_pg_audit_verify_and_trail_read_a_database_made_before_retention(tmp, cleanup):
    """The operator's reads work on a database whose gateway predates retention's tables
    (audit_pruned, pruned_dossiers) and that no newer gateway has opened since: nothing was
    pruned, the chain verifies from its first row, the trail shows the dossier."""
    pg = cleanup.add(Postgres(tmp))
    gw, _ = pg_gateway(tmp, cleanup, pg)
    assert gw.post("peer-a", event("PG-OLD-1"), "pg-old-1")[0] == 202
    gw.stop()
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", pg.dsn, "-c",
                    "DROP TABLE audit_pruned; DROP TABLE pruned_dossiers"], check=True, capture_output=True, timeout=60)
    v = subprocess.run([LIENTHONG, "audit", "verify", "-c", gw.config], capture_output=True, text=True, timeout=60)
    assert v.returncode == 0, v.stdout + v.stderr
    t = subprocess.run([LIENTHONG, "trail", "PG-OLD-1", "-c", gw.config], capture_output=True, text=True, timeout=60)
    assert t.returncode == 0 and "dossier.received" in t.stdout, t.stdout + t.stderr
