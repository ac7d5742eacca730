"""The admin listener has no authentication: it trusts whoever reaches its
loopback address, and a web page in a browser on the same host reaches it
too. Every admin request must name this listener as its Host (no DNS
rebinding), come from no other origin's page, and a change must be a JSON
request (no CORS "simple" request). The store's files are the gateway's alone."""
import os
import stat
import subprocess

from harness import LIENTHONG, Gateway, event, wait_until
from test_spine import one_route

PURGE = "/v1/admin/dlq/purge"
ROUTES = ("/healthz", "/readyz", "/metrics", "/ui", "/v1/admin/status", "/v1/admin/dlq/replay", PURGE, "/nope")


def dead_letters(gw):
    return gw.query("SELECT COUNT(*) FROM deliveries WHERE state = 3")[0][0]


def refusals(gw):
    return [l for l in gw.log_lines() if l["event"] == "admin.refused"]


def refused_total(gw):
    return sum(float(l.split()[-1]) for l in gw.admin("/metrics").splitlines()
               if l.startswith("lienthong_admin_refused_total{"))


def assert_plain_answer(h):
    """No answer lets another origin read it or a browser guess its type."""
    assert not [k for k in h if k.startswith("access-control-")], h
    assert h.get("x-content-type-options") == "nosniff", h


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_cross_site_requests_cannot_purge_dead_letters(tmp, cleanup):
    gw, sims = one_route(tmp, cleanup)
    sims["portal"].fail(status=400)
    assert gw.post("peer-a", event("ADM-1"), "adm-1")[0] == 202
    wait_until(lambda: dead_letters(gw) == 1, what="a dead letter")
    own = "http://127.0.0.1:%d" % gw.admin_port
    cases = [  # what a page elsewhere can make a browser send, without a preflight or with one
        ("POST", {"Content-Type": "text/plain"}, 415, "Content-Type"),
        ("POST", {"Content-Type": "text/plain", "Origin": "http://evil.example"}, 403, "Origin"),
        ("POST", {"Content-Type": "application/x-www-form-urlencoded"}, 415, "Content-Type"),
        ("POST", {"Content-Type": "multipart/form-data; boundary=x"}, 415, "Content-Type"),
        ("POST", {"Content-Type": "text/plain; a=application/json"}, 415, "Content-Type"),
        ("POST", {"Content-Type": "application/jsonp"}, 415, "Content-Type"),
        ("POST", {"Content-Type": None}, 415, "Content-Type"),
        ("DELETE", {"Content-Type": None}, 415, "Content-Type"),
        ("POST", {"Origin": "http://evil.example"}, 403, "Origin"),
        ("POST", {"Origin": "null"}, 403, "Origin"),
        ("POST", {"Origin": "http://127.0.0.1:%d" % (gw.admin_port + 1)}, 403, "Origin"),
        ("POST", {"Origin": own + ".evil.example"}, 403, "Origin"),
        ("POST", {"Origin": own.replace("http:", "https:")}, 403, "Origin"),
        ("POST", {"Sec-Fetch-Site": "cross-site"}, 403, "Sec-Fetch-Site"),
        ("POST", {"Sec-Fetch-Site": "same-site"}, 403, "Sec-Fetch-Site"),
        ("POST", {"Origin": own, "Sec-Fetch-Site": "cross-site"}, 403, "Sec-Fetch-Site"),
    ]
    for method, headers, want, word in cases:
        status, doc, h = gw.admin_request(method, PURGE, {"all": True}, headers)
        assert status == want and word in doc["detail"], (headers, status, doc)
        assert_plain_answer(h)
    assert dead_letters(gw) == 1, "a refused request purged nothing"

    log = refusals(gw)
    assert len(log) == len(cases), log
    assert all(l["path"] == PURGE and l["reason"] and l["level"] == "warn" and "peer" not in l for l in log), log
    assert [l["status"] for l in log] == [c[2] for c in cases], log
    assert refused_total(gw) == len(cases)

    # the gateway's own page (same origin) and a client without a browser's headers may
    status, doc, h = gw.admin_request("POST", PURGE, {"all": True}, {
        "Origin": own, "Sec-Fetch-Site": "same-origin", "Content-Type": "Application/JSON; charset=utf-8"})
    assert status == 200 and doc["count"] == 1, doc
    assert_plain_answer(h)
    assert dead_letters(gw) == 0


def test_admin_answers_only_requests_for_its_own_address(tmp, cleanup):
    gw, _ = one_route(tmp, cleanup)
    port = gw.admin_port
    own = "127.0.0.1:%d" % port
    n = 0
    # a DNS-rebinding page reaches 127.0.0.1 under its own name; nothing may answer it
    for path in ROUTES:
        for host in ("evil.example:%d" % port, "evil.example", "127.0.0.1:%d" % (port + 1), "127.0.0.1",
                     own + ".evil.example", "localhost.:%d" % port, "127.0.0.1:%d@evil.example" % port, ""):
            status, doc, h = gw.admin_request("GET", path, headers={"Host": host})
            assert status == 421, (path, host, status, doc)
            assert "Host \"%s\"" % host in doc["detail"] and own in doc["detail"], doc
            assert_plain_answer(h)
            n += 1
    for headers, want, word in [({"Host": None}, 400, "Host"),
                                ({"Host": [own, "evil.example:%d" % port]}, 400, "Host"),
                                ({"Sec-Fetch-Site": "cross-site"}, 403, "Sec-Fetch-Site"),
                                ({"Sec-Fetch-Site": "same-site"}, 403, "Sec-Fetch-Site"),
                                ({"Origin": "http://evil.example"}, 403, "Origin")]:
        status, doc, h = gw.admin_request("GET", "/v1/admin/status", headers=headers)
        assert status == want and word in doc["detail"], (headers, status, doc)
        assert_plain_answer(h)
        n += 1
    # an absolute URI as the request target names a host of its own
    status, doc, _ = gw.admin_request("GET", "http://evil.example:%d/v1/admin/status" % port)
    assert status == 400 and "target" in doc["detail"], doc
    n += 1
    assert len(refusals(gw)) == n
    assert {l["reason"] for l in refusals(gw)} == {"host", "duplicate_header", "fetch_site", "origin", "target"}
    assert refused_total(gw) == n

    # what a local client sends: the address as configured, localhost, the page's own fetches
    for headers in ({}, {"Host": "localhost:%d" % port}, {"Host": "LOCALHOST:%d" % port},
                    {"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate"}, {"Origin": "http://" + own},
                    {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty",
                     "Referer": "http://%s/ui" % own}):     # the /ui page's own fetch
        status, doc, h = gw.admin_request("GET", "/v1/admin/status", headers=headers)
        assert status == 200 and doc["node_id"] == "gw-test", (headers, status, doc)
        assert_plain_answer(h)
    status, doc, h = gw.admin_request("GET", "/ui", headers={"Sec-Fetch-Site": "same-origin"})
    assert status == 200 and "frame-ancestors 'none'" in h["content-security-policy"], h
    # the CLI names the listener as its Host, and goes there even with a proxy in its environment
    proxied = dict(os.environ, http_proxy="http://127.0.0.1:1", HTTP_PROXY="http://127.0.0.1:1", no_proxy="")
    r = subprocess.run([LIENTHONG, "status", "--json", "-c", gw.config], capture_output=True, text=True, timeout=60,
                       env=proxied)
    assert r.returncode == 0 and '"node_id"' in r.stdout, r.stdout + r.stderr
    assert len(refusals(gw)) == n, "nothing legitimate was refused"


def test_store_files_are_private_under_a_loose_umask(tmp, cleanup):
    old = os.umask(0o022)
    try:
        gw, sims = one_route(tmp, cleanup)
        assert gw.post("peer-a", event("ADM-2"), "adm-2")[0] == 202
        wait_until(lambda: sims["portal"].received(ok_only=True), what="a delivery")
        for suffix in ("", "-wal", "-shm"):
            assert mode(gw.db + suffix) == 0o600, (suffix, oct(mode(gw.db + suffix)))
        assert mode(os.path.dirname(gw.db)) & 0o007 == 0
        # and whatever else it may create one day: its umask is 077, not the one it was started with
        with open("/proc/%d/status" % gw.proc.pid) as f:
            assert "Umask:\t0077\n" in f.read()
        assert not [l for l in gw.log_lines() if l["event"] == "store.permissions"]
        gw.stop()

        # a store left readable by others: check-config says so, and the gateway tightens it
        os.chmod(gw.db, 0o644)
        r = subprocess.run([LIENTHONG, "check-config", "-c", gw.config], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert "warning: store %s is open to other users (mode 0644)" % gw.db in r.stderr, r.stderr
        gw.start()
        assert mode(gw.db) == 0o600
        for suffix in ("-wal", "-shm"):
            assert mode(gw.db + suffix) == 0o600, suffix
        warned = [l for l in gw.log_lines() if l["event"] == "store.permissions"]
        assert len(warned) == 1 and "0644" in warned[0]["msg"] and warned[0]["path"] == gw.db, warned
        gw.stop()

        # a directory others may read: the gateway cannot fix it (it may be shared), it says so
        shared = os.path.join(tmp, "shared")
        os.mkdir(shared, 0o755)
        gw2 = cleanup.add(Gateway(tmp, {"peer-a": {"inbound": "push"}}, {}, db=os.path.join(shared, "lt.db"),
                                  name="shared"))
        assert mode(gw2.db) == 0o600 and mode(shared) == 0o755
        warned = [l for l in gw2.log_lines() if l["event"] == "store.permissions"]
        assert len(warned) == 1 and "directory %s" % shared in warned[0]["msg"], warned
        r = subprocess.run([LIENTHONG, "check-config", "-c", gw2.config], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "directory %s" % shared in r.stderr, r.stderr
    finally:
        os.umask(old)
