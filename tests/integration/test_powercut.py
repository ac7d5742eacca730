"""Power cuts, not only process death. The gateway runs under the power-cut VFS
(tests/powercut/lazyvfs.c): its SQLite writes stay in memory until fsync, so a
kill -9 loses everything a power cut would, which a plain kill -9 cannot (the
page cache keeps what the process wrote). Under a stream of signed events to
two destinations, cut after cut: what each cut left opens cleanly, passes
integrity_check and holds every event acknowledged before it; in the end every
acknowledged event is delivered to both destinations. And a power cut after a
failing fsync loses nothing acknowledged either.

LT_POWERCUT_CYCLES lengthens the campaign (make reliability)."""
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import time

from harness import SLOW, Gateway, Peersim, Sender, campaign_gateway, check_all_delivered, event, lazyvfs_env

CYCLES = int(os.environ.get("LT_POWERCUT_CYCLES", "5"))

# A program that commits rows under the power-cut VFS, synced and then not.
WRITER = r"""
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode=%s" % sys.argv[2])
db.execute("CREATE TABLE t (n INTEGER, pad TEXT)")
for sync, rows in (("FULL", range(0, 50)), ("OFF", range(50, 100))):
    db.execute("PRAGMA synchronous=" + sync)
    for n in rows:
        db.execute("INSERT INTO t VALUES (?, ?)", (n, "x" * 3000))
print(db.execute("SELECT COUNT(*) FROM t").fetchone()[0], flush=True)
time.sleep(60)
"""


def what_the_cut_left(db, scratch):
    """Open a copy of the database and its WAL as the cut left them (not the -shm:
    SQLite rebuilds the wal-index of a dead process): integrity_check's answer and
    the stored message and event ids (none if the cut lost even the schema)."""
    os.makedirs(scratch)
    copy = os.path.join(scratch, "copy.db")
    for suffix in ("", "-wal"):
        if os.path.exists(db + suffix):
            shutil.copyfile(db + suffix, copy + suffix)
    conn = sqlite3.connect(copy)
    try:
        integrity = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        messages, events = set(), set()
        if conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE name IN ('messages', 'events')").fetchone()[0] == 2:
            messages = {r[0] for r in conn.execute("SELECT message_id FROM messages")}
            events = {r[0] for r in conn.execute("SELECT event_id FROM events")}
    finally:
        conn.close()
        shutil.rmtree(scratch)
    return integrity, messages, events


def test_lazyvfs_loses_what_was_not_fsynced(tmp, cleanup):
    """The campaign below would pass vacuously if the VFS kept unsynced writes:
    rows committed with synchronous=FULL survive a kill -9 under it, rows
    committed with synchronous=OFF (never fsync'd) are lost, in WAL and in
    rollback-journal mode."""
    for mode in ("wal", "delete"):
        db = os.path.join(tmp, "%s.db" % mode)
        p = subprocess.Popen(["/usr/bin/python3", "-c", WRITER, db, mode], stdout=subprocess.PIPE,
                             env=dict(os.environ, **lazyvfs_env()))
        try:
            assert p.stdout.readline().strip() == b"100", "the writer did not see its 100 rows"
        finally:
            p.kill()
            p.wait()
        conn = sqlite3.connect(db)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            rows = [r[0] for r in conn.execute("SELECT n FROM t ORDER BY n")]
        finally:
            conn.close()
        assert rows == list(range(50)), "%s mode: %d rows after the cut, %s..%s; want the 50 synced" % (
            mode, len(rows), rows[:1], rows[-1:])


def test_power_cuts_during_stream_lose_no_acknowledged_event(tmp, cleanup):
    rnd = random.Random(int(os.environ.get("LT_POWERCUT_SEED", "20261124")))
    gw, portal, registry = campaign_gateway(tmp, cleanup, env=lazyvfs_env())
    # two senders, so that group commits hold several posts; padded events reach a checkpoint sooner
    senders = [Sender(gw, 100000, prefix="p%d" % i, seconds=300 + 5 * CYCLES, pad=2000) for i in range(2)]
    for s in senders:
        s.start()
    inside = outside = in_flight = checked = 0
    try:
        for cycle in range(CYCLES):
            # Half the cuts at a random moment, from outside. The other half from inside, at a
            # random fsync with writes pending (of a commit or, one in two, of a checkpoint):
            # what it was to make durable is lost, or a random half of it reaches the disk.
            if cycle % 2 == 0:
                time.sleep(rnd.uniform(0.2, 0.8) * SLOW)
                gw.kill9()
                outside += 1
            else:
                try:
                    gw.proc.wait(30 * SLOW)
                except subprocess.TimeoutExpired:
                    raise AssertionError("no power cut within 30 s (%s)" % gw.env)
                gw.stop()
                inside += 1
            acked = {}
            for s in senders:
                acked.update(s.acked)       # every 202 here came before the cut
            integrity, messages, events = what_the_cut_left(gw.db, os.path.join(tmp, "cut-%d" % cycle))
            assert integrity == ["ok"], "cut %d left a damaged database: %s" % (cycle, integrity[:5])
            lost = set(acked) - messages
            assert not lost, "cut %d lost %d acknowledged messages: %s" % (cycle, len(lost), sorted(lost)[:5])
            lost = {e for evs in acked.values() for e in evs} - events
            assert not lost, "cut %d lost %d acknowledged events: %s" % (cycle, len(lost), sorted(lost)[:5])
            checked += 1
            in_flight += len(messages - set(acked))    # committed, the 202 cut off before its sender read it
            time.sleep(rnd.uniform(0.0, 0.2))
            gw.env = lazyvfs_env()
            armed = cycle % 2 == 0 and cycle < CYCLES - 1     # the next cut comes from inside
            if armed:
                at_db = cycle % 4 == 2
                gw.env = lazyvfs_env(cut_at_sync=rnd.randint(1, 2) if at_db else rnd.randint(20, 400),
                                     keep=rnd.choice((0, 50)), db_only=at_db)
            try:
                gw.start()
            except AssertionError:
                if not armed or gw.proc.poll() != -9:       # else: cut before it answered /healthz
                    raise
    finally:
        time.sleep(0.5)
        for s in senders:
            s.stop_flag = True
        for s in senders:
            s.join(10)
    registry.clear()
    acked_events = {e for s in senders for evs in s.acked.values() for e in evs}
    assert inside + outside == CYCLES and len(acked_events) > 50, (inside, outside, len(acked_events))
    cuts = [m.groups() for m in re.finditer(r"lazyvfs: power cut at (sync|database sync) \d+: (\d+) unsynced blocks "
                                            r"of 4 KiB in \d+ files, (\d+) lost, (\d+) kept", gw.log_text())]
    assert len(cuts) == inside, "the VFS reported %d cuts, the test saw %d" % (len(cuts), inside)
    assert all(int(c[1]) > 0 for c in cuts), "a cut from inside found nothing to lose: %s" % cuts
    figs = check_all_delivered(gw, (portal, registry), acked_events, timeout=90)
    assert gw.query("PRAGMA integrity_check") == [("ok",)]
    dups = sum(figs["duplicates"].values())
    refused = sum(s.refused for s in senders)
    at_db = sum(1 for c in cuts if c[0] == "database sync")
    blocks_lost = sum(int(c[2]) for c in cuts)
    blocks_kept = sum(int(c[3]) for c in cuts)
    print("    power cuts=%d (at a commit's fsync %d, at a checkpoint's %d, at random %d) acknowledged=%d "
          "committed_unanswered=%d unsynced_blocks_lost=%d kept=%d duplicates=%s" % (
              CYCLES, inside - at_db, at_db, outside, len(acked_events), in_flight, blocks_lost, blocks_kept,
              figs["duplicates"]))
    where = os.environ.get("LT_FIGURES")
    if where:
        with open(os.path.join(where, "powercut.json"), "w") as f:
            json.dump(dict(figs, cycles=CYCLES, cuts_at_fsync=inside - at_db, cuts_at_checkpoint=at_db,
                           cuts_at_random=outside, cuts_checked=checked, duplicates=dups, refused_or_cut=refused,
                           committed_unanswered=in_flight, blocks_lost=blocks_lost, blocks_kept=blocks_kept),
                      f, indent=1)


def test_power_cut_after_a_failing_fsync_loses_no_acknowledged_event(tmp, cleanup):
    """fsync fails for a moment, then works again, then the power goes. Linux keeps the
    writes of the failed fsync in its page cache, clean, never to be written (the VFS
    does the same). Regression: the store reopened after the failure read that commit
    back from the cache, WAL recovery took it for durable, the refused messages sent
    again got 200 and the next commits were appended after it and acknowledged; the
    power cut then lost them all, recovery stopping where the disk had nothing."""
    trigger = os.path.join(tmp, "fail-fsync")
    portal = cleanup.add(Peersim(tmp, "portal"))
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}, "portal": {"url": portal.url}},
                             {"all": {"from": "peer-a", "to": "portal"}},
                             retry={"initial": "50ms", "max_delay": "300ms"}, env=lazyvfs_env(fail_sync=trigger)))
    acked = {}

    def post(n):
        mid = "pf-%03d" % n
        status, doc, _ = gw.post("peer-a", event("PF-%d" % (n % 7), "dossier.step", detail={"n": n, "pad": "x" * 2000}),
                                 mid)
        if status in (200, 202):
            acked[mid] = [e["event_id"] for e in doc["events"]]
        return status

    for n in range(20):
        assert post(n) == 202
    open(trigger, "w").close()
    for n in range(20, 25):
        assert post(n) == 503, "acknowledged while fsync fails"
    os.unlink(trigger)
    again = [post(n) for n in range(20, 25)]        # the refused messages, sent again
    for n in range(25, 30):
        assert post(n) == 202
    gw.kill9()
    integrity, messages, events = what_the_cut_left(gw.db, os.path.join(tmp, "cut"))
    assert integrity == ["ok"], integrity[:5]
    lost = sorted(set(acked) - messages)
    assert not lost, "the power cut lost %d acknowledged messages: %s (the refused ones sent again got %s)" % (
        len(lost), lost, again)
    gw.env = lazyvfs_env()
    gw.start()
    check_all_delivered(gw, (portal,), {e for evs in acked.values() for e in evs})
