"""`lienthong check-config` names the line of every mistake."""
import os
import subprocess

from harness import LIENTHONG, peer_files, pki


def test_check_config_reports_every_mistake_with_its_line(tmp, cleanup):
    path = os.path.join(tmp, "bad.ini")
    with open(path, "w") as f:
        f.write("""[gateway]
listen = 127.0.0.1:9999
log_format = xml
bogus = 1
admin_listen = 0.0.0.0:8081

[retry]
initial = soon

[peer.portal]
adapter = martian
concurrency = 0

[route.r1]
from = nobody
to = portal ghost
events = dossier.teleported
""")
    p = subprocess.run([LIENTHONG, "check-config", "-c", path], capture_output=True, text=True)
    assert p.returncode == 2
    err = p.stderr
    for line, words in [(3, "log_format"), (4, "bogus"), (5, "not a loopback address"), (8, "initial"), (11, "martian"),
                        (12, "concurrency"), (14, "nobody"), (14, "ghost"), (14, "dossier.teleported")]:
        assert ("%s:%d:" % (path, line)) in err and words in err, (line, words, err)


def test_check_config_accepts_a_good_file(tmp, cleanup):
    path = os.path.join(tmp, "good.ini")
    with open(path, "w") as f:
        f.write("[gateway]\nstore = sqlite:%s/x.db\ntls_cert = %s\ntls_key = %s\ntrust = %s\n"
                "sign_key = %s\nsign_cert = %s\n\n"
                "[peer.peer-a]\nadapter = canonical\nkeys = %s\n\n"
                "[peer.b]\nadapter = canonical\nurl = https://127.0.0.1:1/x\n\n[route.r]\nfrom = peer-a\nto = b\n" % (
                    tmp, pki("gateway", "tls-chain.pem"), pki("gateway", "tls.key"), pki("trust.pem"),
                    pki("gateway", "sign.key"), pki("gateway", "sign.pem"), peer_files("peer-a")["sign_cert"]))
    p = subprocess.run([LIENTHONG, "check-config", "-c", path], capture_output=True, text=True)
    assert p.returncode == 0 and "ok" in p.stdout, p.stderr
    # every certificate is listed with its days to expiry
    assert "gateway tls" in p.stdout and "days left" in p.stdout and "peer peer-a signing" in p.stdout


def test_check_config_reports_each_mistake_once(tmp, cleanup):
    """A mistake the file's check and the keys' check both see (a signing peer without keys,
    a signer without sign_key) is one line, and the count at the end equals the lines."""
    path = os.path.join(tmp, "twice.ini")
    with open(path, "w") as f:
        f.write("[gateway]\ntls = off\nstore = sqlite:%s/x.db\n\n"
                "[peer.portal]\nadapter = provincial\n\n"
                "[peer.post]\nadapter = canonical\nurl = https://127.0.0.1:9/x\n\n"
                "[route.r]\nfrom = portal\nto = post\n" % tmp)
    p = subprocess.run([LIENTHONG, "check-config", "-c", path], capture_output=True, text=True)
    assert p.returncode == 2
    lines = [x for x in p.stderr.splitlines() if x.startswith(path + ":") and not x.endswith(("mistake", "mistakes"))]
    assert any("portal" in x and "keys" in x for x in lines) and any("sign_key" in x for x in lines), p.stderr
    assert sum("portal" in x and "keys" in x for x in lines) == 1, p.stderr
    assert sum("sign_key" in x for x in lines) == 1, p.stderr
    assert "%s: %d mistake" % (path, len(lines)) in p.stderr, p.stderr


def test_every_command_has_help(tmp, cleanup):
    for cmd in ["run", "check-config", "status", "trail", "dlq", "adapters", "version"]:
        p = subprocess.run([LIENTHONG, cmd, "--help"], capture_output=True, text=True)
        assert p.returncode == 0 and "usage: lienthong " + cmd in p.stdout, cmd


def test_check_config_names_the_adapter_settings_a_peer_lacks(tmp, cleanup):
    path = os.path.join(tmp, "params.ini")
    with open(path, "w") as f:
        f.write("[gateway]\ntls = off\nsign_key = %s\nsign_cert = %s\n\n"
                "[peer.cong-dvc-tinh]\nadapter = provincial\nurl = https://127.0.0.1:1/api\nparam.madonvi = X\n\n"
                "[peer.buudien-tinh]\nadapter = postal\nurl = https://127.0.0.1:1/orders\n" % (
                    pki("gateway", "sign.key"), pki("gateway", "sign.pem")))
    p = subprocess.run([LIENTHONG, "check-config", "-c", path], capture_output=True, text=True)
    assert p.returncode == 2
    for words in ["cong-dvc-tinh: adapter provincial needs param.username", "needs password_file",
                  "buudien-tinh: adapter postal needs param.customer_code", "param.sender_address"]:
        assert words in p.stderr, (words, p.stderr)
    assert "param.madonvi" not in p.stderr


def test_check_config_refuses_numbers_out_of_range_naming_key_and_limit(tmp, cleanup):
    """Every number is range-checked before it is converted or multiplied: a
    value that would wrap or overflow is an error on its line naming the limit."""
    path = os.path.join(tmp, "numbers.ini")
    with open(path, "w") as f:
        f.write("""[gateway]
tls = off
max_body = 99999999999999999999k
max_headers = 18014398509481985k
max_backlog = 99999999999999999999999
read_timeout = 1e300s
replay_window = nan
lease = 400d
workers = 99999999999999999999
listen = 127.0.0.1:99999
admin_listen = 127.0.0.1:

[retry]
max_age = 1111111111111111111111111111
initial = -1s
max_delay = %s
breaker_failures = 18446744073709551617

[peer.a]
adapter = canonical
verify = none
rate = 1e-300/s
concurrency = 4294967297
timeout = inf
""" % ("9" * 400))
    p = subprocess.run([LIENTHONG, "check-config", "-c", path], capture_output=True, text=True)
    assert p.returncode == 2
    err = p.stderr
    for line, words in [(3, "max_body = 99999999999999999999k is out of range: it must be from 1 to 256m"),
                        (4, "max_headers = 18014398509481985k is out of range: it must be from 1 to 1m"),
                        (5, "max_backlog = 99999999999999999999999 is out of range"),
                        (6, "read_timeout must be a positive duration"), (7, "replay_window must be"),
                        (8, "lease = 400d is out of range: a duration is at most 366d"),
                        (9, "workers must be 0..64"), (10, "port from 1 to 65535"), (11, "admin_listen must be"),
                        (14, "max_age = 1111111111111111111111111111 is out of range: a duration is at most 366d"),
                        (15, "initial must be a positive duration"),
                        (16, "max_delay = 9999999999999999999999999999999999999999… is out of range"),
                        (17, "breaker_failures must be"),
                        (22, "rate must look like 20/s: 0 (no limit) or from 0.001/s to 1000000/s"),
                        (23, "concurrency must be 1..1024"), (24, "timeout must be a positive duration")]:
        assert ("%s:%d: " % (path, line)) in err and words in err, (line, words, err)
    # the largest values allowed are accepted
    with open(path, "w") as f:
        f.write("[gateway]\ntls = off\nmax_body = 256m\nmax_headers = 1m\nlease = 366d\n\n[retry]\nmax_age = 366d\n\n"
                "[peer.a]\nadapter = canonical\nverify = none\nrate = 1000000/s\n")
    p = subprocess.run([LIENTHONG, "check-config", "-c", path], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
