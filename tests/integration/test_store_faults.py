"""Store faults: the database's disk fills up, turns read-only, or is locked
by another process. While it lasts the gateway answers 503 with Retry-After
and a reason, never a 2xx without a durable write; when the store comes back
it recovers by itself, with no restart, and every acknowledged event is
delivered and recorded as delivered.

The disk is a real filesystem: a small tmpfs mounted for the test (the tests
run as root, as CI does). A failing fsync comes from the power-cut VFS
(tests/powercut/lazyvfs.c), loaded into the gateway. LT_STORE_FAULT_SECONDS makes each fault last longer
(the long campaign of `make reliability`)."""
import errno
import json
import os
import sqlite3
import subprocess
import threading
import time

from harness import Gateway, Peersim, Sender, event, lazyvfs_env, wait_until

FAULT_SECONDS = float(os.environ.get("LT_STORE_FAULT_SECONDS", "2"))
PAD = "x" * 6000        # big events fill the disk in a few hundred posts


class Tmpfs:
    def __init__(self, path, size):
        os.makedirs(path, exist_ok=True)
        self.path = path
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", path],
                           capture_output=True, text=True)
        assert r.returncode == 0, "cannot mount a tmpfs for the store (needs root): %s" % r.stderr

    def stop(self):
        subprocess.run(["umount", "-l", self.path], capture_output=True)


def fill(path):
    """Write a file until the filesystem is full; returns its path."""
    filler = os.path.join(path, "filler")
    chunk = b"\0" * 65536
    with open(filler, "wb", buffering=0) as f:
        for _ in range(100000):
            try:
                f.write(chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
                break
    # what is left is smaller than a chunk: take it too
    with open(filler, "ab", buffering=0) as f:
        for _ in range(65536):
            try:
                f.write(b"\0" * 512)
            except OSError:
                break
    return filler


class Stream:
    """Posts events one after another, as a one-stop office would, and keeps
    what the gateway answered."""

    def __init__(self, gw, prefix):
        self.gw = gw
        self.prefix = prefix
        self.n = 0
        self.acked = set()       # message ids answered 202
        self.refused = []        # (message id, status, body, headers)
        self.bodies = {}         # message id -> what was posted
        self.t0 = time.monotonic()

    def post(self):
        mid = "%s-%05d" % (self.prefix, self.n)
        self.n += 1
        self.bodies[mid] = event("SF-%03d" % (self.n % 41), "dossier.step", detail={"n": self.n, "pad": PAD})
        status, doc, headers = self.gw.post("peer-a", self.bodies[mid], mid)
        if status == 202:
            self.acked.add(mid)
        else:
            self.refused.append((mid, status, doc, headers))
        return status

    def resend_refused(self):
        """What a sender does with a 503: send the same message again. A commit
        whose fsync failed may still have reached the disk; then the resend gets
        200 with the original receipt, never a second copy."""
        again = {}
        for mid, *_ in self.refused:
            status, doc, _ = self.gw.post("peer-a", self.bodies[mid], mid)
            assert status in (200, 202), (mid, status, doc)
            again[status] = again.get(status, 0) + 1
            self.acked.add(mid)
        self.refused = []
        return again

    def until_refused(self, limit=3000):
        for _ in range(limit):
            if self.post() != 202:
                return self.refused[-1]
        raise AssertionError("the store never failed after %d posts" % limit)

    def until_accepted(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.post() == 202:
                return
            time.sleep(0.2)
        raise AssertionError("the gateway did not recover within %ds; last answer %s" % (
            timeout, self.refused[-1][1:3]))


def readyz(gw):
    try:
        gw.admin("/readyz")
        return True
    except OSError:
        return False


def setup(tmp, cleanup, size="6m"):
    disk = cleanup.add(Tmpfs(os.path.join(tmp, "disk"), size))
    portal = cleanup.add(Peersim(tmp, "portal"))
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}, "portal": {"url": portal.url, "concurrency": 4}},
                             {"all": {"from": "peer-a", "to": "portal"}},
                             retry={"initial": "50ms", "max_delay": "500ms"},
                             db=os.path.join(disk.path, "lienthong.db")))
    return disk, portal, gw


def check_refusal(refusal, reason_words):
    mid, status, doc, headers = refusal
    assert status == 503, refusal[1:]
    assert doc["error"] == "store_unavailable", doc
    assert any(w in doc["detail"] for w in reason_words), doc["detail"]
    assert "nothing was kept" in doc["detail"], doc["detail"]
    assert int(headers.get("Retry-After", "0")) > 0, headers


def check_nothing_lost(gw, portal, stream):
    """Every 202 was durable and is delivered and recorded; no 503 was kept."""
    stored = {r[0] for r in gw.query("SELECT message_id FROM messages")}
    assert stream.acked <= stored, "acknowledged but not stored: %s" % sorted(stream.acked - stored)[:5]
    kept = {m for m, *_ in stream.refused} & stored
    assert not kept, "refused with 503 but stored: %s" % sorted(kept)[:5]
    events = {r[0]: r[1] for r in gw.query("SELECT event_id, message_id FROM events")}

    def delivered():
        return {r["headers"]["x-message-id"] for r in portal.received(ok_only=True)}

    wait_until(lambda: set(events) <= delivered(), timeout=60,
               what="every stored event at the portal (%d missing)" % len(set(events) - delivered()))
    for r in portal.received(ok_only=True):
        assert r["headers"]["idempotency-key"] == r["headers"]["x-message-id"]
    # the outcomes the store refused were written again: nothing stays in flight
    wait_until(lambda: gw.query("SELECT COUNT(*) FROM deliveries WHERE state != 2")[0][0] == 0, timeout=30,
               what="every delivery recorded as done (%s)" % gw.query(
                   "SELECT state, COUNT(*) FROM deliveries GROUP BY state"))
    # the gauge (and max_backlog) counts what is on disk, even after commits
    # reported failed that had landed (regression: it drifted below zero)
    try:
        wait_until(lambda: gw.metric("lienthong_backlog") == 0, timeout=10, what="backlog gauge back to 0")
    except AssertionError:
        raise AssertionError("lienthong_backlog is %s; unfinished deliveries on disk: %s" % (
            gw.metric("lienthong_backlog"),
            gw.query("SELECT COUNT(*) FROM deliveries WHERE state IN (0, 1, 4)")[0][0]))
    # the dispatcher waits a second between failed claims (regression: it retried at once, in a loop)
    lines = gw.log_lines()
    claims = sum(1 for l in lines if l["event"] == "dispatch.claim_failed")
    span = (time.monotonic() - stream.t0) if hasattr(stream, "t0") else 600
    assert claims <= 2 * span + 5, "%d failed claims in %.0f s" % (claims, span)
    acked_events = {e for e, m in events.items() if m in stream.acked}
    return {"acknowledged": len(stream.acked), "refused": len(stream.refused),
            "lost": len(acked_events - delivered()), "duplicates": len(portal.received(ok_only=True)) - len(delivered())}


def figures(test, fault_s, counts):
    """One line per test in $LT_FIGURES/store_faults.jsonl (make reliability)."""
    where = os.environ.get("LT_FIGURES")
    if where:
        with open(os.path.join(where, "store_faults.jsonl"), "a") as f:
            f.write(json.dumps(dict(counts, test=test, fault_s=round(fault_s, 1))) + "\n")


def test_disk_full_answers_503_and_recovers_when_space_returns(tmp, cleanup):
    disk, portal, gw = setup(tmp, cleanup)
    stream = Stream(gw, "full")
    for _ in range(20):
        assert stream.post() == 202
    filler = fill(disk.path)
    refusal = stream.until_refused()
    check_refusal(refusal, ("full",))
    assert not readyz(gw), "/readyz should say not ready while the disk is full"
    t_fault = time.monotonic()
    while time.monotonic() - t_fault < FAULT_SECONDS:    # the fault lasts: every post is refused
        assert stream.post() == 503, stream.refused[-1][1:3] if stream.refused else None
        time.sleep(0.1)
    assert gw.proc.poll() is None, "the gateway died when its disk filled up"
    os.unlink(filler)
    stream.until_accepted()
    fault_s = time.monotonic() - t_fault
    for _ in range(20):
        assert stream.post() == 202
    wait_until(lambda: readyz(gw), timeout=10, what="/readyz ready again")
    figures("disk_full", fault_s, check_nothing_lost(gw, portal, stream))
    lines = gw.log_lines()
    assert any(l.get("event") == "store.commit_failed" and "full" in json.dumps(l) for l in lines)
    print("    acknowledged=%d refused=%d during %.1fs of full disk" % (
        len(stream.acked), len(stream.refused), FAULT_SECONDS))


class Ext4Disk:
    """A real ext4 filesystem on a loop device, mounted errors=remount-ro,
    that can be made to fail as a failing disk does (the kernel's
    trigger_fs_error turns it read-only) and then be repaired."""

    def __init__(self, tmp, size_mb=32):
        self.img = os.path.join(tmp, "disk.img")
        self.path = os.path.join(tmp, "disk")
        os.makedirs(self.path, exist_ok=True)
        with open(self.img, "wb") as f:
            f.truncate(size_mb << 20)
        run("mkfs.ext4", "-q", "-F", self.img)
        self.mount()

    def mount(self):
        run("mount", "-o", "loop,errors=remount-ro", self.img, self.path)
        self.dev = os.path.basename(run("findmnt", "-n", "-o", "SOURCE", self.path).strip())
        self.mounted = True

    def fail(self):
        with open("/sys/fs/ext4/%s/trigger_fs_error" % self.dev, "w") as f:
            f.write("1")

    def repair(self, timeout=30):
        """umount (the gateway must have let go of its files), fsck, mount."""
        deadline = time.monotonic() + timeout
        while True:
            r = subprocess.run(["umount", self.path], capture_output=True, text=True)
            if r.returncode == 0:
                break
            assert time.monotonic() < deadline, "the disk stayed busy: the gateway kept its files open (%s)" % r.stderr
            time.sleep(0.2)
        self.mounted = False
        r = subprocess.run(["e2fsck", "-f", "-y", self.img], capture_output=True, text=True)
        assert r.returncode in (0, 1), "e2fsck: %s %s" % (r.returncode, r.stdout + r.stderr)
        self.mount()

    def stop(self):
        if self.mounted:
            subprocess.run(["umount", "-l", self.path], capture_output=True)


def run(*argv):
    r = subprocess.run(argv, capture_output=True, text=True)
    assert r.returncode == 0, "%s: %s" % (" ".join(argv), r.stderr)
    return r.stdout


def test_disk_turning_read_only_answers_503_and_recovers_after_repair(tmp, cleanup):
    """The disk fails and the kernel turns the filesystem read-only: every
    post is refused with 503 and the gateway lets go of the database file,
    so the operator can unmount, fsck and mount the disk again without
    stopping it. Then it takes messages again by itself, and every event it
    acknowledged before the failure is still there and delivered."""
    disk = cleanup.add(Ext4Disk(tmp))
    portal = cleanup.add(Peersim(tmp, "portal"))
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}, "portal": {"url": portal.url, "concurrency": 4}},
                             {"all": {"from": "peer-a", "to": "portal"}},
                             retry={"initial": "50ms", "max_delay": "500ms"},
                             db=os.path.join(disk.path, "lienthong.db")))
    stream = Stream(gw, "ro")
    for _ in range(30):
        assert stream.post() == 202
    disk.fail()
    refusal = stream.until_refused(limit=50)
    check_refusal(refusal, ("readonly", "read-only", "disk I/O", "unable to open"))
    t_fault = time.monotonic()
    while time.monotonic() - t_fault < FAULT_SECONDS:
        assert stream.post() == 503
        time.sleep(0.1)
    assert not readyz(gw)
    disk.repair()
    stream.until_accepted()
    fault_s = time.monotonic() - t_fault
    for _ in range(10):
        assert stream.post() == 202
    wait_until(lambda: readyz(gw), timeout=10, what="/readyz ready again")
    refused = len(stream.refused)
    again = stream.resend_refused()
    counts = check_nothing_lost(gw, portal, stream)
    counts["refused"] = refused
    print("    %d refused while read-only; resent: %s (200 = the failed commit had reached the disk)" % (refused, again))
    figures("disk_read_only", fault_s, counts)
    assert gw.proc.poll() is None


def test_store_locked_by_another_process_answers_503_and_recovers(tmp, cleanup):
    """A backup tool or an operator's sqlite3 shell holding the write lock:
    the store waits its busy timeout, then the request is refused."""
    portal = cleanup.add(Peersim(tmp, "portal"))
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}, "portal": {"url": portal.url}},
                             {"all": {"from": "peer-a", "to": "portal"}}))
    stream = Stream(gw, "lk")
    for _ in range(5):
        assert stream.post() == 202
    holder = sqlite3.connect(gw.db, timeout=30, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    t_fault = time.monotonic()
    try:
        refusal = stream.until_refused(limit=3)
        check_refusal(refusal, ("locked", "busy"))
        assert not readyz(gw)
        time.sleep(max(0.0, FAULT_SECONDS - (time.monotonic() - t_fault)))
    finally:
        holder.execute("COMMIT")
        holder.close()
    stream.until_accepted()
    figures("store_locked", time.monotonic() - t_fault, check_nothing_lost(gw, portal, stream))


def test_disk_full_under_concurrent_stream_keeps_every_acknowledged_event(tmp, cleanup):
    """Four senders at once while the disk fills and empties twice: group
    commits that fail refuse every request in them; none is half-kept."""
    disk, portal, gw = setup(tmp, cleanup, size="8m")
    streams = [Stream(gw, "c%d" % i) for i in range(4)]
    stop = threading.Event()
    errors = []

    def run(s):
        try:
            while not stop.is_set() and s.n < 5000:
                s.post()
        except Exception as e:      # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(s,), daemon=True) for s in streams]
    for t in threads:
        t.start()
    fault_s = 0.0
    for _ in range(2):
        time.sleep(0.5)
        t_fault = time.monotonic()
        filler = fill(disk.path)
        wait_until(lambda: any(s.refused for s in streams), timeout=60, what="a refusal once the disk is full")
        time.sleep(FAULT_SECONDS / 2)
        os.unlink(filler)
        before = sum(len(s.acked) for s in streams)
        wait_until(lambda: sum(len(s.acked) for s in streams) > before + 10, timeout=60,
                   what="acknowledgements again once space returned")
        fault_s += time.monotonic() - t_fault
        for s in streams:
            s.refused_before = len(s.refused)
    stop.set()
    for t in threads:
        t.join(30)
    assert not errors, errors
    merged = Stream(gw, "all")
    merged.t0 = min(s.t0 for s in streams)
    for s in streams:
        merged.acked |= s.acked
        merged.refused += s.refused
        for r in s.refused:
            assert r[1] == 503 and r[2]["error"] in ("store_unavailable", "busy"), r[1:3]
    assert merged.refused, "no request was refused: the disk never filled"
    figures("disk_full_concurrent", fault_s, check_nothing_lost(gw, portal, merged))
    print("    acknowledged=%d refused=%d over two disk-full episodes" % (len(merged.acked), len(merged.refused)))


def test_failing_fsync_is_never_acknowledged(tmp, cleanup):
    """fsync fails with EIO (the power-cut VFS, while a trigger file exists; as Linux
    does, the writes it could not make durable stay readable in the page cache, and
    are never written): every post is refused with 503 naming the store's error,
    none is kept, and once fsync works again the gateway takes posts by itself;
    what it refused is accepted (202, not a duplicate) when sent again, and
    everything is delivered. Regression: the store reopened after the failure read
    the failed commit back from the cache, so a message sent again while fsync
    still failed got 200, acknowledged without ever being durable."""
    trigger = os.path.join(tmp, "fail-fsync")
    portal = cleanup.add(Peersim(tmp, "portal"))
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}, "portal": {"url": portal.url, "concurrency": 4}},
                             {"all": {"from": "peer-a", "to": "portal"}},
                             retry={"initial": "50ms", "max_delay": "500ms"}, env=lazyvfs_env(fail_sync=trigger)))
    stream = Stream(gw, "eio")
    for _ in range(20):
        assert stream.post() == 202
    keeper = Sender(gw, 100000, prefix="keep")      # one connection, resending what was refused
    keeper.start()
    wait_until(lambda: len(keeper.acked) > 5, what="the keep-alive sender's first acknowledgements")
    t_fault = time.monotonic()
    open(trigger, "w").close()
    assert stream.post() == 503, "acknowledged while fsync fails"
    check_refusal(stream.refused[-1], ("disk I/O error",))
    kept_before = len(keeper.acked) + 1         # a post of the sender's may have been committed already
    while time.monotonic() - t_fault < FAULT_SECONDS:
        assert stream.post() == 503, "acknowledged while fsync fails"
        time.sleep(0.05)
    assert len(keeper.acked) <= kept_before, "acknowledged while fsync fails: %d" % (len(keeper.acked) - kept_before)
    assert not readyz(gw)
    assert any(l["event"] == "store.commit_failed" and "disk I/O error" in l["error"] for l in gw.log_lines())
    stored = {r[0] for r in gw.durable_query("SELECT message_id FROM messages")}
    kept = {m for m, *_ in stream.refused} & stored
    assert not kept, "refused with 503 but stored: %s" % sorted(kept)[:5]
    os.unlink(trigger)
    stream.until_accepted()
    fault_s = time.monotonic() - t_fault
    wait_until(lambda: readyz(gw), timeout=10, what="/readyz ready again")
    wait_until(lambda: len(keeper.acked) > kept_before + 5, what="the keep-alive sender acknowledged again")
    keeper.stop_flag = True
    keeper.join(10)
    refused = len(stream.refused)
    again = stream.resend_refused()
    assert again == {202: refused}, "a refused post was kept after all: %s" % again
    stream.acked |= set(keeper.acked)
    counts = check_nothing_lost(gw, portal, stream)
    counts["refused"] = refused + keeper.refused
    print("    %d refused while fsync failed, %d acknowledged; the keep-alive sender was refused %d times" % (
        refused, counts["acknowledged"], keeper.refused))
    figures("fsync_fails", fault_s, counts)
