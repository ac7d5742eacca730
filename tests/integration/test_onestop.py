"""The one-stop software's two ways in: it pushes events, or (when it cannot)
the gateway polls its search endpoint from a cursor stored with the events."""
import json
import os

from harness import ROOT, Gateway, Peersim, wait_until

SAMPLES = os.path.join(ROOT, "schemas", "samples", "onestop")


def sample(name):
    with open(os.path.join(SAMPLES, name), encoding="utf-8") as f:
        return json.load(f)


def test_pushed_igate_event_reaches_the_portal_as_a_canonical_event(tmp, cleanup):
    portal = cleanup.add(Peersim(tmp, "cong-dvc-tinh"))
    gw = cleanup.add(Gateway(tmp, {"motcua-xa-duongphong": {"adapter": "onestop"},
                                   "cong-dvc-tinh": {"url": portal.url}},
                             {"r": {"from": "motcua-xa-duongphong", "to": "cong-dvc-tinh"}}))
    status, doc, _ = gw.post("motcua-xa-duongphong", sample("push.received.json"), "igate-1")
    assert status == 202, doc
    body = wait_until(lambda: portal.bodies())[0]
    assert body["type"] == "dossier.received" and body["source"] == "motcua-xa-duongphong"
    assert body["dossier"]["channel"] in ("direct", "online", "postal")
    # an unknown iGate code is refused naming the field, and nothing is stored
    bad = sample("push.received.json")
    bad["dossier"]["applyMethod"] = {"id": 7}
    status, doc, _ = gw.post("motcua-xa-duongphong", bad, "igate-2")
    assert status == 422 and "applyMethod" in doc["detail"], doc
    assert gw.query("SELECT COUNT(*) FROM events") == [(1,)]


def test_pulled_changes_are_delivered_once_and_the_cursor_survives_a_restart(tmp, cleanup):
    office = cleanup.add(Peersim(tmp, "motcua-xa-duongphong"))
    portal = cleanup.add(Peersim(tmp, "cong-dvc-tinh"))
    office.control("POST", "/_sim/reply", {"status": 200, "body": json.dumps(sample("search-page.empty.json"))})
    office.fail(status=200, count=1, path_prefix="/dossiers/search",
                body=json.dumps(sample("search-page.two-records.json")))
    gw = cleanup.add(Gateway(tmp, {"motcua-xa-duongphong": {"adapter": "onestop", "inbound": "pull",
                                                            "url": office.url.replace("/in", ""),
                                                            "poll_interval": "200ms", "verify": "none"},
                                   "cong-dvc-tinh": {"url": portal.url}},
                             {"r": {"from": "motcua-xa-duongphong", "to": "cong-dvc-tinh"}}))
    wait_until(lambda: len(portal.received(ok_only=True)) == 2, what="both changes at the portal")
    codes = sorted(b["dossier_code"] for b in portal.bodies())
    assert codes == ["000.00.12.H12-250310-0001", "000.00.12.H12-250310-0002"]
    (cursor,), = gw.query("SELECT cursor FROM cursors WHERE peer = 'motcua-xa-duongphong'")
    assert "65ed2f1ac4a1b7302e9d0a20" in cursor
    polls = [r for r in office.received() if r["path"].startswith("/dossiers/search")]
    assert len(polls) >= 2 and "updated-since" in polls[-1]["path"] and "after-id" in polls[-1]["path"]
    # both outcomes written first: a delivery in flight at a kill -9 is rightly sent again
    wait_until(lambda: gw.query("SELECT COUNT(*) FROM deliveries WHERE state = 2") == [(2,)],
               what="both deliveries recorded as done")
    gw.kill9()
    gw.start()
    wait_until(lambda: len([r for r in office.received() if r["path"].startswith("/dossiers/search")]) > len(polls) + 1)
    # the restarted gateway went on from the stored cursor: nothing delivered twice
    assert len(portal.received(ok_only=True)) == 2
    assert gw.query("SELECT COUNT(*) FROM events") == [(2,)]
