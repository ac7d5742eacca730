"""Peer faults: a paced stream of signed events fanned out to four destinations while each one
fails in its own way for part of the run —

    portal    answers slower than its timeout for a share of deliveries (timeouts)
    registry  503 (some with Retry-After) and 500 for a share
    office    hangs (accepts, never answers) then closes or resets connections for a share
    postal    trickles slow answers for a share, then vanishes (process stopped) and comes back

Every acknowledged event reaches every destination (repeats only under the same
Idempotency-Key), the backlogs drain, per-peer concurrency and rate limits hold, and the
portal's deliveries keep flowing while the office hangs and the postal peer is gone.

LT_FAULT_MINUTES=N runs the fault cycle, stretched 3x, for about N minutes instead of once.
LT_FIGURES=DIR writes DIR/faults.json with what was measured.  Under ASan or valgrind the
latency bound is not asserted (the figures are still written): an instrumented gateway is
slow for reasons that have nothing to do with faulty peers.  Under valgrind, where the gateway
takes about one event a second, neither is whether each fault was met."""
import http.client
import json
import os
import threading
import time

from harness import INSTRUMENTED, SLOW, VALGRIND, Gateway, Peersim, event, signed_post, wait_until

MINUTES = float(os.environ.get("LT_FAULT_MINUTES", "0") or 0)
SCALE = 3 if MINUTES > 0 else 1           # phase lengths are multiplied by this
PACE = 25                                 # events posted per second
LIMITS = {
    "portal": {"concurrency": 4, "timeout": "1s"},
    "registry": {"concurrency": 3, "timeout": "2s"},
    "office": {"concurrency": 3, "timeout": "4s"},
    "postal": {"concurrency": 4, "timeout": "2s", "rate": "60/s"},
}
HEALTHY = "portal"                        # healthy while the office hangs and the postal peer is gone
HANG_TIMEOUT_MS = 4000                    # the office's timeout: what a stalled dispatcher would cost


def seconds(s):
    return s * SCALE


def phase_calm(sims):
    for sim in sims.values():
        if sim.proc:
            sim.clear()


def phase_hang(sims):
    """The office hangs; the registry, overloaded, fails a share with 5xx after a while; the
    postal peer is slow."""
    sims["office"].fail(hang=True)
    sims["registry"].fail(status=503, retry_after="1", delay_ms=150, share=0.2, seed=11)
    sims["registry"].fail(status=500, delay_ms=150, share=0.2, seed=12)
    sims["postal"].fail(trickle_ms=300, share=0.3, seed=13)


def phase_vanish(sims):
    """The postal peer's process is stopped; the office closes or resets a share of connections."""
    sims["office"].clear()
    sims["office"].fail(drop=True, share=0.15, seed=21)
    sims["office"].fail(reset=True, share=0.15, seed=22)
    sims["registry"].clear()
    sims["postal"].stop()


def phase_timeouts(sims):
    """The postal peer is back on the same port; the portal answers a share after its timeout."""
    sims["office"].clear()
    sims["postal"].start()
    sims["portal"].fail(delay_ms=1500, share=0.25, seed=31)


# (name, length in seconds before SCALE, what starts it); HEALTHY is healthy in hang and vanish
CYCLE = (("calm", 4, phase_calm), ("hang", 6, phase_hang), ("vanish", 6, phase_vanish),
         ("timeouts", 4, phase_timeouts))


class PacedSender(threading.Thread):
    """Posts one signed event every 1/PACE s from peer-a until stopped; a message that is not
    acknowledged is sent again (same id, same body), as a peer would.  Keeps, per message, when
    it was first posted, the phase then, and the event ids of its receipt."""

    def __init__(self, gw):
        super().__init__(daemon=True)
        self.gw = gw
        self.phase = "calm"
        self.sent = {}          # message id -> (first post, wall ms; phase)
        self.acked = {}         # message id -> event ids
        self.refused = 0
        self.stop_flag = False
        self.error = None

    def run(self):
        try:
            self.send_all()
        except Exception as e:      # reported by the test, not lost in a thread
            self.error = repr(e)

    def send_all(self):
        conn = None
        t0 = time.monotonic()
        i = 0
        while not self.stop_flag:
            wait = t0 + i / PACE - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            mid = "f-%06d" % i
            data = json.dumps(event("FA-%03d" % (i % 37), "dossier.step", detail={"n": i})).encode()
            self.sent[mid] = (time.time() * 1000, self.phase)
            while not self.stop_flag:
                try:
                    conn = conn or self.gw.connect("peer-a", timeout=10)
                    status, doc = signed_post(conn, "peer-a", mid, data)
                except (OSError, http.client.HTTPException, ValueError):
                    status = None
                    if conn:
                        conn.close()
                    conn = None
                if status in (200, 202):
                    self.acked[mid] = [e["event_id"] for e in doc["events"]]
                    break
                self.refused += 1
                time.sleep(0.05)
            i += 1
        if conn:
            conn.close()


def p95(values):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(0.95 * len(v)))]


def most_in_window(times_ms, window_ms):
    """The most arrivals within any window_ms."""
    t = sorted(times_ms)
    best = lo = 0
    for hi in range(len(t)):
        while t[hi] - t[lo] >= window_ms:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def ok(rec):
    return 200 <= (rec.get("status") or 0) < 300


def test_peer_faults_lose_nothing_keep_limits_and_do_not_slow_healthy_peers(tmp, cleanup):
    sims = {name: cleanup.add(Peersim(tmp, name)) for name in LIMITS}
    peers = {"peer-a": {}}
    for name, lim in LIMITS.items():
        peers[name] = dict(lim, url=sims[name].url)
    gw = cleanup.add(Gateway(tmp, peers, {"fan-out": {"from": "peer-a", "to": " ".join(LIMITS)}},
                             retry={"initial": "100ms", "max_delay": "1s", "max_age": "1h"}))
    cycles = max(1, round(MINUTES)) if MINUTES > 0 else 1
    sender = PacedSender(gw)
    t_start = time.monotonic()
    sender.start()
    try:
        for _ in range(cycles):
            for name, length, start in CYCLE:
                start(sims)
                sender.phase = name
                time.sleep(seconds(length))
                assert sender.error is None, sender.error
    finally:
        sender.stop_flag = True
        sender.join(15)
        if not sims["postal"].proc:
            sims["postal"].start()
        phase_calm(sims)
    stream_s = time.monotonic() - t_start
    assert sender.error is None, sender.error

    # the backlogs drain once every peer answers again
    for name in LIMITS:
        wait_until(lambda: gw.metric("lienthong_queue_depth", peer=name) == 0, timeout=60 * SCALE * SLOW,
                   step=0.25, what="queue of %s to drain (depth %s)" % (
                       name, gw.metric("lienthong_queue_depth", peer=name)))
    assert gw.query("SELECT COUNT(*) FROM deliveries WHERE state != 2") == [(0,)], \
        gw.query("SELECT state, COUNT(*) FROM deliveries GROUP BY state")

    acked = {e: mid for mid, evs in sender.acked.items() for e in evs}
    recs = {name: sims[name].recorded() for name in LIMITS}
    events_of = {name: [json.loads(r["body"])["event_id"] for r in rs] for name, rs in recs.items()}

    # what each destination accepted while the gateway still listened (client_gone_ms: the
    # gateway had given up on that attempt), and the repeats among what it accepted
    lost, delivered, duplicates, same_key = {}, {}, {}, {}
    for name, rs in recs.items():
        heard = {e for r, e in zip(rs, events_of[name]) if ok(r) and "client_gone_ms" not in r}
        lost[name] = sorted(set(acked) - heard)
        delivered[name] = len(set(acked) & heard)
        keys = {}
        for r, e in zip(rs, events_of[name]):
            if ok(r):
                keys.setdefault(e, []).append(r["headers"].get("idempotency-key"))
        duplicates[name] = sum(len(k) - 1 for k in keys.values())
        same_key[name] = sum(k[1:].count(e) for e, k in keys.items() if k[0] == e)

    # most in flight at once at each peer (across the postal peer's restart: each record has
    # the count at its arrival); the most arrivals at the rate-limited peer in any 2 s
    max_seen = {name: max([r.get("inflight", 0) for r in rs] + [sims[name].count()["max_inflight"]])
                for name, rs in recs.items()}
    rate = float(LIMITS["postal"]["rate"].split("/")[0])
    arrivals = [r["at_ms"] for r in recs["postal"]]
    peak_2s = most_in_window(arrivals, 2000)

    # the portal's delivery latency (first arrival at the portal minus first post) for events
    # posted while the office hung or the postal peer was gone, against calm
    first_at = {}
    for r, e in zip(recs[HEALTHY], events_of[HEALTHY]):
        first_at[e] = min(first_at.get(e, r["at_ms"]), r["at_ms"])
    lat = {"calm": [], "fault": []}
    for e, mid in acked.items():
        posted, phase = sender.sent[mid]
        if phase == "calm":
            lat["calm"].append(first_at.get(e, float("inf")) - posted)
        elif phase in ("hang", "vanish"):
            lat["fault"].append(first_at.get(e, float("inf")) - posted)
    base, fault = p95(lat["calm"]), p95(lat["fault"])

    figures = {
        "minutes": round(stream_s / 60.0, 2),
        "events_acked": len(acked),
        "destinations": len(LIMITS),
        "delivered": sum(delivered.values()),     # (event, destination) pairs accepted
        "lost": sum(len(l) for l in lost.values()),
        "duplicates": sum(duplicates.values()),
        "duplicates_same_key": sum(same_key.values()),
        "max_concurrency_seen": max_seen,
        "concurrency_limit": {n: l["concurrency"] for n, l in LIMITS.items()},
        "healthy_peer": HEALTHY,
        "healthy_peer_p95_ms": round(fault) if fault is not None and fault != float("inf") else None,
        "healthy_peer_calm_p95_ms": round(base) if base is not None and base != float("inf") else None,
        "postal_rate_limit_per_s": rate,
        "postal_most_in_2s": peak_2s,
        "attempts": {n: len(rs) for n, rs in recs.items()},
        "duplicates_by_peer": duplicates,
        "refused_posts": sender.refused,
    }
    if os.environ.get("LT_FIGURES"):
        os.makedirs(os.environ["LT_FIGURES"], exist_ok=True)
        with open(os.path.join(os.environ["LT_FIGURES"], "faults.json"), "w") as f:
            json.dump(figures, f, indent=1, sort_keys=True)
    print("    faults: " + json.dumps(figures, sort_keys=True))

    share = 0.02 if VALGRIND else 0.1 if INSTRUMENTED else 0.5    # of what the pace would post
    assert len(acked) >= PACE * sum(length for _, length, _ in CYCLE) * SCALE * cycles * share, \
        (len(acked), sender.refused)

    # nothing lost: every acknowledged event was accepted by every destination; a repeat of an
    # event carries the Idempotency-Key of the first (its event id, also in X-Message-Id)
    assert not any(lost.values()), {n: (len(l), l[:5]) for n, l in lost.items()}
    assert same_key == duplicates, (same_key, duplicates)
    for name, rs in recs.items():
        for r, e in zip(rs, events_of[name]):
            assert r["headers"]["idempotency-key"] == r["headers"]["x-message-id"] == e, (name, r["headers"])

    # per-dossier order held through the faults: no attempt of a dossier's next event reached a
    # destination before the gateway heard the previous one accepted
    for name, rs in recs.items():
        heard_at, first_n = {}, {}
        for r in sorted(rs, key=lambda r: r["at_ms"]):
            n = json.loads(r["body"])["detail"]["n"]
            first_n.setdefault(n, r["at_ms"])
            if ok(r) and "client_gone_ms" not in r:
                heard_at.setdefault(n, r["answered_ms"])
        early = [n for n, t in first_n.items() if n >= 37 and t < heard_at.get(n - 37, 0)]
        assert not early, (name, early[:5])

    # the faults happened: hangs ended by the client, closes and resets, 5xx, slow answers; and
    # the hang filled the office's slots, so the measure below could see a breach
    def count(name, pred):
        return sum(1 for r in recs[name] if pred(r))
    if not VALGRIND:
        assert count("office", lambda r: r["status"] == 0 and "client_gone_ms" in r) >= 1
        assert count("office", lambda r: r["status"] == 0 and "client_gone_ms" not in r) >= 1
        assert count("registry", lambda r: r["status"] in (500, 503)) >= 1
        assert count("portal", lambda r: "client_gone_ms" in r) >= 1
        assert count("postal", lambda r: r["answered_ms"] - r["at_ms"] >= 250) >= 1
        assert max_seen["office"] == LIMITS["office"]["concurrency"], max_seen

    # per-peer limits: never more in flight at a peer than its concurrency; the rate bucket
    # holds `rate` attempts and refills at `rate` a second
    for name in LIMITS:
        assert max_seen[name] <= LIMITS[name]["concurrency"], (name, max_seen[name], LIMITS[name])
    # counted where they arrive, not where they start: connection and TLS set-up spread the starts
    # by up to a quarter second on a loaded machine (181 > 180 seen), so that much rate is slack
    slack = max(3, rate // 4)
    assert peak_2s <= rate * 2 + rate + slack, (peak_2s, rate)
    span_s = (max(arrivals) - min(arrivals)) / 1000.0
    assert len(arrivals) <= rate * span_s + rate + slack, (len(arrivals), span_s, rate)

    # one bad peer never slows the others: the portal kept receiving while the office hung and
    # the postal peer was gone, about as fast as when all was calm
    assert len(lat["fault"]) >= PACE * 12 * SCALE * cycles * share, len(lat["fault"])
    bound = min(HANG_TIMEOUT_MS * 0.75, max(2000, 4 * base))
    assert INSTRUMENTED or fault < bound, ("portal p95 during faults %d ms, calm %d ms, bound %d ms" % (
        fault, base, bound))
