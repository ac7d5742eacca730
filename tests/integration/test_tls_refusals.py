"""A refused TLS handshake is visible: one `tls.refused` log line with the
client's address and the reason, and lienthong_tls_refused_total{reason} —
so an office can tell a vendor why its client cannot connect."""
import socket
import ssl

from harness import Gateway, pki, wait_until


def handshake(gw, cert=None, key=None, version=None, ciphers=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if version:
        ctx.minimum_version = ctx.maximum_version = version
    if ciphers:
        ctx.set_ciphers(ciphers)
    if cert:
        ctx.load_cert_chain(cert, key)
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as raw:
        try:
            with ctx.wrap_socket(raw) as s:
                # TLS 1.3: the server's verdict on our certificate arrives after the handshake
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                return s.recv(100)
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            return None


def refused(gw, reason):
    return [l for l in gw.log_lines() if l["event"] == "tls.refused" and l["reason"] == reason]


def test_failed_handshakes_are_logged_and_counted_by_reason(tmp, cleanup):
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}}, {}))
    handshake(gw)                                                   # no client certificate
    handshake(gw, pki("hostile", "untrusted-peer-tls-chain.pem"), pki("hostile", "untrusted-peer-tls.key"))
    handshake(gw, version=ssl.TLSVersion.TLSv1_2, ciphers="AES128-SHA")   # static RSA: not offered
    for reason in ("no_certificate", "unknown_ca", "no_shared_cipher"):
        line = wait_until(lambda: refused(gw, reason), what="tls.refused " + reason)[0]
        assert line["address"].startswith("127.0.0.1:"), line
        assert gw.metric("lienthong_tls_refused_total", reason=reason) == 1
    assert "client certificate refused: self-signed certificate in certificate chain" in \
        refused(gw, "unknown_ca")[0]["detail"]


def test_a_flood_of_refused_handshakes_is_counted_but_logged_at_a_bounded_rate(tmp, cleanup):
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}}, {}))
    for _ in range(30):                                             # bounded: 30 connections
        handshake(gw)
    wait_until(lambda: gw.metric("lienthong_tls_refused_total", reason="no_certificate") == 30,
               what="every refusal counted")
    assert len(refused(gw, "no_certificate")) == 10
