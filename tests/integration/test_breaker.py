"""The per-peer circuit breaker: a destination that is down is not hammered
with one attempt per queued delivery; it is probed, and deliveries resume
when a probe finds it up."""
import json
import subprocess
import time

from harness import LIENTHONG, Gateway, Peersim, event, wait_until


def breakers(gw):
    """Each peer's breaker as `lienthong status` shows it to an operator."""
    r = subprocess.run([LIENTHONG, "status", "--json", "-c", gw.config], capture_output=True, text=True, timeout=15)
    assert r.returncode == 0, r.stderr
    return {p["name"]: p["breaker"] for p in json.loads(r.stdout)["peers"]}


def test_a_down_peer_is_probed_not_hammered_and_deliveries_resume(tmp, cleanup):
    portal = cleanup.add(Peersim(tmp, "portal"))
    office = cleanup.add(Peersim(tmp, "office"))
    portal.fail(status=503)
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}, "portal": {"url": portal.url, "concurrency": 4},
                                   "office": {"url": office.url, "concurrency": 4}},
                             {"all": {"from": "peer-a", "to": "portal office"}},
                             retry={"initial": "100ms", "max_delay": "2s"}))
    ids = []
    for i in range(10):
        status, doc, _ = gw.post("peer-a", {"events": [event("BR-%03d" % (i * 20 + k)) for k in range(20)]},
                                 "br-%d" % i)
        assert status == 202, doc
        ids += [e["event_id"] for e in doc["events"]]
    wait_until(lambda: gw.metric("lienthong_peer_breaker_open", peer="portal") == 1, what="portal's breaker open")
    t0 = time.monotonic()
    before = len(portal.received())
    time.sleep(5)
    during = len(portal.received()) - before
    # without a breaker each of the 200 queued deliveries is tried at least once in these 5 s;
    # with it: the probes (1 s, 2 s, 2 s) and what was in flight when it opened
    assert during <= 8, "%d attempts at a down peer in 5 s" % during
    assert gw.metric("lienthong_peer_breaker_open", peer="office") == 0
    assert breakers(gw) == {"peer-a": "none", "portal": "open", "office": "closed"}
    wait_until(lambda: len(office.received(ok_only=True)) == 200, what="the healthy peer gets everything")
    lines = gw.log_lines()
    opened = [l for l in lines if l["event"] == "peer.breaker_open"]
    assert len(opened) == 1 and opened[0]["peer"] == "portal" and opened[0]["failures"] >= 5, opened
    assert any(l["event"] == "peer.breaker_probe" and l["peer"] == "portal" for l in lines)
    portal.clear()
    wait_until(lambda: {r["headers"]["x-message-id"] for r in portal.received(ok_only=True)} >= set(ids),
               timeout=30, what="every delivery once the portal is back")
    back = time.monotonic() - t0
    assert gw.metric("lienthong_peer_breaker_open", peer="portal") == 0
    assert any(l["event"] == "peer.breaker_closed" and l["peer"] == "portal" for l in gw.log_lines())
    assert breakers(gw)["portal"] == "closed"
    print("    %d attempts at the down portal in 5 s; all 200 delivered %.1fs after it opened" % (during, back))


def test_breaker_failures_is_checked_and_zero_turns_it_off(tmp, cleanup):
    portal = cleanup.add(Peersim(tmp, "portal"))
    portal.fail(status=503)
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}, "portal": {"url": portal.url, "concurrency": 4}},
                             {"all": {"from": "peer-a", "to": "portal"}},
                             retry={"initial": "2s", "max_delay": "2s", "breaker_failures": "0"}))
    status, doc, _ = gw.post("peer-a", {"events": [event("BZ-%03d" % k) for k in range(40)]}, "bz-1")
    assert status == 202, doc
    wait_until(lambda: len(portal.received()) >= 40, what="every delivery tried: no breaker")
    assert gw.metric("lienthong_peer_breaker_open", peer="portal") == 0
    assert breakers(gw)["portal"] == "off"
    gw.stop()
    with open(gw.config) as f:
        text = f.read().replace("breaker_failures = 0", "breaker_failures = many")
    with open(gw.config, "w") as f:
        f.write(text)
    r = subprocess.run([LIENTHONG, "check-config", "-c", gw.config], capture_output=True, text=True)
    assert r.returncode != 0 and "breaker_failures must be a number" in r.stdout + r.stderr, r.stdout + r.stderr


def test_an_idle_peers_breaker_closes_once_a_probe_finds_it_up(tmp, cleanup):
    """Every delivery to a down peer died (retry.max_age) while its breaker was open: with
    nothing queued no delivery can probe it, so the gateway probes it on its own (a GET of
    its url) and the breaker closes when the peer is back."""
    portal = cleanup.add(Peersim(tmp, "portal"))
    portal.fail(status=503)
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}, "portal": {"url": portal.url, "concurrency": 2}},
                             {"all": {"from": "peer-a", "to": "portal"}},
                             retry={"initial": "50ms", "max_delay": "500ms", "max_age": "1s", "breaker_failures": "2"}))
    status, doc, _ = gw.post("peer-a", {"events": [event("BI-%d" % k) for k in range(4)]}, "bi-1")
    assert status == 202, doc
    wait_until(lambda: gw.query("SELECT COUNT(*) FROM deliveries WHERE state = 3")[0][0] == 4, timeout=30,
               what="every delivery dead after max_age")
    assert breakers(gw)["portal"] == "open"
    portal.clear()
    wait_until(lambda: breakers(gw)["portal"] == "closed", timeout=10, what="the idle portal's breaker closed")
    closed = [l for l in gw.log_lines() if l["event"] == "peer.breaker_closed"]
    assert closed and closed[-1]["peer"] == "portal" and closed[-1].get("idle"), closed
    probes = [r for r in portal.received() if r["method"] == "GET"]
    assert probes, portal.received()
    # and the next delivery goes out at once
    assert gw.post("peer-a", event("BI-9"), "bi-2")[0] == 202
    wait_until(lambda: len(portal.received(ok_only=True)) >= 1 and any(
        json.loads(r["body"] or "{}").get("dossier_code") == "BI-9" for r in portal.received(ok_only=True)),
        what="the next delivery")
