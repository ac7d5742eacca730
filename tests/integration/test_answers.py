"""What destinations answer: a peer whose answers are signed (the civil registry, by default)
has each answer verified before any event is read from it — a missing, broken or foreign
signature, or a signed answer to another request, creates nothing and the delivery is retried
(then dead-lettered at retry.max_age); any other answer is taken on the strength of the peer's
TLS server certificate. Either way the trail and the audit trail say what vouched for the
events an answer or a polled page carried."""
import hashlib
import json
import os
import sqlite3
import subprocess

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harness import LIENTHONG, Gateway, Peersim, cert_kid, peer_files, wait_until
from test_flows import OFFICE, POST, REGISTRY, birth_push, office_sim, registry_answer, registry_sim, sample

FAST = {"initial": "100ms", "max_delay": "300ms"}


def registry_gateway(tmp, cleanup, registry, retry=None):
    """The commune office sends a birth registration to the registry, whose answers come back to it."""
    office = office_sim(tmp, cleanup)
    gw = cleanup.add(Gateway(tmp, {
        OFFICE: {"adapter": "onestop", "url": office.url},
        REGISTRY: {"adapter": "civilreg", "url": registry.url, "param.ma_don_vi": "H12.01957"}},
        {"birth-to-registry": {"from": OFFICE, "events": "dossier.received", "to": REGISTRY},
         "registry-to-office": {"from": REGISTRY, "to": OFFICE}}, retry=retry or FAST))
    return gw, office


def send_birth(gw):
    push = birth_push()
    status, doc, _ = gw.post(OFFICE, push, "ans-birth-1")
    assert status == 202, doc
    return push["dossier"]["code"], doc["events"][0]["event_id"]


def trail(gw, code):
    p = subprocess.run([LIENTHONG, "trail", code, "-c", gw.config], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout


def audit_verify(gw):
    p = subprocess.run([LIENTHONG, "audit", "verify", "-c", gw.config], capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def tls_fingerprint(name):
    """Hex SHA-256 of the DER of a dev-PKI peer's TLS server certificate (what peersim presents)."""
    with open(peer_files(name)["tls_chain"], "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def signed_by(name):
    return "signature;xmldsig;kid=%s;CN=%s-signing" % (cert_kid(peer_files(name)["sign_cert"]), name)


def test_registry_answer_unsigned_tampered_or_signed_by_another_key_creates_no_event_and_is_retried(tmp, cleanup):
    registry = registry_sim(tmp, cleanup)
    answer, other = registry_answer(), peer_files("peer-a")
    xml = {"status": 200, "count": 1, "path_prefix": "/in", "body": answer}
    registry.fail(**xml)                                                        # no signature
    registry.fail(sign="xmldsig", tamper=True, **xml)                           # changed after signing
    registry.fail(sign="xmldsig", sign_key=other["sign_key"], sign_cert=other["sign_cert"], **xml)  # another peer's key
    gw, office = registry_gateway(tmp, cleanup, registry)
    code, mid = send_birth(gw)
    # then the registry's own signed answer is taken: one registry.submitted, reaching the office
    wait_until(lambda: gw.query("SELECT state, attempts FROM deliveries WHERE dest = ?", REGISTRY) == [(2, 4)],
               what="the delivery done at the fourth attempt")
    assert gw.query("SELECT type FROM events WHERE source = ?", REGISTRY) == [("registry.submitted",)]
    got = wait_until(lambda: [b for b in office.bodies() if b["event"] == "registry.submitted"], what="at the office")
    assert len(got) == 1
    # each forged answer: refused before it was read, one security.refused line, one refusals row
    refusals = gw.query("SELECT status, message_id, reason FROM refusals WHERE peer = ? ORDER BY id", REGISTRY)
    assert [(r[0], r[1]) for r in refusals] == [(0, mid)] * 3, refusals
    for (_, _, reason), words in zip(refusals, ("no signature", "bad digest", "not trusted")):
        assert "answer to delivery" in reason and words in reason, reason
    lines = [l for l in gw.log_lines() if l["event"] == "security.refused"]
    assert len(lines) == 3 and all(l["peer"] == REGISTRY and l["message_id"] == mid for l in lines), lines
    outcomes = gw.query("SELECT a.outcome, a.error FROM attempts a JOIN deliveries d ON d.id = a.delivery_id"
                        " WHERE d.dest = ? ORDER BY a.n", REGISTRY)
    assert [o for o, _ in outcomes] == ["retry", "retry", "retry", "done"]
    assert all("answer not trusted" in e for _, e in outcomes[:3]), outcomes
    # what vouched for the event: the trail says it, the audit trail keeps it in the chain
    text = trail(gw, code)
    assert "registry.submitted" in text and "answer from %s, signed by CN=%s-signing (xmldsig, kid %s)" % (
        REGISTRY, REGISTRY, cert_kid(peer_files(REGISTRY)["sign_cert"])) in text, text
    rows = gw.query("SELECT trust FROM audit WHERE direction = 'answer' AND peer = ?", REGISTRY)
    assert rows == [(signed_by(REGISTRY),)], rows
    rc, out = audit_verify(gw)
    assert rc == 0 and "1 answer with events" in out, out


def test_forged_answers_that_persist_end_as_a_dead_letter_without_an_event(tmp, cleanup):
    registry = registry_sim(tmp, cleanup)
    registry.control("POST", "/_sim/reply", {"body": registry_answer()})       # never signed
    gw, office = registry_gateway(tmp, cleanup, registry, retry=dict(FAST, max_age="1500ms"))
    send_birth(gw)
    wait_until(lambda: gw.query("SELECT state FROM deliveries WHERE dest = ?", REGISTRY) == [(3,)], timeout=20,
               what="the delivery dead-lettered")
    (error,), = gw.query("SELECT last_error FROM deliveries WHERE dest = ?", REGISTRY)
    assert "retry.max_age" in error and "answer not trusted: no signature" in error, error
    assert gw.query("SELECT COUNT(*) FROM events WHERE source = ?", REGISTRY) == [(0,)]
    assert gw.query("SELECT COUNT(*) FROM audit WHERE direction = 'answer'") == [(0,)]
    assert not [b for b in office.bodies() if b.get("event", "").startswith("registry.")]


def test_a_signed_answer_to_another_request_is_not_taken_for_this_one(tmp, cleanup):
    registry = registry_sim(tmp, cleanup)
    # a genuine, signed acceptance — of another request (the sample's maHoSoLT), replayed
    registry.fail(status=200, count=1, path_prefix="/in", body=sample("civilreg/answer.accepted.xml"), sign="xmldsig")
    gw, office = registry_gateway(tmp, cleanup, registry)
    code, mid = send_birth(gw)
    wait_until(lambda: gw.query("SELECT state, attempts FROM deliveries WHERE dest = ?", REGISTRY) == [(2, 2)],
               what="the delivery done at its second attempt")
    (error,), = gw.query("SELECT a.error FROM attempts a JOIN deliveries d ON d.id = a.delivery_id"
                         " WHERE d.dest = ? AND a.n = 1", REGISTRY)
    assert "01JNZ4G2K8V6T3QX5M7RB9CD1E" in error and "not an answer to it" in error, error
    (body,), = gw.query("SELECT body FROM events WHERE source = ?", REGISTRY)
    assert json.loads(body)["detail"]["registry_dossier_id"] == mid


def post_gateway(tmp, cleanup, post, store=None, **post_opts):
    office = office_sim(tmp, cleanup)
    opts = {"adapter": "postal", "url": post.url, "param.customer_code": "UBND-DP",
            "param.sender_address": "UBND xã Dương Phong", "param.sender_tel": "0209 3850 123",
            "param.sender_province": "06"}
    opts.update(post_opts)
    gw = cleanup.add(Gateway(tmp, {OFFICE: {"adapter": "onestop", "url": office.url}, POST: opts},
                             {"return-by-post": {"from": OFFICE, "events": "dossier.returned", "to": POST},
                              "post-to-office": {"from": POST, "to": OFFICE}}, retry=FAST, store=store))
    returned = sample("onestop/push.returned.json")
    status, doc, _ = gw.post(OFFICE, returned, "ans-ret-1")
    assert status == 202, doc
    return gw, returned["dossier"]["code"]


def order_answer(code):
    answer = sample("postal/order-answer.ok.json")
    answer["OrderNumber"] = code
    return json.dumps(answer)


def test_an_unsigned_json_answer_is_recorded_as_trusted_by_the_tls_server_certificate(tmp, cleanup):
    post = cleanup.add(Peersim(tmp, POST))
    post.control("POST", "/_sim/reply", {"status": 200, "body": order_answer(sample("onestop/push.returned.json")
                                                                             ["dossier"]["code"])})
    gw, code = post_gateway(tmp, cleanup, post)
    wait_until(lambda: gw.query("SELECT type FROM events WHERE source = ?", POST) == [("postal.order_created",)],
               what="the order the post office's answer carried")
    tls = "tls;sha256=%s;CN=%s" % (tls_fingerprint(POST), POST)
    assert gw.query("SELECT trust FROM audit WHERE direction = 'answer'") == [(tls,)]
    (in_trust,), = gw.query("SELECT trust FROM audit WHERE direction = 'in'")
    assert in_trust.startswith("signature;jws;kid=") and in_trust.endswith("CN=%s-signing" % OFFICE), in_trust
    text = trail(gw, code)
    assert "answer from %s, trusted by TLS server certificate CN=%s (sha256 %s)" % (
        POST, POST, tls_fingerprint(POST)) in text, text
    assert "sent by %s, signed by CN=%s-signing (jws, kid " % (OFFICE, OFFICE) in text, text
    rc, out = audit_verify(gw)
    assert rc == 0, out


def test_json_answers_signed_with_a_detached_jws_are_verified_when_the_peer_signs_them(tmp, cleanup):
    post = cleanup.add(Peersim(tmp, POST, sign=True))
    code = sample("onestop/push.returned.json")["dossier"]["code"]
    post.control("POST", "/_sim/reply", {"status": 200, "body": order_answer(code), "sign": "jws"})
    post.fail(status=200, count=1, body=order_answer(code), sign="jws", tamper=True)
    post.fail(status=200, count=1, body=order_answer(code))
    gw, code = post_gateway(tmp, cleanup, post, answers="signed")
    wait_until(lambda: gw.query("SELECT state, attempts FROM deliveries WHERE dest = ?", POST) == [(2, 3)],
               what="the order done at the third attempt")
    assert gw.query("SELECT type FROM events WHERE source = ?", POST) == [("postal.order_created",)]
    reasons = [r for r, in gw.query("SELECT reason FROM refusals WHERE peer = ? ORDER BY id", POST)]
    assert len(reasons) == 2 and "bad signature" in reasons[0] and "no signature" in reasons[1], reasons
    (trust,), = gw.query("SELECT trust FROM audit WHERE direction = 'answer'")
    assert trust == "signature;jws;kid=%s;CN=%s-signing" % (cert_kid(peer_files(POST)["sign_cert"]), POST), trust


def test_a_peer_that_signs_its_answers_needs_a_way_to_check_them(tmp, cleanup):
    gw = Gateway(tmp, {REGISTRY: {"adapter": "civilreg", "url": "https://127.0.0.1:1/x", "verify": "none",
                                  "param.ma_don_vi": "H12.01957"},
                       POST: {"adapter": "postal", "url": "https://127.0.0.1:1/y", "answers": "maybe",
                              "param.customer_code": "C", "param.sender_address": "A", "param.sender_tel": "1",
                              "param.sender_province": "06"}}, {}, start=False)
    p = subprocess.run([LIENTHONG, "check-config", "-c", gw.config], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "peer %s: answers = signed (the default of its adapter) needs verify = xmldsig or jws" % REGISTRY in p.stderr
    assert "peer %s: answers must be signed or tls, not \"maybe\"" % POST in p.stderr, p.stderr
    # a good config: check-config says what each destination's answers rest on
    good = Gateway(tmp, {REGISTRY: {"adapter": "civilreg", "url": "https://127.0.0.1:1/x", "param.ma_don_vi": "H1"},
                         POST: {"adapter": "postal", "url": "https://127.0.0.1:1/y", "param.customer_code": "C",
                                "param.sender_address": "A", "param.sender_tel": "1", "param.sender_province": "06"}},
                   {}, start=False, name="good")
    p = subprocess.run([LIENTHONG, "check-config", "-c", good.config], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "answers of %s" % REGISTRY in p.stdout and "signed (xmldsig): verified against its keys" in p.stdout
    assert "answers of %s" % POST in p.stdout and "unsigned: trusted on its TLS server certificate" in p.stdout


def test_polled_pages_are_verified_off_the_loop_refused_like_answers_and_say_what_vouched(tmp, cleanup):
    office = office_sim(tmp, cleanup)
    registry = cleanup.add(Peersim(tmp, REGISTRY, sign=True))
    registry.control("POST", "/_sim/reply", {"status": 200, "content_type": "application/xml", "sign": "xmldsig",
                                             "body": sample("civilreg/results.empty-poll-answer.xml")})
    registry.fail(status=200, count=1, path_prefix="/in/ketqua/tracuu", body=sample("civilreg/results.poll-answer.xml"))
    registry.fail(status=200, count=1, path_prefix="/in/ketqua/tracuu", body=sample("civilreg/results.poll-answer.xml"),
                  sign="xmldsig")
    gw = cleanup.add(Gateway(tmp, {
        REGISTRY: {"adapter": "civilreg", "url": registry.url, "inbound": "pull", "poll_interval": "200ms",
                   "param.ma_don_vi": "H68.22915"},
        OFFICE: {"adapter": "onestop", "url": office.url}},
        {"registry-to-office": {"from": REGISTRY, "to": OFFICE}}))
    wait_until(lambda: [b for b in office.bodies() if b["event"] == "registry.registered"], what="the polled result")
    (mid, reason), = gw.query("SELECT message_id, reason FROM refusals WHERE peer = ?", REGISTRY)
    assert mid.startswith("poll-") and "answer to poll" in reason and "no signature" in reason, reason
    assert [l for l in gw.log_lines() if l["event"] == "security.refused" and l["message_id"] == mid]
    (code,), = gw.query("SELECT dossier_code FROM events WHERE type = 'registry.registered'")
    assert "polled from %s, signed by CN=%s-signing (xmldsig" % (REGISTRY, REGISTRY) in trail(gw, code)
    assert set(gw.query("SELECT trust FROM audit WHERE direction = 'in'")) == {(signed_by(REGISTRY),)}


def test_pulled_one_stop_changes_are_recorded_as_trusted_by_its_tls_server_certificate(tmp, cleanup):
    office = cleanup.add(Peersim(tmp, OFFICE))
    portal = cleanup.add(Peersim(tmp, "cong-dvc-tinh"))
    office.control("POST", "/_sim/reply", {"status": 200, "body": json.dumps(sample("onestop/search-page.empty.json"))})
    office.fail(status=200, count=1, path_prefix="/dossiers/search",
                body=json.dumps(sample("onestop/search-page.two-records.json")))
    gw = cleanup.add(Gateway(tmp, {OFFICE: {"adapter": "onestop", "inbound": "pull", "url": office.url.replace("/in", ""),
                                            "poll_interval": "200ms", "verify": "none"},
                                   "cong-dvc-tinh": {"url": portal.url}},
                             {"r": {"from": OFFICE, "to": "cong-dvc-tinh"}}))
    wait_until(lambda: len(portal.received(ok_only=True)) == 2, what="both changes at the portal")
    assert gw.query("SELECT DISTINCT trust FROM audit WHERE direction = 'in'") == [
        ("tls;sha256=%s;CN=%s" % (tls_fingerprint(OFFICE), OFFICE),)]
    assert "polled from %s, trusted by TLS server certificate CN=%s" % (OFFICE, OFFICE) in trail(
        gw, "000.00.12.H12-250310-0001")


def old_audit_hash(at, *fields):
    """lt_audit_hash of a row written before rows recorded trust."""
    return hashlib.sha256(("lienthong-audit-1;%d;" % at + "".join(
        "%d:%s;" % (len(f.encode()), f) for f in fields)).encode()).hexdigest()


def test_a_store_from_before_trust_was_recorded_gains_the_column_and_its_old_rows_still_verify(tmp, cleanup):
    db = os.path.join(tmp, "lienthong.db")
    old = sqlite3.connect(db)
    old.execute("CREATE TABLE audit(seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, direction TEXT NOT NULL,"
                " peer TEXT NOT NULL, message_id TEXT NOT NULL, body_sha256 TEXT NOT NULL, sig_sha256 TEXT NOT NULL,"
                " prev TEXT NOT NULL, hash TEXT NOT NULL)")
    prev = "0" * 64
    h = old_audit_hash(1700000000000, prev, "out", "portal", "old-1", "a" * 64, "b" * 64)
    old.execute("INSERT INTO audit(at, direction, peer, message_id, body_sha256, sig_sha256, prev, hash)"
                " VALUES (1700000000000, 'out', 'portal', 'old-1', ?, ?, ?, ?)", ("a" * 64, "b" * 64, prev, h))
    old.commit()
    old.close()
    post = cleanup.add(Peersim(tmp, POST))
    post.control("POST", "/_sim/reply", {"status": 200, "body": order_answer(sample("onestop/push.returned.json")
                                                                             ["dossier"]["code"])})
    gw, _ = post_gateway(tmp, cleanup, post)
    wait_until(lambda: gw.query("SELECT COUNT(*) FROM audit WHERE direction = 'answer'") == [(1,)],
               what="the answer in the audit trail")
    assert gw.query("SELECT trust FROM audit WHERE seq = 1") == [("",)]
    rc, out = audit_verify(gw)
    assert rc == 0 and "1 answer with events" in out, out
    gw.stop()
    subprocess.run(["sqlite3", db, "UPDATE audit SET trust = 'tls;sha256=00;CN=x' WHERE direction = 'answer'"],
                   check=True)
    rc, out = audit_verify(gw)                     # what vouched for a row is in its hash
    assert rc == 1 and "content does not match its hash" in out, out
