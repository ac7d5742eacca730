"""[gateway] tls_policy: one TLS policy for the peer listener and every outbound connection.
intermediate (default): TLS 1.3, and TLS 1.2 with ECDHE key exchange and AEAD ciphers only
(no static RSA, no CBC); modern: TLS 1.3 only. Real handshakes on loopback: python's ssl
as the client of the listener, the peer simulator as the server the gateway delivers to."""
import http.client
import json
import os
import socket
import ssl
import subprocess

from harness import KIND, LIENTHONG, Gateway, Peersim, client_context, event, jws_detached, peer_files, wait_until

# TLS 1.2 suites for the key kind of the test PKI (the server certificate decides RSA or ECDSA)
AUTH = "ECDSA" if KIND == "ec" else "RSA"
GOOD_TLS12 = ["ECDHE-%s-AES128-GCM-SHA256" % AUTH, "ECDHE-%s-AES256-GCM-SHA384" % AUTH,
              "ECDHE-%s-CHACHA20-POLY1305" % AUTH]
# no forward secrecy (static RSA key exchange) or no AEAD (CBC with HMAC-SHA1/SHA256)
BAD_TLS12 = ["ECDHE-%s-AES128-SHA" % AUTH, "ECDHE-%s-AES256-SHA384" % AUTH] + (
    [] if KIND == "ec" else ["AES128-SHA", "AES256-GCM-SHA384", "AES128-SHA256"])


def handshake(gw, tls12_cipher=None, tls13=False):
    """(version, cipher) the listener agrees to with a client offering only that, or (None, error)."""
    ctx = client_context("peer-a")
    if tls13:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    else:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(tls12_cipher)
    try:
        with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                return s.version(), s.cipher()[0]
    except (ssl.SSLError, OSError) as e:
        return None, str(e)


def post_with(gw, ctx, mid):
    """A signed event posted as peer-a over a connection made with ctx: the answer's status."""
    f = peer_files("peer-a")
    body = json.dumps(event("TLS-" + mid)).encode()
    conn = http.client.HTTPSConnection("127.0.0.1", gw.port, timeout=10, context=ctx)
    conn.request("POST", "/v1/inbound/peer-a", body=body, headers={
        "Content-Type": "application/json", "X-Message-Id": mid,
        "X-Signature": jws_detached(body, f["sign_key"], f["sign_cert"], mid)})
    status = conn.getresponse().status
    conn.close()
    return status


def test_listener_offers_tls12_only_with_ecdhe_and_aead(tmp, cleanup):
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}}, {}))
    for cipher in BAD_TLS12:
        version, got = handshake(gw, cipher)
        assert version is None, (cipher, "was negotiated", version, got)
    for cipher in GOOD_TLS12:
        assert handshake(gw, cipher) == ("TLSv1.2", cipher), cipher
    assert handshake(gw, tls13=True)[0] == "TLSv1.3"
    # an ECDHE-GCM TLS 1.2 client is served end to end
    ctx = client_context("peer-a")
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(GOOD_TLS12[0])
    assert post_with(gw, ctx, "tls12-gcm") == 202


def test_modern_policy_is_tls13_only_on_the_listener_and_outbound(tmp, cleanup):
    tls12 = cleanup.add(Peersim(tmp, "peer-c", extra=["--tls12-ciphers", GOOD_TLS12[0]]))
    portal = cleanup.add(Peersim(tmp, "cong-dvc-tinh"))
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}, "peer-c": {"url": tls12.url}, "cong-dvc-tinh": {"url": portal.url}},
                             {"r": {"from": "peer-a", "to": "peer-c cong-dvc-tinh"}}, gateway={"tls_policy": "modern"}))
    assert handshake(gw, GOOD_TLS12[0])[0] is None
    assert handshake(gw, tls13=True)[0] == "TLSv1.3"
    assert post_with(gw, client_context("peer-a"), "modern-1") == 202
    wait_until(lambda: portal.received(ok_only=True), what="delivery over TLS 1.3")
    wait_until(lambda: gw.query("SELECT attempts FROM deliveries WHERE dest = 'peer-c' AND attempts >= 2"),
               what="refused TLS 1.2 attempts")
    assert tls12.received() == []


def test_outbound_to_a_peer_offering_only_weak_suites_fails_the_handshake(tmp, cleanup):
    legacy = cleanup.add(Peersim(tmp, "peer-b", extra=["--tls12-ciphers", BAD_TLS12[-1]]))
    tls12 = cleanup.add(Peersim(tmp, "peer-c", extra=["--tls12-ciphers", GOOD_TLS12[0]]))
    portal = cleanup.add(Peersim(tmp, "cong-dvc-tinh"))
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}, "peer-b": {"url": legacy.url}, "peer-c": {"url": tls12.url},
                                   "cong-dvc-tinh": {"url": portal.url}},
                             {"r": {"from": "peer-a", "to": "peer-b peer-c cong-dvc-tinh"}}))
    assert gw.post("peer-a", event("TLS-OUT-1"), "tls-out-1")[0] == 202
    wait_until(lambda: portal.received(ok_only=True), what="delivery to the TLS 1.3 peer")
    wait_until(lambda: tls12.received(ok_only=True), what="delivery to the TLS 1.2 ECDHE-GCM peer")
    errors = wait_until(lambda: [r[0] for r in gw.query(
        "SELECT last_error FROM deliveries WHERE dest = 'peer-b' AND attempts >= 2")], what="failed attempts")
    assert legacy.received() == []
    assert "handshake" in errors[0].lower(), errors
    print("    peer-b: %s" % errors[0])


def test_check_config_names_an_unknown_tls_policy(tmp, cleanup):
    gw = Gateway(tmp, {"peer-a": {}}, {}, gateway={"tls_policy": "old"}, start=False)
    line = open(gw.config).read().splitlines().index("tls_policy = old") + 1
    p = subprocess.run([LIENTHONG, "check-config", "-c", gw.config], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "%s:%d: tls_policy must be intermediate" % (gw.config, line) in p.stderr, p.stderr
    gw = Gateway(tmp, {"peer-a": {}}, {}, start=False)
    p = subprocess.run([LIENTHONG, "check-config", "-c", gw.config], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "tls_policy intermediate" in p.stdout, (p.stdout, p.stderr)
    assert os.path.exists(gw.config)
