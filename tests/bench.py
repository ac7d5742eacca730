"""`make bench`: push a fixed number of events through ingest → store →
delivery to a simulator and print events/s, ingest latency and peak RSS —
unsigned over plain HTTP (the floor), then mTLS with RSA-2048 and with ECDSA
P-256 signatures both ways (verified on ingest, signed on delivery), the same with the
gateway's signing key on a PKCS#11 token (SoftHSM2, through OpenSSL's pkcs11 engine), next
to `openssl speed` for the same algorithms on this machine.
Bounded in count (LT_BENCH_EVENTS, default 20000) and time (300 s a run)."""
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "integration"))
from harness import BUILD, ROOT, SOFTHSM_MODULE, Gateway, Peersim, SoftHSM, peer_files, pki, wait_until  # noqa: E402

N = int(os.environ.get("LT_BENCH_EVENTS", "20000"))
CONC = int(os.environ.get("LT_BENCH_CONCURRENCY", "64"))


def peak_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def run(label, kind=None, token=False):
    """token: the gateway signs its deliveries with a key of `kind` on a SoftHSM2 token."""
    tmp = tempfile.mkdtemp(prefix="lt-bench-")
    secure = kind is not None
    extra, gw_env = {"log_level": "info"}, None
    if token:
        hsm = SoftHSM(tmp)
        extra.update(sign_key=hsm.uri(kind), sign_cert=hsm.cert(kind), token_pin_file=hsm.pin_file,
                     pkcs11_module=SOFTHSM_MODULE)
        gw_env = hsm.env
    sim = Peersim(tmp, "cong-dvc-tinh", tls=secure, kind=kind)
    sender = {} if secure else {"verify": "none"}
    dest = {"url": sim.url, "concurrency": 32}
    if not secure:
        dest["sign"] = "none"
    gw = Gateway(tmp, {"peer-a": sender, "cong-dvc-tinh": dest}, {"all": {"from": "peer-a", "to": "cong-dvc-tinh"}},
                 tls=secure, kind=kind, gateway=extra, env=gw_env)
    env = dict(os.environ)
    if secure:
        f = peer_files("peer-a", kind)
        env.update(LT_BENCH_CERT=f["tls_chain"], LT_BENCH_KEY=f["tls_key"], LT_BENCH_CA=pki("trust.pem", kind=kind),
                   LT_BENCH_SIGN_KEY=f["sign_key"], LT_BENCH_SIGN_CERT=f["sign_cert"])
    try:
        url = "%s://127.0.0.1:%d/v1/inbound/peer-a" % ("https" if secure else "http", gw.port)
        out = subprocess.run([os.path.join(BUILD, "benchload"), url, str(N), str(CONC), "b%d-%s" % (os.getpid(), kind or "plain")],
                             capture_output=True, text=True, timeout=300, env=env)
        if out.returncode != 0 and not out.stdout:
            raise SystemExit("benchload failed: %s" % out.stderr)
        load = json.loads(out.stdout)
        if load["by_status"].get("202", 0) != N:
            raise SystemExit("%s: not every event was accepted: %s (see %s)" % (label, load["by_status"], tmp))
        t0 = time.monotonic() - load["elapsed_ms"] / 1000
        wait_until(lambda: sim.control("GET", "/_sim/count")["count"] >= N, timeout=int(os.environ.get("LT_BENCH_WAIT", "300")), step=0.1,
                   what="all deliveries")
        t_all = time.monotonic() - t0
        commits = gw.metric("lienthong_store_commit_seconds_count") or 0
        commit_s = gw.metric("lienthong_store_commit_seconds_sum") or 0
        rss = peak_rss_kb(gw.proc.pid)
        bad = {k: v for k, v in load["by_status"].items() if k != "202"}
        print("%-34s ingest %6.0f ev/s  p50 %6.2f ms  p99 %6.2f ms | delivered %6.0f ev/s | "
              "%5.1f ev/commit %4.2f ms/commit | RSS %5.1f MiB%s" % (
                  label, load["per_s"], load["p50_ms"], load["p99_ms"], N / t_all, N / commits if commits else 0,
                  1000 * commit_s / commits if commits else 0, rss / 1024, ("  other answers %s" % bad) if bad else ""),
              flush=True)
    finally:
        gw.stop()
        sim.stop()


def openssl_speed():
    out = subprocess.run(["openssl", "speed", "-seconds", "2", "rsa2048", "ecdsap256"], capture_output=True,
                         text=True, timeout=120).stdout
    rsa = re.search(r"^rsa 2048 bits\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)", out, re.M)
    ec = re.search(r"^\s*256 bits ecdsa \(nistp256\)\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)", out, re.M)
    if rsa:
        print("openssl speed, one core:           RSA-2048  sign %8.0f/s  verify %8.0f/s" % (
            float(rsa.group(1)), float(rsa.group(2))))
    if ec:
        print("openssl speed, one core:           P-256     sign %8.0f/s  verify %8.0f/s" % (
            float(ec.group(1)), float(ec.group(2))))


def main():
    print("lienthong bench: %d events per run, %d requests in flight, canonical JSON, SQLite WAL synchronous=FULL, "
          "%d CPUs" % (N, CONC, os.cpu_count()))
    run("plain HTTP, unsigned")
    run("mTLS + JWS RS256 (RSA-2048)", "rsa")
    run("mTLS + JWS ES256 (P-256)", "ec")
    run("same, RS256 signed on a token", "rsa", token=True)
    run("same, ES256 signed on a token", "ec", token=True)
    openssl_speed()
    # the mapped adapter (mappings/onestop.map) against the C adapter onestop, same samples, one thread
    out = subprocess.run([os.path.join(BUILD, "mapbench")], capture_output=True, text=True, cwd=ROOT)
    print(out.stdout.rstrip() if out.returncode == 0 else "mapbench failed: " + out.stderr.strip())


if __name__ == "__main__":
    main()
