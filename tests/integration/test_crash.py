"""kill -9 of the gateway during a stream of events, many times: every
acknowledged event is delivered afterwards."""
import http.client
import json
import os
import random
import threading
import time

from harness import SLOW, Gateway, Peersim, event, signed_post, wait_until

CYCLES = int(os.environ.get("LT_CRASH_CYCLES", "10"))


class Sender(threading.Thread):
    """Posts a stream of events; resends what was not acknowledged (same id,
    same body), as a peer would. Records the receipts it got."""

    def __init__(self, gw, total):
        super().__init__(daemon=True)
        self.gw = gw
        self.todo = [("c-%05d" % i, event("CR-%03d" % (i % 37), "dossier.step", detail={"n": i}))
                     for i in range(total)]
        self.acked = {}        # message id -> event ids
        self.refused = 0
        self.stop_flag = False

    def run(self):
        deadline = time.monotonic() + 300 + 3 * CYCLES
        conn = None
        while self.todo and not self.stop_flag and time.monotonic() < deadline:
            mid, body = self.todo[0]
            try:
                conn = conn or self.gw.connect("peer-a", timeout=5)
                status, doc = signed_post(conn, "peer-a", mid, json.dumps(body).encode())
            except (OSError, http.client.HTTPException, ValueError):
                self.refused += 1
                if conn:
                    conn.close()
                conn = None
                time.sleep(0.02)
                continue
            if status in (200, 202):
                self.acked[mid] = [e["event_id"] for e in doc["events"]]
                self.todo.pop(0)
            else:
                self.refused += 1
                time.sleep(0.02)


def test_kill9_during_stream_loses_no_acknowledged_event(tmp, cleanup):
    rnd = random.Random(int(os.environ.get("LT_CRASH_SEED", "20261124")))
    portal = cleanup.add(Peersim(tmp, "portal"))
    registry = cleanup.add(Peersim(tmp, "registry"))
    registry.fail(status=503, share=0.3, seed=7)    # one destination flaky during the campaign
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}, "portal": {"url": portal.url, "concurrency": 8},
                                   "registry": {"url": registry.url, "concurrency": 4}},
                             {"all": {"from": "peer-a", "to": "portal registry"}},
                             retry={"initial": "50ms", "max_delay": "300ms"}))
    sender = Sender(gw, 100000)
    sender.start()
    kills = 0
    try:
        for cycle in range(CYCLES):
            time.sleep(rnd.uniform(0.2, 0.8) * SLOW)   # under valgrind a start takes seconds
            gw.kill9()
            kills += 1
            time.sleep(rnd.uniform(0.0, 0.2))
            gw.start()
    finally:
        time.sleep(0.5)
        sender.stop_flag = True
        sender.join(10)
    registry.clear()
    acked_events = {e for evs in sender.acked.values() for e in evs}
    assert kills == CYCLES and len(acked_events) > 50, (kills, len(acked_events))

    def delivered(sim):
        return {r["headers"]["x-message-id"] for r in sim.received(ok_only=True)}

    for sim in (portal, registry):
        wait_until(lambda: acked_events <= delivered(sim), timeout=60,
                   what="every acknowledged event at %s (%d missing)" % (
                       sim.name, len(acked_events - delivered(sim))))
    # duplicates only ever carry the same idempotency key as the original
    for sim in (portal, registry):
        for r in sim.received(ok_only=True):
            assert r["headers"]["idempotency-key"] == r["headers"]["x-message-id"]
            assert json.loads(r["body"])["event_id"] == r["headers"]["x-message-id"]
    # nothing the gateway stored is lost either: each stored event reached both peers
    stored = {row[0] for row in gw.query("SELECT event_id FROM events")}
    assert acked_events <= stored
    dup_portal = len(portal.received(ok_only=True)) - len(delivered(portal))
    dup_registry = len(registry.received(ok_only=True)) - len(delivered(registry))
    lost = len(acked_events - delivered(portal)) + len(acked_events - delivered(registry))
    print("    crash cycles=%d acknowledged=%d refused_or_cut=%d portal_duplicates=%d registry_duplicates=%d" % (
        kills, len(acked_events), sender.refused, dup_portal, dup_registry))
    where = os.environ.get("LT_FIGURES")
    if where:
        with open(os.path.join(where, "crash.json"), "w") as f:
            json.dump({"cycles": kills, "acknowledged": len(acked_events), "destinations": 2,
                       "delivered": len(acked_events & delivered(portal)) + len(acked_events & delivered(registry)),
                       "lost": lost, "duplicates": dup_portal + dup_registry,
                       "duplicates_same_key": dup_portal + dup_registry, "refused_or_cut": sender.refused}, f, indent=1)
