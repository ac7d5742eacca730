"""`make bench`: push a fixed number of events through ingest → store →
delivery to a simulator and print events/s, ingest latency and peak RSS.
Bounded in count (LT_BENCH_EVENTS, default 20000) and time (300 s)."""
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "integration"))
from harness import BUILD, Gateway, Peersim, wait_until  # noqa: E402

N = int(os.environ.get("LT_BENCH_EVENTS", "20000"))
CONC = int(os.environ.get("LT_BENCH_CONCURRENCY", "64"))


def peak_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main():
    tmp = tempfile.mkdtemp(prefix="lt-bench-")
    sim = Peersim(tmp, "portal")
    gw = Gateway(tmp, {"peer-a": {}, "portal": {"url": sim.url, "concurrency": 32}},
                 {"all": {"from": "peer-a", "to": "portal"}})
    try:
        url = "http://127.0.0.1:%d/v1/inbound/motcua-a" % gw.port
        t0 = time.monotonic()
        out = subprocess.run([os.path.join(BUILD, "benchload"), url, str(N), str(CONC), "bench%d" % os.getpid()],
                             capture_output=True, text=True, timeout=300)
        load = json.loads(out.stdout)
        t_ingest = time.monotonic() - t0
        wait_until(lambda: sim.control("GET", "/_sim/count")["count"] >= N, timeout=300, step=0.2,
                   what="all deliveries")
        t_all = time.monotonic() - t0
        rss = peak_rss_kb(gw.proc.pid)
        commits = gw.metric("lienthong_store_commit_seconds_count") or 0
        commit_s = gw.metric("lienthong_store_commit_seconds_sum") or 0
        print("lienthong bench: %d events, %d in flight, canonical JSON, SQLite WAL synchronous=FULL, "
              "unsigned, plain HTTP on loopback" % (N, CONC))
        print("  ingest (202, durable):   %8.0f events/s   p50 %.2f ms   p99 %.2f ms   answers %s" % (
            load["per_s"], load["p50_ms"], load["p99_ms"], load["by_status"]))
        print("  end to end (delivered):  %8.0f events/s   (%.1f s for all)" % (N / t_all, t_all))
        print("  group commits:           %8d            (%.1f events per commit, incl. claims/outcomes)" % (
            commits, N / commits if commits else 0))
        print("  store busy committing:   %8.1f s            (%.2f ms per commit)" % (
            commit_s, 1000 * commit_s / commits if commits else 0))
        print("  gateway peak RSS:        %8.1f MiB" % (rss / 1024))
        print("  ingest phase:            %8.1f s" % t_ingest)
    finally:
        gw.stop()
        sim.stop()


if __name__ == "__main__":
    main()
