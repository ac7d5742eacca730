"""Fixtures for integration tests: a real gateway process, real peer
simulators, real sockets on loopback, a real SQLite file."""
import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, "build")
LIENTHONG = os.path.join(BUILD, "lienthong")
PEERSIM = os.path.join(BUILD, "peersim")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(cond, timeout=15.0, step=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(step)
    raise AssertionError("timed out after %.1fs waiting for %s (last: %r)" % (timeout, what, last))


def event(code, type_="dossier.received", **extra):
    ev = {"type": type_, "occurred_at": "2026-11-24T09:00:00+07:00", "dossier_code": code}
    ev.update(extra)
    return ev


class Peersim:
    """A peer simulator process: a real HTTP server that records and fails on demand."""

    def __init__(self, tmp, name, extra=()):
        self.name = name
        self.tmp = tmp
        self.port_file = os.path.join(tmp, "peersim-%s.port" % name)
        self.record = os.path.join(tmp, "peersim-%s.jsonl" % name)
        self.extra = list(extra)
        self.proc = None
        self.port = None
        self.start()

    def start(self, port=None):
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        listen = "127.0.0.1:%d" % (port or self.port or 0)
        self.log = open(os.path.join(self.tmp, "peersim-%s.log" % self.name), "ab")
        self.proc = subprocess.Popen([PEERSIM, "--listen", listen, "--name", self.name, "--port-file",
                                      self.port_file, "--record", self.record] + self.extra,
                                     stdout=self.log, stderr=self.log)
        wait_until(lambda: os.path.exists(self.port_file) and os.path.getsize(self.port_file) > 0,
                   what="peersim %s to listen" % self.name)
        with open(self.port_file) as f:
            self.port = json.load(f)["listen"]

    @property
    def url(self):
        return "http://127.0.0.1:%d/in" % self.port

    def control(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
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


class Gateway:
    """A lienthong daemon with a config written for the test."""

    def __init__(self, tmp, peers, routes, retry=None, gateway=None, start=True):
        self.tmp = tmp
        self.port = free_port()
        self.admin_port = free_port()
        self.db = os.path.join(tmp, "lienthong.db")
        self.config = os.path.join(tmp, "lienthong.ini")
        self.log_path = os.path.join(tmp, "gateway.log")
        lines = ["[gateway]", "node_id = gw-test", "listen = 127.0.0.1:%d" % self.port,
                 "admin_listen = 127.0.0.1:%d" % self.admin_port, "store = sqlite:%s" % self.db]
        for k, v in (gateway or {}).items():
            lines.append("%s = %s" % (k, v))
        lines += ["", "[retry]"]
        r = {"initial": "100ms", "max_delay": "1s", "max_age": "1h"}
        r.update(retry or {})
        lines += ["%s = %s" % kv for kv in r.items()]
        for name, opts in peers.items():
            lines += ["", "[peer.%s]" % name]
            opts = dict(opts)
            opts.setdefault("adapter", "canonical")
            lines += ["%s = %s" % kv for kv in opts.items()]
        for name, opts in routes.items():
            lines += ["", "[route.%s]" % name]
            lines += ["%s = %s" % kv for kv in opts.items()]
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = None
        if start:
            self.start()

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([LIENTHONG, "run", "-c", self.config], stdout=self.log, stderr=self.log,
                                     cwd=ROOT)
        wait_until(self.healthy, what="gateway to start (see %s)" % self.log_path)

    def healthy(self):
        if self.proc.poll() is not None:
            raise AssertionError("gateway exited with %s; log:\n%s" % (self.proc.returncode, self.log_text()[-3000:]))
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % self.admin_port, timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def post(self, peer, body, message_id=None, content_type="application/json", headers=None, raw=False):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        data = body if raw else json.dumps(body).encode()
        h = {"Content-Type": content_type}
        if message_id is not None:
            h["X-Message-Id"] = message_id
        h.update(headers or {})
        conn.request("POST", "/v1/inbound/%s" % peer, body=data, headers=h)
        r = conn.getresponse()
        text = r.read()
        conn.close()
        try:
            doc = json.loads(text)
        except ValueError:
            doc = {"_raw": text.decode("utf-8", "replace")}
        return r.status, doc, dict(r.getheaders())

    def admin(self, path):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.admin_port, path), timeout=10) as r:
            return r.read().decode()

    def metric(self, name, **labels):
        want = name + ("{" + ",".join('%s="%s"' % kv for kv in labels.items()) + "}" if labels else "")
        for line in self.admin("/metrics").splitlines():
            if line.startswith(want + " "):
                return float(line.split()[-1])
        return None

    def query(self, sql, *args):
        conn = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=10)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

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
