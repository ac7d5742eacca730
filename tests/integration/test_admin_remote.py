"""The admin listener beyond loopback: only over TLS and with a credential
(an operator's bearer token or client certificate), refused otherwise by
check-config and run, naming the key. 127.0.0.0/8 is loopback, so the
refusal is proven with check-config on 0.0.0.0 and 10.x, and the working
listener on loopback with the same credentials configured (and enforced).
Each replay and purge is written to the audit chain with who asked."""
import hashlib
import json
import os
import sqlite3
import subprocess
import urllib.error
import urllib.request

from harness import LIENTHONG, Gateway, event, free_port, pki, wait_until
from test_admin import dead_letters, refusals, refused_total
from test_spine import one_route

ALICE = "alice-7c1f0e52b9d44a3e"            # a plain secret in the file
BOB = "bob-0a9d3f6e2c5b4718"                # kept in the file only as its SHA-256
STATUS = "/v1/admin/status"


def token_file(tmp, lines=None, mode=0o600, name="admin-tokens"):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write("\n".join(lines if lines is not None else [
            "# operators of the gateway", "alice:" + ALICE,
            "bob:sha256:" + hashlib.sha256(BOB.encode()).hexdigest(), ""]))
    os.chmod(path, mode)
    return path


def check_config(gw):
    return subprocess.run([LIENTHONG, "check-config", "-c", gw.config], capture_output=True, text=True, timeout=60)


def run_refused(gw):
    """`lienthong run` on the config: it must stop before listening."""
    p = subprocess.run([LIENTHONG, "run", "-c", gw.config], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def test_admin_listen_beyond_loopback_without_credentials_is_refused_naming_the_key(tmp, cleanup):
    for where in ("0.0.0.0:%d" % free_port(), "10.20.30.40:8081", "[::]:8081"):
        gw = Gateway(tmp, {"peer-a": {"inbound": "push"}}, {}, gateway={"admin_listen": where}, start=False)
        text = open(gw.config).read().replace("admin_listen = 127.0.0.1:%d\n" % gw.admin_port, "")
        open(gw.config, "w").write(text)
        p = check_config(gw)
        assert p.returncode == 2, (where, p.stdout, p.stderr)
        assert "admin_listen = %s is not a loopback address" % where in p.stderr, p.stderr
        assert "admin_token_file" in p.stderr and "admin_trust" in p.stderr, p.stderr
        rc, out = run_refused(gw)
        assert rc != 0 and "admin_listen = %s is not a loopback address" % where in out, out
    # loopback by another spelling is still loopback
    gw = Gateway(tmp, {"peer-a": {"inbound": "push"}}, {}, start=False)
    text = open(gw.config).read().replace("127.0.0.1:%d" % gw.admin_port, "127.0.0.2:%d" % gw.admin_port)
    open(gw.config, "w").write(text)
    assert check_config(gw).returncode == 0


def test_credentials_that_cannot_work_are_refused_by_check_config(tmp, cleanup):
    cases = [
        ({"admin_token_file": token_file(tmp, mode=0o644, name="t1")}, "admin_token_file", "readable by others"),
        ({"admin_token_file": token_file(tmp, ["carol:short"], name="t2")}, "admin_token_file", "shorter than 16"),
        ({"admin_token_file": token_file(tmp, ["# nobody"], name="t3")}, "admin_token_file", "holds no token"),
        ({"admin_token_file": token_file(tmp, ["x:sha256:abc"], name="t4")}, "admin_token_file", "needs 64 hex digits"),
        ({"admin_clients": "CN=ops-1"}, "admin_clients", "needs admin_trust"),
        ({"admin_trust": pki("trust.pem"), "admin_clients": "ops-1"}, "admin_clients", "is not CN=NAME"),
        ({"admin_trust": pki("trust.pem"), "admin_tls_cert": pki("gateway", "tls-chain.pem")},
         "admin_tls_cert", "go together"),
        ({"admin_tls_cert": pki("gateway", "tls-chain.pem"), "admin_tls_key": pki("gateway", "tls.key")},
         "admin_tls_cert", "goes with admin_token_file or admin_trust"),
        ({"admin_trust": os.path.join(tmp, "nothing.pem")}, "admin_trust", "cannot load CA bundle"),
    ]
    for opts, key, why in cases:
        gw = Gateway(tmp, {"peer-a": {"inbound": "push"}}, {}, gateway=opts, start=False)
        p = check_config(gw)
        assert p.returncode == 2 and key in p.stderr and why in p.stderr, (opts, p.stderr)
    # with TLS required and no certificate to take it from (tls = off, no admin_tls_cert)
    gw = Gateway(tmp, {"peer-a": {"inbound": "push"}}, {}, gateway={"admin_token_file": token_file(tmp)},
                 tls=False, start=False)
    p = check_config(gw)
    assert p.returncode == 2 and "admin_tls_cert and admin_tls_key" in p.stderr, p.stderr
    # a good one beyond loopback passes, and says what it takes
    gw = Gateway(tmp, {"peer-a": {"inbound": "push"}}, {}, start=False,
                 gateway={"admin_token_file": token_file(tmp), "admin_trust": pki("trust.pem")})
    text = open(gw.config).read().replace("127.0.0.1:%d" % gw.admin_port, "0.0.0.0:%d" % gw.admin_port)
    open(gw.config, "w").write(text)
    p = check_config(gw)
    assert p.returncode == 0, p.stderr
    assert "admin https://0.0.0.0:%d" % gw.admin_port in p.stdout and "2 bearer tokens" in p.stdout, p.stdout
    assert "client certificates of %s" % pki("trust.pem") in p.stdout, p.stdout


def test_token_listener_needs_the_right_token(tmp, cleanup):
    gw = cleanup.add(Gateway(tmp, {"peer-a": {"inbound": "push"}}, {},
                             gateway={"admin_token_file": token_file(tmp)}))
    # plain HTTP is not spoken there any more
    try:
        urllib.request.urlopen("http://127.0.0.1:%d/v1/admin/status" % gw.admin_port, timeout=5).read()
        assert False, "plain HTTP answered"
    except (urllib.error.URLError, ConnectionError, OSError) as e:
        assert not isinstance(e, urllib.error.HTTPError), e
    status, doc, h = gw.admin_request("GET", STATUS)
    assert status == 401 and "Authorization: Bearer" in doc["detail"], doc
    assert h.get("www-authenticate", "").startswith("Bearer"), h
    for wrong in ("Bearer " + ALICE + "x", "Bearer " + ALICE[:-1], "Basic " + ALICE, "Bearer sha256:" +
                  hashlib.sha256(BOB.encode()).hexdigest()):
        status, doc, _ = gw.admin_request("GET", STATUS, headers={"Authorization": wrong})
        assert status == 401, (wrong, doc)
    status, doc, _ = gw.admin_request("GET", STATUS, headers={"Authorization": ["Bearer " + ALICE, "Bearer x"]})
    assert status == 400 and "Authorization" in doc["detail"], doc
    for secret in (ALICE, BOB):
        status, doc, _ = gw.admin_request("GET", STATUS, headers={"Authorization": "Bearer " + secret})
        assert status == 200 and doc["node_id"] == "gw-test", doc
    log = refusals(gw)
    assert len(log) == 6 and all(l["reason"] in ("credentials", "duplicate_header") for l in log), log
    assert [l["status"] for l in log] == [401, 401, 401, 401, 401, 400], log
    # the page and the liveness probe need none (the page's fetches carry the token)
    status, _, h = gw.admin_request("GET", "/ui")
    assert status == 200 and "script-src 'sha256-" in h["content-security-policy"], h
    assert gw.admin_request("GET", "/healthz")[0] == 200
    gw.admin_token = ALICE
    assert refused_total(gw) == 6
    assert gw.metric("lienthong_admin_refused_total", reason="credentials") == 5
    # the CLI takes its token from the file it can read
    p = subprocess.run([LIENTHONG, "status", "-c", gw.config], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "PEER" in p.stdout, p.stdout + p.stderr


def test_client_certificate_listener_takes_only_its_operators(tmp, cleanup):
    gw = cleanup.add(Gateway(tmp, {"peer-a": {"inbound": "push"}}, {},
                             gateway={"admin_trust": pki("trust.pem"), "admin_clients": "CN=peer-a"}))
    peer_a = (pki("peers", "peer-a", "tls-chain.pem"), pki("peers", "peer-a", "tls.key"))
    gw.admin_cert = peer_a
    assert gw.admin_request("GET", STATUS)[0] == 200
    gw.admin_cert = None
    status, doc, _ = gw.admin_request("GET", STATUS)
    assert status == 401 and "client certificate" in doc["detail"], doc
    foreign = gw.admin_context((pki("hostile", "untrusted-peer-tls-chain.pem"), pki("hostile", "untrusted-peer-tls.key")))
    status, doc, _ = gw.admin_request("GET", STATUS, context=foreign)
    assert status == 403 and "is not one of admin_trust's" in doc["detail"], doc
    other = gw.admin_context((pki("peers", "peer-b", "tls-chain.pem"), pki("peers", "peer-b", "tls.key")))
    status, doc, _ = gw.admin_request("GET", STATUS, context=other)
    assert status == 403 and "CN=peer-b is not in admin_clients" in doc["detail"], doc
    # a token is no way in where only certificates are taken
    status, doc, _ = gw.admin_request("GET", STATUS, headers={"Authorization": "Bearer " + ALICE})
    assert status == 401, doc
    assert [l["status"] for l in refusals(gw)] == [401, 403, 403, 401]
    # the CLI presents the operator's certificate it is given
    env = dict(os.environ, LIENTHONG_ADMIN_CERT=peer_a[0], LIENTHONG_ADMIN_KEY=peer_a[1])
    p = subprocess.run([LIENTHONG, "status", "-c", gw.config], capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 0 and "PEER" in p.stdout, p.stdout + p.stderr
    p = subprocess.run([LIENTHONG, "status", "-c", gw.config], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "client certificate" in p.stdout, p.stdout + p.stderr


def audit_rows(gw, action):
    return gw.query("SELECT peer, message_id, trust FROM audit WHERE direction = ? ORDER BY seq", action)


def audit_cli(gw, *args):
    return subprocess.run([LIENTHONG, "audit", *args, "-c", gw.config], capture_output=True, text=True, timeout=60)


def test_replay_and_purge_are_in_the_audit_chain_with_who_asked(tmp, cleanup):
    gw, sims = one_route(tmp, cleanup, gateway={"admin_token_file": token_file(tmp)})
    gw.admin_token = ALICE
    sims["portal"].fail(status=400)
    for i in range(3):
        assert gw.post("peer-a", event("AUD-%d" % i), "aud-%d" % i)[0] == 202
    wait_until(lambda: dead_letters(gw) == 3, what="three dead letters")
    dead = dict(gw.query("SELECT d.dossier_code, e.event_id FROM deliveries d JOIN events e ON e.seq = d.event_seq"))
    sims["portal"].clear()
    status, doc, _ = gw.admin_request("POST", "/v1/admin/dlq/replay", {"dossier_code": "AUD-0"})
    assert status == 200 and doc["count"] == 1 and doc["deliveries"][0]["by"] == "token:alice", doc
    gw.admin_token = BOB
    status, doc, _ = gw.admin_request("POST", "/v1/admin/dlq/purge", {"dossier_code": "AUD-1"})
    assert status == 200 and doc["count"] == 1, doc
    assert audit_rows(gw, "replay") == [("portal", dead["AUD-0"], "token:alice")]
    assert audit_rows(gw, "purge") == [("portal", dead["AUD-1"], "token:bob")]
    # the CLI, with the token file it can read, adds the user it runs as
    p = subprocess.run([LIENTHONG, "dlq", "purge", "--dossier", "AUD-2", "-c", gw.config], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0 and "1 dead letter purged" in p.stdout, p.stdout + p.stderr
    who = audit_rows(gw, "purge")[-1][2]
    assert who.startswith("token:alice (cli:") and who.endswith(")"), who
    # refused requests change nothing and write nothing
    gw.admin_token = None
    assert gw.admin_request("POST", "/v1/admin/dlq/replay", {"all": True})[0] == 401
    assert len(audit_rows(gw, "replay")) == 1
    # the chain verifies, and lists the actions (CLI and API)
    p = audit_cli(gw, "verify")
    assert p.returncode == 0 and "3 operator actions" in p.stdout, p.stdout + p.stderr
    p = audit_cli(gw, "actions")
    assert p.returncode == 0 and "by token:alice" in p.stdout and "by token:bob" in p.stdout, p.stdout
    gw.admin_token = ALICE
    doc = json.loads(gw.admin("/v1/admin/audit/verify"))
    assert doc["intact"] and doc["operator_actions"] == 3, doc
    assert [(a["action"], a["by"]) for a in doc["actions"]] == [("replay", "token:alice"), ("purge", "token:bob"),
                                                                ("purge", who)], doc["actions"]
    # whoever rewrites who asked is found
    assert gw.stop() == 0
    db = sqlite3.connect(gw.db)
    db.execute("UPDATE audit SET trust = 'token:bob' WHERE direction = 'replay'")
    db.commit()
    db.close()
    p = audit_cli(gw, "verify")
    assert p.returncode == 1 and "replay portal" in p.stdout and "does not match its hash" in p.stdout, p.stdout


def test_on_loopback_an_action_says_loopback_or_the_cli_user(tmp, cleanup):
    gw, sims = one_route(tmp, cleanup)
    sims["portal"].fail(status=400)
    for i in range(2):
        assert gw.post("peer-a", event("LOOP-%d" % i), "loop-%d" % i)[0] == 202
    wait_until(lambda: dead_letters(gw) == 2, what="two dead letters")
    assert gw.admin_request("POST", "/v1/admin/dlq/purge", {"dossier_code": "LOOP-0"})[0] == 200
    # a forged operator header is not taken
    assert gw.admin_request("POST", "/v1/admin/dlq/purge", {"dossier_code": "LOOP-1"},
                            headers={"X-Lienthong-Operator": "cli:x y"})[1]["count"] == 1
    assert [r[2] for r in audit_rows(gw, "purge")] == ["loopback", "loopback"]
    assert gw.post("peer-a", event("LOOP-2"), "loop-2")[0] == 202
    wait_until(lambda: dead_letters(gw) == 1, what="a dead letter")
    p = subprocess.run([LIENTHONG, "dlq", "purge", "--all", "-c", gw.config], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    import pwd
    assert audit_rows(gw, "purge")[-1][2] == "cli:" + pwd.getpwuid(os.geteuid()).pw_name
    assert audit_cli(gw, "verify").returncode == 0
