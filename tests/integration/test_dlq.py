"""Dead letters as an operator handles them: list, show, replay, purge."""
import json
import subprocess

from harness import LIENTHONG, event, wait_until
from test_spine import one_route


def cli(gw, *args):
    r = subprocess.run([LIENTHONG, "dlq", *args, "-c", gw.config], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def admin_post(gw, path, body, method="POST"):
    status, doc, _ = gw.admin_request(method, path, body)
    return status, doc


def test_dead_letters_are_shown_replayed_in_order_and_purged(tmp, cleanup):
    gw, sims = one_route(tmp, cleanup, dests=("portal", "office"))
    portal, office = sims["portal"], sims["office"]
    portal.fail(status=400, body='{"error":"ma_ho_so khong hop le"}')
    ids = {}
    for n, code in enumerate(["DLQ-1", "DLQ-1", "DLQ-2"]):
        status, doc, _ = gw.post("peer-a", event(code, "dossier.received" if n != 1 else "dossier.step"), "m-%d" % n)
        assert status == 202, doc
        ids[n] = doc["events"][0]["event_id"]
    wait_until(lambda: gw.query("SELECT COUNT(*) FROM deliveries WHERE dest = 'portal' AND state = 3")[0][0] == 3,
               what="three dead letters at the portal")
    wait_until(lambda: len(office.received(ok_only=True)) == 3, what="the office got everything")
    dead = dict(gw.query("SELECT e.event_id, d.id FROM deliveries d JOIN events e ON e.seq = d.event_seq"
                         " WHERE d.state = 3"))

    rc, out, err = cli(gw, "list", "--peer", "portal")
    assert rc == 0 and "3 dead letters" in out, out + err
    rc, out, _ = cli(gw, "list", "--dossier", "DLQ-1")
    assert rc == 0 and "2 dead letters" in out and "DLQ-2" not in out, out
    rc, out, _ = cli(gw, "list", "--peer", "office")
    assert rc == 0 and "0 dead letters" in out, out

    # show: the event, every attempt, the peer's answer
    rc, out, err = cli(gw, "show", str(dead[ids[0]]))
    assert rc == 0, err
    assert "dossier DLQ-1 to portal" in out and ids[0] in out and "400" in out, out
    assert "ma_ho_so khong hop le" in out and '"dossier_code": "DLQ-1"' in out and "#1 " in out, out
    office_id = gw.query("SELECT id FROM deliveries WHERE dest = 'office' LIMIT 1")[0][0]
    rc, _, err = cli(gw, "show", str(office_id))
    assert rc == 1 and "not a dead letter" in err, err
    rc, _, err = cli(gw, "show", "999999")
    assert rc == 1 and "no delivery 999999" in err, err

    # replay and purge refuse to guess
    rc, _, err = cli(gw, "replay")
    assert rc == 2 and "replay what?" in err, err
    rc, _, err = cli(gw, "purge", "--before", "yesterday")
    assert rc == 2 and "--before" in err, err
    for body, word in [({}, "say which dead letters"), ({"peer": "nope"}, "configured peer"),
                       ({"idz": [1]}, 'unknown filter "idz"'), ({"ids": ["x"]}, "ids[0]"),
                       (b"{not json", "not valid JSON")]:
        status, doc = admin_post(gw, "/v1/admin/dlq/replay", body)
        assert status == 400 and word in doc["detail"], (body, status, doc)
    status, doc = admin_post(gw, "/v1/admin/dlq/purge", None, method="GET")
    assert status == 405, doc
    assert gw.query("SELECT COUNT(*) FROM deliveries WHERE state = 3")[0][0] == 3

    # the portal is fixed: replay one dossier; both its deliveries arrive, in order,
    # with their original message id as Idempotency-Key
    portal.clear()
    rc, out, err = cli(gw, "replay", "--dossier", "DLQ-1")
    assert rc == 0 and "2 dead letters replayed" in out, out + err
    got = wait_until(lambda: [r for r in portal.received(ok_only=True)] if len(portal.received(ok_only=True)) >= 2
                     else None, what="the replayed deliveries at the portal")
    assert [r["headers"]["x-message-id"] for r in got] == [ids[0], ids[1]], got
    assert all(r["headers"]["idempotency-key"] == r["headers"]["x-message-id"] for r in got)
    wait_until(lambda: gw.metric("lienthong_backlog") == 0, what="backlog back to 0")
    assert gw.metric("lienthong_dead_letters", peer="portal") == 1
    replayed = [l for l in gw.log_lines() if l["event"] == "dlq.replayed"]
    assert sorted(l["message_id"] for l in replayed) == sorted([ids[0], ids[1]]), replayed
    assert all(l["dossier_code"] == "DLQ-1" and l["peer"] == "portal" for l in replayed), replayed
    rc, out, _ = cli(gw, "replay", "--dossier", "DLQ-1")
    assert rc == 0 and "0 dead letters replayed" in out, out

    # purge: an id that is not dead does nothing; a filter purges the rest; the trail keeps the event
    rc, out, _ = cli(gw, "purge", str(office_id))
    assert rc == 0 and "0 dead letters purged" in out, out
    rc, out, err = cli(gw, "purge", "--peer", "portal", "--before", "2099-01-01T00:00:00+07:00")
    assert rc == 0 and "1 dead letter purged" in out and "DLQ-2" in out, out + err
    rc, out, _ = cli(gw, "list")
    assert "0 dead letters" in out, out
    assert gw.query("SELECT COUNT(*) FROM attempts WHERE delivery_id = ?", dead[ids[2]])[0][0] == 0
    assert any(l["event"] == "dlq.purged" and l["message_id"] == ids[2] for l in gw.log_lines())
    t = subprocess.run([LIENTHONG, "trail", "DLQ-2", "-c", gw.config], capture_output=True, text=True)
    assert t.returncode == 0 and ids[2] in t.stdout, t.stdout

    gw.stop()
    rc, _, err = cli(gw, "replay", "--all")
    assert rc == 1 and "cannot reach the gateway" in err, err


def test_replay_all_keeps_each_dossiers_order(tmp, cleanup):
    """Sixty deliveries of seven dossiers die after retry.max_age; replayed
    together, each dossier's deliveries still arrive in the order received."""
    gw, sims = one_route(tmp, cleanup, retry={"max_age": "1s", "initial": "50ms", "max_delay": "100ms",
                                              "breaker_failures": "0"})
    portal = sims["portal"]
    portal.fail(status=503)
    n = 60
    for i in range(0, n, 20):
        status, doc, _ = gw.post("peer-a", {"events": [event("DLB-%02d" % ((i + k) % 7)) for k in range(20)]},
                                 "b-%d" % i)
        assert status == 202, doc
    wait_until(lambda: gw.query("SELECT COUNT(*) FROM deliveries WHERE state = 3")[0][0] == n, timeout=30,
               what="every delivery dead after max_age")
    portal.clear()
    rc, out, err = cli(gw, "replay", "--all")
    assert rc == 0 and "%d dead letters replayed" % n in out, out + err
    wait_until(lambda: gw.query("SELECT COUNT(*) FROM deliveries WHERE state = 2")[0][0] == n, timeout=30,
               what="every replayed delivery done")
    order = {}
    for r in portal.received(ok_only=True):
        body = json.loads(r["body"])
        order.setdefault(body["dossier_code"], []).append(r["headers"]["x-message-id"])
    for code, got in order.items():
        want = [e for (e,) in gw.query("SELECT event_id FROM events WHERE dossier_code = ? ORDER BY seq", code)]
        assert got == want, (code, got, want)


def test_an_unknown_peer_is_named_not_answered_with_zero_dead_letters(tmp, cleanup):
    gw, _ = one_route(tmp, cleanup)
    rc, out, err = cli(gw, "list", "--peer", "nosuch")
    assert rc == 2 and 'no peer named "nosuch"' in err and "its destinations: portal" in err, (out, err)
    rc, out, err = cli(gw, "list", "--peer", "peer-a")          # a sender: nothing is delivered to it
    assert rc == 2 and "only go to destinations" in err, err
    rc, out, err = cli(gw, "list", "--peer", "portal")
    assert rc == 0 and "0 dead letters" in out, (out, err)
