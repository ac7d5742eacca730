"""Keys on a PKCS#11 token: a SoftHSM2 token initialised by each test (its own
SOFTHSM2_CONF), RSA and EC keys generated on it and never extractable; deliveries signed
there (JWS and XML-DSig) verified by node's jose and the xmlsec1 command; mTLS with the
token's key; a token taken away makes deliveries wait, and they resume when it is back —
also when it was pulled out for real (every session and the login lost), which the gateway
survives by re-opening the token."""
import json
import os
import ssl
import subprocess
import threading
import time

from harness import (LIENTHONG, ROOT, SOFTHSM_MODULE, Gateway, Peersim, SoftHSM, event, jws_verify, pki,
                     wait_until)
from test_flows import registry_sim
from test_signer_binding import OFFICE

PORTAL, REGISTRY = "cong-dvc-tinh", "hotich-tinh"
JWS = os.path.join(ROOT, "tests", "interop", "jws.mjs")


def token_gateway(tmp, cleanup, hsm, kind, tls=False, destinations=None, retry=None, extra=None, module=None):
    """A gateway whose signing key (and with tls=True its TLS key) is on the token."""
    g = {"sign_key": hsm.uri(kind), "sign_cert": hsm.cert(kind), "token_pin_file": hsm.pin_file,
         "pkcs11_module": module or SOFTHSM_MODULE}
    if tls:
        g.update({"tls_key": hsm.uri(kind), "tls_cert": hsm.cert(kind, "tls")})
    g.update(extra or {})
    peers = {"peer-a": {}}
    routes = {}
    for name, opts in (destinations or {}).items():
        peers[name] = opts
        routes["to-" + name] = {"from": "peer-a", "to": name}
    return cleanup.add(Gateway(tmp, peers, routes, gateway=g, env=hsm.env, retry=retry))


def birth_event(code):
    """A canonical birth registration (what the registry needs), under dossier code `code`."""
    with open(os.path.join(ROOT, "tests", "unit", "data", "civilreg", "birth.json"), encoding="utf-8") as f:
        ev = json.load(f)
    ev.pop("event_id", None)
    ev["dossier_code"] = code
    return ev


def verify_jws_with_jose(tmp, cert, rec):
    body = os.path.join(tmp, "body-%s" % rec["headers"]["x-message-id"])
    with open(body, "wb") as f:
        f.write(rec["body"].encode())
    p = subprocess.run(["node", JWS, "verify", cert], stdin=open(body, "rb"), capture_output=True, text=True,
                       timeout=60, env=dict(os.environ, SIG=rec["headers"]["x-signature"]))
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def verify_xml_with_xmlsec1(body, cert):
    p = subprocess.run(["xmlsec1", "--verify", "--trusted-pem", pki("root-ca.pem"), "--untrusted-pem",
                        pki("issuing-ca.pem"), "--enabled-reference-uris", "empty", "-"], input=body.encode(),
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    with open(cert) as f:
        pem = "".join(f.read().split("-----")[2].split())
    assert pem in "".join(body.split()), "the token's certificate is not the one in KeyInfo"


def test_token_keys_are_generated_on_it_and_never_extractable(tmp, cleanup):
    hsm = SoftHSM(tmp)
    listing = hsm.tool("--list-objects", "--type", "privkey")
    assert listing.count("never extractable") == 2 and listing.count("sensitive") >= 2, listing
    # asking the token for the private key's value gives nothing
    out = os.path.join(tmp, "private.der")
    subprocess.run(["pkcs11-tool", "--module", SOFTHSM_MODULE, "--token-label", hsm.label, "--login", "--pin",
                    hsm.PIN, "--read-object", "--type", "privkey", "--id", "01", "-o", out], capture_output=True,
                   text=True, timeout=60, env=dict(os.environ, **hsm.env))
    assert not os.path.exists(out) or os.path.getsize(out) == 0


def test_deliveries_signed_on_the_token_verify_with_jose_and_xmlsec1(tmp, cleanup):
    hsm = SoftHSM(tmp)
    for kind in ("rsa", "ec"):
        portal = cleanup.add(Peersim(tmp, PORTAL))
        registry = cleanup.add(Peersim(tmp, REGISTRY, extra=["--reply-body", "{}"]))
        gw = token_gateway(tmp, cleanup, hsm, kind, tls=True, destinations={
            PORTAL: {"url": portal.url},
            REGISTRY: {"adapter": "civilreg", "url": registry.url, "param.ma_don_vi": "H12.01957",
                       "answers": "tls"}})
        status, doc, _ = gw.post("peer-a", birth_event("TOKEN-%s-1" % kind), "tok-%s-1" % kind)
        assert status == 202, doc
        rec = wait_until(lambda: portal.received(ok_only=True), what="the portal's delivery")[0]
        header = verify_jws_with_jose(tmp, hsm.cert(kind), rec)
        assert header["alg"] == ("RS256" if kind == "rsa" else "ES256"), header
        # mTLS with the token's TLS key: the portal saw the gateway's certificate
        assert rec["client_cn"] == "lienthong-gateway" and rec["client_verified"], rec
        req = wait_until(lambda: registry.received(), what="the registry's delivery")[0]
        assert "<Signature" in req["body"], req["body"][:300]
        verify_xml_with_xmlsec1(req["body"], hsm.cert(kind))
        # the token's TLS key also serves the peer listener (the post above went through it)
        assert "246810" not in gw.log_text()
        gw.stop()
        portal.stop()
        registry.stop()


def test_token_pin_file_must_be_private_and_the_pin_never_in_the_uri(tmp, cleanup):
    hsm = SoftHSM(tmp)
    gw = token_gateway(tmp, cleanup, hsm, "rsa", destinations={PORTAL: {"url": "https://127.0.0.1:1/x"}})
    gw.stop()
    os.chmod(hsm.pin_file, 0o640)
    p = subprocess.run([LIENTHONG, "check-config", "-c", gw.config], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, **hsm.env))
    assert p.returncode == 2 and "token PIN file %s is readable by others" % hsm.pin_file in p.stderr, p.stderr
    r = subprocess.run([LIENTHONG, "run", "-c", gw.config], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, **hsm.env))
    assert r.returncode != 0 and "readable by others" in r.stderr, r.stderr
    os.chmod(hsm.pin_file, 0o600)
    for uri, words in ((hsm.uri("rsa") + "?pin-value=" + hsm.PIN, "carries a PIN"),
                       (hsm.uri("rsa").replace("rsa-key", "no-such-key"), "cannot use it on the token")):
        cfg = open(gw.config).read().replace(hsm.uri("rsa"), uri)
        with open(gw.config, "w") as f:
            f.write(cfg)
        p = subprocess.run([LIENTHONG, "check-config", "-c", gw.config], capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, **hsm.env))
        assert p.returncode == 2 and words in p.stderr, p.stderr
        assert hsm.PIN not in p.stderr and hsm.PIN not in p.stdout, p.stderr
        with open(gw.config, "w") as f:
            f.write(cfg.replace(uri, hsm.uri("rsa")))
    # a wrong PIN: named as such, never shown
    with open(hsm.pin_file, "w") as f:
        f.write("999999\n")
    p = subprocess.run([LIENTHONG, "check-config", "-c", gw.config], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, **hsm.env))
    assert p.returncode == 2 and "wrong PIN in %s" % hsm.pin_file in p.stderr and "999999" not in p.stderr, p.stderr


def test_a_token_taken_away_makes_deliveries_wait_and_they_resume_when_it_returns(tmp, cleanup):
    hsm = SoftHSM(tmp)
    module = hsm.unpluggable(sign_only=True)     # it refuses to sign for a while; sessions survive
    portal = cleanup.add(Peersim(tmp, PORTAL))
    gw = token_gateway(tmp, cleanup, hsm, "rsa", destinations={PORTAL: {"url": portal.url}},
                       retry={"initial": "100ms", "max_delay": "300ms", "max_age": "1h"}, module=module)
    assert gw.post("peer-a", event("TOK-AWAY-0"), "away-0")[0] == 202
    wait_until(lambda: len(portal.received(ok_only=True)) == 1, what="the first delivery")
    hsm.unplug()
    for i in range(1, 4):
        status, doc, _ = gw.post("peer-a", event("TOK-AWAY-%d" % i), "away-%d" % i)
        assert status == 202, doc       # input is still taken and made durable
    ready = wait_until(lambda: "signing_key" in gw.admin_request("GET", "/readyz")[1] and
                       gw.admin_request("GET", "/readyz"), what="/readyz to say why")
    status, doc, _ = ready
    assert status == 503 and "token" in doc["signing_key"], doc
    time.sleep(1.5)
    assert len(portal.received(ok_only=True)) == 1
    assert gw.query("SELECT COUNT(*) FROM deliveries WHERE state = 3") == [(0,)]      # none dead
    hsm.plug_back()
    wait_until(lambda: len(portal.received(ok_only=True)) == 4, timeout=30, what="the waiting deliveries")
    assert gw.admin_request("GET", "/readyz")[0] == 200
    assert gw.query("SELECT COUNT(*) FROM deliveries WHERE state = 3") == [(0,)]


def readyz_says_token(gw):
    status, doc = gw.admin_request("GET", "/readyz")[:2]
    return status == 503 and "token" in doc.get("signing_key", "") and doc


def test_a_token_pulled_out_and_put_back_under_a_stream_of_events_is_reopened_and_all_arrive_signed(tmp, cleanup):
    """A real unplug: while out the token is not in its slot and every session call answers
    CKR_DEVICE_REMOVED; put back, every session opened before is gone and the login lost.
    Deliveries (JWS to the portal, XML-DSig to the registry) wait, then all arrive signed by
    the token, none dead, without a restart."""
    hsm = SoftHSM(tmp)
    module = hsm.unpluggable()
    portal = cleanup.add(Peersim(tmp, PORTAL))
    registry = registry_sim(tmp, cleanup)         # it answers each request, signed
    gw = token_gateway(tmp, cleanup, hsm, "rsa", module=module,
                       retry={"initial": "100ms", "max_delay": "300ms", "max_age": "1h"}, destinations={
                           PORTAL: {"url": portal.url},
                           REGISTRY: {"adapter": "civilreg", "url": registry.url, "param.ma_don_vi": "H12.01957"}})
    answers, stop = [], threading.Event()

    def stream():
        i = 0
        while not stop.is_set() and i < 200:
            answers.append(gw.post("peer-a", birth_event("TOKBACK-%03d" % i), "tokback-%03d" % i)[0])
            i += 1
            time.sleep(0.05)

    t = threading.Thread(target=stream)
    t.start()
    try:
        wait_until(lambda: len(portal.received(ok_only=True)) >= 3, what="deliveries before the unplug")
        hsm.unplug()
        wait_until(lambda: readyz_says_token(gw), what="/readyz to say the token is away")
        wait_until(lambda: "the token is away" in readyz_says_token(gw)["signing_key"], what="/readyz to say why")
        time.sleep(0.5)                 # what was signed before the unplug has arrived
        held = len(portal.received(ok_only=True)), len(registry.received(ok_only=True))
        time.sleep(1.5)
        assert (len(portal.received(ok_only=True)), len(registry.received(ok_only=True))) == held
        assert gw.query("SELECT COUNT(*) FROM deliveries WHERE state = 3") == [(0,)]      # none dead
        hsm.plug_back()
        time.sleep(2.0)                 # the stream goes on after the token is back
    finally:
        stop.set()
        t.join(60)
    assert len(answers) > 20 and all(a == 202 for a in answers), answers
    wait_until(lambda: len(portal.received(ok_only=True)) == len(answers), timeout=60, what="every JWS delivery")
    wait_until(lambda: len(registry.received(ok_only=True)) == len(answers), timeout=60, what="every XML delivery")
    for rec in portal.received(ok_only=True):
        jws_verify(rec["headers"]["x-signature"], rec["body"], hsm.cert("rsa"))
    for req in registry.received(ok_only=True)[held[1]:]:        # those signed after the token came back
        verify_xml_with_xmlsec1(req["body"], hsm.cert("rsa"))
    assert gw.admin_request("GET", "/readyz")[0] == 200
    assert gw.query("SELECT COUNT(*) FROM deliveries WHERE state = 3") == [(0,)]
    lines = gw.log_lines()
    reopened = [r for r in lines if r.get("event") == "token.reopened"]
    assert len(reopened) == 1 and reopened[0]["away_s"] >= 1, reopened
    assert not [r for r in lines if r.get("event") in ("delivery.dead", "token.reopen_failed")
                and hsm.PIN in json.dumps(r)]
    assert hsm.PIN not in gw.log_text()


def test_a_token_holding_the_tls_key_pulled_out_and_put_back_serves_tls_again(tmp, cleanup):
    """tls_key on the token too: while it is out the listener cannot finish a handshake and
    /readyz says why; put back (sessions lost), the gateway re-opens it by itself — no
    delivery needs to come first — and TLS both ways works again with the token's key."""
    hsm = SoftHSM(tmp)
    module = hsm.unpluggable()
    portal = cleanup.add(Peersim(tmp, PORTAL))
    gw = token_gateway(tmp, cleanup, hsm, "ec", tls=True, module=module, destinations={PORTAL: {"url": portal.url}},
                       retry={"initial": "100ms", "max_delay": "300ms", "max_age": "1h"})
    assert gw.post("peer-a", event("TOKTLS-0"), "toktls-0")[0] == 202
    wait_until(lambda: len(portal.received(ok_only=True)) == 1, what="the first delivery")
    hsm.unplug()

    def refused():
        try:
            gw.post("peer-a", event("TOKTLS-X"), "toktls-x")
        except (ssl.SSLError, ConnectionError, OSError):
            return True
        return False
    wait_until(refused, what="the listener to fail its handshakes")
    wait_until(lambda: readyz_says_token(gw), what="/readyz to say the token is away")
    hsm.plug_back()

    def posted():
        try:
            return gw.post("peer-a", event("TOKTLS-1"), "toktls-1")[0] == 202
        except (ssl.SSLError, ConnectionError, OSError):
            return False
    wait_until(posted, timeout=30, what="the listener's TLS with the token put back")
    rec = wait_until(lambda: [r for r in portal.received(ok_only=True) if "TOKTLS-1" in r["body"]],
                     timeout=30, what="the delivery after the token came back")[0]
    assert rec["client_cn"] == "lienthong-gateway" and rec["client_verified"], rec     # mTLS with the token's key
    verify_jws_with_jose(tmp, hsm.cert("ec"), rec)
    assert gw.admin_request("GET", "/readyz")[0] == 200
    assert [r for r in gw.log_lines() if r.get("event") == "token.reopened"]
