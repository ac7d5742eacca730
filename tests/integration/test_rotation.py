"""Rotation without a gap: the gateway's own signing and TLS certificates replaced by
editing their files and SIGHUP while events stream through (nothing refused, every
delivery signed by the old or the new key), a peer's rollover (old and new signing
certificates both accepted, each known by its kid), and the 30-day expiry warnings."""
import base64
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

from harness import (LIENTHONG, Gateway, Peersim, cert_kid, event, issue_leaf, jws_verify, new_key,
                     peer_files, pki, wait_until)

PORTAL = "cong-dvc-tinh"


def own_files(tmp):
    """The gateway's signing and TLS files copied where the test may replace them."""
    d = os.path.join(tmp, "own")
    os.makedirs(d)
    out = {}
    for name, src in (("sign.key", pki("gateway", "sign.key")), ("sign.pem", pki("gateway", "sign.pem")),
                      ("tls.key", pki("gateway", "tls.key")), ("tls.pem", pki("gateway", "tls-chain.pem"))):
        out[name] = os.path.join(d, name)
        shutil.copy(src, out[name])
        os.chmod(out[name], 0o600)
    return out


def listener_cert_sha256(gw):
    ctx = ssl.create_default_context(cafile=pki("trust.pem"))
    ctx.check_hostname = False
    f = peer_files("peer-a")
    ctx.load_cert_chain(f["tls_chain"], f["tls_key"])
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
        with ctx.wrap_socket(s) as t:
            return hashlib.sha256(t.getpeercert(binary_form=True)).hexdigest()


def cert_sha256(path):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    with open(path, "rb") as f:
        return hashlib.sha256(x509.load_pem_x509_certificate(f.read()).public_bytes(
            serialization.Encoding.DER)).hexdigest()


def test_own_certificates_replaced_by_sighup_under_a_stream_of_events(tmp, cleanup):
    own = own_files(tmp)
    portal = cleanup.add(Peersim(tmp, PORTAL))
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}, PORTAL: {"url": portal.url, "concurrency": 8}},
                             {"r": {"from": "peer-a", "to": PORTAL}},
                             gateway={"sign_key": own["sign.key"], "sign_cert": own["sign.pem"],
                                      "tls_key": own["tls.key"], "tls_cert": own["tls.pem"]}))
    kept = os.path.join(tmp, "sign-0.pem")
    shutil.copy(own["sign.pem"], kept)
    certs = {cert_kid(kept): kept}
    answers, stop = [], threading.Event()

    def stream():
        i = 0
        while not stop.is_set() and i < 400:
            status, doc, _ = gw.post("peer-a", event("ROT-%03d" % i), "rot-%03d" % i)
            answers.append((status, doc))
            i += 1

    t = threading.Thread(target=stream)
    t.start()
    try:
        for n in (1, 2):                    # two rotations, each while events stream in
            time.sleep(1.5)
            pub = new_key(own["sign.key"])
            issue_leaf(own["sign.pem"], pub, "sign")
            tls_pub = new_key(own["tls.key"])
            issue_leaf(own["tls.pem"], tls_pub, "tls")
            kept = os.path.join(tmp, "sign-%d.pem" % n)
            shutil.copy(own["sign.pem"], kept)
            certs[cert_kid(kept)] = kept
            gw.proc.send_signal(signal.SIGHUP)
            wait_until(lambda: sum(r.get("event") == "security.reloaded" for r in gw.log_lines()) == n,
                       what="rotation %d" % n)
            assert listener_cert_sha256(gw) == cert_sha256(own["tls.pem"])
        time.sleep(1.0)
    finally:
        stop.set()
        t.join(60)
    assert len(answers) > 20 and all(s == 202 for s, _ in answers), [a for a in answers if a[0] != 202][:3]
    wait_until(lambda: len(portal.received(ok_only=True)) >= len(answers), timeout=60, what="every delivery")
    seen = set()
    for rec in portal.received(ok_only=True):
        sig = rec["headers"].get("x-signature")
        assert sig, "an unsigned delivery: %s" % rec["headers"]
        kid = json.loads(base64.urlsafe_b64decode(sig.split(".")[0] + "=="))["kid"]
        assert kid in certs, kid
        jws_verify(sig, rec["body"], certs[kid])
        seen.add(kid)
    assert len(seen) >= 2, seen         # the old key and a new one both signed deliveries
    lines = gw.log_lines()
    assert not [r for r in lines if r.get("event") in ("security.reload_failed", "delivery.dead", "config.restart_needed")]
    reloaded = [r for r in lines if r.get("event") == "security.reloaded"]
    assert all(r["reason"] == "SIGHUP" for r in reloaded), reloaded


def test_a_broken_replacement_keeps_the_running_keys(tmp, cleanup):
    own = own_files(tmp)
    portal = cleanup.add(Peersim(tmp, PORTAL))
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}, PORTAL: {"url": portal.url}}, {"r": {"from": "peer-a", "to": PORTAL}},
                             gateway={"sign_key": own["sign.key"], "sign_cert": own["sign.pem"]}))
    old = os.path.join(tmp, "sign-old.pem")
    shutil.copy(own["sign.pem"], old)
    new_key(own["sign.key"])            # a new key, but the old certificate: they do not match
    gw.proc.send_signal(signal.SIGHUP)
    line = wait_until(lambda: [r for r in gw.log_lines() if r.get("event") == "config.reload_refused"],
                      what="the refused reload")[0]
    assert "the running configuration, keys and certificates stay" in line["msg"], line
    mistakes = [r["msg"] for r in gw.log_lines() if r.get("event") == "config.mistake"]
    assert any("does not match" in m for m in mistakes), mistakes
    assert gw.post("peer-a", event("ROT-B-1"), "rot-b-1")[0] == 202
    rec = wait_until(lambda: portal.received(ok_only=True), what="the delivery")[0]
    jws_verify(rec["headers"]["x-signature"], rec["body"], old)      # still the running key


def test_peer_rollover_old_and_new_signing_certificates_each_logged_by_kid(tmp, cleanup):
    keys = os.path.join(tmp, "peer-a-keys.pem")
    new_key_path, new_cert = os.path.join(tmp, "peer-a-new.key"), os.path.join(tmp, "peer-a-new.pem")
    issue_leaf(new_cert, new_key(new_key_path), "sign", cn="peer-a-signing")
    old_cert, old_key = peer_files("peer-a")["sign_cert"], peer_files("peer-a")["sign_key"]
    with open(keys, "w") as f:
        f.write(open(old_cert).read() + open(new_cert).read())
    gw = cleanup.add(Gateway(tmp, {"peer-a": {"keys": keys}}, {}))
    for mid, key, cert in (("roll-old", old_key, old_cert), ("roll-new", new_key_path, new_cert)):
        status, doc, _ = gw.post("peer-a", event(mid.upper()), mid, jws={"key_path": key, "cert_path": cert})
        assert status == 202, (mid, doc)
        trust = gw.query("SELECT trust FROM audit WHERE message_id = ?", mid)[0][0]
        assert "kid=%s" % cert_kid(cert) in trust, trust
    logged = {r["kid"] for r in gw.log_lines() if r.get("event") == "security.keys" and r["what"] == "peer peer-a signing"}
    assert {cert_kid(old_cert), cert_kid(new_cert)} <= logged, logged
    # the rollover ends: the bundle holds the new certificate only, SIGHUP, no restart
    with open(keys, "w") as f:
        f.write(open(new_cert).read())
    gw.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: [r for r in gw.log_lines() if r.get("event") == "security.reloaded"], what="the reload")
    status, doc, _ = gw.post("peer-a", event("ROLL-OLD-2"), "roll-old-2", jws={"key_path": old_key, "cert_path": old_cert})
    assert status == 401 and "unknown key" in doc["detail"], doc
    status, doc, _ = gw.post("peer-a", event("ROLL-NEW-2"), "roll-new-2",
                             jws={"key_path": new_key_path, "cert_path": new_cert})
    assert status == 202, doc


def test_certificates_expiring_within_30_days_are_warned_by_check_config_and_metrics(tmp, cleanup):
    own = own_files(tmp)
    issue_leaf(own["sign.pem"], new_key(own["sign.key"]), "sign", days=20)
    soon = pki("hostile", "expiring-soon-sign.pem")
    gw = cleanup.add(Gateway(tmp, {"peer-a": {"keys": "%s %s" % (peer_files("peer-a")["sign_cert"], soon)},
                                   PORTAL: {"url": "https://127.0.0.1:1/x"}}, {},
                             gateway={"sign_key": own["sign.key"], "sign_cert": own["sign.pem"]}))
    p = subprocess.run([LIENTHONG, "check-config", "-c", gw.config], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert "gateway signing: certificate %s (CN=lienthong-gateway-signing) expires in 19 days" % own["sign.pem"] \
        in p.stderr or "expires in 20 days" in p.stderr, p.stderr
    assert "peer peer-a signing: certificate %s (CN=peer-a-signing) expires in" % soon in p.stderr, p.stderr
    assert gw.metric("lienthong_certificates_expiring") == 2
