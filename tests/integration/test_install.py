"""Installing lienthong as an IT officer would: `make install` into a staging
root, the systemd unit checked by systemd-analyze, the shipped sample
configuration filled in and checked, the daemon's sd_notify messages, and the
Debian package installed into a clean Debian 12 root made by debootstrap,
where the installed daemon runs as the service user with the demo's peers."""
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import urllib.request

from harness import LIENTHONG, ROOT, Gateway, client_context, free_port, jws_detached, peer_files, pki, wait_until
import test_flows as f

SAMPLE = os.path.join(ROOT, "dist", "lienthong.conf")


def run(argv, timeout=600, **kw):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    return p.returncode, p.stdout + p.stderr


def make(*targets, timeout=900):
    rc, out = run(["make", "--no-print-directory"] + list(targets), cwd=ROOT, timeout=timeout)
    assert rc == 0, out[-3000:]
    return out


def stage(tmp, name="stage"):
    dest = os.path.join(tmp, name)
    make("install", "PREFIX=/usr", "DESTDIR=" + dest)
    return dest


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def fill_sample(text, values):
    """The sample with every `CHANGE-ME` line's value replaced from values[(section, key)];
    a CHANGE-ME line without a value is an error, so the test notices a new placeholder."""
    out, section = [], None
    for line in text.splitlines():
        m = re.match(r"\[(.+)\]", line)
        if m:
            section = m.group(1)
        kv = re.match(r"([a-z_.]+)\s*=\s*(.*)", line)
        if kv and "CHANGE-ME" in line:
            key = kv.group(1)
            assert (section, key) in values, "no value for the placeholder %s in [%s]" % (key, section)
            line = "%s = %s" % (key, values[(section, key)])
        out.append(line)
    return "\n".join(out) + "\n"


def copy_identity(dest_dir, owner=None):
    """The dev PKI's gateway, trust and office files under dest_dir (keys 0600)."""
    os.makedirs(dest_dir, exist_ok=True)
    office = peer_files(f.OFFICE)
    files = {"gateway-tls.pem": pki("gateway", "tls-chain.pem"), "gateway-tls.key": pki("gateway", "tls.key"),
             "gateway-sign.pem": pki("gateway", "sign.pem"), "gateway-sign.key": pki("gateway", "sign.key"),
             "trust.pem": pki("trust.pem"), "motcua-sign.pem": office["sign_cert"]}
    for name, src in files.items():
        dst = os.path.join(dest_dir, name)
        shutil.copyfile(src, dst)
        os.chmod(dst, 0o600 if name.endswith(".key") else 0o644)
        if owner:
            os.chown(dst, *owner)
    with open(os.path.join(dest_dir, "dvc.pass"), "w") as fh:
        fh.write("mật-khẩu-thử\n")
    os.chmod(os.path.join(dest_dir, "dvc.pass"), 0o600)
    if owner:
        os.chown(os.path.join(dest_dir, "dvc.pass"), *owner)


def sample_values(certs, store, office_url="https://motcua.example.invalid/api", portal_url=None,
                  listen=None, admin=None):
    v = {("gateway", "node_id"): "gw-test-1",
         ("gateway", "tls_cert"): certs + "/gateway-tls.pem", ("gateway", "tls_key"): certs + "/gateway-tls.key",
         ("gateway", "trust"): certs + "/trust.pem", ("gateway", "sign_cert"): certs + "/gateway-sign.pem",
         ("gateway", "sign_key"): certs + "/gateway-sign.key",
         ("peer.motcua", "identity"): f.OFFICE, ("peer.motcua", "keys"): certs + "/motcua-sign.pem",
         ("peer.motcua", "url"): office_url,
         ("peer.cong-dvc-tinh", "url"): portal_url or "https://dvc.example.invalid/api",
         ("peer.cong-dvc-tinh", "trust"): certs + "/trust.pem",
         ("peer.cong-dvc-tinh", "param.madonvi"): "000.00.12.H12",
         ("peer.cong-dvc-tinh", "param.username"): "lienthong-duongphong",
         ("peer.cong-dvc-tinh", "password_file"): certs + "/dvc.pass"}
    return v


def filled_sample(certs, store, listen=None, admin=None, **kw):
    with open(SAMPLE, encoding="utf-8") as fh:
        text = fill_sample(fh.read(), sample_values(certs, store, **kw))
    text = text.replace("store = sqlite:/var/lib/lienthong/lienthong.db", "store = " + store)
    if listen:
        text = text.replace("listen = 0.0.0.0:8443", "listen = " + listen)
    if admin:
        text = text.replace("admin_listen = 127.0.0.1:8081", "admin_listen = " + admin)
    return text


def test_make_install_lays_out_the_files_and_never_overwrites_an_edited_config(tmp, cleanup):
    dest = stage(tmp)
    binary = os.path.join(dest, "usr/bin/lienthong")
    assert os.access(binary, os.X_OK)
    assert os.path.isfile(os.path.join(dest, "usr/share/lienthong/schemas/canonical-event.schema.json"))
    assert not os.path.exists(os.path.join(dest, "usr/share/lienthong/schemas/samples"))
    assert os.path.isfile(os.path.join(dest, "usr/share/lienthong/codes/portal.codes"))
    assert os.path.isfile(os.path.join(dest, "usr/share/lienthong/mappings/onestop.map"))
    conf = os.path.join(dest, "etc/lienthong/lienthong.conf")
    assert mode(conf) == 0o640 and mode(os.path.dirname(conf)) == 0o750
    assert mode(os.path.join(dest, "etc/lienthong/codes")) == 0o750      # the deployment's code tables
    assert mode(os.path.join(dest, "etc/lienthong/mappings")) == 0o750   # and mapping files
    assert mode(os.path.join(dest, "var/lib/lienthong")) == 0o700
    unit = open(os.path.join(dest, "lib/systemd/system/lienthong.service")).read()
    assert "ExecStart=/usr/bin/lienthong run -c /etc/lienthong/lienthong.conf" in unit
    for page, title in (("usr/share/man/man8/lienthong.8", "lienthong - interoperability gateway"),
                        ("usr/share/man/man5/lienthong.conf.5", "lienthong.conf - configuration")):
        rc, out = run(["man", "-l", "-P", "cat", os.path.join(dest, page)], env=dict(os.environ, MANWIDTH="100"))
        assert rc == 0 and title in out.replace("\u2010\n", "").replace("-\n", ""), out[:500]
    # the installed binary finds its installed schemas (not the source tree's): check-config of a good file
    certs = os.path.join(tmp, "certs")
    copy_identity(certs)
    good = os.path.join(tmp, "good.conf")
    with open(good, "w") as fh:
        fh.write(filled_sample(certs, "sqlite:" + os.path.join(tmp, "db", "x.db")))
    os.makedirs(os.path.join(tmp, "db"))
    rc, out = run([binary, "check-config", "-c", good], cwd="/")
    assert rc == 0, out
    assert "tables from %s/usr/bin/../share/lienthong/codes" % dest in out, out
    assert "2 mappings from %s/usr/bin/../share/lienthong/mappings (onestop, opencps)" % dest in out, out
    # an upgrade keeps the edited file and puts the new sample beside it
    with open(conf, "a") as fh:
        fh.write("; edited by the IT officer\n")
    stage(tmp)
    assert open(conf).read().endswith("; edited by the IT officer\n")
    assert os.path.isfile(conf + ".dist")
    make("uninstall", "PREFIX=/usr", "DESTDIR=" + dest)
    assert not os.path.exists(binary) and not os.path.exists(os.path.join(dest, "usr/share/lienthong"))
    assert os.path.isfile(conf), "uninstall must keep the configuration"


def test_systemd_unit_verifies_and_is_hardened(tmp, cleanup):
    dest = stage(tmp)
    unit = os.path.join(dest, "lib/systemd/system/lienthong.service")
    text = open(unit).read()
    for want in ("Type=notify", "User=lienthong", "StateDirectory=lienthong", "ConfigurationDirectory=lienthong",
                 "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
                 "CapabilityBoundingSet=\n", "RestrictAddressFamilies=", "SystemCallFilter=@system-service",
                 "MemoryDenyWriteExecute=yes", "WatchdogSec="):
        assert want in text, want
    # verify checks every directive and that the commands exist: point them at the staged binary
    check = os.path.join(tmp, "lienthong.service")
    with open(check, "w") as fh:
        fh.write(text.replace("/usr/bin/lienthong", os.path.join(dest, "usr/bin/lienthong")))
    rc, out = run(["systemd-analyze", "verify", "--man=no", check])
    assert rc == 0 and "lienthong.service" not in out, out
    rc, out = run(["systemd-analyze", "security", "--offline=yes", "--root=" + dest, unit])
    m = re.search(r"Overall exposure level for lienthong.service: ([0-9.]+)", out)
    assert rc == 0 and m, out[-2000:]
    assert float(m.group(1)) <= 2.0, "exposure %s (see systemd-analyze security)" % m.group(1)


def test_shipped_sample_passes_check_config_once_its_placeholders_are_filled(tmp, cleanup):
    rc, out = run([LIENTHONG, "check-config", "-c", SAMPLE])
    assert rc == 2 and re.search(r"lienthong\.conf:\d+: ", out), out       # not usable as shipped, and says where
    certs = os.path.join(tmp, "certs")
    copy_identity(certs)
    conf = os.path.join(tmp, "lienthong.conf")
    with open(conf, "w") as fh:
        fh.write(filled_sample(certs, "sqlite:" + os.path.join(tmp, "lienthong.db")))
    rc, out = run([LIENTHONG, "check-config", "-c", conf])
    assert rc == 0 and "ok (2 peers, 1 routes" in out, out


def notify_socket(tmp):
    path = os.path.join(tmp, "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(0.2)
    return s, path


def notifications(sock, until, timeout=15):
    got = []

    def have():
        try:
            got.append(sock.recv(4096).decode())
        except socket.timeout:
            pass
        return any(until in g for g in got)
    wait_until(have, timeout=timeout, step=0, what=until)
    return got


def test_daemon_tells_systemd_ready_watchdog_and_stopping(tmp, cleanup):
    sock, path = notify_socket(tmp)
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}}, {}, env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"}))
    got = notifications(sock, "READY=1")
    assert any("STATUS=ready" in g for g in got)
    notifications(sock, "WATCHDOG=1")                 # every 200 ms, from the event loop
    gw.proc.send_signal(signal.SIGTERM)
    notifications(sock, "STOPPING=1")
    assert gw.stop() == 0
    assert any(l["event"] == "service.watchdog" for l in gw.log_lines())


# ---- the Debian package in a clean Debian 12 root ----------------------------------------

def debian_mirror():
    """The mirror this machine's apt already uses (so the repository names none)."""
    for path in ("/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"):
        if os.path.exists(path):
            text = open(path).read()
            m = re.search(r"^URIs:\s*(\S+)", text, re.M) or re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+bookworm\s",
                                                                     text, re.M)
            if m:
                return m.group(1)
    raise AssertionError("no Debian mirror found in apt's sources")


def clean_debian_root(tmp):
    """A minimal Debian 12 root, made once by debootstrap and cached as a tarball in build/."""
    cache = os.path.join(ROOT, "build", "debian12-minbase.tar")
    if not os.path.exists(cache):
        base = os.path.join(ROOT, "build", "debian12-minbase")
        shutil.rmtree(base, ignore_errors=True)
        rc, out = run(["debootstrap", "--variant=minbase", "bookworm", base, debian_mirror()], timeout=900)
        assert rc == 0, out[-3000:]
        rc, out = run(["tar", "-C", base, "-cf", cache + ".tmp", "."])
        assert rc == 0, out
        os.rename(cache + ".tmp", cache)
        shutil.rmtree(base, ignore_errors=True)
    root = os.path.join(tmp, "root")
    os.makedirs(root)
    rc, out = run(["tar", "-C", root, "-xf", cache])
    assert rc == 0, out
    shutil.copyfile("/etc/resolv.conf", os.path.join(root, "etc/resolv.conf"))
    return root


class Mounted:
    def __init__(self, root):
        self.proc = os.path.join(root, "proc")
        rc, out = run(["mount", "-t", "proc", "proc", self.proc])
        assert rc == 0, out

    def stop(self):
        run(["umount", "-l", self.proc])


class ChrootGateway:
    """The installed daemon, run in the root as the service user."""

    def __init__(self, root, conf, admin_port, port, log_path):
        self.root, self.admin_port, self.port = root, admin_port, port
        self.log = open(log_path, "ab")
        self.log_path = log_path
        self.proc = subprocess.Popen(["chroot", "--userspec=lienthong:lienthong", root, "/usr/bin/lienthong", "run",
                                      "-c", conf], stdout=self.log, stderr=self.log, cwd="/")
        wait_until(self.healthy, timeout=30, what="the installed gateway to start (see %s)" % log_path)

    def healthy(self):
        if self.proc.poll() is not None:
            raise AssertionError("installed gateway exited: " + open(self.log_path, errors="replace").read()[-3000:])
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % self.admin_port, timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
        self.log.close()
        return self.proc.returncode


def test_debian_package_installs_into_a_clean_debian_12_and_runs_as_the_service_user(tmp, cleanup):
    out = make("deb")
    debs = [p for p in out.split() if re.search(r"/lienthong_[^/]*\.deb$", p)]
    assert debs, out[-2000:]
    root = clean_debian_root(tmp)
    cleanup.add(Mounted(root))
    shutil.copyfile(os.path.join(ROOT, debs[0]), os.path.join(root, "tmp", "lienthong.deb"))
    rc, out = run(["chroot", root, "sh", "-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
                   "apt-get install -y -qq --no-install-recommends /tmp/lienthong.deb"], timeout=900)
    assert rc == 0, out[-3000:]
    # what the package set up
    rc, out = run(["chroot", root, "dpkg-query", "-W", "-f=${Conffiles}", "lienthong"])
    assert "/etc/lienthong/lienthong.conf" in out, out
    rc, out = run(["chroot", root, "getent", "passwd", "lienthong"])
    assert rc == 0, "no service user: " + out
    uid, gid = int(out.split(":")[2]), int(out.split(":")[3])
    assert out.strip().endswith(":/usr/sbin/nologin")
    state = os.path.join(root, "var/lib/lienthong")
    assert os.stat(state).st_uid == uid and mode(state) == 0o700
    assert os.path.isfile(os.path.join(root, "lib/systemd/system/lienthong.service"))
    # the office fills in the shipped sample: its certificates, the demo's peers
    portal = f.portal_sim(tmp, cleanup)
    office = f.office_sim(tmp, cleanup)
    copy_identity(os.path.join(root, "etc/lienthong/certs"), owner=(uid, gid))
    port, admin_port = free_port(), free_port()
    conf = os.path.join(root, "etc/lienthong/lienthong.conf")
    text = filled_sample("/etc/lienthong/certs", "sqlite:/var/lib/lienthong/lienthong.db", office_url=office.url,
                         portal_url=portal.url, listen="127.0.0.1:%d" % port, admin="127.0.0.1:%d" % admin_port)
    with open(conf, "w") as fh:
        fh.write(text)
    rc, out = run(["chroot", "--userspec=lienthong:lienthong", root, "/usr/bin/lienthong", "check-config", "-c",
                   "/etc/lienthong/lienthong.conf"])
    assert rc == 0, out
    gw = cleanup.add(ChrootGateway(root, "/etc/lienthong/lienthong.conf", admin_port, port,
                                   os.path.join(tmp, "installed.log")))
    with open("/proc/%d/status" % gw.proc.pid) as fh:
        uids = re.search(r"^Uid:\s+(\d+)", fh.read(), re.M).group(1)
    assert int(uids) == uid, "the daemon runs as uid %s, not the service user" % uids
    # a dossier from the office reaches the portal through the installed gateway
    received = f.sample("onestop/push.received.json")
    body = json.dumps(received).encode()
    sign = peer_files(f.OFFICE)
    import http.client
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=client_context(f.OFFICE))
    conn.request("POST", "/v1/inbound/motcua", body=body, headers={
        "Content-Type": "application/json", "X-Message-Id": "installed-1",
        "X-Signature": jws_detached(body, sign["sign_key"], sign["sign_cert"], "installed-1")})
    r = conn.getresponse()
    answer = r.read()
    assert r.status == 202, answer
    wait_until(lambda: f.service_calls(portal, "DongBoHoSoMC"), timeout=30, what="the dossier at the portal")
    assert gw.stop() == 0
    db = os.path.join(state, "lienthong.db")
    assert os.stat(db).st_uid == uid and mode(db) == 0o600, oct(mode(db))


def readme_config():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = text[text.index("## Configuration"):]
    return re.search(r"```ini\n(.*?)```", section, re.S).group(1)


def test_readme_example_configuration_loads_once_its_files_exist(tmp, cleanup):
    """The README's example is what people copy: with its files in place, check-config accepts it."""
    certs = os.path.join(tmp, "certs")
    copy_identity(certs)
    files = {"tls-chain.pem": "gateway-tls.pem", "tls.key": "gateway-tls.key", "trust.pem": "trust.pem",
             "sign.pem": "gateway-sign.pem", "sign.key": "gateway-sign.key",
             "peers/motcua-xa-sign.pem": "motcua-sign.pem", "peers/hotich-sign.pem": "motcua-sign.pem",
             "peers/dvc-ca.pem": "trust.pem",
             "peers/dvc.pass": "dvc.pass"}
    text = readme_config()
    for name, have in files.items():
        text = text.replace("/etc/lienthong/" + name, os.path.join(certs, have))
    text = text.replace("sqlite:/var/lib/lienthong/", "sqlite:%s/" % tmp)
    for d in ("codes", "mappings"):       # the deployment's code tables and mapping files
        os.makedirs(os.path.join(tmp, d))
        text = text.replace("/etc/lienthong/%s" % d, os.path.join(tmp, d))
    left = re.findall(r"/etc/lienthong/\S+", text)
    assert not left, "README example names files this test does not provide: %s" % left
    conf = os.path.join(tmp, "readme.conf")
    with open(conf, "w") as fh:
        fh.write(text)
    rc, out = run([LIENTHONG, "check-config", "-c", conf])
    assert rc == 0, out


def test_sighup_checks_the_file_and_keeps_the_gateway_running(tmp, cleanup):
    """systemctl kill -s HUP (or an operator's kill -HUP) must never stop the service."""
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}}, {}))
    gw.proc.send_signal(signal.SIGHUP)
    # the file and its keys and certificates are read again; the unchanged file needs no restart
    wait_until(lambda: any(l["event"] == "config.reloaded" for l in gw.log_lines()), what="config reloaded")
    assert any(l["event"] == "security.reloaded" for l in gw.log_lines())
    assert not any(l["event"] == "config.restart_needed" for l in gw.log_lines())
    with open(gw.config, "a") as fh:
        fh.write("[gateway]\nno_such_key = 1\n")
    gw.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: [l for l in gw.log_lines() if l["event"] == "config.reload_refused"], what="mistakes logged")
    bad = [l for l in gw.log_lines() if l["event"] == "config.mistake"]
    assert len(bad) == 1 and 'unknown key "no_such_key"' in bad[0]["msg"], bad
    assert gw.healthy() and gw.proc.poll() is None


def test_logs_and_trail_print_the_same_time_zone(tmp, cleanup):
    """An operator compares a log line with the trail: both in Vietnamese time, whatever TZ the server has."""
    from harness import event
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}}, {}, gateway={"timezone": "Asia/Ho_Chi_Minh"},
                             env={"TZ": "UTC"}))
    assert gw.post("peer-a", event("000.00.12.H12-261204-0042"), "tz-1")[0] == 202
    started = [l for l in gw.log_lines() if l["event"] == "gateway.started"][0]
    assert started["timezone"].startswith("Asia/Ho_Chi_Minh") and started["ts"].endswith("+07:00"), started
    rc, out = run([LIENTHONG, "trail", "000.00.12.H12-261204-0042", "-c", gw.config], env=dict(os.environ, TZ="UTC"))
    assert rc == 0 and "+07:00" in out and "+00:00" not in out, out
    bad = Gateway(tmp, {"peer-a": {}}, {}, gateway={"timezone": "Europe/Paris"}, start=False, name="bad")
    rc, out = run([LIENTHONG, "check-config", "-c", bad.config])
    assert rc == 2 and "timezone must be Asia/Ho_Chi_Minh" in out, out


def test_check_config_finds_in_one_pass_what_run_would_refuse(tmp, cleanup):
    """Every mistake with FILE:LINE at once: the file's own and those of what it names."""
    conf = os.path.join(tmp, "bad.conf")
    with open(conf, "w") as fh:
        fh.write("[gateway]\n"                                            # 1
                 "store = sqlite:%s/missing-dir/lienthong.db\n"           # 2
                 "tls_cert = %s/nope/tls.pem\n"                           # 3
                 "tls_key = %s/nope/tls.key\n"                            # 4
                 "trust = %s\n"                                           # 5
                 "no_such_key = 1\n"                                      # 6
                 "[peer.a]\n"                                             # 7
                 "adapter = canonical\n"                                  # 8
                 "url = https://exa mple.example/x\n"                     # 9
                 "pin = sha256//abc\n"                                    # 10
                 "sign = none\n" % (tmp, tmp, tmp, pki("trust.pem")))
    rc, out = run([LIENTHONG, "check-config", "-c", conf])
    assert rc == 2, out
    for want in ("bad.conf:2: store directory %s/missing-dir: No such file or directory" % tmp,
                 "bad.conf:3: tls_cert: certificate file %s/nope/tls.pem does not exist" % tmp,
                 "bad.conf:4: tls_key: private key file %s/nope/tls.key does not exist" % tmp,
                 'bad.conf:6: unknown key "no_such_key" in [gateway]',
                 'bad.conf:9: peer a: url "https://exa mple.example/x" is not a valid URL',
                 "bad.conf:10: peer a: pin must be sha256// and the base64 of a 32-byte SHA-256"):
        assert want in out, "%r not in:\n%s" % (want, out)
    # and run refuses the same file
    rc, out = run([LIENTHONG, "run", "-c", conf], timeout=30)
    assert rc != 0
