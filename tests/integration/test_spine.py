"""The gateway spine: intake, durability, routing, delivery with retries."""
import json
import time

from harness import SLOW, Gateway, Peersim, event, wait_until


def one_route(tmp, cleanup, retry=None, dests=("portal",), peer_opts=None, gateway=None):
    sims = {d: cleanup.add(Peersim(tmp, d)) for d in dests}
    peers = {"peer-a": {"inbound": "push"}}
    for d, sim in sims.items():
        peers[d] = {"url": sim.url, "concurrency": 4}
        peers[d].update((peer_opts or {}).get(d, {}))
    gw = cleanup.add(Gateway(tmp, peers, {"all": {"from": "peer-a", "to": " ".join(dests)}}, retry=retry,
                             gateway=gateway))
    return gw, sims


def test_accepted_event_is_delivered_with_stable_ids(tmp, cleanup):
    gw, sims = one_route(tmp, cleanup)
    status, doc, _ = gw.post("peer-a", event("000.00.12.H12-261122-0001"), "msg-1")
    assert status == 202, (status, doc)
    assert doc["status"] == "accepted" and doc["message_id"] == "msg-1"
    ev = doc["events"][0]
    assert ev["routed_to"] == ["portal"]
    recs = wait_until(lambda: sims["portal"].received(ok_only=True), what="delivery")
    r = recs[0]
    body = json.loads(r["body"])
    assert body["dossier_code"] == "000.00.12.H12-261122-0001"
    assert body["event_id"] == ev["event_id"] and body["source"] == "peer-a"
    assert r["headers"]["x-message-id"] == ev["event_id"]
    assert r["headers"]["idempotency-key"] == ev["event_id"]
    wait_until(lambda: gw.query("SELECT state FROM deliveries") == [(2,)], what="delivery marked done")
    lines = [l for l in gw.log_lines() if l["event"] == "delivery.done"]
    assert lines and lines[0]["dossier_code"] == "000.00.12.H12-261122-0001"
    assert lines[0]["message_id"] == ev["event_id"] and lines[0]["peer"] == "portal"


def test_a_healthy_run_logs_no_error(tmp, cleanup):
    """An operator alerting on error lines gets none when all is well.
    (Regression: the SLA sweep used to fail, with an empty message, every
    time it found no dossier to check.)"""
    gw, sims = one_route(tmp, cleanup, gateway=None)
    for i in range(5):
        assert gw.post("peer-a", event("000.00.12.H12-261124-%04d" % i), "ok-%d" % i)[0] == 202
    wait_until(lambda: len(sims["portal"].received(ok_only=True)) == 5, what="five deliveries")
    wait_until(lambda: any(l["event"] == "delivery.done" for l in gw.log_lines()), what="deliveries recorded")
    assert gw.stop() == 0
    errors = [l for l in gw.log_lines() if l.get("level") in ("error", "fatal")]
    assert not errors, errors


def test_destination_down_then_back_is_delivered_with_backoff(tmp, cleanup):
    gw, sims = one_route(tmp, cleanup, retry={"initial": "100ms", "max_delay": "800ms"})
    portal = sims["portal"]
    portal.stop()                                  # connection refused: really down
    status, doc, _ = gw.post("peer-a", event("D-DOWN-1"), "m-down")
    assert status == 202
    wait_until(lambda: (gw.query("SELECT attempts FROM deliveries")[0][0] or 0) >= 4, timeout=20,
               what="several failed attempts")
    assert portal.received() == [] if portal.proc else True
    portal.start()                                 # back on the same port
    wait_until(lambda: portal.received(ok_only=True), timeout=20, what="delivery after return")
    wait_until(lambda: gw.query("SELECT state FROM deliveries") == [(2,)], what="delivery recorded as done")
    rows = gw.query("SELECT a.n, a.at, a.outcome FROM attempts a ORDER BY a.n")
    assert rows[-1][2] == "done" and all(r[2] == "retry" for r in rows[:-1]), rows
    # backoff: far fewer attempts than a busy loop would make, each wait drawn (full jitter)
    # below a cap that doubles from retry.initial up to retry.max_delay. (A bound on the
    # total span flaked: four full-jitter waits can sum to under 300 ms.)
    assert len(rows) < 40, len(rows)
    logged = [l for l in gw.log_lines() if l["event"] == "delivery.retry"]
    assert logged and all(0 <= l["retry_in_ms"] <= min(800, 100 * 2 ** (l["attempt"] - 1)) for l in logged), \
        [(l["attempt"], l["retry_in_ms"]) for l in logged]
    assert len(portal.received(ok_only=True)) == 1


def test_permanent_4xx_is_dead_lettered_with_response_kept(tmp, cleanup):
    gw, sims = one_route(tmp, cleanup)
    sims["portal"].fail(status=400, body='{"error":"bad dossier"}')
    status, _, _ = gw.post("peer-a", event("D-DEAD-1"), "m-dead")
    assert status == 202
    wait_until(lambda: gw.query("SELECT state FROM deliveries") == [(3,)], what="dead letter")
    (st, err, rsp, attempts), = gw.query("SELECT last_status, last_error, last_response, attempts FROM deliveries")
    assert st == 400 and attempts == 1 and "bad dossier" in rsp and "400" in err
    assert gw.metric("lienthong_dead_letters", peer="portal") == 1
    assert any(l["event"] == "delivery.dead" and l["dossier_code"] == "D-DEAD-1" for l in gw.log_lines())
    # the operator sees it in the dead-letter list and in the dossier's trail
    import subprocess
    from harness import LIENTHONG
    p = subprocess.run([LIENTHONG, "dlq", "list", "-c", gw.config], capture_output=True, text=True)
    assert p.returncode == 0 and "D-DEAD-1" in p.stdout and "portal" in p.stdout and "1 dead letter" in p.stdout
    p = subprocess.run([LIENTHONG, "trail", "D-DEAD-1", "-c", gw.config], capture_output=True, text=True)
    assert p.returncode == 0 and "dossier.received" in p.stdout and "DEAD" in p.stdout and "400" in p.stdout, p.stdout
    p = subprocess.run([LIENTHONG, "trail", "NO-SUCH", "-c", gw.config], capture_output=True, text=True)
    assert p.returncode == 1 and "no dossier NO-SUCH" in p.stderr


def test_retry_after_is_honored(tmp, cleanup):
    gw, sims = one_route(tmp, cleanup, retry={"initial": "50ms", "max_delay": "100ms"})
    sims["portal"].fail(status=503, retry_after="2", count=1)
    gw.post("peer-a", event("D-RA-1"), "m-ra")
    recs = wait_until(lambda: sims["portal"].received(ok_only=True), timeout=10, what="delivery")
    first, second = sims["portal"].received()[0], recs[0]
    assert second["at_ms"] - first["at_ms"] >= 1900, second["at_ms"] - first["at_ms"]


def test_retry_after_of_any_size_waits_a_day_at_most(tmp, cleanup):
    """Retry-After from a peer is range-checked: twenty digits or the year 9999
    wait a day (then ask again), neither ignored nor past max_age."""
    gw, sims = one_route(tmp, cleanup, retry={"initial": "50ms", "max_delay": "100ms", "max_age": "72h"},
                         dests=("portal", "registry"))
    sims["portal"].fail(status=503, retry_after="99999999999999999999", count=1)
    sims["registry"].fail(status=503, retry_after="Fri, 31 Dec 9999 23:59:59 GMT", count=1)
    gw.post("peer-a", event("D-RA-HUGE"), "m-ra-huge")
    wait_until(lambda: gw.query("SELECT COUNT(*) FROM deliveries WHERE attempts = 1 AND state != 1") == [(2,)],
               what="one attempt each")
    rows = gw.query("SELECT dest, state, next_at - updated_at FROM deliveries ORDER BY dest")
    assert [(d, st) for d, st, _ in rows] == [("portal", 0), ("registry", 0)], rows
    # a day, give or take the moments between the store's two clock readings
    assert all(86400000 - 5000 <= wait <= 86400000 + 1000 for _, _, wait in rows), rows
    time.sleep(0.5)
    assert len(sims["portal"].received()) == 1 and len(sims["registry"].received()) == 1


def test_max_age_exceeded_goes_to_dead_letter(tmp, cleanup):
    gw, sims = one_route(tmp, cleanup, retry={"initial": "100ms", "max_delay": "200ms", "max_age": "1s"})
    sims["portal"].fail(status=503)
    gw.post("peer-a", event("D-AGE-1"), "m-age")
    wait_until(lambda: gw.query("SELECT state FROM deliveries") == [(3,)], timeout=10, what="dead after max_age")
    (err, st), = gw.query("SELECT last_error, last_status FROM deliveries")
    assert "max_age" in err and st == 503


def test_duplicate_message_returns_original_receipt(tmp, cleanup):
    gw, sims = one_route(tmp, cleanup)
    body = event("D-DUP-1")
    s1, d1, _ = gw.post("peer-a", body, "m-dup")
    s2, d2, _ = gw.post("peer-a", body, "m-dup")
    assert (s1, s2) == (202, 200)
    assert d2["status"] == "duplicate" and d2["events"] == d1["events"]
    assert gw.query("SELECT COUNT(*) FROM events") == [(1,)]
    wait_until(lambda: sims["portal"].received(ok_only=True))
    time.sleep(0.3)
    assert len(sims["portal"].received()) == 1


def test_message_id_reused_with_other_body_is_conflict(tmp, cleanup):
    gw, _ = one_route(tmp, cleanup)
    assert gw.post("peer-a", event("D-C-1"), "m-c")[0] == 202
    status, doc, _ = gw.post("peer-a", event("D-C-2"), "m-c")
    assert status == 409 and doc["error"] == "conflict" and "m-c" in doc["detail"]
    assert gw.query("SELECT COUNT(*) FROM events") == [(1,)]


def test_per_dossier_order_kept_while_other_dossier_flows(tmp, cleanup):
    gw, sims = one_route(tmp, cleanup, retry={"initial": "50ms", "max_delay": "200ms"})
    portal = sims["portal"]
    # the first event of dossier A fails three times; dossier B must not wait for it
    portal.fail(status=503, count=3, path_prefix="/in")
    gw.post("peer-a", event("A-1", "dossier.received"), "a1")
    wait_until(lambda: len(portal.received()) >= 1)
    for i, t in enumerate(["dossier.step", "dossier.step", "dossier.resolved"]):
        gw.post("peer-a", event("A-1", t, detail={"n": i + 2}), "a%d" % (i + 2))
    for i in range(5):
        gw.post("peer-a", event("B-1", "dossier.step", detail={"n": i + 1}), "b%d" % (i + 1))
    wait_until(lambda: len([b for b in portal.bodies() if b["dossier_code"] == "A-1"]) == 4 and
               len([b for b in portal.bodies() if b["dossier_code"] == "B-1"]) == 5, timeout=15)
    bodies = portal.bodies()
    a = [b.get("detail", {}).get("n", 1) for b in bodies if b["dossier_code"] == "A-1"]
    b = [x["detail"]["n"] for x in bodies if x["dossier_code"] == "B-1"]
    assert a == [1, 2, 3, 4], a
    assert b == [1, 2, 3, 4, 5], b
    # B was delivered while A's first event was still failing
    seqs = [(x["dossier_code"], x.get("detail", {}).get("n", 1)) for x in bodies]
    assert seqs.index(("B-1", 1)) < seqs.index(("A-1", 1)) or len(portal.received()) > 9


def test_failing_destination_does_not_delay_another(tmp, cleanup):
    gw, sims = one_route(tmp, cleanup, dests=("portal", "registry"))
    sims["registry"].fail(delay_ms=int(5000 * SLOW))    # the registry hangs
    t0 = time.monotonic()
    for i in range(20):
        assert gw.post("peer-a", event("D-%d" % i), "m%d" % i)[0] == 202
    wait_until(lambda: len(sims["portal"].received(ok_only=True)) == 20, timeout=4, what="portal deliveries")
    assert time.monotonic() - t0 < 4.5 * SLOW
    assert len(sims["registry"].received(ok_only=True)) == 0


def test_unrouted_event_is_kept_and_logged(tmp, cleanup):
    sim = cleanup.add(Peersim(tmp, "portal"))
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}, "portal": {"url": sim.url}},
                             {"only-resolved": {"from": "peer-a", "events": "dossier.resolved", "to": "portal"}}))
    status, doc, _ = gw.post("peer-a", event("D-U-1", "dossier.step"), "m-u")
    assert status == 202 and doc["events"][0]["routed_to"] == []
    assert gw.query("SELECT type, routed FROM events") == [("dossier.step", 0)]
    assert any(l["event"] == "event.unrouted" and l["dossier_code"] == "D-U-1" for l in gw.log_lines())
    assert gw.metric("lienthong_events_unrouted_total") == 1


def test_route_by_event_type_and_procedure(tmp, cleanup):
    reg = cleanup.add(Peersim(tmp, "registry"))
    portal = cleanup.add(Peersim(tmp, "portal"))
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}, "registry": {"url": reg.url}, "portal": {"url": portal.url}},
                             {"birth": {"from": "peer-a", "events": "dossier.received",
                                        "procedures": "2.000986 2.001023", "to": "registry portal"},
                              "rest": {"from": "peer-a", "to": "portal"}}))
    birth = event("KS-1", dossier={"procedure": {"code": "2.000986", "name": "Đăng ký khai sinh"}})
    land = event("LAND-1", dossier={"procedure": {"code": "1.004227", "name": "Đăng ký đất đai"}})
    assert gw.post("peer-a", birth, "k1")[1]["events"][0]["routed_to"] == ["registry", "portal"]
    assert gw.post("peer-a", land, "l1")[1]["events"][0]["routed_to"] == ["portal"]
    wait_until(lambda: len(portal.received(ok_only=True)) == 2)
    wait_until(lambda: len(reg.received(ok_only=True)) == 1)
    assert reg.bodies()[0]["dossier_code"] == "KS-1"


def test_bad_input_is_refused_with_reason_and_stores_nothing(tmp, cleanup):
    gw, _ = one_route(tmp, cleanup, gateway={"max_body": "64k"})
    cases = [
        ("malformed JSON", dict(body=b'{"type": "dossier.received",', raw=True, message_id="x1"), 400, "malformed", "JSON"),
        ("over the limit", dict(body=b'{"x":"' + b"a" * 70000 + b'"}', raw=True, message_id="x2"), 413, "too_large", "65536"),
        ("missing message id", dict(body=event("D-1")), 400, "missing_message_id", "X-Message-Id"),
        ("bad message id", dict(body=event("D-1"), message_id="has space"), 400, "bad_message_id", "X-Message-Id"),
        ("schema violation", dict(body=event("D-1", dossier={"channel": "fax"}), message_id="x3"), 422, "schema", "/dossier/channel"),
        ("missing field", dict(body={"type": "dossier.received", "occurred_at": "2026-11-24T09:00:00+07:00"}, message_id="x4"), 422, "schema", "dossier_code"),
        ("unknown event type", dict(body=event("D-1", "dossier.teleported"), message_id="x5"), 422, "schema", "/type"),
        ("bad date", dict(body=dict(event("D-1"), occurred_at="2026-02-30T10:00:00+07:00"), message_id="x6"), 422, "schema", "/occurred_at"),
        ("wrong content type", dict(body=b"<x/>", raw=True, content_type="application/xml", message_id="x7"), 415, "content_type", "application/json"),
    ]
    for what, kw, want_status, want_code, want_detail in cases:
        status, doc, _ = gw.post("peer-a", **kw)
        assert status == want_status, (what, status, doc)
        assert doc.get("error") == want_code and want_detail in doc.get("detail", ""), (what, doc)
    status, doc, _ = gw.post("nobody", event("D-1"), "x8")
    assert status == 404 and doc["error"] == "unknown_peer" and "nobody" in doc["detail"]
    assert gw.query("SELECT COUNT(*) FROM events") == [(0,)]
    assert gw.query("SELECT COUNT(*) FROM messages") == [(0,)]
    refused = [l for l in gw.log_lines() if l["event"] == "ingress.refused"]
    assert len(refused) == len(cases) + 1
    assert all("status" in l and "error" in l for l in refused)


def test_batch_message_carries_several_events(tmp, cleanup):
    gw, sims = one_route(tmp, cleanup)
    batch = {"events": [event("B-1"), event("B-2"), event("B-1", "dossier.step")]}
    status, doc, _ = gw.post("peer-a", batch, "batch-1")
    assert status == 202 and len(doc["events"]) == 3
    wait_until(lambda: len(sims["portal"].received(ok_only=True)) == 3)


def test_metrics_show_queue_depth_and_oldest_age(tmp, cleanup):
    gw, sims = one_route(tmp, cleanup, retry={"initial": "5s", "max_delay": "5s"})
    sims["portal"].fail(status=503)
    for i in range(3):
        gw.post("peer-a", event("Q-%d" % i), "q%d" % i)
    wait_until(lambda: gw.metric("lienthong_queue_depth", peer="portal") == 3)
    time.sleep(0.5)
    assert gw.metric("lienthong_queue_oldest_age_seconds", peer="portal") >= 0.4
    assert gw.metric("lienthong_events_in_total", peer="peer-a") == 3
    assert gw.metric("lienthong_deliveries_total", peer="portal", outcome="retry") >= 1
    assert gw.metric("lienthong_store_commit_seconds_count") >= 1
    # the log's fsyncs apart (SQLite): one per group of commits, so never more than the commits
    m = dict(l.rsplit(" ", 1) for l in gw.admin("/metrics").splitlines() if l and not l.startswith("#"))
    fsyncs = float(m["lienthong_store_fsync_seconds_count"])
    assert 1 <= fsyncs <= float(m["lienthong_store_commit_seconds_count"])
    assert float(m['lienthong_store_fsync_seconds_bucket{le="+Inf"}']) == fsyncs
    status = json.loads(gw.admin("/v1/admin/status"))
    portal = [p for p in status["peers"] if p["name"] == "portal"][0]
    assert portal["pending"] + portal["inflight"] == 3


def test_sigterm_finishes_inflight_and_restart_resumes(tmp, cleanup):
    gw, sims = one_route(tmp, cleanup)
    sims["portal"].fail(delay_ms=800, count=4)
    for i in range(8):
        gw.post("peer-a", event("S-%d" % i), "s%d" % i)
    time.sleep(0.2)
    assert gw.stop() == 0
    assert "store closed cleanly" in gw.log_text()
    states = dict(gw.query("SELECT state, COUNT(*) FROM deliveries GROUP BY state"))
    assert states.get(1, 0) == 0, states          # nothing left in flight after a graceful stop
    gw.start()
    wait_until(lambda: gw.query("SELECT COUNT(*) FROM deliveries WHERE state = 2") == [(8,)], timeout=15)
    got = sorted({b["dossier_code"] for b in sims["portal"].bodies()})
    assert got == ["S-%d" % i for i in range(8)]


def test_old_unit_codes_route_under_the_new_ones_and_the_trail_keeps_both(tmp, cleanup):
    land = cleanup.add(Peersim(tmp, "land"))
    other = cleanup.add(Peersim(tmp, "other"))
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}, "land": {"url": land.url}, "other": {"url": other.url}},
                             {"by-handling-agency": {"from": "peer-a", "agencies": "000.20.15.H68", "to": "land"},
                              "rest": {"from": "peer-a", "to": "other"}}, start=False))
    with open(gw.config, "a") as f:
        # the district land branch became the provincial one's; the old province code merged into 68
        f.write("\n[units]\n000.20.12.H12 = 000.20.15.H68 since 2025-07-01\n60 = 68 since 2025-07-01\n")
    gw.start()
    ev = event("000.00.12.H12-250801-0003", dossier={
        "handling_agency": {"code": "000.20.12.H12", "name": "Chi nhánh VPĐKĐĐ Phan Thiết"},
        "applicant": {"name": "Lê Văn Tám", "address": {"province": {"code": "60"}, "commune": {"code": "22912"}}}},
        occurred_at="2025-08-01T09:00:00+07:00")
    status, doc, _ = gw.post("peer-a", ev, "u-1")
    assert status == 202 and doc["events"][0]["routed_to"] == ["land", "other"], doc
    body = wait_until(lambda: land.bodies())[0]
    assert body["dossier"]["handling_agency"]["code"] == "000.20.15.H68"
    assert body["dossier"]["applicant"]["address"]["province"]["code"] == "68"
    assert body["detail"]["previous_codes"] == {"dossier.handling_agency": "000.20.12.H12",
                                                "dossier.applicant.address.province": "60"}
    # before the change took effect the old code stands
    old = event("000.00.12.H12-250601-0001", dossier={"handling_agency": {"code": "000.20.12.H12"}},
                occurred_at="2025-06-01T09:00:00+07:00")
    assert gw.post("peer-a", old, "u-2")[1]["events"][0]["routed_to"] == ["other"]
    import subprocess
    from harness import LIENTHONG
    p = subprocess.run([LIENTHONG, "trail", "000.00.12.H12-250801-0003", "-c", gw.config], capture_output=True, text=True)
    assert "dossier.handling_agency was 000.20.12.H12" in p.stdout, p.stdout


def test_full_backlog_answers_503_with_retry_after_and_recovers(tmp, cleanup):
    gw, sims = one_route(tmp, cleanup, retry={"initial": "100ms", "max_delay": "200ms"},
                         gateway={"max_backlog": "3"})
    portal = sims["portal"]
    portal.stop()
    for i in range(3):
        assert gw.post("peer-a", event("BL-%d" % i), "bl-%d" % i)[0] == 202
    status, doc, headers = gw.post("peer-a", event("BL-3"), "bl-3")
    assert status == 503 and doc["error"] == "backlog_full" and "max_backlog 3" in doc["detail"], doc
    assert int(headers["Retry-After"]) > 0
    assert gw.query("SELECT COUNT(*) FROM events") == [(3,)]
    assert gw.metric("lienthong_backlog") == 3
    portal.start()
    wait_until(lambda: gw.metric("lienthong_backlog") == 0, what="the backlog to drain")
    assert gw.post("peer-a", event("BL-3"), "bl-3")[0] == 202
