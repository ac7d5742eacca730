"""Real PKI: certificates through intermediate CAs (the dev PKI's three-level hierarchy:
root CA -> policy CA -> issuing CA -> leaf), sent by the peer or configured. Real mTLS,
signatures made by python3-cryptography and node's xml-crypto."""
import os
import signal
import ssl
import subprocess

from harness import (KIND, LIENTHONG, Gateway, Peersim, client_context, event, l3, make_crl, make_ocsp_response, pki,
                     wait_until, xml_signed)
from test_signer_binding import REGISTRY, OFFICE, registry_result


def l3_sender(tmp, cleanup, trust, keys=None, **gateway):
    """A gateway whose client-certificate trust is `trust` (a three-level file) and whose
    peer-a signs with its three-level signing certificate (keys: its chain file)."""
    g = {"trust": trust}
    g.update(gateway)
    return cleanup.add(Gateway(tmp, {"peer-a": {"keys": keys or l3("peers", "peer-a", "sign-chain.pem")},
                                     OFFICE: {"adapter": "onestop", "url": "https://127.0.0.1:1/x"}},
                               {"r": {"from": "peer-a", "to": OFFICE}}, gateway=g))


def l3_post(gw, mid, tls_cert, sign_dir=("peers", "peer-a")):
    """POST an event as peer-a over TLS with the three-level tls_cert (a leaf or a chain
    file), signed by the three-level signing key of sign_dir."""
    ctx = client_context(None, cert=l3(*tls_cert), key=l3(tls_cert[0], *tls_cert[1:-1], "tls.key"))
    return gw.post("peer-a", event("PKI-" + mid), mid, context=ctx,
                   jws={"key_path": l3(*sign_dir, "sign.key"), "cert_path": l3(*sign_dir, "sign.pem")})


def test_client_certificate_through_two_intermediates_sent_by_the_peer(tmp, cleanup):
    gw = l3_sender(tmp, cleanup, l3("trust-root.pem"))
    status, doc, _ = l3_post(gw, "chain-sent", ("peers", "peer-a", "tls-chain.pem"))
    assert status == 202, doc
    # the same leaf without its intermediates does not chain to the root alone
    try:
        status, doc, _ = l3_post(gw, "chain-missing", ("peers", "peer-a", "tls.pem"))
    except (ssl.SSLError, ConnectionError):
        pass
    else:
        raise AssertionError("a leaf without its intermediates was let in: %s %s" % (status, doc))


def test_client_certificate_with_intermediates_configured_in_trust(tmp, cleanup):
    gw = l3_sender(tmp, cleanup, l3("trust.pem"))
    status, doc, _ = l3_post(gw, "chain-conf", ("peers", "peer-a", "tls.pem"))
    assert status == 202, doc


def registry(tmp, cleanup, **opts):
    o = {"adapter": "civilreg", "param.ma_don_vi": "H12.01957", "trust": l3("trust-root.pem")}
    o.update(opts)
    return cleanup.add(Gateway(tmp, {REGISTRY: o, OFFICE: {"adapter": "onestop", "url": "https://127.0.0.1:1/x"}},
                               {"registry-to-office": {"from": REGISTRY, "to": OFFICE}}))


def post_xml(gw, mid, cert):
    body = xml_signed(registry_result(mid), l3("peers", REGISTRY, "sign.key"), cert)
    return gw.post(REGISTRY, body, mid, content_type="application/xml", raw=True, sign=False)


def test_xml_signer_through_intermediates_sent_in_keyinfo(tmp, cleanup):
    gw = registry(tmp, cleanup, keys=None, signer="CN=%s-signing" % REGISTRY)
    status, doc, _ = post_xml(gw, "HT-L3-SENT-1", l3("peers", REGISTRY, "sign-chain.pem"))
    assert status == 202, doc
    # without the intermediates the signer does not chain to the root
    status, doc, _ = post_xml(gw, "HT-L3-SENT-2", l3("peers", REGISTRY, "sign.pem"))
    assert status == 401 and "signer certificate not trusted" in doc["detail"], doc


def test_xml_signer_through_intermediates_configured_in_its_keys(tmp, cleanup):
    # keys = the leaf and its intermediates: the document carries the leaf alone
    gw = registry(tmp, cleanup, keys=l3("peers", REGISTRY, "sign-chain.pem"))
    status, doc, _ = post_xml(gw, "HT-L3-CONF-1", l3("peers", REGISTRY, "sign.pem"))
    assert status == 202, doc


def test_jws_signer_in_a_chain_file_is_accepted_and_logged_by_kid(tmp, cleanup):
    gw = l3_sender(tmp, cleanup, l3("trust-root.pem"))
    status, doc, _ = l3_post(gw, "jws-chain", ("peers", "peer-a", "tls-chain.pem"))
    assert status == 202, doc
    rows = gw.query("SELECT trust FROM audit WHERE message_id = 'jws-chain'")
    assert rows and "CN=peer-a-signing" in rows[0][0], rows


# ---- revocation -----------------------------------------------------------------------

def issuing_crl(tmp, name="issuing.crl", revoked=(), **kw):
    """A CRL of the three-level issuing CA, written into the test's directory."""
    return make_crl(os.path.join(tmp, name), l3("issuing-ca.pem"), l3("issuing-ca.key"), revoked, **kw)


def test_revoked_client_certificate_is_refused_with_403_naming_revoked(tmp, cleanup):
    crl = issuing_crl(tmp, revoked=[l3("revoked", "tls.pem")])
    gw = l3_sender(tmp, cleanup, l3("trust.pem"), crl=crl)
    status, doc, _ = l3_post(gw, "rev-tls-1", ("revoked", "tls-chain.pem"))
    assert status == 403 and "revoked" in doc["detail"] and "CN=peer-a" in doc["detail"], (status, doc)
    assert gw.query("SELECT COUNT(*) FROM events") == [(0,)]
    rows = wait_until(lambda: gw.query("SELECT status, reason FROM refusals"), what="the refusal's row")
    assert rows[0][0] == 403 and "revoked" in rows[0][1], rows
    # the same peer with its certificate that is not revoked
    status, doc, _ = l3_post(gw, "rev-tls-2", ("peers", "peer-a", "tls-chain.pem"))
    assert status == 202, doc


def test_revoked_signing_certificate_is_refused_with_401_naming_it(tmp, cleanup):
    crl = issuing_crl(tmp, revoked=[l3("revoked", "sign.pem")])
    # JWS: peer-a's keys list its revoked signing certificate and its current one
    gw = l3_sender(tmp, cleanup, l3("trust.pem"), crl=crl,
                   keys="%s %s" % (l3("revoked", "sign-chain.pem"), l3("peers", "peer-a", "sign-chain.pem")))
    status, doc, _ = l3_post(gw, "rev-sign-1", ("peers", "peer-a", "tls-chain.pem"), sign_dir=("revoked",))
    assert status == 401 and "certificate revoked: CN=peer-a-signing" in doc["detail"], (status, doc)
    status, doc, _ = l3_post(gw, "rev-sign-2", ("peers", "peer-a", "tls-chain.pem"))
    assert status == 202, doc
    gw.stop()
    # XML-DSig: the registry's keys list the revoked certificate; the CRL is the peer's own
    gw = registry(tmp, cleanup, keys=l3("revoked", "sign-chain.pem"), crl=crl)
    body = xml_signed(registry_result("HT-REV-1"), l3("revoked", "sign.key"), l3("revoked", "sign.pem"))
    status, doc, _ = gw.post(REGISTRY, body, "HT-REV-1", content_type="application/xml", raw=True, sign=False)
    assert status == 401 and "certificate revoked: CN=peer-a-signing" in doc["detail"], (status, doc)


def test_signing_certificate_whose_intermediate_is_revoked_is_refused_with_401(tmp, cleanup):
    """The policy CA's CRL revokes the issuing CA: a signer issued by it is refused, the
    signer's own certificate being on no CRL. Its chain comes from its keys (a chain file)
    for JWS, from its trust, the signed XML's KeyInfo or its keys for XML-DSig."""
    crl = make_crl(os.path.join(tmp, "policy.crl"), l3("policy-ca.pem"), l3("policy-ca.key"),
                   revoked=[l3("issuing-ca.pem")])
    # JWS: peer-a (a TLS client of the two-level dev PKI) signs with its three-level certificate
    gw = cleanup.add(Gateway(tmp, {"peer-a": {"keys": l3("peers", "peer-a", "sign-chain.pem"), "crl": crl},
                                   OFFICE: {"adapter": "onestop", "url": "https://127.0.0.1:1/x"}},
                             {"r": {"from": "peer-a", "to": OFFICE}}))
    status, doc, _ = gw.post("peer-a", event("PKI-INT-1"), "int-rev-1",
                             jws={"key_path": l3("peers", "peer-a", "sign.key"), "cert_path": l3("peers", "peer-a", "sign.pem")})
    assert status == 401 and "revoked" in doc["detail"] and "3-level issuing CA" in doc["detail"], (status, doc)
    gw.stop()
    # XML-DSig: the signer through intermediates in its trust (the document's KeyInfo carries
    # them too), then through intermediates in its keys (KeyInfo: the leaf alone)
    for mid, trust, keys, cert in (("HT-INT-1", l3("trust.pem"), None, l3("peers", REGISTRY, "sign-chain.pem")),
                                   ("HT-INT-2", l3("trust-root.pem"), l3("peers", REGISTRY, "sign-chain.pem"),
                                    l3("peers", REGISTRY, "sign.pem"))):
        gw = registry(tmp, cleanup, keys=keys, trust=trust, signer="CN=%s-signing" % REGISTRY, crl=crl)
        status, doc, _ = post_xml(gw, mid, cert)
        assert status == 401 and "revoked" in doc["detail"] and "3-level issuing CA" in doc["detail"], (mid, status, doc)
        gw.stop()


def test_crl_is_reloaded_when_its_file_changes(tmp, cleanup):
    crl = issuing_crl(tmp)
    gw = l3_sender(tmp, cleanup, l3("trust.pem"), crl=crl)
    status, doc, _ = l3_post(gw, "reload-1", ("peers", "peer-a", "tls-chain.pem"))
    assert status == 202, doc
    issuing_crl(tmp, revoked=[l3("peers", "peer-a", "tls.pem")])     # the office fetched a new CRL
    wait_until(lambda: any(r.get("event") == "security.reloaded" for r in gw.log_lines()), timeout=10,
               what="the changed CRL to be reloaded")
    status, doc, _ = l3_post(gw, "reload-2", ("peers", "peer-a", "tls-chain.pem"))
    assert status == 403 and "revoked" in doc["detail"], (status, doc)
    line = [r for r in gw.log_lines() if r.get("event") == "security.reloaded"][0]
    assert "crl file %s changed" % crl in line["msg"], line


def test_stale_crl_is_refused_or_accepted_with_a_warning_as_configured(tmp, cleanup):
    crl = issuing_crl(tmp, next_update_s=-3600, last_update_s=-7200)
    gw = l3_sender(tmp, cleanup, l3("trust.pem"), crl=crl)
    p = subprocess.run([LIENTHONG, "check-config", "-c", gw.config], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "is past its next update" in p.stderr and "refused (crl_stale = refuse)" in p.stderr, p
    assert "STALE" in p.stdout, p.stdout
    assert gw.metric("lienthong_crl_next_update_seconds", file=crl,
                     issuer="lienthong dev 3-level issuing CA (%s)" % KIND) < -3000
    status, doc, _ = l3_post(gw, "stale-1", ("peers", "peer-a", "tls-chain.pem"))
    assert status == 403 and "revocation unknown" in doc["detail"] and "crl_stale" in doc["detail"], (status, doc)
    gw.stop()
    gw = l3_sender(tmp, cleanup, l3("trust.pem"), crl=crl, crl_stale="warn")
    status, doc, _ = l3_post(gw, "stale-2", ("peers", "peer-a", "tls-chain.pem"))
    assert status == 202, doc
    assert any("past its next update" in r.get("msg", "") for r in gw.log_lines()), gw.log_text()[-2000:]


def test_a_crl_not_signed_by_the_trust_is_a_configuration_error(tmp, cleanup):
    foreign = make_crl(os.path.join(tmp, "foreign.crl"), pki("hostile", "untrusted-ca.pem"),
                       pki("hostile", "untrusted-ca.key"))
    g = Gateway(tmp, {"peer-a": {}}, {}, gateway={"crl": foreign, "crl_stale": "sometimes"}, start=False)
    p = subprocess.run([LIENTHONG, "check-config", "-c", g.config], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "crl_stale must be refuse" in p.stderr, p.stderr
    g = Gateway(tmp, {"peer-a": {}}, {}, gateway={"crl": foreign}, start=False)
    p = subprocess.run([LIENTHONG, "check-config", "-c", g.config], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "CRL file %s" % foreign in p.stderr and "not signed by a CA of its trust" in p.stderr, \
        p.stderr


def test_a_destination_whose_server_certificate_is_revoked_gets_no_delivery(tmp, cleanup):
    crl = issuing_crl(tmp, revoked=[l3("revoked", "tls.pem")])
    portal = cleanup.add(Peersim(tmp, "peer-a", tls_files=(l3("revoked", "tls-chain.pem"), l3("revoked", "tls.key"))))
    gw = cleanup.add(Gateway(tmp, {"peer-b": {}, "peer-a": {"url": portal.url, "trust": l3("trust.pem"),
                                                            "crl": crl, "inbound": "none", "keys": None}},
                             {"r": {"from": "peer-b", "to": "peer-a"}}))
    assert gw.post("peer-b", event("PKI-OUT-1"), "out-1")[0] == 202
    line = wait_until(lambda: [r for r in gw.log_lines() if r.get("event") == "delivery.retry"],
                      what="the refused attempt")[0]
    assert "revoked" in line["msg"], line
    assert portal.received(ok_only=True) == []
    issuing_crl(tmp, revoked=[])         # its certificate is no longer on the CRL
    wait_until(lambda: portal.received(ok_only=True), timeout=20, what="the delivery after the new CRL")


# ---- OCSP: the staple of a destination's TLS server ------------------------------------

def stapling_portal(tmp, cleanup, who, staple):
    """peer-a's TLS server with the three-level certificate of `who` ("peers/peer-a" or
    "revoked"), stapling the OCSP response of the issuing CA's responder for it: "good",
    "revoked", or None (it staples nothing). Returns (portal, the staple's file)."""
    d = who.split("/")
    path = os.path.join(tmp, "staple-%s.der" % d[-1])
    if staple:
        make_ocsp_response(path, l3(*d, "tls.pem"), l3("issuing-ca.pem"), l3("issuing-ca.key"), status=staple)
    portal = cleanup.add(Peersim(tmp, "peer-a", tls_files=(l3(*d, "tls-chain.pem"), l3(*d, "tls.key")),
                                 extra=["--ocsp-response", path]))
    return portal, path


def ocsp_sender(tmp, cleanup, portal, ocsp):
    """A gateway delivering what peer-b sends to peer-a (the portal), with peer-a's ocsp."""
    gw = cleanup.add(Gateway(tmp, {"peer-b": {}, "peer-a": {"url": portal.url, "trust": l3("trust.pem"), "ocsp": ocsp,
                                                            "inbound": "none", "keys": None}},
                             {"r": {"from": "peer-b", "to": "peer-a"}}))
    return gw


def retries(gw):
    return [r for r in gw.log_lines() if r.get("event") == "delivery.retry"]


def test_a_good_ocsp_staple_is_accepted_and_the_delivery_goes_out(tmp, cleanup):
    portal, _ = stapling_portal(tmp, cleanup, "peers/peer-a", "good")
    gw = ocsp_sender(tmp, cleanup, portal, "require")
    assert gw.post("peer-b", event("OCSP-GOOD-1"), "ocsp-good-1")[0] == 202
    wait_until(lambda: portal.received(ok_only=True), what="the delivery with a good staple")
    assert retries(gw) == [], retries(gw)
    p = subprocess.run([LIENTHONG, "check-config", "-c", gw.config], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "ocsp require: its server must staple a good OCSP response" in p.stdout, p


def test_ocsp_staple_is_checked_again_on_each_new_connection(tmp, cleanup):
    # the first attempt's connection is dropped: the next one is a new connection, a full
    # handshake (a resumed TLS 1.3 session would carry no staple) whose staple is checked
    portal, staple = stapling_portal(tmp, cleanup, "revoked", "good")
    portal.fail(drop=True, count=1)
    gw = ocsp_sender(tmp, cleanup, portal, "require")
    assert gw.post("peer-b", event("OCSP-NEW-1"), "ocsp-new-1")[0] == 202
    wait_until(lambda: portal.received(ok_only=True), timeout=20, what="the delivery on a new connection")
    assert [r for r in retries(gw) if "OCSP" in r["msg"]] == [], retries(gw)
    portal.fail(drop=True, count=1)
    make_ocsp_response(staple, l3("revoked", "tls.pem"), l3("issuing-ca.pem"), l3("issuing-ca.key"), status="revoked")
    assert gw.post("peer-b", event("OCSP-NEW-2"), "ocsp-new-2")[0] == 202
    line = wait_until(lambda: [r for r in retries(gw) if "OCSP" in r["msg"]], what="the revoked staple seen")[0]
    assert "revoked (OCSP" in line["msg"], line


def test_a_revoked_ocsp_staple_fails_the_delivery_which_is_retried_naming_it(tmp, cleanup):
    portal, staple = stapling_portal(tmp, cleanup, "revoked", "revoked")
    gw = ocsp_sender(tmp, cleanup, portal, "if-stapled")
    assert gw.post("peer-b", event("OCSP-REV-1"), "ocsp-rev-1")[0] == 202
    lines = wait_until(lambda: retries(gw)[1:] and retries(gw), what="two refused attempts")
    for line in lines:
        assert "peer-a" in line["msg"] and "revoked (OCSP" in line["msg"] and "CN=peer-a" in line["msg"], line
        assert "keyCompromise" in line["error"], line
    assert portal.received(ok_only=True) == []
    assert gw.query("SELECT state FROM deliveries") != [("dead",)]
    # the peer's CA lifts the revocation: the next attempt goes out
    make_ocsp_response(staple, l3("revoked", "tls.pem"), l3("issuing-ca.pem"), l3("issuing-ca.key"), status="good")
    wait_until(lambda: portal.received(ok_only=True), timeout=20, what="the delivery after a good staple")


def test_a_staple_not_signed_by_its_ca_or_about_another_certificate_is_refused(tmp, cleanup):
    # a revoked server replays a good staple made for another certificate of its CA
    portal, staple = stapling_portal(tmp, cleanup, "revoked", None)
    make_ocsp_response(staple, l3("peers", "peer-a", "tls.pem"), l3("issuing-ca.pem"), l3("issuing-ca.key"))
    gw = ocsp_sender(tmp, cleanup, portal, "if-stapled")
    assert gw.post("peer-b", event("OCSP-FORGE-1"), "ocsp-forge-1")[0] == 202
    line = wait_until(lambda: retries(gw), what="the refused attempt")[0]
    assert "peer peer-a: the server's stapled OCSP response is not about its certificate CN=peer-a" in line["msg"], line
    # a "good" staple signed by a CA the peer's trust does not hold
    make_ocsp_response(staple, l3("revoked", "tls.pem"), pki("hostile", "untrusted-ca.pem"),
                       pki("hostile", "untrusted-ca.key"))
    # an attempt already on its way may still meet the first staple: wait for one that meets this one
    n = len(retries(gw))
    signed_by = "is not signed by its CA or a responder of it that the peer's trust accepts"
    wait_until(lambda: [x for x in retries(gw)[n:] if signed_by in x["msg"]], what="an attempt refused for its signer")
    assert all(signed_by in x["msg"] or "not about its certificate" in x["msg"] for x in retries(gw)), retries(gw)
    assert portal.received(ok_only=True) == []


def test_ocsp_require_refuses_a_server_that_staples_nothing(tmp, cleanup):
    portal, staple = stapling_portal(tmp, cleanup, "peers/peer-a", None)
    gw = ocsp_sender(tmp, cleanup, portal, "require")
    assert gw.post("peer-b", event("OCSP-REQ-1"), "ocsp-req-1")[0] == 202
    line = wait_until(lambda: retries(gw), what="the refused attempt")[0]
    assert "peer-a" in line["msg"] and "stapled no OCSP response" in line["msg"] and "ocsp = require" in line["msg"], line
    assert portal.received(ok_only=True) == []
    make_ocsp_response(staple, l3("peers", "peer-a", "tls.pem"), l3("issuing-ca.pem"), l3("issuing-ca.key"))
    wait_until(lambda: portal.received(ok_only=True), timeout=20, what="the delivery once the server staples")


def test_ocsp_if_stapled_delivers_to_a_server_that_staples_nothing(tmp, cleanup):
    portal, _ = stapling_portal(tmp, cleanup, "peers/peer-a", None)
    gw = ocsp_sender(tmp, cleanup, portal, "if-stapled")
    assert gw.post("peer-b", event("OCSP-IF-1"), "ocsp-if-1")[0] == 202
    wait_until(lambda: portal.received(ok_only=True), what="the delivery without a staple")
    assert retries(gw) == [], retries(gw)


def test_ocsp_on_a_peer_without_an_https_url_is_a_configuration_error(tmp, cleanup):
    g = Gateway(tmp, {"peer-a": {"ocsp": "require"}, "peer-b": {"url": "http://127.0.0.1:1/x", "ocsp": "if-stapled"},
                      "peer-c": {"ocsp": "sometimes"}}, {}, start=False)
    p = subprocess.run([LIENTHONG, "check-config", "-c", g.config], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, p
    assert "peer peer-a: ocsp applies to deliveries over TLS" in p.stderr and "no url" in p.stderr, p.stderr
    assert "peer peer-b: ocsp applies" in p.stderr and "plain http:// url" in p.stderr, p.stderr
    assert "ocsp must be off, if-stapled or require" in p.stderr, p.stderr
