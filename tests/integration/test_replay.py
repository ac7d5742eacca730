"""Signed XML is bound to a moment and a message: each document kind's own
signed time must be inside the replay window, and what the signature covers
(the digest of the canonical form) and the document's signed identity are
remembered — never the raw bytes — so a captured document is refused when it
is old, and when it comes again under another X-Message-Id however its bytes
were changed around the signed content. A document that carries no signed
time or identity is refused unless its peer's configuration accepts the risk.

Real mutual TLS, real XML-DSig made by node's xml-crypto, a real SQLite file
(the PostgreSQL case is in test_store_pg.py)."""
import json
import os
import re
import sqlite3
import subprocess

from harness import LIENTHONG, ROOT, Gateway, Peersim, sign_xml, vn_time, wait_until

SAMPLES = os.path.join(ROOT, "schemas", "samples")
EDXML = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
REGISTRY, LAND = "hotich-tinh", "vpdk-dat-thanhpho"


def sample(name):
    with open(os.path.join(SAMPLES, name), encoding="utf-8") as f:
        return f.read()


def vn(t):
    return t.strftime("%d/%m/%Y %H:%M:%S")


def envelope(sent):
    """The ward's edXML envelope to the land office, sent (TraceHeader Timestamp) at `sent`."""
    doc = sample("edxml/envelope.ward-to-land-office.xml")
    assert "14/04/2025 10:05:00" in doc
    return doc.replace("14/04/2025 10:05:00", vn(sent))


def status(at, description=None):
    """The land office's Status 06 about that envelope, at `at`."""
    doc = sample("edxml/status.resolved.xml").replace("25/04/2025 15:30:00", vn(at))
    if description:
        doc = re.sub(r"<edXML:Description>[^<]*</edXML:Description>",
                     "<edXML:Description>%s</edXML:Description>" % description, doc)
    return doc


def results(message_id=None, when=None):
    """The registry's DanhSachKetQua callback with the given root messageId and thoiGian (None: without)."""
    doc = sample("civilreg/results.callback.xml")
    old = ' messageId="HT68-DS-20251121-000077" thoiGian="2025-11-21T15:30:00+07:00"'
    assert old in doc
    attrs = (' messageId="%s"' % message_id if message_id else "") + (' thoiGian="%s"' % when if when else "")
    return doc.replace(old, attrs)


def gateway(tmp, cleanup, name="gateway", **registry_opts):
    registry = {"adapter": "civilreg", "param.ma_don_vi": "H12.01957"}
    registry.update(registry_opts)
    return cleanup.add(Gateway(tmp, {REGISTRY: registry, LAND: {"adapter": "edxml"}}, {}, name=name,
                               db=os.path.join(tmp, name + ".db")))


def post(gw, peer, body, mid):
    return gw.post(peer, body, mid, content_type="application/xml", raw=True, sign=False)


def events(gw):
    return gw.query("SELECT COUNT(*) FROM events")[0][0]


def test_old_or_future_dated_signed_edxml_is_refused_naming_the_signed_time(tmp, cleanup):
    gw = gateway(tmp, cleanup)
    trace = "/edXMLEnvelope/edXMLHeader/TraceHeaderList/TraceHeader/Timestamp"
    months_ago = sign_xml(envelope(vn_time(-90 * 86400)), LAND)
    # a fresh time where the signature does not reach (an Object inside the Signature) is not read
    hidden = months_ago.replace(b"</KeyInfo></Signature>", (
        '</KeyInfo><Object><edXML:edXMLHeader xmlns:edXML="%s"><edXML:TraceHeaderList><edXML:TraceHeader>'
        '<edXML:OrganId>000.00.12.H12</edXML:OrganId><edXML:Timestamp>%s</edXML:Timestamp></edXML:TraceHeader>'
        '</edXML:TraceHeaderList></edXML:edXMLHeader></Object></Signature>' % (EDXML, vn(vn_time()))).encode())
    assert hidden != months_ago
    cases = [
        ("the sample as written, April 2025", sign_xml(sample("edxml/envelope.ward-to-land-office.xml"), LAND),
         trace, "before"),
        ("sent 90 days ago", months_ago, trace, "before"),
        ("a fresh time hidden in the Signature", hidden, trace, "before"),
        ("sent an hour from now", sign_xml(envelope(vn_time(3600)), LAND), trace, "after"),
        ("a Status of April 2025", sign_xml(sample("edxml/status.resolved.xml"), LAND), "/Status/Timestamp", "before"),
    ]
    for i, (what, body, field, side) in enumerate(cases):
        st, doc, _ = post(gw, LAND, body, "old-%d" % i)
        assert st == 401 and doc["error"] == "signature", (what, st, doc)
        assert doc["detail"].startswith("timestamp out of window: %s of the signed document is" % field), (what, doc)
        assert " s %s now, the window is 300 s" % side in doc["detail"], (what, doc)
    assert events(gw) == 0
    # each is on record (written after the answer went out)
    wait_until(lambda: gw.query("SELECT COUNT(*) FROM refusals WHERE status = 401 AND reason LIKE "
                                "'timestamp out of window%'") == [(len(cases),)], what="the refusals recorded")
    # the same documents sent now are accepted
    assert post(gw, LAND, sign_xml(envelope(vn_time(-60)), LAND), "fresh-env")[0] == 202
    assert post(gw, LAND, sign_xml(status(vn_time()), LAND), "fresh-status")[0] == 202
    assert events(gw) == 2


def test_signed_result_list_without_message_id_or_time_is_refused_unless_the_peer_accepts_the_risk(tmp, cleanup):
    gw = gateway(tmp, cleanup)
    bare = sign_xml(results(), REGISTRY)
    st, doc, _ = post(gw, REGISTRY, bare, "ds-1")
    assert st == 401 and doc["error"] == "signature", doc
    assert doc["detail"].startswith("unbound signed document: it carries no signed time (/DanhSachKetQua/@thoiGian) "
                                    "and no signed message id (/DanhSachKetQua/@messageId)"), doc
    assert "peer %s does not set accept_unbound_xml" % REGISTRY in doc["detail"], doc
    # a time alone does not bind the message; an id alone does not bind the moment
    st, doc, _ = post(gw, REGISTRY, sign_xml(results(when=vn_time().isoformat()), REGISTRY), "ds-2")
    assert st == 401 and "carries no signed message id (/DanhSachKetQua/@messageId)" in doc["detail"], doc
    st, doc, _ = post(gw, REGISTRY, sign_xml(results(message_id="ds-3"), REGISTRY), "ds-3")
    assert st == 401 and "carries no signed time (/DanhSachKetQua/@thoiGian)" in doc["detail"], doc
    assert events(gw) == 0
    # bound by both, it is an ordinary callback
    st, doc, _ = post(gw, REGISTRY, sign_xml(results("ds-4", vn_time().isoformat()), REGISTRY), "ds-4")
    assert st == 202 and len(doc["events"]) == 2, doc
    gw.stop()

    # a peer that explicitly accepts unbound documents: check-config names the peer and the risk
    optin = gateway(tmp, cleanup, name="optin", accept_unbound_xml="yes")
    p = subprocess.run([LIENTHONG, "check-config", "-c", optin.config], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    warning = [line for line in p.stderr.splitlines() if "accept_unbound_xml" in line]
    assert len(warning) == 1 and warning[0].startswith("warning: %s:" % optin.config), p.stderr
    assert "peer %s" % REGISTRY in warning[0] and "replayed" in warning[0], warning
    assert any(line.get("event") == "config.risk" and REGISTRY in line.get("msg", "") for line in optin.log_lines())
    st, doc, _ = post(optin, REGISTRY, bare, "ds-1")
    assert st == 202 and len(doc["events"]) == 2, doc
    # what its signature covers is still remembered: the same document as another message is a replay
    st, doc, _ = post(optin, REGISTRY, bare + b"\n", "ds-9")
    assert st == 409 and doc["detail"].startswith("replay: this signed document") and "ds-1" in doc["detail"], doc
    # a time it does carry is still checked
    st, doc, _ = post(optin, REGISTRY, sign_xml(results(when=vn_time(-86400).isoformat()), REGISTRY), "ds-10")
    assert st == 401 and "timestamp out of window: /DanhSachKetQua/@thoiGian" in doc["detail"], doc
    assert events(optin) == 2


def test_same_signed_content_in_other_bytes_is_a_replay_under_a_new_id_and_a_duplicate_under_its_own(tmp, cleanup):
    gw = gateway(tmp, cleanup)
    signed = sign_xml(envelope(vn_time(-30)), LAND)
    st, first, _ = post(gw, LAND, signed, "env-1")
    assert st == 202, first
    decl = b'<?xml version="1.0" encoding="UTF-8"?>'
    assert signed.startswith(decl)
    variants = [
        ("a newline appended", signed + b"\n"),
        ("a comment after the root", signed + b"\n<!-- sent again -->\n"),
        ("CRLF line ends", signed.replace(b"\n", b"\r\n")),
        ("another XML declaration", signed.replace(decl, b"<?xml version='1.0' encoding='utf-8' standalone='yes'?>")),
        ("no XML declaration", signed[len(decl):].lstrip()),
        ("white space in a start tag", signed.replace(b"<edXML:edXMLEnvelope ", b"<edXML:edXMLEnvelope \n\t ", 1)),
        ("line breaks in the certificate (KeyInfo is not signed)",
         signed.replace(b"<X509Certificate>", b"<X509Certificate>\n", 1).replace(b"</X509Certificate>",
                                                                                 b"\n</X509Certificate>", 1)),
    ]
    for i, (what, body) in enumerate(variants):
        assert body != signed, what
        st, doc, _ = post(gw, LAND, body, "env-again-%d" % i)
        assert st == 409 and doc["error"] == "conflict", (what, st, doc)
        assert doc["detail"].startswith("replay: this signed document (the same signed content"), (what, doc)
        assert "already received as message env-1 from peer %s" % LAND in doc["detail"], (what, doc)
        # resent under its own message id, it is the same message: the original receipt
        st, dup, _ = post(gw, LAND, body, "env-1")
        assert st == 200 and dup["status"] == "duplicate" and dup["events"] == first["events"], (what, st, dup)
    # a changed signed content is no longer the signed document: its signature fails
    st, doc, _ = post(gw, LAND, signed.replace(b"<edXML:Priority>0<", b"<edXML:Priority>1<"), "env-changed")
    assert st == 401 and "bad digest" in doc["detail"], doc
    assert events(gw) == 1
    # each replay is a security refusal on record, with the earlier message named
    rows = wait_until(lambda: [r for r in [gw.query("SELECT message_id, reason FROM refusals WHERE status = 409 "
                                                     "ORDER BY id")] if len(r) == len(variants)],
                      what="the replays recorded")[0]
    assert [r[0] for r in rows] == ["env-again-%d" % i for i in range(len(variants))], rows
    assert all("env-1" in r[1] for r in rows), rows
    assert len([l for l in gw.log_lines() if l.get("event") == "security.refused" and l.get("status") == 409]) == \
        len(variants)


def test_a_signed_identity_already_received_under_another_message_id_is_a_replay(tmp, cleanup):
    gw = gateway(tmp, cleanup)
    at = vn_time(-10)
    assert post(gw, LAND, sign_xml(status(at, "Đã hoàn thành"), LAND), "st-1")[0] == 202
    # the same Status (document, agency, code, time) signed again with other words: not a new message
    st, doc, _ = post(gw, LAND, sign_xml(status(at, "Đã hoàn thành, trả kết quả"), LAND), "st-2")
    assert st == 409 and doc["detail"].startswith("replay: the signed message (edXML status 06 about "
                                                  "000.00.12.H12,2025/04/14,000.00.12.H12-250414-0031/LT from "
                                                  "000.20.12.H12 at %s)" % vn(at)), doc
    assert "already received as message st-1" in doc["detail"], doc
    # the same envelope sent again later (after a refusal, as an update) is a message of its own
    assert post(gw, LAND, sign_xml(envelope(at), LAND), "env-a")[0] == 202
    st, doc, _ = post(gw, LAND, sign_xml(envelope(at).replace("<edXML:Priority>0<", "<edXML:Priority>1<"), LAND),
                      "env-b")
    assert st == 409 and "replay: the signed message (edXML envelope 000.00.12.H12,2025/04/14," in doc["detail"], doc
    assert post(gw, LAND, sign_xml(envelope(vn_time()), LAND), "env-c")[0] == 202
    # the registry's messageId is its X-Message-Id: another id is refused before the store
    st, doc, _ = post(gw, REGISTRY, sign_xml(results("ds-1", vn_time().isoformat()), REGISTRY), "ds-other")
    assert st == 401 and 'messageId "ds-1" of the signed document (/DanhSachKetQua/@messageId) does not match ' \
        'X-Message-Id' in doc["detail"], doc
    assert events(gw) == 3


def test_a_store_made_before_signed_digests_is_upgraded_and_keeps_its_messages(tmp, cleanup):
    db = os.path.join(tmp, "gateway.db")
    old = sqlite3.connect(db)
    old.executescript(
        "CREATE TABLE messages(peer TEXT NOT NULL, message_id TEXT NOT NULL, digest TEXT NOT NULL,"
        " received_at INTEGER NOT NULL, receipt TEXT NOT NULL, PRIMARY KEY(peer, message_id)) WITHOUT ROWID;"
        "INSERT INTO messages VALUES ('%s', 'before-1', '%s', 1, '{\"status\":\"accepted\"}');" % (LAND, "0" * 64))
    old.close()
    gw = gateway(tmp, cleanup)
    cols = [r[1] for r in gw.query("SELECT * FROM pragma_table_info('messages')")]
    assert "signed_digest" in cols and "signed_id" in cols, cols
    assert gw.query("SELECT message_id, signed_digest FROM messages") == [("before-1", None)]
    signed = sign_xml(envelope(vn_time()), LAND)
    assert post(gw, LAND, signed, "after-1")[0] == 202
    assert post(gw, LAND, signed + b"\n", "after-2")[0] == 409


def test_a_poll_page_served_again_in_other_bytes_is_stored_once(tmp, cleanup):
    office = cleanup.add(Peersim(tmp, "motcua-xa-duongphong"))
    office.control("POST", "/_sim/reply", {"status": 200, "body": json.dumps({"success": True})})
    registry = cleanup.add(Peersim(tmp, REGISTRY))
    page = sign_xml(sample("civilreg/results.poll-answer.xml"), REGISTRY).decode()
    empty = sign_xml(sample("civilreg/results.empty-poll-answer.xml"), REGISTRY).decode()
    registry.control("POST", "/_sim/reply", {"status": 200, "content_type": "application/xml", "body": empty})
    # the registry serves the same signed page twice, the second time re-serialized
    registry.fail(status=200, count=1, path_prefix="/in/ketqua/tracuu", body=page)
    registry.fail(status=200, count=1, path_prefix="/in/ketqua/tracuu", body=page.replace("\n", "\r\n") + "\n")
    gw = cleanup.add(Gateway(tmp, {
        REGISTRY: {"adapter": "civilreg", "url": registry.url, "inbound": "pull", "poll_interval": "200ms",
                   "param.ma_don_vi": "H68.22915"},
        "motcua-xa-duongphong": {"adapter": "onestop", "url": office.url}},
        {"registry-to-office": {"from": REGISTRY, "to": "motcua-xa-duongphong"}}))
    polls = lambda: [r for r in registry.received() if r["path"].startswith("/in/ketqua/tracuu")]
    wait_until(lambda: len(polls()) >= 4, what="four polls")
    wait_until(lambda: gw.query("SELECT COUNT(*) FROM deliveries WHERE state = 2")[0][0] >= 1, what="delivered")
    assert gw.query("SELECT COUNT(*) FROM messages") == [(1,)] and events(gw) == 2     # the page's two results
    assert len([b for b in office.bodies() if b["event"] == "registry.registered"]) == 1
    assert not [l for l in gw.log_lines() if l.get("event") == "pull.store_failed"]
    assert [l for l in gw.log_lines() if l.get("event") == "pull.duplicate"], "the second page was read"


def test_check_config_holds_accept_unbound_xml_to_yes_or_no_and_to_signed_xml_peers(tmp, cleanup):
    gw = cleanup.add(Gateway(tmp, {REGISTRY: {"adapter": "civilreg", "param.ma_don_vi": "H12.01957",
                                              "accept_unbound_xml": "maybe"},
                                   "peer-a": {"accept_unbound_xml": "yes"}}, {}, start=False))
    lines = open(gw.config).read().splitlines()
    p = subprocess.run([LIENTHONG, "check-config", "-c", gw.config], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 2, p.stderr
    maybe = lines.index("accept_unbound_xml = maybe") + 1
    jws = [i + 1 for i, l in enumerate(lines) if l == "accept_unbound_xml = yes"][0]
    assert "%s:%d: peer %s: accept_unbound_xml must be yes or no, not \"maybe\"" % (gw.config, maybe, REGISTRY) \
        in p.stderr, p.stderr
    assert "%s:%d: peer peer-a: accept_unbound_xml applies to signed XML (verify = xmldsig), not verify = jws" % (
        gw.config, jws) in p.stderr, p.stderr
