"""The dossier flows district and commune offices live with, end to end:
real adapters, real signatures (JWS and XML-DSig) over mutual TLS, the peer
simulators answering in each system's own wire format. (Flow 5, the late
dossier and its apology, is in test_sla.py.)"""
import copy
import datetime
import json
import os
import subprocess

from harness import ROOT, Gateway, Peersim, peer_files, wait_until, xml_signed

SAMPLES = os.path.join(ROOT, "schemas", "samples")
XMLDSIG = os.path.join(ROOT, "tests", "interop", "xmldsig.mjs")
OFFICE, PORTAL, REGISTRY, POST, LAND = ("motcua-xa-duongphong", "cong-dvc-tinh", "hotich-tinh", "buudien-tinh",
                                        "vpdk-dat-thanhpho")


def sample(path):
    with open(os.path.join(SAMPLES, path), encoding="utf-8") as f:
        return f.read() if path.endswith(".xml") else json.load(f)


def now_vn():
    return datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=7))).replace(microsecond=0)


def sign_xml_with_xml_crypto(xml, who):
    """Sign as a peer would, with node's xml-crypto (not our code)."""
    f = peer_files(who)
    return xml_signed(xml, f["sign_key"], f["sign_cert"])


def portal_sim(tmp, cleanup):
    portal = cleanup.add(Peersim(tmp, PORTAL))
    portal.control("POST", "/_sim/reply", {"status": 200, "body": json.dumps({"error_code": 0, "message": "Thành công"})})
    portal.fail(status=200, path_prefix="/in/login", body=json.dumps({"session": "S-123", "error_code": 0}))
    return portal


def portal_opts(tmp, portal):
    pw = os.path.join(tmp, "portal.pass")
    with open(pw, "w") as f:
        f.write("mật-khẩu-thử\n")
    os.chmod(pw, 0o600)
    return {"adapter": "provincial", "url": portal.url, "param.madonvi": "000.00.12.H12",
            "param.username": "lienthong-duongphong", "param.login_path": "/login", "password_file": pw}


def registry_sim(tmp, cleanup):
    """The civil registry: it answers each request with a KetQuaTiepNhan naming that request
    (maHoSoLT = its X-Message-Id), signed with its XML-DSig key as its callbacks are."""
    registry = cleanup.add(Peersim(tmp, REGISTRY, sign=True))
    registry.control("POST", "/_sim/reply", {"status": 200, "content_type": "application/xml",
                                             "body": registry_answer(), "sign": "xmldsig"})
    return registry


def registry_answer(sample_name="civilreg/answer.accepted.xml"):
    """A registry answer for peersim to fill in: it names the request it answers, dated now."""
    doc = sample(sample_name)
    start = doc.index("<maHoSoLT>") + len("<maHoSoLT>")
    doc = doc[:start] + "{{message_id}}" + doc[doc.index("</maHoSoLT>"):]
    return doc.replace('thoiGian="2025-03-10T08:15:04+07:00"', 'thoiGian="{{now}}"')


def office_sim(tmp, cleanup):
    office = cleanup.add(Peersim(tmp, OFFICE))
    office.control("POST", "/_sim/reply", {"status": 200, "body": json.dumps({"success": True})})
    return office


def service_calls(portal, service):
    return [json.loads(r["body"]) for r in portal.received(ok_only=True)
            if r["path"] == "/in" and json.loads(r["body"]).get("service") == service]


def test_flow1_counter_intake_then_steps_reach_the_portal(tmp, cleanup):
    portal = portal_sim(tmp, cleanup)
    gw = cleanup.add(Gateway(tmp, {OFFICE: {"adapter": "onestop"}, PORTAL: portal_opts(tmp, portal)},
                             {"office-to-portal": {"from": OFFICE, "to": PORTAL}}))
    received = sample("onestop/push.received.json")
    code = received["dossier"]["code"]
    step = sample("onestop/push.step.json")
    step["dossier"]["code"] = code
    assert gw.post(OFFICE, received, "f1-1")[0] == 202
    assert gw.post(OFFICE, step, "f1-2")[0] == 202
    wait_until(lambda: service_calls(portal, "CapNhatTienDoHoSoMC"), what="progress at the portal")
    logins = [json.loads(r["body"]) for r in portal.received() if r["path"] == "/in/login"]
    assert logins and logins[0]["username"] == "lienthong-duongphong" and logins[0]["password"] == "mật-khẩu-thử"
    sync = service_calls(portal, "DongBoHoSoMC")[0]
    assert sync["session"] == "S-123" and sync["madonvi"] == "000.00.12.H12" and sync["isUpdating"] is False
    rec = sync["data"][0]
    assert rec["MaHoSo"] == code and rec["MaTTHC"] == "2.000986" and rec["KenhThucHien"] in (1, "1")
    assert len(rec["NgayTiepNhan"]) == 14                # yyyyMMddHHmmss
    progress = service_calls(portal, "CapNhatTienDoHoSoMC")[0]["QuaTrinhXuLy"][0]
    assert progress["MaHoSo"] == code
    # the portal saw them in order, each signed by the gateway
    bodies = [json.loads(r["body"]).get("service") for r in portal.received(ok_only=True) if r["path"] == "/in"]
    assert bodies.index("DongBoHoSoMC") < bodies.index("CapNhatTienDoHoSoMC")
    assert all("x-signature" in r["headers"] for r in portal.received() if r["path"] == "/in")


def test_flow1_portal_already_exists_becomes_an_update_and_expired_session_logs_in_again(tmp, cleanup):
    portal = portal_sim(tmp, cleanup)
    portal.fail(status=200, count=1, path_prefix="/in", body=json.dumps(sample("provincial/answer.already-exists.json")))
    gw = cleanup.add(Gateway(tmp, {OFFICE: {"adapter": "onestop"}, PORTAL: portal_opts(tmp, portal)},
                             {"office-to-portal": {"from": OFFICE, "to": PORTAL}}))
    received = sample("onestop/push.received.json")
    assert gw.post(OFFICE, received, "f1b-1")[0] == 202
    wait_until(lambda: len(service_calls(portal, "DongBoHoSoMC")) == 2, what="create then update")
    first, second = service_calls(portal, "DongBoHoSoMC")
    assert first["isUpdating"] is False and second["isUpdating"] is True
    wait_until(lambda: gw.query("SELECT state FROM deliveries") == [(2,)])
    # now the session expires once: the gateway logs in again and sends again
    portal.fail(status=200, count=1, path_prefix="/in", body=json.dumps(sample("provincial/answer.session-expired.json")))
    step = sample("onestop/push.step.json")
    step["dossier"]["code"] = received["dossier"]["code"]
    assert gw.post(OFFICE, step, "f1b-2")[0] == 202
    wait_until(lambda: len(service_calls(portal, "CapNhatTienDoHoSoMC")) == 2, what="progress sent again")
    assert len([r for r in portal.received() if r["path"] == "/in/login"]) == 2
    assert any(l["event"] == "peer.login" for l in gw.log_lines())


def birth_push():
    """An iGate intake of a birth registration carrying what the registry needs."""
    with open(os.path.join(ROOT, "tests", "unit", "data", "civilreg", "birth.json"), encoding="utf-8") as f:
        canonical = json.load(f)
    push = sample("onestop/push.received.json")
    push["detail"] = {"registration": canonical["detail"]["registration"]}
    return push


def test_flow2_birth_registration_typed_once(tmp, cleanup):
    portal = portal_sim(tmp, cleanup)
    office = office_sim(tmp, cleanup)
    registry = registry_sim(tmp, cleanup)
    gw = cleanup.add(Gateway(tmp, {
        OFFICE: {"adapter": "onestop", "url": office.url},
        PORTAL: portal_opts(tmp, portal),
        REGISTRY: {"adapter": "civilreg", "url": registry.url, "param.ma_don_vi": "H12.01957"}},
        {"birth-to-registry": {"from": OFFICE, "events": "dossier.received", "procedures": "2.000986 2.001023",
                               "to": REGISTRY},
         "office-to-portal": {"from": OFFICE, "events": "dossier.received dossier.resolved dossier.step",
                              "to": PORTAL},
         "registry-to-office": {"from": REGISTRY, "to": OFFICE}}))
    push = birth_push()
    code = push["dossier"]["code"]
    status, doc, _ = gw.post(OFFICE, push, "f2-1")
    assert status == 202 and sorted(doc["events"][0]["routed_to"]) == [PORTAL, REGISTRY]
    # the registry got a signed XML request built from what the clerk typed once
    req = wait_until(lambda: registry.received(ok_only=True), what="registration request")[0]
    assert "<HoSoDangKy" in req["body"] and "<Signature" in req["body"] and code in req["body"]
    assert "<module>LTKS</module>" in req["body"]
    p = subprocess.run(["xmlsec1", "--verify", "--trusted-pem", peer_files(REGISTRY)["sign_cert"].replace(
        "peers/" + REGISTRY + "/sign.pem", "root-ca.pem"), "--untrusted-pem",
        peer_files(REGISTRY)["sign_cert"].replace("peers/" + REGISTRY + "/sign.pem", "issuing-ca.pem"),
        "--enabled-reference-uris", "empty", "-"], input=req["body"].encode(), capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr      # the xmlsec1 command verifies what the gateway signed
    # the registry's acceptance came back to the office as registry.submitted
    wait_until(lambda: [b for b in office.bodies() if b["event"] == "registry.submitted"], what="registry.submitted")
    # days later: the registered result with the child's personal ID number, by signed callback
    result = sample("civilreg/result.registered.xml")
    result = result.replace("000.00.12.H12-250310-0001", code).replace(
        'thoiGian="2025-03-12T16:40:00+07:00"', 'thoiGian="%s"' % now_vn().isoformat()).replace(
        'messageId="HT60-KQ-20250312-004511"', 'messageId="f2-kq-1"')
    signed = sign_xml_with_xml_crypto(result, REGISTRY)
    status, doc, _ = gw.post(REGISTRY, signed, "f2-kq-1", content_type="application/xml", raw=True, sign=False)
    assert status == 202, doc
    got = wait_until(lambda: [b for b in office.bodies() if b["event"] == "registry.registered"],
                     what="registry result at the office")[0]
    assert got["detail"]["personal_id"] == "060225001234" and got["detail"]["registration_number"] == "45/2025"
    assert got["detail"]["book"] == "01/2025" and str(got["detail"]["page"]) == "45"
    # the office marks it resolved (no retyping): the portal hears "resolved"
    resolved = sample("onestop/push.resolved.json")
    resolved["dossier"]["code"] = code
    assert gw.post(OFFICE, resolved, "f2-2")[0] == 202
    wait_until(lambda: [c for c in service_calls(portal, "DongBoHoSoMC")
                        if c["data"][0]["TrangThaiHoSo"] in (9, "9")], what="status resolved at the portal")
    # a tampered callback is refused and changes nothing
    status, doc, _ = gw.post(REGISTRY, signed.replace(b"060225001234", b"060225009999"), "f2-kq-2",
                             content_type="application/xml", raw=True, sign=False)
    assert status == 401 and doc["error"] == "signature", doc


def test_flow3_post_office_intake_reaches_office_and_portal_as_postal_channel(tmp, cleanup):
    portal = portal_sim(tmp, cleanup)
    office = office_sim(tmp, cleanup)
    gw = cleanup.add(Gateway(tmp, {POST: {"adapter": "postal"}, OFFICE: {"adapter": "onestop", "url": office.url},
                                   PORTAL: portal_opts(tmp, portal)},
                             {"post-intake": {"from": POST, "events": "dossier.received", "to": "%s %s" % (OFFICE, PORTAL)}}))
    status, doc, _ = gw.post(POST, sample("postal/intake.death-registration.json"), "f3-1")
    assert status == 202, doc
    at_office = wait_until(lambda: office.bodies(), what="intake at the office")[0]
    assert at_office["event"] == "dossier.received" and at_office["dossier"]["applyMethod"]["id"] in (2, "2")
    sync = wait_until(lambda: service_calls(portal, "DongBoHoSoMC"), what="intake at the portal")[0]
    assert sync["data"][0]["KenhThucHien"] in (3, "3")


def test_flow4_result_returned_by_post(tmp, cleanup):
    portal = portal_sim(tmp, cleanup)
    office = office_sim(tmp, cleanup)
    post = cleanup.add(Peersim(tmp, POST))
    answer = sample("postal/order-answer.ok.json")
    returned = sample("onestop/push.returned.json")
    code = returned["dossier"]["code"]
    answer["OrderNumber"] = code
    post.control("POST", "/_sim/reply", {"status": 200, "body": json.dumps(answer)})
    gw = cleanup.add(Gateway(tmp, {
        OFFICE: {"adapter": "onestop", "url": office.url}, PORTAL: portal_opts(tmp, portal),
        POST: {"adapter": "postal", "url": post.url, "param.customer_code": "UBND-DP", "param.sender_address":
               "UBND xã Dương Phong", "param.sender_tel": "0209 3850 123", "param.sender_province": "06"}},
        {"return-by-post": {"from": OFFICE, "events": "dossier.returned", "to": POST},
         "office-to-portal": {"from": OFFICE, "to": PORTAL},
         "post-to-office": {"from": POST, "to": OFFICE}}))
    assert gw.post(OFFICE, returned, "f4-1")[0] == 202
    order = json.loads(wait_until(lambda: post.received(ok_only=True), what="postal order")[0]["body"])
    assert order["OrderNumber"] == code and order["CustomerCode"] == "UBND-DP"
    wait_until(lambda: [b for b in office.bodies() if b["event"] == "postal.order_created"], what="order at office")
    sync = wait_until(lambda: service_calls(portal, "DongBoHoSoMC"), what="returned at the portal")[0]
    assert sync["data"][0]["TrangThaiHoSo"] in (10, "10") and sync["data"][0]["HinhThuc"] in (1, "1")
    delivered = sample("postal/tracking.delivered.json")
    delivered["orderNumber"] = code
    assert gw.post(POST, delivered, "f4-2")[0] == 202
    wait_until(lambda: [b for b in office.bodies() if b["event"] == "postal.delivered"], what="delivered at office")


def test_flow6_transfer_between_agencies_by_edxml_and_result_back(tmp, cleanup):
    land = cleanup.add(Peersim(tmp, LAND, sign=True))
    office = office_sim(tmp, cleanup)
    status = sample("edxml/status.received.xml")       # its Status answer is signed like the Status it sends
    land.control("POST", "/_sim/reply", {"status": 200, "content_type": "application/xml", "body": status,
                                         "sign": "xmldsig"})
    with open(os.path.join(ROOT, "tests", "unit", "data", "edxml", "transfer.json"), encoding="utf-8") as f:
        transfer = json.load(f)
    gw = cleanup.add(Gateway(tmp, {
        "peer-a": {}, LAND: {"adapter": "edxml", "url": land.url}, OFFICE: {"adapter": "onestop", "url": office.url}},
        {"transfer": {"from": "peer-a", "events": "dossier.transferred", "to": LAND},
         "land-to-office": {"from": LAND, "to": OFFICE}}))
    transfer.pop("source", None)
    transfer.pop("event_id", None)
    code = transfer["dossier_code"]
    assert gw.post("peer-a", transfer, "f6-1")[0] == 202
    env = wait_until(lambda: land.received(ok_only=True), what="edXML envelope")[0]["body"]
    assert "edXMLEnvelope" in env and "<Signature" in env and code in env
    wait_until(lambda: [b for b in office.bodies() if b["event"] == "dossier.step"], what="transfer acknowledged")
    # later the land office sends its result back, signed
    resolved = sample("edxml/status.resolved.xml")
    resolved = resolved.replace("25/04/2025 15:30:00", now_vn().strftime("%d/%m/%Y %H:%M:%S"))
    signed = sign_xml_with_xml_crypto(resolved, LAND)
    st, doc, _ = gw.post(LAND, signed, "f6-2", content_type="application/xml", raw=True, sign=False)
    assert st == 202, doc
    wait_until(lambda: [b for b in office.bodies() if b["event"] == "dossier.resolved"], what="result at the office")


def test_flow7_registry_down_for_the_whole_flow_then_everything_arrives_in_order(tmp, cleanup):
    office = office_sim(tmp, cleanup)
    registry = registry_sim(tmp, cleanup)
    registry.stop()                                     # the registry "often fails": down from the start
    gw = cleanup.add(Gateway(tmp, {
        OFFICE: {"adapter": "onestop", "url": office.url},
        REGISTRY: {"adapter": "civilreg", "url": registry.url, "param.ma_don_vi": "H12.01957"}},
        {"birth-to-registry": {"from": OFFICE, "events": "dossier.received", "procedures": "2.000986",
                               "to": REGISTRY}}, retry={"initial": "100ms", "max_delay": "400ms"}))
    codes = []
    for i in range(5):
        push = birth_push()
        push["dossier"]["code"] = "000.00.12.H12-261124-%04d" % (i + 1)
        codes.append(push["dossier"]["code"])
        assert gw.post(OFFICE, push, "f7-%d" % i)[0] == 202
    wait_until(lambda: gw.query("SELECT MIN(attempts) FROM deliveries")[0][0] >= 2, what="failed attempts")
    registry.start()                                    # back, with its answers
    registry.control("POST", "/_sim/reply", {"status": 200, "content_type": "application/xml",
                                             "body": registry_answer(), "sign": "xmldsig"})
    wait_until(lambda: gw.query("SELECT COUNT(*) FROM deliveries WHERE state = 2") == [(5,)], timeout=20,
               what="all five accepted by the registry")
    got = [c for r in registry.received(ok_only=True) for c in codes if c in r["body"]]
    assert sorted(set(got)) == codes
    # nothing lost, and a repeat (if any) is the same delivery with the same idempotency key
    keys = {}
    for r in registry.received(ok_only=True):
        code = [c for c in codes if c in r["body"]][0]
        keys.setdefault(code, set()).add(r["headers"]["idempotency-key"])
    assert all(len(k) == 1 for k in keys.values()), keys


def test_hostile_xml_is_refused_by_the_gateway_with_the_reason(tmp, cleanup):
    office = office_sim(tmp, cleanup)
    gw = cleanup.add(Gateway(tmp, {REGISTRY: {"adapter": "civilreg", "url": "https://127.0.0.1:1/x",
                                              "param.ma_don_vi": "H12.01957"},
                                   OFFICE: {"adapter": "onestop", "url": office.url}},
                             {"registry-to-office": {"from": REGISTRY, "to": OFFICE}}))

    def result(mid, **repl):
        doc = sample("civilreg/result.registered.xml").replace(
            'thoiGian="2025-03-12T16:40:00+07:00"', 'thoiGian="%s"' % repl.get("when", now_vn().isoformat())).replace(
            'messageId="HT60-KQ-20250312-004511"', 'messageId="%s"' % mid)
        return doc

    def post(body, mid):
        return gw.post(REGISTRY, body if isinstance(body, bytes) else body.encode(), mid,
                       content_type="application/xml", raw=True, sign=False)

    good = sign_xml_with_xml_crypto(result("x-ok"), REGISTRY)
    assert post(good, "x-ok")[0] == 202
    untrusted = subprocess.run(["node", XMLDSIG, "sign", os.path.join(os.path.dirname(peer_files("peer-a")["sign_key"]),
                                                                      "..", "..", "hostile", "untrusted-peer-sign.key"),
                                os.path.join(os.path.dirname(peer_files("peer-a")["sign_key"]), "..", "..", "hostile",
                                             "untrusted-peer-sign.pem")],
                               input=result("x-untrusted").encode(), capture_output=True, timeout=30).stdout
    wrapped = good.replace(b"<KetQuaDangKy ", b"<Wrapper xmlns=\"urn:x\"><KetQuaDangKy ", 1).replace(
        b"</KetQuaDangKy>", b"</KetQuaDangKy></Wrapper>")
    dtd = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + good.split(b"?>", 1)[1]
    bomb = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
            b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><KetQuaDangKy xmlns="urn:lienthong:civilreg:1">&c;</KetQuaDangKy>')
    stale = sign_xml_with_xml_crypto(result("x-stale", when="2025-03-12T16:40:00+07:00"), REGISTRY)
    cases = [
        (b"<KetQuaDangKy", "x-bad", 400, "malformed"),
        (result("x-unsigned").encode(), "x-unsigned", 401, "no signature"),
        (good.replace(b"060225001234", b"060225009999"), "x-ok", 401, "bad digest"),
        (untrusted, "x-untrusted", 401, "not trusted"),
        (wrapped, "x-ok", 401, ""),
        (dtd, "x-dtd", 400, "document type declaration"),
        (bomb, "x-bomb", 400, "document type declaration"),
        (stale, "x-stale", 401, "timestamp out of window"),
        (good, "x-other-id", 401, "does not match X-Message-Id"),
    ]
    for body, mid, want, words in cases:
        status, doc, _ = post(body, mid)
        assert status == want and words in doc.get("detail", ""), (mid, status, doc)
        assert "root:" not in json.dumps(doc)            # /etc/passwd never leaks
    assert gw.query("SELECT COUNT(*) FROM events") == [(1,)]


def test_signed_xml_replayed_under_a_new_message_id_is_refused(tmp, cleanup):
    office = office_sim(tmp, cleanup)
    gw = cleanup.add(Gateway(tmp, {LAND: {"adapter": "edxml", "url": "https://127.0.0.1:1/x"},
                                   OFFICE: {"adapter": "onestop", "url": office.url}},
                             {"land-to-office": {"from": LAND, "to": OFFICE}}))
    with open(os.path.join(SAMPLES, "edxml", "envelope.ward-to-land-office.xml"), encoding="utf-8") as fh:
        sent_now = fh.read().replace("14/04/2025 10:05:00", now_vn().strftime("%d/%m/%Y %H:%M:%S"))
    envelope = sign_xml_with_xml_crypto(sent_now, LAND)     # its message id is not the X-Message-Id
    post = lambda mid: gw.post(LAND, envelope, mid, content_type="application/xml", raw=True, sign=False)
    assert post("env-1")[0] == 202
    assert post("env-1")[0] == 200                      # the same message again: its original receipt
    status, doc, _ = post("env-2")                      # the same signed bytes as a new message: a replay
    assert status == 409 and "replay" in doc["detail"] and "env-1" in doc["detail"], doc
    assert gw.query("SELECT COUNT(*) FROM events") == [(1,)]


def test_registry_results_by_polling_are_verified_and_delivered_once(tmp, cleanup):
    office = office_sim(tmp, cleanup)
    registry = cleanup.add(Peersim(tmp, REGISTRY))
    answer = sign_xml_with_xml_crypto(sample("civilreg/results.poll-answer.xml"), REGISTRY).decode()
    empty = sign_xml_with_xml_crypto(sample("civilreg/results.empty-poll-answer.xml"), REGISTRY).decode()
    unsigned = sample("civilreg/results.poll-answer.xml")
    # first an unsigned answer (refused: nothing stored), then the signed page, then nothing new
    registry.control("POST", "/_sim/reply", {"status": 200, "content_type": "application/xml", "body": empty})
    registry.fail(status=200, count=1, path_prefix="/in/ketqua/tracuu", body=unsigned)
    registry.fail(status=200, count=1, path_prefix="/in/ketqua/tracuu", body=answer)
    gw = cleanup.add(Gateway(tmp, {
        REGISTRY: {"adapter": "civilreg", "url": registry.url, "inbound": "pull", "poll_interval": "200ms",
                   "param.ma_don_vi": "H68.22915"},
        OFFICE: {"adapter": "onestop", "url": office.url}},
        {"registry-to-office": {"from": REGISTRY, "to": OFFICE}}))
    got = wait_until(lambda: [b for b in office.bodies() if b["event"] == "registry.registered"],
                     what="the registered result at the office")
    assert got[0]["detail"]["registration_number"] == "87/2025"
    assert any(l["event"] == "pull.failed" and "signature" in l["msg"] for l in gw.log_lines())
    polls = [r for r in registry.received() if r["path"].startswith("/in/ketqua/tracuu")]
    assert "<Signature" in polls[0]["body"] and "TraCuuKetQua" in polls[0]["body"]     # our polls are signed too
    wait_until(lambda: len([r for r in registry.received() if r["path"].startswith("/in/ketqua/tracuu")]) >= 5)
    assert gw.query("SELECT COUNT(*) FROM events") == [(2,)]                            # stored once
    (cursor,), = gw.query("SELECT cursor FROM cursors")
    assert cursor.startswith("2025-12-08")
