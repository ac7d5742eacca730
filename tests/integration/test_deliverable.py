"""Accept only what can be delivered (issue 10): an event routed to the portal
or the post office that lacks what their adapters need is completed from the
dossier's stored state, or refused (422) naming the destination and the field
with nothing stored; a dead letter is delivered when replayed after the
dossier was completed; an older event never moves a dossier's status back
(SQLite and PostgreSQL). Real adapters, signatures and mutual TLS."""
import json
import subprocess

from harness import LIENTHONG, Gateway, Peersim, event, wait_until
from test_answers import order_answer
from test_flows import OFFICE, PORTAL, POST, portal_opts, portal_sim, service_calls
from test_store_pg import Postgres

SENDER = "peer-a"
APPLICANT = {"name": "Huỳnh Văn Tâm", "phone": "+84 905 111 222",
             "address": {"province": {"code": "68"}, "commune": {"code": "22915"}, "detail": "27 Trần Hưng Đạo"}}


def post_opts(post):
    return {"adapter": "postal", "url": post.url, "param.customer_code": "UBND-DP",
            "param.sender_address": "UBND xã Dương Phong", "param.sender_tel": "0209 3850 123",
            "param.sender_province": "06", "param.sender_name": "UBND xã Dương Phong"}


def both(tmp, cleanup, store=None, routes=None):
    """A canonical sender whose events go to the portal and, when returned by post, to the post office."""
    portal = portal_sim(tmp, cleanup)
    post = cleanup.add(Peersim(tmp, POST))
    post.control("POST", "/_sim/reply", {"status": 200, "body": order_answer("{{dossier_code}}")})
    gw = cleanup.add(Gateway(tmp, {SENDER: {}, PORTAL: portal_opts(tmp, portal), POST: post_opts(post)},
                             routes or {"to-portal": {"from": SENDER, "to": PORTAL},
                                        "by-post": {"from": SENDER, "events": "dossier.returned", "to": POST}},
                             store=store))
    return gw, portal, post


def received(code, **dossier):
    """A receipt that says everything; a member given as None is left out."""
    d = {"procedure": {"code": "1.000894", "name": "Đăng ký khai tử"}, "channel": "postal", "status": 2,
         "applicant": APPLICANT, "received_at": "2026-11-20T10:10:00+07:00", "due_at": "2026-11-27T17:00:00+07:00"}
    d.update(dossier)
    d = {k: v for k, v in d.items() if v is not None}
    return event(code, "dossier.received", occurred_at="2026-11-20T10:10:00+07:00", dossier=d)


def returned(code, at="2026-11-25T15:45:00+07:00"):
    """A result returned by post that says nothing else of the dossier."""
    return event(code, "dossier.returned", occurred_at=at, dossier={"status": 10, "return_via": "postal",
                                                                      "returned_at": at})


def test_an_event_lacking_what_a_destination_needs_is_refused_naming_it_when_the_dossier_is_unknown(tmp, cleanup):
    gw, portal, post = both(tmp, cleanup)
    for n, (ev, dest, field) in enumerate([
            (received("KH-1", channel=None), PORTAL, "dossier.channel"),
            (received("KH-2", procedure=None), PORTAL, "dossier.procedure.code"),
            (returned("KH-3"), PORTAL, "dossier.procedure.code")]):
        status, doc, _ = gw.post(SENDER, ev, "u-%d" % n)
        assert status == 422 and doc["error"] == "undeliverable", doc
        assert "cannot be delivered to %s: %s is required by %s and missing" % (dest, field, dest) in doc["detail"], doc
        assert "the gateway holds no earlier state of the dossier" in doc["detail"], doc
    assert gw.query("SELECT COUNT(*) FROM events") == [(0,)]
    wait_until(lambda: gw.query("SELECT COUNT(*) FROM refusals WHERE status = 422") == [(3,)], what="3 refusals")
    assert not [r for r in portal.received() if r["path"] != "/in/login"] and not post.received()


def test_the_post_office_needs_the_applicant_and_it_is_refused_without_one(tmp, cleanup):
    gw, portal, post = both(tmp, cleanup, routes={"by-post": {"from": SENDER, "events": "dossier.returned",
                                                              "to": POST}})
    status, doc, _ = gw.post(SENDER, returned("KH-9"), "p-1")
    assert status == 422, doc
    assert "cannot be delivered to %s: dossier.applicant.name is required by %s" % (POST, POST) in doc["detail"], doc
    assert gw.query("SELECT COUNT(*) FROM events") == [(0,)]


def test_what_an_earlier_event_carried_is_filled_and_the_trail_says_so(tmp, cleanup):
    gw, portal, post = both(tmp, cleanup)
    code = "000.00.15.H68-261120-0056"
    assert gw.post(SENDER, received(code), "f-1")[0] == 202
    status, doc, _ = gw.post(SENDER, returned(code), "f-2")
    assert status == 202, doc
    assert [e["routed_to"] for e in doc["events"]] == [[PORTAL, POST]]
    # the portal got the procedure and channel, the post office the applicant, from the first event
    order = wait_until(lambda: post.bodies(), what="the order at the post office")[0]
    assert order["ReceiverName"] == "Huỳnh Văn Tâm" and order["ReceiverTel"] == "+84 905 111 222", order
    assert order["ReceiverProvince"] == "68" and order["ReceiverWard"] == "22915", order
    syncs = wait_until(lambda: len(service_calls(portal, "DongBoHoSoMC")) == 2 and service_calls(portal, "DongBoHoSoMC"),
                       what="both syncs at the portal")
    rec = syncs[1]["data"][0]
    assert rec["MaTTHC"] == "1.000894" and str(rec["KenhThucHien"]) == "3" and rec["TrangThaiHoSo"] in (10, "10"), rec
    # the stored event and the trail say what was filled, and from where
    (body,), = gw.query("SELECT body FROM events WHERE type = 'dossier.returned'")
    assert json.loads(body)["detail"]["filled_from_dossier"] == ["dossier.procedure", "dossier.channel",
                                                                 "dossier.applicant"], body
    trail = subprocess.run([LIENTHONG, "trail", code, "-c", gw.config], capture_output=True, text=True, timeout=60)
    assert trail.returncode == 0, trail.stderr
    assert "filled from the dossier's stored state: dossier.procedure, dossier.channel, dossier.applicant" in \
        trail.stdout, trail.stdout
    status, t, _ = gw.admin_request("GET", "/v1/admin/dossiers/%s/trail" % code)
    assert status == 200 and t["events"][1]["filled_from_dossier"][0] == "dossier.procedure", t
    # a dossier the gateway knows but whose state lacks the field: refused, saying so
    assert gw.post(SENDER, received("KH-20", applicant=None), "f-3")[0] == 202
    status, doc, _ = gw.post(SENDER, returned("KH-20"), "f-4")
    assert status == 422 and "to %s: dossier.applicant.name is required" % POST in doc["detail"], doc
    assert "the gateway's state of the dossier does not hold it" in doc["detail"], doc


def test_an_earlier_event_of_the_same_message_counts(tmp, cleanup):
    gw, portal, post = both(tmp, cleanup)
    status, doc, _ = gw.post(SENDER, {"events": [received("KH-30"), returned("KH-30")]}, "b-1")
    assert status == 202, doc
    order = wait_until(lambda: post.bodies(), what="the order at the post office")[0]
    assert order["ReceiverName"] == "Huỳnh Văn Tâm", order
    (body,), = gw.query("SELECT body FROM events WHERE type = 'dossier.returned'")
    assert "dossier.applicant" in json.loads(body)["detail"]["filled_from_dossier"], body


def test_a_dead_letter_replayed_after_the_dossier_was_completed_is_delivered(tmp, cleanup):
    """A polled page cannot be refused to its sender: what it lacks becomes a dead letter, as
    before; once another event completed the dossier, the replay delivers it."""
    office = cleanup.add(Peersim(tmp, OFFICE))
    post = cleanup.add(Peersim(tmp, POST))
    post.control("POST", "/_sim/reply", {"status": 200, "body": order_answer("DL-1")})
    page = {"content": [{"id": "65ed2f1ac4a1b7302e9d0a11", "code": "DL-1",
                         "procedure": {"code": "1.000894", "name": "Đăng ký khai tử"},
                         "agency": {"code": "000.00.15.H68", "name": "UBND phường Phan Thiết"},
                         "applyMethod": {"id": 2}, "status": {"id": 8}, "returnMethod": {"id": 1},
                         "appliedDate": "2026-11-20T08:15:00.000+0700", "updatedDate": "2026-11-25T15:45:00.000+0700"}],
            "last": True, "totalElements": 1, "size": 100, "number": 0}
    empty = {"content": [], "last": True, "totalElements": 0, "size": 100, "number": 0}
    office.control("POST", "/_sim/reply", {"status": 200, "body": json.dumps(empty)})
    office.fail(status=200, count=1, path_prefix="/dossiers/search", body=json.dumps(page))
    gw = cleanup.add(Gateway(tmp, {OFFICE: {"adapter": "onestop", "inbound": "pull", "url": office.url.replace("/in", ""),
                                            "poll_interval": "200ms", "verify": "none"},
                                   SENDER: {}, POST: post_opts(post)},
                             {"r": {"from": OFFICE, "events": "dossier.returned", "to": POST}}))
    wait_until(lambda: gw.query("SELECT COUNT(*) FROM deliveries WHERE state = 3") == [(1,)], what="a dead letter")
    (error,), = gw.query("SELECT last_error FROM deliveries WHERE state = 3")
    assert "dossier.applicant.name is required by the post office" in error, error
    # replayed as it is, it dies again: nothing completed the dossier yet
    r = subprocess.run([LIENTHONG, "dlq", "replay", "--dossier", "DL-1", "-c", gw.config], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    wait_until(lambda: gw.query("SELECT state, attempts FROM deliveries") == [(3, 2)], what="dead again")
    # the dossier is completed by another system's event (routed nowhere: kept for the view)
    done = event("DL-1", "dossier.step", occurred_at="2026-11-25T16:00:00+07:00", dossier={"applicant": APPLICANT})
    assert gw.post(SENDER, done, "d-1")[0] == 202
    r = subprocess.run([LIENTHONG, "dlq", "replay", "--dossier", "DL-1", "-c", gw.config], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    order = wait_until(lambda: post.bodies(), what="the replayed order at the post office")[0]
    assert order["OrderNumber"] == "DL-1" and order["ReceiverName"] == "Huỳnh Văn Tâm", order
    wait_until(lambda: gw.query("SELECT state FROM deliveries") == [(2,)], what="delivered")
    filled = [l for l in gw.log_lines() if l["event"] == "delivery.filled"]
    assert filled and filled[-1]["filled"] == ["dossier.applicant"], filled


def older_event_keeps_status(gw):
    code = "ST-1"
    assert gw.post(SENDER, received(code), "s-1")[0] == 202
    resolved = event(code, "dossier.resolved", occurred_at="2026-11-24T09:00:00+07:00",
                     dossier={"status": 9, "resolved_at": "2026-11-24T09:00:00+07:00"})
    assert gw.post(SENDER, resolved, "s-2")[0] == 202
    # the receipt again, late (a resend of an older event): in the trail, not in the view
    late = received(code, status=2)
    late["occurred_at"] = "2026-11-20T10:15:00+07:00"
    assert gw.post(SENDER, late, "s-3")[0] == 202
    step = event(code, "dossier.step", occurred_at="2026-11-21T09:00:00+07:00", dossier={"status": 4})
    assert gw.post(SENDER, step, "s-4")[0] == 202
    assert gw.query("SELECT status, last_event FROM dossiers WHERE code = 'ST-1'") == [(9, "dossier.resolved")]
    assert gw.query("SELECT COUNT(*) FROM events WHERE dossier_code = 'ST-1'") == [(4,)]
    status, t, _ = gw.admin_request("GET", "/v1/admin/dossiers/%s/trail" % code)
    assert status == 200 and [e["type"] for e in t["events"]] == [
        "dossier.received", "dossier.resolved", "dossier.received", "dossier.step"], t


def test_an_older_event_does_not_move_the_status_back(tmp, cleanup):
    gw = cleanup.add(Gateway(tmp, {SENDER: {}}, {}))
    older_event_keeps_status(gw)


def test_an_older_event_does_not_move_the_status_back_in_postgresql(tmp, cleanup):
    pg = cleanup.add(Postgres(tmp))
    gw = cleanup.add(Gateway(tmp, {SENDER: {}}, {}, store=pg.dsn))
    older_event_keeps_status(gw)
