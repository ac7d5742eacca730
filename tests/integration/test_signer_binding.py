"""A signature proves who sent a message only when its signer is bound to the peer: its
keys (or, for XML-DSig, its signer's subject). TLS certificates, CA certificates and the
gateway's own certificates never sign for a peer. Real mTLS, real signatures (node's
xml-crypto, python3-cryptography)."""
import datetime
import json
import os
import subprocess

from harness import LIENTHONG, ROOT, Gateway, event, jws_detached, peer_files, pki, xml_signed

REGISTRY, OFFICE, PORTAL = "hotich-tinh", "motcua-xa-duongphong", "cong-dvc-tinh"


def registry_result(mid):
    """A civil-registry result document dated now, with message id mid (unsigned)."""
    with open(os.path.join(ROOT, "schemas", "samples", "civilreg", "result.registered.xml"), encoding="utf-8") as f:
        doc = f.read()
    now = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=7))).replace(microsecond=0)
    return doc.replace('thoiGian="2025-03-12T16:40:00+07:00"', 'thoiGian="%s"' % now.isoformat()).replace(
        'messageId="HT60-KQ-20250312-004511"', 'messageId="%s"' % mid)


def signers():
    """Who might sign a registry result: (name, key, cert) — the registry's own signing key
    first, then the ones that must never pass for it."""
    reg, other = peer_files(REGISTRY), peer_files("peer-a")
    return [("its own signing key", reg["sign_key"], reg["sign_cert"]),
            ("another peer's signing key", other["sign_key"], other["sign_cert"]),
            ("its TLS key", reg["tls_key"], pki("peers", REGISTRY, "tls.pem")),
            ("the gateway's own signing key", pki("gateway", "sign.key"), pki("gateway", "sign.pem")),
            ("the gateway's own TLS key", pki("gateway", "tls.key"), pki("gateway", "tls.pem"))]


def post_signed_result(gw, key, cert, mid):
    body = xml_signed(registry_result(mid), key, cert)
    return gw.post(REGISTRY, body, mid, content_type="application/xml", raw=True, sign=False)


def check_config(path):
    return subprocess.run([LIENTHONG, "check-config", "-c", path], capture_output=True, text=True, timeout=30)


def registry_gateway(tmp, cleanup, **registry):
    opts = {"adapter": "civilreg", "param.ma_don_vi": "H12.01957"}
    opts.update(registry)
    return cleanup.add(Gateway(tmp, {REGISTRY: opts, OFFICE: {"adapter": "onestop", "url": "https://127.0.0.1:1/x"}},
                               {"registry-to-office": {"from": REGISTRY, "to": OFFICE}}))


def test_check_config_refuses_an_xml_peer_without_keys_naming_the_line(tmp, cleanup):
    gw = Gateway(tmp, {REGISTRY: {"adapter": "civilreg", "param.ma_don_vi": "H12.01957", "keys": None}}, {},
                 start=False)
    line = open(gw.config).read().splitlines().index("[peer.%s]" % REGISTRY) + 1
    p = check_config(gw.config)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert '%s:%d: peer %s: verify = xmldsig needs "keys"' % (gw.config, line, REGISTRY) in p.stderr, p.stderr
    assert '"signer"' in p.stderr, p.stderr
    r = subprocess.run([LIENTHONG, "run", "-c", gw.config], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "needs \"keys\"" in r.stderr, r.stderr
    # a pulled peer's answers are signed messages too
    gw = Gateway(tmp, {REGISTRY: {"adapter": "civilreg", "url": "https://127.0.0.1:1/x", "inbound": "pull",
                                  "param.ma_don_vi": "H12.01957", "keys": None}}, {}, start=False)
    p = check_config(gw.config)
    assert p.returncode == 2 and "verify = xmldsig needs \"keys\"" in p.stderr, p.stderr
    # its signer's subject binds it too (and is listed by check-config)
    gw = Gateway(tmp, {REGISTRY: {"adapter": "civilreg", "param.ma_don_vi": "H12.01957", "keys": None,
                                  "signer": "CN=%s-signing" % REGISTRY}}, {}, start=False)
    p = check_config(gw.config)
    assert p.returncode == 0, p.stderr
    assert "peer %s" % REGISTRY in p.stdout and "signer CN=%s-signing" % REGISTRY in p.stdout, p.stdout


def test_check_config_refuses_keys_that_are_tls_or_the_gateways_own_certificates(tmp, cleanup):
    cases = [("peer-a", {"keys": pki("peers", "peer-a", "tls.pem")}, "TLS certificate"),
             ("peer-a", {"keys": "%s %s" % (peer_files("peer-a")["sign_cert"], pki("gateway", "sign.pem"))},
              "gateway's own signing certificate"),
             (REGISTRY, {"adapter": "civilreg", "param.ma_don_vi": "H12.01957",
                         "keys": pki("peers", REGISTRY, "tls.pem")}, "TLS certificate"),
             (REGISTRY, {"adapter": "civilreg", "param.ma_don_vi": "H12.01957", "keys": pki("gateway", "sign.pem")},
              "gateway's own signing certificate"),
             ("peer-a", {"signer": "CN=peer-a-signing"}, "signer applies to verify = xmldsig only")]
    for name, opts, words in cases:
        gw = Gateway(tmp, {name: opts}, {}, start=False)
        lines = open(gw.config).read().splitlines()
        line = lines.index("keys = %s" % opts["keys"]) + 1 if "keys" in opts else lines.index("[peer.%s]" % name) + 1
        p = check_config(gw.config)
        assert p.returncode == 2, (name, opts, p.stdout, p.stderr)
        assert "%s:%d: peer %s" % (gw.config, line, name) in p.stderr and words in p.stderr, (words, p.stderr)


def test_xml_signed_by_anyone_but_the_peers_key_is_refused(tmp, cleanup):
    gw = registry_gateway(tmp, cleanup)
    cases = signers()
    for i, (who, key, cert) in enumerate(cases):
        status, doc, _ = post_signed_result(gw, key, cert, "kb-%d" % i)
        if i == 0:
            assert status == 202, (who, doc)
            continue
        assert status == 401 and doc["error"] == "signature", (who, status, doc)
        assert doc["detail"].startswith("signer certificate not accepted for peer %s: CN=" % REGISTRY), (who, doc)
    assert gw.query("SELECT COUNT(*) FROM messages") == [(1,)]


def test_xml_peer_bound_by_its_signers_subject(tmp, cleanup):
    gw = registry_gateway(tmp, cleanup, keys=None, signer="CN=%s-signing" % REGISTRY)
    want = [(202, ""), (401, "CN=peer-a-signing is not its signer (signer = CN=%s-signing)" % REGISTRY),
            (401, "CN=%s is a TLS certificate" % REGISTRY), (401, "CN=lienthong-gateway-signing has the key of the gateway's own signing certificate"),
            (401, "CN=lienthong-gateway is a TLS certificate")]
    for i, ((who, key, cert), (status_want, words)) in enumerate(zip(signers(), want)):
        status, doc, _ = post_signed_result(gw, key, cert, "sb-%d" % i)
        assert status == status_want and words in doc.get("detail", ""), (who, status, doc)


def test_a_signer_rule_naming_a_tls_or_the_gateways_subject_still_refuses_them(tmp, cleanup):
    # an operator's mistake: the signer named is the peer's TLS subject, then the gateway's
    for signer, (who, key, cert), words in [
            (REGISTRY, signers()[2], "is a TLS certificate"),
            ("lienthong-gateway-signing", signers()[3], "has the key of the gateway's own signing certificate")]:
        d = os.path.join(tmp, signer)
        os.mkdir(d)
        gw = registry_gateway(d, cleanup, keys=None, signer=signer)
        status, doc, _ = post_signed_result(gw, key, cert, "sr-1")
        assert status == 401 and words in doc["detail"], (who, status, doc)
        gw.stop()


def test_a_peer_that_sends_nothing_cannot_post_signed_messages(tmp, cleanup):
    """A destination (inbound = none) has no keys: whatever it posts, however signed and
    whoever signed it, is refused — XML and JWS alike — and the gateway stays up."""
    gw = cleanup.add(Gateway(tmp, {
        REGISTRY: {"adapter": "civilreg", "url": "https://127.0.0.1:1/x", "inbound": "none", "keys": None,
                   "answers": "tls", "param.ma_don_vi": "H12.01957"},
        PORTAL: {"adapter": "canonical", "url": "https://127.0.0.1:1/y", "inbound": "none", "keys": None},
        OFFICE: {"adapter": "onestop", "url": "https://127.0.0.1:1/z"}},
        {"r": {"from": REGISTRY, "to": OFFICE}, "p": {"from": PORTAL, "to": OFFICE}}))
    for i, (who, key, cert) in enumerate(signers()):
        status, doc, _ = post_signed_result(gw, key, cert, "none-%d" % i)
        assert status == 401 and "not accepted for peer %s: it has no keys" % REGISTRY in doc["detail"], (who, doc)
    portal = peer_files(PORTAL)
    body = json.dumps(event("KB-JWS-1")).encode()
    status, doc, _ = gw.post(PORTAL, body, "none-jws", raw=True, sign=False, headers={
        "X-Signature": jws_detached(body, portal["sign_key"], portal["sign_cert"], "none-jws")})
    assert status == 401 and "not accepted for peer %s: it has no keys" % PORTAL in doc["detail"], (status, doc)
    assert gw.healthy()
    assert gw.query("SELECT COUNT(*) FROM messages") == [(0,)]


def test_jws_keys_file_with_a_tls_certificate_stops_the_gateway(tmp, cleanup):
    gw = Gateway(tmp, {"peer-a": {"keys": "%s %s" % (peer_files("peer-a")["sign_cert"],
                                                     pki("peers", "peer-a", "tls.pem"))}}, {}, start=False)
    r = subprocess.run([LIENTHONG, "run", "-c", gw.config], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0, r.stderr
    assert "peer peer-a keys" in r.stderr and "CN=peer-a) in %s is a TLS certificate" % pki(
        "peers", "peer-a", "tls.pem") in r.stderr, r.stderr


def test_a_destination_whose_answers_are_signed_needs_its_keys_too(tmp, cleanup):
    """Its signed answers carry events (the registry's acceptance): a signer that merely
    chains to trust must not be taken for it, so keys (or signer) are required."""
    gw = Gateway(tmp, {REGISTRY: {"adapter": "civilreg", "url": "https://127.0.0.1:1/x", "inbound": "none",
                                  "keys": None, "param.ma_don_vi": "H12.01957"}}, {}, start=False)
    r = subprocess.run([LIENTHONG, "check-config", "-c", gw.config], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "needs \"keys\" (the certificates it signs its answers with)" in r.stderr, r.stderr
