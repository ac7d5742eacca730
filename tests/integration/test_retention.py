"""Retention: old finished dossiers are pruned ([gateway] retention, hourly
and at start, or `lienthong prune`), while anything queued, in flight or
dead-lettered stays with its dossier; the audit trail's pruned rows are
replaced by a checkpoint and `lienthong audit verify` still finds tampering;
a replay within replay_window is still refused; the trail says what went."""
import datetime
import json
import os
import re
import shutil
import subprocess
import time

from harness import LIENTHONG, Gateway, event, sign_xml, vn_time, wait_until
from test_spine import one_route

FAST_RETRY = {"initial": "50ms", "max_delay": "200ms", "breaker_failures": "0"}


def run_cli(gw, *args):
    r = subprocess.run([LIENTHONG] + list(args) + ["-c", gw.config], capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout + r.stderr


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def count(gw, table, where="1 = 1"):
    return gw.query("SELECT COUNT(*) FROM %s WHERE %s" % (table, where))[0][0]


def finished_dead_and_queued(gw, portal):
    """Dossiers RET-F and RET-G delivered (three events in two messages), RET-D
    dead-lettered, RET-Q queued behind a failing destination."""
    assert gw.post("peer-a", {"events": [event("RET-F"), event("RET-G")]}, "f-1")[0] == 202
    assert gw.post("peer-a", event("RET-F"), "f-2")[0] == 202
    wait_until(lambda: count(gw, "deliveries", "state = 2") == 3, what="three deliveries done")
    portal.fail(status=400, count=1)
    assert gw.post("peer-a", event("RET-D"), "d-1")[0] == 202
    wait_until(lambda: count(gw, "deliveries", "state = 3") == 1, what="RET-D dead-lettered")
    portal.fail(status=503)
    assert gw.post("peer-a", event("RET-Q"), "q-1")[0] == 202
    wait_until(lambda: count(gw, "attempts a JOIN deliveries d ON d.id = a.delivery_id",
                             "d.dossier_code = 'RET-Q'") >= 1, what="RET-Q tried and queued again")


def check_prune_and_verify(gw, portal):
    finished_dead_and_queued(gw, portal)
    d_in = gw.query("SELECT seq FROM audit WHERE direction = 'in' AND message_id = 'd-1'")[0][0]
    assert count(gw, "audit", "seq < %d" % d_in) == 5            # f-1 and f-2 in, three out
    time.sleep(3.2)                                           # past replay_window (3s) and before --before
    before = now_rfc3339()

    rc, out = run_cli(gw, "prune", "--before", before, "--dry-run")
    assert rc == 0, out
    assert "would prune before" in out and "2 dossiers (3 events, 3 deliveries, 3 attempts), 2 messages, " \
        "5 audit rows" in out, out
    assert count(gw, "events") == 5 and count(gw, "audit_pruned") == 0, "a dry run changed the store"

    rc, out = run_cli(gw, "prune", "--before", before)
    assert rc == 0, out
    assert "pruned before" in out and "2 dossiers (3 events, 3 deliveries, 3 attempts), 2 messages, 5 audit rows" \
        in out, out
    assert "audit checkpoint: rows up to %d" % (d_in - 1) in out, out
    assert "message d-1 from peer-a: events it brought are kept" in out, out
    # what stays: the dead letter and the queued delivery with their events and messages
    kept = sorted(gw.query("SELECT dossier_code, state FROM deliveries"))     # RET-Q pending or being tried
    assert kept in ([("RET-D", 3), ("RET-Q", 0)], [("RET-D", 3), ("RET-Q", 1)]), kept
    assert sorted(r[0] for r in gw.query("SELECT dossier_code FROM events")) == ["RET-D", "RET-Q"]
    assert sorted(r[0] for r in gw.query("SELECT message_id FROM messages")) == ["d-1", "q-1"]
    assert count(gw, "dossiers") == 4, "the dossier view stays"
    assert gw.query("SELECT MIN(seq) FROM audit")[0][0] == d_in
    line = [l for l in gw.log_lines() if l["event"] == "prune.done"][-1]
    assert (line["trigger"], line["events"], line["audit"], line["messages"]) == ("operator", 3, 5, 2), line
    assert gw.metric("lienthong_pruned_total", what="events") == 3
    assert gw.metric("lienthong_pruned_total", what="audit") == 5

    rc, out = run_cli(gw, "audit", "verify")
    assert rc == 0 and "audit trail intact" in out, out
    assert "5 rows before %d pruned by retention" % d_in in out and "checkpoint hash " in out, out

    rc, out = run_cli(gw, "trail", "RET-F")
    assert rc == 0 and "pruned     its first 2 events" in out and "2 deliveries and 2 attempts" in out, out
    rc, out = run_cli(gw, "trail", "RET-F", "--json")
    assert json.loads(out)["pruned"]["events"] == 2, out

    # the queue goes on, and a pruned dossier's chain goes on after its last pruned event
    portal.clear()
    wait_until(lambda: count(gw, "deliveries", "state = 2") == 1, what="RET-Q delivered")
    assert gw.post("peer-a", event("RET-F"), "f-3")[0] == 202
    assert gw.query("SELECT dossier_seq FROM events WHERE dossier_code = 'RET-F'") == [(3,)]
    wait_until(lambda: count(gw, "deliveries", "state = 2") == 2, what="RET-F's third event delivered")
    rc, out = run_cli(gw, "audit", "verify")
    assert rc == 0 and "audit trail intact" in out, out
    return d_in


def test_prune_keeps_queued_and_dead_the_audit_chain_verifies_and_tampering_is_found(tmp, cleanup):
    archive = os.path.join(tmp, "audit-archive.jsonl")
    gw, sims = one_route(tmp, cleanup, retry=FAST_RETRY, gateway={"replay_window": "3s",
                                                                   "retention_archive": archive})
    d_in = check_prune_and_verify(gw, sims["portal"])
    gw.stop()
    # the pruned rows went to the archive, which ends at the checkpoint
    assert os.stat(archive).st_mode & 0o777 == 0o600
    with open(archive) as f:
        lines = f.read().splitlines()
    assert [json.loads(l)["seq"] for l in lines] == list(range(1, d_in)), lines
    rc, out = run_cli(gw, "audit", "verify", "--archive", archive)
    assert rc == 0 and "archive %s intact: 5 rows (1 to %d) from the trail's first row, ending at the store's " \
        "checkpoint" % (archive, d_in - 1) in out, out
    with open(archive, "a") as f:            # a batch archived again after its commit failed
        f.write(lines[-1] + "\n")
    assert run_cli(gw, "audit", "verify", "--archive", archive)[0] == 0
    for i, change in ((1, lambda r: r.update(peer="peer-x")), (4, lambda r: r.update(seq=r["seq"] + 1))):
        rows = [json.loads(l) for l in lines]
        change(rows[i])
        with open(archive, "w") as f:
            f.write("".join(json.dumps(r) + "\n" for r in rows))
        rc, out = run_cli(gw, "audit", "verify", "--archive", archive)
        assert rc == 1 and "archive %s BROKEN: " % archive in out, out
    with open(archive, "w") as f:
        f.write("".join(l + "\n" for l in lines[:-1]))
    rc, out = run_cli(gw, "audit", "verify", "--archive", archive)
    assert rc == 1 and "it ends at row %d, the store's checkpoint is row %d" % (d_in - 2, d_in - 1) in out, out
    pristine = os.path.join(tmp, "pristine.db")
    shutil.copy(gw.db, pristine)

    def tampered(sql, words):
        shutil.copy(pristine, gw.db)
        subprocess.run(["sqlite3", gw.db, sql], check=True)
        rc, out = run_cli(gw, "audit", "verify")
        assert rc == 1 and "audit trail BROKEN" in out and words in out, (sql, out)

    tampered("UPDATE audit_pruned SET hash = '%s'" % ("0" * 64), "does not follow the checkpoint")
    tampered("DELETE FROM audit_pruned", "does not follow the row before it")
    tampered("UPDATE audit SET peer = 'peer-x' WHERE seq = %d" % d_in, "content does not match its hash")
    tampered("DELETE FROM audit WHERE seq = %d" % (d_in + 1), "does not follow the row before it")
    tampered("UPDATE audit_pruned SET seq = %d" % (d_in + 2), "at or before the checkpoint")
    shutil.copy(pristine, gw.db)
    assert run_cli(gw, "audit", "verify")[0] == 0


def test_retention_prunes_at_start_and_sqlite_reuses_the_space(tmp, cleanup):
    """With retention set the gateway prunes at start (and hourly); the pages
    freed are reused by new events: the file does not grow."""
    gw, sims = one_route(tmp, cleanup, gateway={"replay_window": "3s", "retention": "3s"})
    portal = sims["portal"]

    def ingest(tag, n=400, per=50):
        for m in range(0, n, per):
            body = {"events": [event("RET-%s-%04d" % (tag, m + k)) for k in range(per)]}
            assert gw.post("peer-a", body, "%s-%d" % (tag, m))[0] == 202
        wait_until(lambda: count(gw, "deliveries", "state = 2") >= n, timeout=60, what="%s delivered" % tag)

    def pages():
        (page_count,), = gw.query("PRAGMA page_count")
        (freelist,), = gw.query("PRAGMA freelist_count")
        (size,), = gw.query("PRAGMA page_size")
        return page_count * size, freelist * size

    def runs():
        return [l for l in gw.log_lines() if l["event"] == "prune.done"]

    wait_until(lambda: len(runs()) == 1, what="the pruning at start")
    gw.stop()
    empty, _ = pages()
    gw.start()
    ingest("A")
    gw.stop()
    used, _ = pages()
    print("\nSQLite: %d bytes for 400 events delivered: %.0f bytes per event" % (used, (used - empty) / 400))
    time.sleep(3.5)
    n = len(runs())
    gw.start()
    wait_until(lambda: len(runs()) == n + 1, what="the pruning at start")
    line = runs()[-1]
    assert line["trigger"] == "retention" and line["events"] == 400 and line["messages"] == 8, line
    assert count(gw, "events") == 0 and count(gw, "deliveries") == 0 and count(gw, "attempts") == 0
    assert count(gw, "audit") == 1, "all but the audit trail's last row"
    assert run_cli(gw, "audit", "verify")[0] == 0
    gw.stop()      # a checkpoint of the WAL into the file: the freed pages are in its free list
    total, free = pages()
    print("SQLite: %d bytes, %d free after pruning them" % (total, free))
    assert total == used and free > (used - empty) / 2, (used, total, free)
    gw.start()
    ingest("B")
    gw.stop()
    total2, free2 = pages()
    print("SQLite: %d bytes (%d free) with 400 new events: the file grew by %d bytes" % (total2, free2,
                                                                                      total2 - total))
    # what stays of each pruned dossier (its state for the report, a pruned_dossiers row)
    # and the index made for pruning take some; the events' pages are reused
    assert total2 - total < (used - empty) / 3, "freed pages were not reused: %d, %d then %d bytes" % (
        used, total, total2)


def test_a_replay_after_pruning_is_still_refused_within_replay_window(tmp, cleanup):
    from test_replay import LAND, envelope
    gw = cleanup.add(Gateway(tmp, {LAND: {"adapter": "edxml"}}, {}))

    def post(body, mid):
        return gw.post(LAND, body, mid, content_type="application/xml", raw=True, sign=False)

    signed = sign_xml(envelope(vn_time(-20)), LAND)
    assert post(signed, "env-1")[0] == 202
    time.sleep(1.1)
    rc, out = run_cli(gw, "prune", "--before", now_rfc3339())
    assert rc == 0 and "pruned before" in out and "1 dossiers (1 events" in out and ", 0 messages" in out, out
    assert count(gw, "events") == 0 and count(gw, "messages") == 1
    st, doc, _ = post(signed + b"\r\n", "env-2")
    assert st == 409 and doc["detail"].startswith("replay: this signed document") and "env-1" in doc["detail"], doc


def test_prune_refuses_what_makes_no_sense(tmp, cleanup):
    gw, _ = one_route(tmp, cleanup)
    rc, out = run_cli(gw, "prune")
    assert rc == 2 and "before is needed: [gateway] retention is off" in out, out
    rc, out = run_cli(gw, "prune", "--before", "2999-01-01")
    assert rc == 2 and "before is in the future" in out, out
    rc, out = run_cli(gw, "prune", "--before", "yesterday")
    assert rc == 2 and "neither an RFC 3339 time nor a day" in out, out
    gw.stop()
    path = os.path.join(tmp, "bad.ini")
    with open(gw.config) as f:
        text = f.read()
    for value, words in (("forever", "retention must be off or a duration"), ("4000d", "at most 3660d"),
                         ("0.5s", "at least 1s")):
        with open(path, "w") as f:
            f.write(text.replace("[gateway]\n", "[gateway]\nretention = %s\n" % value, 1))
        r = subprocess.run([LIENTHONG, "check-config", "-c", path], capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and words in r.stderr, (value, r.stderr)
    with open(path, "w") as f:
        f.write(text.replace("[gateway]\n", "[gateway]\nretention = 400d\n", 1))
    r = subprocess.run([LIENTHONG, "check-config", "-c", path], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "retention 400d: finished dossiers older are pruned hourly; their audit rows " \
        "not archived" in r.stdout, r.stdout + r.stderr
    r = subprocess.run([LIENTHONG, "check-config", "-c", gw.config], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "retention off: everything is kept" in r.stdout, r.stdout + r.stderr


def test_pg_prune_keeps_queued_and_dead_and_the_audit_chain_verifies(tmp, cleanup):
    from test_store_pg import Postgres, pg_gateway
    pg = cleanup.add(Postgres(tmp))
    gw, sims = pg_gateway(tmp, cleanup, pg, retry=FAST_RETRY, gateway={"replay_window": "3s"})
    d_in = check_prune_and_verify(gw, sims["portal"])
    subprocess.run(["psql", "-X", "-q", "-d", pg.dsn, "-c", "UPDATE audit_pruned SET hash = '%s'" % ("0" * 64)],
                   check=True, capture_output=True, timeout=60)
    rc, out = run_cli(gw, "audit", "verify")
    assert rc == 1 and "does not follow the checkpoint" in out and "row %d " % d_in in out, out
