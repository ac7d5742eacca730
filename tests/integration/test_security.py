"""Mutual TLS and signed messages: what is refused, why, and what is kept of it."""
import base64
import hmac
import hashlib
import json
import os
import shutil
import ssl
import subprocess
import time

from harness import (KIND, LIENTHONG, Gateway, Peersim, b64url, cert_kid, client_context, event, jws_detached, peer_files,
                     pki, wait_until, wrapping_iat, HUGE_IATS)


def gateway(tmp, cleanup, sender_opts=None, **kw):
    portal = cleanup.add(Peersim(tmp, "cong-dvc-tinh"))
    opts = {}
    opts.update(sender_opts or {})
    gw = cleanup.add(Gateway(tmp, {"peer-a": opts, "cong-dvc-tinh": {"url": portal.url}},
                             {"r": {"from": "peer-a", "to": "cong-dvc-tinh"}}, **kw))
    return gw, portal


def assert_refused(gw, status, doc, want_status, words):
    assert status == want_status, (status, doc)
    assert words in doc["detail"], doc
    assert gw.query("SELECT COUNT(*) FROM events") == [(0,)]
    assert gw.query("SELECT COUNT(*) FROM messages") == [(0,)]


def test_signed_message_over_mtls_is_accepted_and_delivery_is_signed(tmp, cleanup):
    gw, portal = gateway(tmp, cleanup)
    status, doc, _ = gw.post("peer-a", event("SEC-1"), "sec-1")
    assert status == 202, doc
    rec = wait_until(lambda: portal.received(ok_only=True))[0]
    # the gateway presented its own client certificate
    assert rec["client_cn"] == "lienthong-gateway" and rec["client_verified"]
    # the delivery carries a detached JWS by the gateway's signing key, jti = X-Message-Id
    sig = rec["headers"]["x-signature"]
    header = json.loads(base64.urlsafe_b64decode(sig.split(".")[0] + "=="))
    assert header["kid"] == cert_kid(pki("gateway", "sign.pem"))
    assert header["jti"] == rec["headers"]["x-message-id"] and abs(header["iat"] - time.time()) < 60
    assert header["alg"] in ("RS256", "ES256")
    assert sig.split(".")[1] == ""


def test_delivered_signature_verifies_with_python_cryptography(tmp, cleanup):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    gw, portal = gateway(tmp, cleanup)
    gw.post("peer-a", event("SEC-2"), "sec-2")
    rec = wait_until(lambda: portal.received(ok_only=True))[0]
    h64, _, s64 = rec["headers"]["x-signature"].split(".")
    signing_input = (h64 + "." + b64url(rec["body"].encode())).encode()
    sig = base64.urlsafe_b64decode(s64 + "=" * (-len(s64) % 4))
    with open(pki("gateway", "sign.pem"), "rb") as f:
        pub = x509.load_pem_x509_certificate(f.read()).public_key()
    if isinstance(pub, ec.EllipticCurvePublicKey):
        pub.verify(encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")),
                   signing_input, ec.ECDSA(hashes.SHA256()))
    else:
        pub.verify(sig, signing_input, padding.PKCS1v15(), hashes.SHA256())
    # and the same check fails on a body with one byte changed
    try:
        pub.verify(sig, signing_input.replace(b".", b".A", 1), padding.PKCS1v15(), hashes.SHA256()) \
            if not isinstance(pub, ec.EllipticCurvePublicKey) else None
    except Exception:
        pass
    else:
        assert isinstance(pub, ec.EllipticCurvePublicKey)


def test_delivered_signature_verifies_with_node_jose(tmp, cleanup):
    gw, portal = gateway(tmp, cleanup)
    gw.post("peer-a", event("SEC-NODE", dossier={"applicant": {"name": "Nguyễn Thị Lan"}}), "sec-node")
    rec = wait_until(lambda: portal.received(ok_only=True))[0]
    script = os.path.join(os.path.dirname(__file__), "..", "interop", "jws.mjs")
    env = dict(os.environ, SIG=rec["headers"]["x-signature"])
    p = subprocess.run(["node", script, "verify", pki("gateway", "sign.pem")], input=rec["body"].encode(),
                       capture_output=True, env=env, timeout=30)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["jti"] == rec["headers"]["x-message-id"]
    env["SIG"] = rec["headers"]["x-signature"]
    p = subprocess.run(["node", script, "verify", pki("gateway", "sign.pem")],
                       input=rec["body"].replace("Lan", "Lam").encode(), capture_output=True, env=env, timeout=30)
    assert p.returncode != 0


def test_message_signed_by_node_jose_is_accepted(tmp, cleanup):
    gw, portal = gateway(tmp, cleanup)
    f = peer_files("peer-a")
    body = json.dumps(event("SEC-JOSE")).encode()
    script = os.path.join(os.path.dirname(__file__), "..", "interop", "jws.mjs")
    kid = cert_kid(f["sign_cert"])
    alg = "ES256" if KIND == "ec" else "PS256"
    p = subprocess.run(["node", script, "sign", f["sign_key"], kid, alg, "jose-1"], input=body, capture_output=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    status, doc, _ = gw.post("peer-a", body, "jose-1", raw=True, sign=False,
                             headers={"X-Signature": p.stdout.decode().strip()})
    assert status == 202, doc


def test_hostile_signatures_are_refused_with_the_failed_check(tmp, cleanup):
    gw, _ = gateway(tmp, cleanup)
    f = peer_files("peer-a")
    body = json.dumps(event("SEC-H")).encode()
    untrusted_key, untrusted_cert = pki("hostile", "untrusted-peer-sign.key"), pki("hostile", "untrusted-peer-sign.pem")
    real = jws_detached(body, f["sign_key"], f["sign_cert"], "h1")
    h64, _, s64 = real.split(".")
    hdr = json.loads(base64.urlsafe_b64decode(h64 + "=="))
    pub_pem = open(f["sign_cert"], "rb").read()
    hs_header = b64url(json.dumps(dict(hdr, alg="HS256")).encode())
    hs_sig = b64url(hmac.new(pub_pem, (hs_header + "." + b64url(body)).encode(), hashlib.sha256).digest())
    cases = [
        ("no signature", dict(sign=False), "no signature"),
        ("tampered body", dict(raw=True, body=body.replace(b"SEC-H", b"SEC-X"),
                               headers={"X-Signature": real}, sign=False), "bad signature"),
        ("tampered header", dict(headers={"X-Signature": b64url(json.dumps(dict(hdr, iat=hdr["iat"] + 1)).encode())
                                          + ".." + s64}, sign=False), "bad signature"),
        ("untrusted key", dict(jws={"key_path": untrusted_key, "cert_path": untrusted_cert}), "unknown key"),
        ("forged kid", dict(jws={"key_path": untrusted_key, "cert_path": untrusted_cert,
                                 "kid": cert_kid(f["sign_cert"])}), "bad signature"),
        ("alg none", dict(headers={"X-Signature": b64url(json.dumps(dict(hdr, alg="none")).encode()) + ".."},
                          sign=False), "algorithm not allowed"),
        ("HS256 with the public key", dict(headers={"X-Signature": hs_header + ".." + hs_sig}, sign=False),
         "algorithm not allowed"),
        ("replayed (old iat)", dict(jws={"iat": int(time.time()) - 3600}), "timestamp out of window"),
        ("from the future", dict(jws={"iat": int(time.time()) + 3600}), "timestamp out of window"),
        ("jti is not the message id", dict(jws={"jti": "other-id"}), "does not match X-Message-Id"),
        ("missing jti", dict(jws={"header": {"jti": None}}), "jti"),
    ]
    for what, kw, words in cases:
        kw = dict(kw)
        b = kw.pop("body", body)
        if not kw.pop("raw", False):
            b = body
        status, doc, _ = gw.post("peer-a", b, "h1", raw=True, **kw)
        assert status == 401 and doc["error"] == "signature", (what, status, doc)
        assert words in doc["detail"], (what, doc)
    assert gw.query("SELECT COUNT(*) FROM events") == [(0,)]
    wait_until(lambda: gw.query("SELECT COUNT(*) FROM refusals") == [(len(cases),)], what="refusal records")
    rows = gw.query("SELECT peer, status, reason, body_sha256 FROM refusals ORDER BY id")
    assert rows[1][3] == hashlib.sha256(body.replace(b"SEC-H", b"SEC-X")).hexdigest()
    assert all(r[0] == "peer-a" and r[1] == 401 for r in rows)
    lines = [l for l in gw.log_lines() if l["event"] == "security.refused"]
    assert len(lines) == len(cases) and all("body_sha256" in l for l in lines)
    # a properly signed message still goes through afterwards
    assert gw.post("peer-a", event("SEC-H"), "h2")[0] == 202


def test_iat_beyond_any_time_is_refused_not_wrapped_into_the_window(tmp, cleanup):
    """A signer's iat of any 64-bit size is range-checked before any arithmetic:
    none lands in the replay window (under make test-asan, none is a UBSan report)."""
    gw, _ = gateway(tmp, cleanup)
    now_ms = int(time.time() * 1000)
    cases = [wrapping_iat(now_ms)] + HUGE_IATS       # the first was accepted (202) before the fix
    for i, iat in enumerate(cases):
        status, doc, _ = gw.post("peer-a", event("SEC-IAT-%d" % i), "iat-%d" % i, jws={"iat": iat})
        assert status == 401 and doc["error"] == "signature", (iat, status, doc)
        assert "timestamp out of window" in doc["detail"] and str(iat) in doc["detail"], (iat, doc)
    assert gw.query("SELECT COUNT(*) FROM events") == [(0,)]
    assert gw.post("peer-a", event("SEC-IAT-OK"), "iat-ok")[0] == 202


def test_message_id_reuse_with_other_body_is_refused(tmp, cleanup):
    gw, _ = gateway(tmp, cleanup)
    assert gw.post("peer-a", event("R-1"), "same-id")[0] == 202
    assert gw.post("peer-a", event("R-1"), "same-id")[0] == 200          # replay of the same message: harmless
    status, doc, _ = gw.post("peer-a", event("R-2"), "same-id")
    assert status == 409 and "same-id" in doc["detail"]


def test_expired_signing_certificate_is_refused(tmp, cleanup):
    expired_cert, expired_key = pki("hostile", "expired-sign.pem"), pki("hostile", "expired-sign.key")
    gw, _ = gateway(tmp, cleanup, sender_opts={"keys": "%s %s" % (peer_files("peer-a")["sign_cert"], expired_cert)})
    status, doc, _ = gw.post("peer-a", event("EXP-1"), "exp-1",
                             jws={"key_path": expired_key, "cert_path": expired_cert})
    assert status == 401 and "certificate expired" in doc["detail"], doc


def test_client_certificate_must_match_the_peer(tmp, cleanup):
    gw, _ = gateway(tmp, cleanup)
    # peer-b's valid certificate posting as peer-a: 403, and a refusal record
    status, doc, _ = gw.post("peer-a", event("ID-1"), "id-1", as_peer="peer-b")
    assert status == 403 and doc["error"] == "forbidden" and "peer-b" in doc["detail"], doc
    wait_until(lambda: gw.query("SELECT status FROM refusals") == [(403,)], what="the refusal record")
    # no client certificate, or one from a CA nobody trusts: the handshake itself fails
    import http.client
    for ctx in (ssl.create_default_context(cafile=pki("trust.pem")), None):
        if ctx is None:
            ctx = ssl.create_default_context(cafile=pki("trust.pem"))
            ctx.load_cert_chain(pki("hostile", "untrusted-peer-tls.pem"), pki("hostile", "untrusted-peer-tls.key"))
        ctx.check_hostname = False
        conn = http.client.HTTPSConnection("127.0.0.1", gw.port, timeout=5, context=ctx)
        try:
            conn.request("POST", "/v1/inbound/peer-a", body=b"{}", headers={"Content-Type": "application/json"})
            conn.getresponse()
            raise AssertionError("request without a trusted client certificate was answered")
        except (ssl.SSLError, ConnectionError, OSError):
            pass
    assert gw.query("SELECT COUNT(*) FROM events") == [(0,)]


def test_destination_with_untrusted_or_unpinned_certificate_gets_nothing(tmp, cleanup):
    portal = cleanup.add(Peersim(tmp, "cong-dvc-tinh", extra=[]))
    # a server certificate from a CA the gateway does not trust for that peer
    other = os.path.join(tmp, "other-trust.pem")
    shutil.copy(pki("hostile", "untrusted-ca.pem"), other)
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}, "cong-dvc-tinh": {"url": portal.url, "trust": other},
                                   "pinned": {"url": portal.url.replace("/in", "/pinned"),
                                              "pin": "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}},
                             {"r": {"from": "peer-a", "to": "cong-dvc-tinh pinned"}}, retry={"initial": "100ms"}))
    gw.post("peer-a", event("TLS-1"), "tls-1")
    wait_until(lambda: len(gw.query("SELECT 1 FROM attempts")) >= 4, what="failed attempts")
    assert portal.received() == []
    errors = {r[0] for r in gw.query("SELECT last_error FROM deliveries")}
    assert any("certificate" in (e or "").lower() or "ssl" in (e or "").lower() for e in errors), errors
    assert any("pin" in (e or "").lower() for e in errors), errors


def test_gateway_refuses_a_private_key_readable_by_others(tmp, cleanup):
    key = os.path.join(tmp, "tls.key")
    shutil.copy(pki("gateway", "tls.key"), key)
    os.chmod(key, 0o644)
    gw = Gateway(tmp, {"peer-a": {}}, {}, gateway={"tls_key": key}, start=False)
    p = subprocess.run([LIENTHONG, "check-config", "-c", gw.config], capture_output=True, text=True)
    assert p.returncode == 2 and "readable by others" in p.stderr and key in p.stderr, p.stderr
    with open(gw.config) as f:
        assert "PRIVATE KEY" not in p.stderr
    r = subprocess.run([LIENTHONG, "run", "-c", gw.config], capture_output=True, text=True, timeout=20)
    assert r.returncode != 0 and "readable by others" in r.stderr


def test_check_config_and_metrics_report_certificate_expiry(tmp, cleanup):
    soon = pki("hostile", "expiring-soon-sign.pem")
    gw, _ = gateway(tmp, cleanup, sender_opts={"keys": "%s %s" % (peer_files("peer-a")["sign_cert"], soon)})
    p = subprocess.run([LIENTHONG, "check-config", "-c", gw.config], capture_output=True, text=True)
    assert p.returncode == 0 and "expires in" in p.stderr and soon in p.stderr, (p.stdout, p.stderr)
    text = gw.admin("/metrics")
    lines = [l for l in text.splitlines() if l.startswith("lienthong_certificate_expiry_seconds{")]
    assert any('what="gateway tls"' in l for l in lines)
    soon_days = [float(l.split()[-1]) / 86400 for l in lines if "peer peer-a signing" in l]
    assert min(soon_days) < 30 <= max(soon_days), lines
    # a peer's expired certificate is reported (it may be kept during a rollover)…
    expired = pki("hostile", "expired-sign.pem")
    gw2 = Gateway(os.path.join(tmp), {"peer-a": {"keys": expired}}, {}, start=False)
    p = subprocess.run([LIENTHONG, "check-config", "-c", gw2.config], capture_output=True, text=True)
    assert p.returncode == 0 and "has expired" in p.stderr, p.stderr
    # …the gateway's own expired certificate stops it
    gw3 = Gateway(os.path.join(tmp), {"peer-a": {}}, {}, gateway={"sign_cert": expired,
                                                              "sign_key": pki("hostile", "expired-sign.key")},
                  start=False)
    with open(gw3.config, "a") as f:
        f.write("\n[peer.out]\nadapter = canonical\nurl = https://127.0.0.1:1/x\n")
    p = subprocess.run([LIENTHONG, "check-config", "-c", gw3.config], capture_output=True, text=True)
    assert p.returncode == 2 and "has expired" in p.stderr, p.stderr


def test_pkcs12_identity_with_a_password_file(tmp, cleanup):
    pw = os.path.join(tmp, "p12.pass")
    with open(pw, "w") as f:
        f.write("changeit\n")
    os.chmod(pw, 0o600)
    portal = cleanup.add(Peersim(tmp, "cong-dvc-tinh"))
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}, "cong-dvc-tinh": {"url": portal.url}},
                             {"r": {"from": "peer-a", "to": "cong-dvc-tinh"}},
                             gateway={"tls_cert": pki("gateway", "tls.p12"), "tls_key": pki("gateway", "tls.p12"),
                                      "sign_cert": pki("gateway", "sign.p12"), "sign_key": pki("gateway", "sign.p12"),
                                      "key_password_file": pw}))
    assert gw.post("peer-a", event("P12-1"), "p12-1")[0] == 202
    rec = wait_until(lambda: portal.received(ok_only=True))[0]
    assert rec["client_cn"] == "lienthong-gateway"
    header = json.loads(base64.urlsafe_b64decode(rec["headers"]["x-signature"].split(".")[0] + "=="))
    assert header["kid"] == cert_kid(pki("gateway", "sign.pem"))
