"""Fixtures for integration tests: a real gateway process, real peer
simulators, real sockets on loopback, a real SQLite file."""
import base64
import datetime
import functools
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("LT_BUILD", os.path.join(ROOT, "build"))    # build-asan for make test-asan
LIENTHONG = os.path.join(BUILD, "lienthong")
# LT_VALGRIND=1 runs every gateway under valgrind's memcheck (make test-valgrind);
# its reports go to valgrind-PID.log in the test's directory, which run.py reads.
VALGRIND = os.environ.get("LT_VALGRIND") == "1"
SLOW = 10.0 if VALGRIND else 1.0       # waits are this much longer under valgrind
# Memory figures mean nothing under a sanitizer or valgrind (ASan keeps freed memory in quarantine)
INSTRUMENTED = VALGRIND or "asan" in os.path.basename(BUILD.rstrip("/"))
PEERSIM = os.path.join(BUILD, "peersim")
LAZYVFS = os.path.join(BUILD, "lazyvfs.so")
PKI = os.environ.get("LT_TEST_PKI", os.path.join(ROOT, "build", "certs"))
XMLDSIG = os.path.join(ROOT, "tests", "interop", "xmldsig.mjs")
KIND = os.environ.get("LT_TEST_KIND", "rsa")     # rsa | ec: the key type every test runs with
PKI_PEERS = ("motcua-xa-duongphong", "cong-dvc-tinh", "hotich-tinh", "buudien-tinh", "motcua-phuong-binhhung",
             "vpdk-dat-thanhpho", "peer-a", "peer-b", "peer-c")


def pki(*parts, kind=None):
    path = os.path.join(PKI, kind or KIND, *parts)
    if not os.path.exists(path):
        raise AssertionError("%s is missing: run `make certs`" % path)
    return path


def peer_files(name, kind=None):
    """TLS and signing files of a dev-PKI peer; names outside the PKI borrow peer-b's."""
    who = name if name in PKI_PEERS else "peer-b"
    d = ("peers", who)
    return {"tls_chain": pki(*d, "tls-chain.pem", kind=kind), "tls_key": pki(*d, "tls.key", kind=kind),
            "sign_cert": pki(*d, "sign.pem", kind=kind), "sign_key": pki(*d, "sign.key", kind=kind), "cn": who}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@functools.lru_cache(maxsize=None)
def cert_kid(cert_path):
    with open(cert_path, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    return b64url(hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest())


@functools.lru_cache(maxsize=None)
def _load_key(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


def jws_detached(body, key_path, cert_path, jti, iat=None, alg=None, header=None, kid=None):
    """A detached JWS (RFC 7515 appendix F) over the exact body bytes, made with
    python3-cryptography — an implementation independent of the gateway's."""
    key = _load_key(key_path)
    if alg is None:
        alg = "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "RS256"
    h = {"alg": alg, "kid": kid or cert_kid(cert_path), "iat": int(time.time()) if iat is None else iat, "jti": jti}
    h.update(header or {})
    h = {k: v for k, v in h.items() if v is not None}
    protected = b64url(json.dumps(h, separators=(",", ":")).encode())
    signing_input = (protected + "." + b64url(body)).encode()
    if alg == "RS256":
        sig = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "PS256":
        sig = key.sign(signing_input, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    elif alg == "ES256":
        r, s_ = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s_.to_bytes(32, "big")
    else:
        sig = b""
    return protected + ".." + b64url(sig)


def xml_signed(xml, key_path, cert_path):
    """xml (str or bytes) with an enveloped XML-DSig made by key_path, cert_path in KeyInfo,
    by node's xml-crypto — an implementation independent of the gateway's; bytes."""
    p = subprocess.run(["node", XMLDSIG, "sign", key_path, cert_path],
                       input=xml.encode() if isinstance(xml, str) else xml, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


# iat values no clock reaches: each must be refused as out of the replay window
# without arithmetic on it (the integration tests and the fuzz seeds use them)
HUGE_IATS = [2 ** 62, -2 ** 62, 9223372036854775, 9223372036854776, 2 ** 63 - 1, -2 ** 63]


def wrapping_iat(now_ms):
    """An iat whose iat * 1000 wraps in 64-bit arithmetic to within a second of now_ms."""
    return next((2 ** 64 + t) // 1000 for t in range(now_ms - 1000, now_ms + 1000) if (2 ** 64 + t) % 1000 == 0)


def signed_post(conn, peer, mid, data):
    """POST data to /v1/inbound/{peer} on an open connection, signed by the
    peer's key; (status, decoded answer). For senders that keep a connection."""
    f = peer_files(peer)
    conn.request("POST", "/v1/inbound/%s" % peer, body=data, headers={
        "Content-Type": "application/json", "X-Message-Id": mid,
        "X-Signature": jws_detached(data, f["sign_key"], f["sign_cert"], mid)})
    r = conn.getresponse()
    return r.status, json.loads(r.read())


def l3(*parts, kind=None):
    """A file of the dev PKI's three-level hierarchy (root CA -> policy CA -> issuing CA)."""
    return pki("l3", *parts, kind=kind)


def client_context(name, kind=None, cert=None, key=None):
    """A new TLS client context presenting the dev-PKI certificate of `name` (None: no
    certificate), or the files cert (a leaf, or a leaf and its intermediates) and key; new
    each time, since tests narrow its versions and ciphers."""
    ctx = ssl.create_default_context(cafile=pki("trust.pem", kind=kind))
    ctx.check_hostname = False        # connecting to 127.0.0.1; the chain is still verified
    if cert:
        ctx.load_cert_chain(cert, key)
    elif name:
        f = peer_files(name, kind)
        ctx.load_cert_chain(f["tls_chain"], f["tls_key"])
    return ctx


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(cond, timeout=15.0, step=0.05, what="condition"):
    timeout *= SLOW
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(step)
    raise AssertionError("timed out after %.1fs waiting for %s (last: %r)" % (timeout, what, last))


def sign_xml(xml, who, kind=None):
    """An enveloped XML-DSig over xml (str or bytes) by the signing key of
    dev-PKI peer `who`, made with node's xml-crypto — not the gateway's code."""
    f = peer_files(who, kind)
    return xml_signed(xml, f["sign_key"], f["sign_cert"])


def json_or_raw(text):
    """An answer's JSON, or {"_raw": its text} when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return {"_raw": text.decode("utf-8", "replace")}


def campaign_gateway(tmp, cleanup, env=None):
    """The crash campaigns' gateway: peer-a sends to a portal and to a registry
    that fails 30% of requests; (gateway, portal, registry)."""
    portal = cleanup.add(Peersim(tmp, "portal"))
    registry = cleanup.add(Peersim(tmp, "registry"))
    registry.fail(status=503, share=0.3, seed=7)    # one destination flaky during the campaign
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}, "portal": {"url": portal.url, "concurrency": 8},
                                   "registry": {"url": registry.url, "concurrency": 4}},
                             {"all": {"from": "peer-a", "to": "portal registry"}},
                             retry={"initial": "50ms", "max_delay": "300ms"}, env=env))
    return gw, portal, registry


def vn_time(offset_s=0):
    """Now (plus offset_s) in Hanoi time, whole seconds: a peer's signed times."""
    vn = datetime.timezone(datetime.timedelta(hours=7))
    return (datetime.datetime.now(vn) + datetime.timedelta(seconds=offset_s)).replace(microsecond=0)


def event(code, type_="dossier.received", **extra):
    ev = {"type": type_, "occurred_at": "2026-11-24T09:00:00+07:00", "dossier_code": code}
    ev.update(extra)
    return ev


def lazyvfs_env(fail_sync=None, cut_at_sync=None, keep=0, db_only=False):
    """Environment that loads the power-cut VFS (tests/powercut/lazyvfs.c) into a process:
    its SQLite files keep every write in memory until fsync, so a kill -9 loses what a power
    cut would. While the file fail_sync exists, every fsync fails with EIO. cut_at_sync=N:
    the process cuts its own power at its Nth fsync with writes pending (db_only: of the
    database file, which ends a checkpoint), after writing keep% of them, chosen at random."""
    if not os.path.exists(LAZYVFS):
        raise AssertionError("%s is missing: run `make all`" % LAZYVFS)
    env = {"LD_PRELOAD": LAZYVFS}
    if fail_sync:
        env["LAZYVFS_FAIL_SYNC"] = fail_sync
    if cut_at_sync:
        env.update(LAZYVFS_CUT_AT_SYNC=str(cut_at_sync), LAZYVFS_CUT_KEEP=str(keep), LAZYVFS_CUT_DB=str(int(db_only)))
    if "asan" in os.path.basename(BUILD.rstrip("/")):     # the preloaded library comes before libasan
        env["ASAN_OPTIONS"] = os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"
    return env


class Sender(threading.Thread):
    """Posts a stream of signed events from peer-a, one connection, one at a time;
    resends what was not acknowledged (same id, same body), as a peer would, until
    stopped or `seconds` have passed. Records the receipts it got."""

    def __init__(self, gw, total, prefix="c", seconds=330, pad=0):
        super().__init__(daemon=True)
        self.gw = gw
        self.seconds = seconds
        self.todo = [("%s-%05d" % (prefix, i), event("CR-%03d" % (i % 37), "dossier.step",
                                                      detail={"n": i, "pad": "x" * pad} if pad else {"n": i}))
                     for i in range(total)]
        self.acked = {}        # message id -> event ids
        self.refused = 0
        self.stop_flag = False

    def run(self):
        deadline = time.monotonic() + self.seconds
        conn = None
        while self.todo and not self.stop_flag and time.monotonic() < deadline:
            mid, body = self.todo[0]
            try:
                conn = conn or self.gw.connect("peer-a", timeout=5)
                status, doc = signed_post(conn, "peer-a", mid, json.dumps(body).encode())
            except (OSError, http.client.HTTPException, ValueError):
                self.refused += 1
                if conn:
                    conn.close()
                conn = None
                time.sleep(0.02)
                continue
            if status in (200, 202):
                self.acked[mid] = [e["event_id"] for e in doc["events"]]
                self.todo.pop(0)
            else:
                self.refused += 1
                time.sleep(0.02)


class Peersim:
    """A peer simulator process: a real HTTP server that records and fails on demand."""

    def __init__(self, tmp, name, extra=(), tls=True, kind=None, sign=False, tls_files=None):
        """sign: the simulator can sign its answers (rules and replies with "sign") with the
        dev-PKI signing key of `name`, as that peer would. tls_files: (chain, key) of its
        server certificate instead of the dev-PKI peer's."""
        self.name = name
        self.tls_files = tls_files
        self.tls = tls
        self.kind = kind
        self.tmp = tmp
        self.port_file = os.path.join(tmp, "peersim-%s.port" % name)
        self.record = os.path.join(tmp, "peersim-%s.jsonl" % name)
        self.extra = list(extra)
        if sign:
            f = peer_files(name, kind)
            self.extra += ["--sign-key", f["sign_key"], "--sign-cert", f["sign_cert"]]
        self.proc = None
        self.port = None
        self.start()

    def start(self, port=None):
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        listen = "127.0.0.1:%d" % (port or self.port or 0)
        control = "127.0.0.1:%d" % getattr(self, "control_port", 0) if getattr(self, "control_port", None) else "127.0.0.1:0"
        self.log = open(os.path.join(self.tmp, "peersim-%s.log" % self.name), "ab")
        tls = []
        if self.tls:
            f = peer_files(self.name, self.kind)
            chain, key = self.tls_files or (f["tls_chain"], f["tls_key"])
            tls = ["--tls-cert", chain, "--tls-key", key, "--ca", pki("trust.pem", kind=self.kind),
                   "--require-client-cert"]
        self.proc = subprocess.Popen([PEERSIM, "--listen", listen, "--control", control, "--name", self.name,
                                      "--port-file", self.port_file, "--record", self.record] + tls + self.extra,
                                     stdout=self.log, stderr=self.log)
        wait_until(lambda: os.path.exists(self.port_file) and os.path.getsize(self.port_file) > 0,
                   what="peersim %s to listen" % self.name)
        with open(self.port_file) as f:
            ports = json.load(f)
        self.port, self.control_port = ports["listen"], ports["control"]

    @property
    def url(self):
        return "%s://127.0.0.1:%d/in" % ("https" if self.tls else "http", self.port)

    def control(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.control_port, timeout=10)
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        out = json.loads(r.read() or b"{}")
        conn.close()
        return out

    def fail(self, **rule):
        return self.control("POST", "/_sim/fail", rule)

    def clear(self):
        return self.control("POST", "/_sim/clear", {})

    def received(self, ok_only=False):
        recs = self.control("GET", "/_sim/received")["records"]
        if ok_only:
            recs = [r for r in recs if 200 <= (r["status"] or 0) < 300]
        return recs

    def bodies(self, ok_only=True):
        return [json.loads(r["body"]) for r in self.received(ok_only)]

    def count(self):
        """Records, answers by status, and deliveries in flight now and at most at once
        ("inflight", "max_inflight") since this process started or its records were reset."""
        return self.control("GET", "/_sim/count")

    def recorded(self):
        """Every answered delivery from the --record file, across restarts of the process.
        Each record has "inflight" (in flight at its arrival, itself included) and, when its
        client left before the answer was out, "client_gone_ms"."""
        out = []
        if not os.path.exists(self.record):
            return out
        with open(self.record, "rb") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass            # a line still being written
        return out

    def delivered(self):
        """Message ids (X-Message-Id: the event id) answered 2xx, each once."""
        return {r["headers"]["x-message-id"] for r in self.received(ok_only=True)}

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()


def check_all_delivered(gw, sims, acked_events, timeout=60):
    """Every acknowledged event reaches every destination in sims, repeats carry the
    original Idempotency-Key, and the store holds each one. Returns the figures."""
    for sim in sims:
        wait_until(lambda: acked_events <= sim.delivered(), timeout=timeout,
                   what="every acknowledged event at %s (%d missing)" % (
                       sim.name, len(acked_events - sim.delivered())))
    # duplicates only ever carry the same idempotency key as the original
    for sim in sims:
        for r in sim.received(ok_only=True):
            assert r["headers"]["idempotency-key"] == r["headers"]["x-message-id"]
            assert json.loads(r["body"])["event_id"] == r["headers"]["x-message-id"]
    stored = {row[0] for row in gw.query("SELECT event_id FROM events")}
    assert acked_events <= stored, "acknowledged but not stored: %s" % sorted(acked_events - stored)[:5]
    return {"acknowledged": len(acked_events), "destinations": len(sims),
            "delivered": sum(len(acked_events & sim.delivered()) for sim in sims),
            "lost": sum(len(acked_events - sim.delivered()) for sim in sims),
            "duplicates": {sim.name: len(sim.received(ok_only=True)) - len(sim.delivered()) for sim in sims}}


def pg_query(dsn, sql, *args):
    """Rows (tuples) of a SELECT with ? parameters from a PostgreSQL database, read with
    psql: each ? becomes a psql variable that psql quotes, the rows come back as JSON
    so that numbers stay numbers and NULL is None."""
    parts = sql.split("?")
    assert len(parts) == len(args) + 1, (sql, args)
    text = parts[0] + "".join(":'a%d'%s" % (i, part) for i, part in enumerate(parts[1:]))
    argv = ["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn]
    for i, v in enumerate(args):
        argv += ["-v", "a%d=%s" % (i, v)]
    p = subprocess.run(argv, input="SELECT COALESCE(json_agg(t), '[]') FROM (%s) t;\n" % text,
                       capture_output=True, text=True, timeout=30)
    if p.returncode:
        raise AssertionError("psql: %s" % p.stderr.strip())
    return json.loads(p.stdout, object_pairs_hook=lambda kv: tuple(v for _, v in kv))


class Gateway:
    """A lienthong daemon with a config written for the test."""

    def __init__(self, tmp, peers, routes, retry=None, gateway=None, start=True, tls=True, kind=None, db=None,
                 store=None, name="gateway", env=None, binary=None):
        """peers: name -> options. A peer without url is a sender: it signs with
        its dev-PKI signing key (keys = its certificate) and connects with its
        TLS certificate, unless the options say otherwise (an option set to None
        is left out of the file, e.g. "keys": None). store: a
        postgresql:// DSN instead of the SQLite file db; name: of the config and
        log files, for several gateways in one test; env: variables added to the
        gateway's environment (lazyvfs_env); binary: another build of the daemon
        (build/tests/lienthong-example, with the worked example adapter)."""
        self.tmp = tmp
        self.tls = tls
        self.kind = kind
        self.env = env                   # extra environment variables of the daemon
        self.binary = binary or LIENTHONG
        self.peers = peers
        self.port = free_port()
        self.admin_port = free_port()
        self.db = db or os.path.join(tmp, "lienthong.db")
        self.store = store or "sqlite:%s" % self.db
        self.config = os.path.join(tmp, "lienthong.ini" if name == "gateway" else name + ".ini")
        self.log_path = os.path.join(tmp, name + ".log")
        self.write_config(peers, routes, retry, gateway)
        self.proc = None
        if start:
            self.start()

    def write_config(self, peers, routes, retry=None, gateway=None):
        """(Re)write the config file: the listeners, store and keys of this gateway, then
        the peers, routes and settings given (see __init__)."""
        kind, tls = self.kind, self.tls
        gateway = dict(gateway or {})
        # an admin listener asking credentials is HTTPS: admin_token (a secret sent
        # as Bearer) and admin_cert (cert, key files) are what admin() and
        # admin_request() present to it
        self.admin_tls = "admin_token_file" in gateway or "admin_trust" in gateway
        self.admin_token = None
        self.admin_cert = None
        lines = ["[gateway]", "node_id = %s" % gateway.pop("node_id", "gw-test"), "listen = 127.0.0.1:%d" % self.port,
                 "admin_listen = 127.0.0.1:%d" % self.admin_port, "store = %s" % self.store,
                 "sign_key = %s" % pki("gateway", "sign.key", kind=kind),
                 "sign_cert = %s" % pki("gateway", "sign.pem", kind=kind)]
        if tls:
            lines += ["tls_cert = %s" % pki("gateway", "tls-chain.pem", kind=kind),
                      "tls_key = %s" % pki("gateway", "tls.key", kind=kind), "trust = %s" % pki("trust.pem", kind=kind)]
        else:
            lines += ["tls = off"]
        for k, v in gateway.items():
            lines.append("%s = %s" % (k, v))
        lines += ["", "[retry]"]
        r = {"initial": "100ms", "max_delay": "1s", "max_age": "1h"}
        r.update(retry or {})
        lines += ["%s = %s" % kv for kv in r.items()]
        for name, opts in peers.items():
            lines += ["", "[peer.%s]" % name]
            opts = dict(opts)
            opts.setdefault("adapter", "canonical")
            if "url" not in opts or name in PKI_PEERS:
                f = peer_files(name, kind)
                opts.setdefault("identity", f["cn"])
                if opts.get("verify") != "none":
                    opts.setdefault("keys", f["sign_cert"])
                if "url" in opts and "inbound" not in opts:
                    opts["inbound"] = "push"     # a destination may also send to us
            lines += ["%s = %s" % kv for kv in opts.items() if kv[1] is not None]
        for name, opts in routes.items():
            lines += ["", "[route.%s]" % name]
            lines += ["%s = %s" % kv for kv in opts.items()]
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")

    def reload(self, peers, routes, retry=None, gateway=None, expect="config.reloaded"):
        """Rewrite the config file, SIGHUP, and wait for the reload's verdict (expect:
        config.reloaded or config.reload_refused); returns that log line."""
        before = sum(r.get("event") == expect for r in self.log_lines())
        self.peers = peers
        self.write_config(peers, routes, retry, gateway)
        self.proc.send_signal(signal.SIGHUP)
        return wait_until(lambda: [r for r in self.log_lines() if r.get("event") == expect][before:],
                          what=expect)[0]

    def start(self):
        self.log = open(self.log_path, "ab")
        argv = [self.binary, "run", "-c", self.config]
        if VALGRIND:
            argv = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite",
                    "--show-leak-kinds=definite", "--track-origins=yes", "--num-callers=30",
                    "--suppressions=%s" % os.path.join(ROOT, "tests", "valgrind.supp"),
                    "--log-file=%s" % os.path.join(self.tmp, "valgrind-%p.log")] + argv
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log,
                                     cwd=ROOT, env=dict(os.environ, **(self.env or {})))
        wait_until(self.healthy, what="gateway to start (see %s)" % self.log_path)

    def healthy(self):
        if self.proc.poll() is not None:
            raise AssertionError("gateway exited with %s; log:\n%s" % (self.proc.returncode, self.log_text()[-3000:]))
        try:
            with urllib.request.urlopen("%s/healthz" % self.admin_url(), timeout=1,
                                        context=self.admin_context()) as r:
                return r.status == 200
        except OSError:
            return False

    def connect(self, as_peer, timeout=30, context=None):
        if not self.tls:
            return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                           context=context or client_context(as_peer, self.kind))

    def post(self, peer, body, message_id=None, content_type="application/json", headers=None, raw=False,
             sign=True, as_peer=None, jws=None, context=None):
        """POST to /v1/inbound/{peer} over mTLS (client certificate of as_peer,
        default the peer itself, or the TLS context given), signed with a detached JWS
        by the peer's signing key unless sign=False; jws= passes options to jws_detached."""
        as_peer = peer if as_peer is None else as_peer
        conn = self.connect(as_peer, context=context)
        data = body if raw else json.dumps(body).encode()
        h = {"Content-Type": content_type}
        if message_id is not None:
            h["X-Message-Id"] = message_id
        if sign:
            f = peer_files(as_peer or "peer-b", self.kind)
            opts = {"key_path": f["sign_key"], "cert_path": f["sign_cert"], "jti": message_id or ""}
            opts.update(jws or {})
            h["X-Signature"] = jws_detached(data, **opts)
        h.update(headers or {})
        conn.request("POST", "/v1/inbound/%s" % peer, body=data, headers=h)
        r = conn.getresponse()
        text = r.read()
        conn.close()
        doc = json_or_raw(text)
        return r.status, doc, dict(r.getheaders())

    def admin_url(self):
        return "%s://127.0.0.1:%d" % ("https" if self.admin_tls else "http", self.admin_port)

    def admin_context(self, cert=None):
        """The TLS context of an admin client (None on a plain listener): the dev PKI's
        trust, and cert (cert, key files; default admin_cert) as its client certificate."""
        if not self.admin_tls:
            return None
        cert = cert or self.admin_cert
        return client_context(None, self.kind, cert=cert[0], key=cert[1]) if cert else client_context(None, self.kind)

    def admin(self, path):
        req = urllib.request.Request(self.admin_url() + path)
        if self.admin_token:
            req.add_header("Authorization", "Bearer " + self.admin_token)
        with urllib.request.urlopen(req, timeout=10, context=self.admin_context()) as r:
            return r.read().decode()

    def admin_request(self, method, path, body=None, headers=None, context=None):
        """method path on the admin listener, as a local client sends it (Host
        127.0.0.1:PORT, a body as application/json) unless headers say
        otherwise; a header given as None is not sent, as a list once per
        value. Over an admin listener asking credentials, the admin_token
        and admin_cert are sent unless headers or context (a TLS client
        context) say otherwise. Returns status, the JSON answer and the
        answer's headers (names in lower case)."""
        if self.admin_tls:
            conn = http.client.HTTPSConnection("127.0.0.1", self.admin_port, timeout=10,
                                               context=context or self.admin_context())
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=10)
        data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        h = {"Host": "127.0.0.1:%d" % self.admin_port}
        if self.admin_token:
            h["Authorization"] = "Bearer " + self.admin_token
        if data is not None:
            h["Content-Type"] = "application/json"
            h["Content-Length"] = str(len(data))
        h.update(headers or {})
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for k, v in h.items():
            for one in v if isinstance(v, list) else [] if v is None else [v]:
                conn.putheader(k, one)
        conn.endheaders(data)
        r = conn.getresponse()
        text = r.read()
        conn.close()
        doc = json_or_raw(text)
        return r.status, doc, {k.lower(): v for k, v in r.getheaders()}

    def metric(self, name, **labels):
        want = name + ("{" + ",".join('%s="%s"' % kv for kv in labels.items()) + "}" if labels else "")
        for line in self.admin("/metrics").splitlines():
            if line.startswith(want + " "):
                return float(line.split()[-1])
        return None

    def query(self, sql, *args):
        """Rows of a query with ? parameters, from the SQLite file or the PostgreSQL database.
        A gateway under the power-cut VFS keeps what it did not fsync in its own memory, where
        another process cannot read it: its store is read as durable_query reads it."""
        if self.store.startswith("postgres"):
            return pg_query(self.store, sql, *args)
        if "LD_PRELOAD" in (self.env or {}) and self.proc and self.proc.poll() is None:
            return self.durable_query(sql, *args)
        conn = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=10)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    def durable_query(self, sql, *args):
        """Rows of a query over what is on the disk (SQLite): a copy of the database and its
        log without the live wal-index, so SQLite rebuilds it from the log's frames that are
        there — what a power cut would leave. A running gateway's wal-index may name commits
        whose fsync has not happened yet (or failed), which another process cannot read from
        the disk."""
        copy = tempfile.mkdtemp(prefix="lt-durable-", dir=os.path.dirname(self.db))

        def read(path):
            try:
                with open(path, "rb") as f:
                    return f.read()
            except FileNotFoundError:
                return None
        try:
            # one moment's pair: a checkpoint between the two reads (the database synced, the
            # log started again) would pair an old database with a new log
            for _ in range(50):
                db, wal = read(self.db), read(self.db + "-wal")
                if read(self.db) == db:
                    break
                time.sleep(0.01)
            else:
                raise AssertionError("the store's database file kept changing while it was copied")
            for data, suffix in ((db, ""), (wal, "-wal")):
                if data is not None:
                    with open(os.path.join(copy, "lt.db" + suffix), "wb") as f:
                        f.write(data)
            conn = sqlite3.connect(os.path.join(copy, "lt.db"), timeout=10)
            try:
                return conn.execute(sql, args).fetchall()
            finally:
                conn.close()
        finally:
            shutil.rmtree(copy, ignore_errors=True)

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_lines(self):
        out = []
        for line in self.log_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)


def make_crl(path, ca_cert, ca_key, revoked=(), next_update_s=7 * 86400, last_update_s=-60):
    """Write a PEM CRL issued by ca_cert/ca_key (files) revoking the certificates of the
    files in `revoked`, valid from now + last_update_s to now + next_update_s (negative:
    already past, a stale CRL); made with python3-cryptography. Written beside and
    renamed into place, as an office's CRL fetch would."""
    with open(ca_cert, "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    key = _load_key(ca_key)
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateRevocationListBuilder().issuer_name(ca.subject)
         .last_update(now + datetime.timedelta(seconds=last_update_s))
         .next_update(now + datetime.timedelta(seconds=next_update_s)))
    for cert_path in revoked:
        with open(cert_path, "rb") as f:
            c = x509.load_pem_x509_certificate(f.read())
        b = b.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(c.serial_number).revocation_date(now)
            .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False).build())
    crl = b.sign(key, hashes.SHA256())
    tmp = path + ".new"
    with open(tmp, "wb") as f:
        f.write(crl.public_bytes(serialization.Encoding.PEM))
    os.replace(tmp, path)
    return path


def make_ocsp_response(path, cert, ca_cert, ca_key, status="good", days=1):
    """Write to path the DER OCSP response that `openssl ocsp`, acting as the responder of
    ca_cert/ca_key from an index.txt, gives for the certificate file `cert`: status "good"
    or "revoked" (keyCompromise, an hour ago), valid for `days`. This is what a peer's TLS
    server staples (peersim --ocsp-response). Written beside and renamed into place."""
    work = path + ".d"
    os.makedirs(work, exist_ok=True)
    with open(cert, "rb") as f:
        c = x509.load_pem_x509_certificate(f.read())
    serial = "%X" % c.serial_number
    serial = "0" * (len(serial) % 2) + serial
    expiry = getattr(c, "not_valid_after_utc", None) or c.not_valid_after
    expiry = expiry.strftime("%y%m%d%H%M%SZ")
    subject = "/" + "/".join(a.rfc4514_string() for a in reversed(list(c.subject)))
    if status == "revoked":
        when = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)).strftime("%y%m%d%H%M%SZ")
        line = "R\t%s\t%s,keyCompromise\t%s\tunknown\t%s\n" % (expiry, when, serial, subject)
    else:
        line = "V\t%s\t\t%s\tunknown\t%s\n" % (expiry, serial, subject)
    index, req = os.path.join(work, "index.txt"), os.path.join(work, "req.der")
    with open(index, "w") as f:
        f.write(line)
    run = functools.partial(subprocess.run, check=True, capture_output=True, timeout=30)
    run(["openssl", "ocsp", "-issuer", ca_cert, "-cert", cert, "-no_nonce", "-reqout", req])
    run(["openssl", "ocsp", "-index", index, "-rsigner", ca_cert, "-rkey", ca_key, "-CA", ca_cert,
         "-reqin", req, "-respout", path + ".new", "-ndays", str(days)])
    os.replace(path + ".new", path)
    return path


SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"


def issue_leaf(path, pub, use, cn=None, days=365):
    """Write to path a certificate for public key pub issued by the dev PKI's issuing CA
    (python3-cryptography): use "sign" (digitalSignature, nonRepudiation; CN
    lienthong-gateway-signing) or "tls" (serverAuth, clientAuth, localhost; CN
    lienthong-gateway; followed by the issuing CA, a chain file). Returns path."""
    import ipaddress
    with open(pki("issuing-ca.pem"), "rb") as f:
        ca_pem = f.read()
    ca = x509.load_pem_x509_certificate(ca_pem)
    now = datetime.datetime.now(datetime.timezone.utc)
    cn = cn or "lienthong-gateway" + ("-signing" if use == "sign" else "")
    b = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, cn)]))
         .issuer_name(ca.subject).public_key(pub).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
    if use == "sign":
        b = b.add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
    else:
        b = (b.add_extension(x509.KeyUsage(True, False, isinstance(pub, rsa.RSAPublicKey), False, False, False, False,
                                           False, False), critical=True)
             .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH,
                                                   x509.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
             .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                         x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                            critical=False))
    cert = b.sign(_load_key(pki("issuing-ca.key")), hashes.SHA256())
    with open(path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
        if use == "tls":
            f.write(ca_pem)
    return path


def new_key(path, kind=None):
    """A fresh private key of the test's kind (RSA-2048 or P-256), written 0600 to path
    (PKCS#8 PEM); returns its public key."""
    key = ec.generate_private_key(ec.SECP256R1()) if (kind or KIND) == "ec" else \
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fd = os.open(path + ".new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    os.close(fd)
    os.replace(path + ".new", path)
    return key.public_key()


class SoftHSM:
    """A SoftHSM2 token of the test's own (its SOFTHSM2_CONF and token directory in tmp),
    initialised with pkcs11-tool (OpenSC), an RSA-2048 and an EC P-256 key pair generated
    on it (sensitive, never extractable), and for each a certificate issued by the dev
    PKI's issuing CA from the public key alone: `sign` (digitalSignature,
    nonRepudiation) and `tls` (serverAuth, clientAuth, localhost). self.env goes into
    the gateway's environment, self.pin_file (0600) is its token_pin_file."""

    PIN = "246810"

    def __init__(self, tmp, label="lienthong"):
        self.dir = os.path.join(tmp, "softhsm")
        self.tokens = os.path.join(self.dir, "tokens")
        os.makedirs(self.tokens, mode=0o700)
        self.conf = os.path.join(self.dir, "softhsm2.conf")
        with open(self.conf, "w") as f:
            f.write("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n" % self.tokens)
        self.env = {"SOFTHSM2_CONF": self.conf}
        self.label = label
        self.pin_file = os.path.join(self.dir, "token.pin")
        fd = os.open(self.pin_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, (self.PIN + "\n").encode())
        os.close(fd)
        self._run(["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", self.PIN,
                   "--so-pin", "13579024"])
        self.certs = {}
        for kind, key_type, kid in (("rsa", "rsa:2048", "01"), ("ec", "EC:prime256v1", "02")):
            self.tool("--keypairgen", "--key-type", key_type, "--label", "%s-key" % kind, "--id", kid)
            pub_der = os.path.join(self.dir, "%s-pub.der" % kind)
            self.tool("--read-object", "--type", "pubkey", "--id", kid, "-o", pub_der)
            with open(pub_der, "rb") as f:
                pub = serialization.load_der_public_key(f.read())
            for use in ("sign", "tls"):
                self.certs[(kind, use)] = self._issue(pub, kind, use)

    def _run(self, argv):
        p = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=dict(os.environ, **self.env))
        if p.returncode:
            raise AssertionError("%s: %s %s" % (" ".join(argv[:2]), p.stdout, p.stderr))
        return p.stdout

    def tool(self, *args):
        """pkcs11-tool on this token, logged in."""
        return self._run(["pkcs11-tool", "--module", SOFTHSM_MODULE, "--token-label", self.label, "--login",
                          "--pin", self.PIN] + list(args))

    def uri(self, kind):
        """The RFC 7512 URI of the private key of kind rsa or ec."""
        return "pkcs11:token=%s;object=%s-key;type=private" % (self.label, kind)

    def cert(self, kind, use="sign"):
        return self.certs[(kind, use)]

    def _issue(self, pub, kind, use):
        return issue_leaf(os.path.join(self.dir, "%s-%s.pem" % (kind, use)), pub, use)

    def unpluggable(self, sign_only=False):
        """The path of a PKCS#11 module (tests/pkcs11_unplug.c, built here) that is this
        token until unplug(): then it is pulled out as a USB token is — no token in the slot,
        every call on a session CKR_DEVICE_REMOVED — and on plug_back() every session opened
        before is closed (old handles invalid, the login lost). With sign_only=True only
        signatures fail while unplugged and sessions survive (a token refusing to sign for a
        while). Its settings go into self.env."""
        lib = os.path.join(self.dir, "unplug-pkcs11.so")
        p = subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "-I/usr/include/p11-kit-1",
                            "-o", lib, os.path.join(ROOT, "tests", "pkcs11_unplug.c"), "-ldl", "-lpthread"],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        self.unplug_file = os.path.join(self.dir, "unplugged")
        self.env.update({"LT_UNPLUG_MODULE": SOFTHSM_MODULE, "LT_UNPLUG_FILE": self.unplug_file})
        if sign_only:
            self.env["LT_UNPLUG_SIGN_ONLY"] = "1"
        return lib

    def unplug(self):
        open(self.unplug_file, "w").close()

    def plug_back(self):
        os.unlink(self.unplug_file)


def jws_verify(sig, body, cert_path):
    """Verify a detached JWS (X-Signature) over body with the certificate of cert_path,
    with python3-cryptography; returns its protected header, raises if it does not verify."""
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    h64, _, s64 = sig.split(".")
    header = json.loads(base64.urlsafe_b64decode(h64 + "=" * (-len(h64) % 4)))
    raw = base64.urlsafe_b64decode(s64 + "=" * (-len(s64) % 4))
    signing_input = (h64 + "." + b64url(body if isinstance(body, bytes) else body.encode())).encode()
    with open(cert_path, "rb") as f:
        pub = x509.load_pem_x509_certificate(f.read()).public_key()
    if header["alg"] == "ES256":
        pub.verify(encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
                   signing_input, ec.ECDSA(hashes.SHA256()))
    elif header["alg"] == "PS256":
        pub.verify(raw, signing_input, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    else:
        pub.verify(raw, signing_input, padding.PKCS1v15(), hashes.SHA256())
    return header
