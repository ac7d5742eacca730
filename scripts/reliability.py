#!/usr/bin/env python3
"""make reliability: the long campaigns of issue 5, then one table of figures.

Each campaign is a test of `make test` run longer (the environment variables
below), writing its figures into a directory that this script reads back:

  crash        LT_CRASH_CYCLES        kill -9 cycles under a signed stream (default 50)
  powercut     LT_POWERCUT_CYCLES     power cuts (unsynced writes lost) under a signed stream (default 50)
  peer faults  LT_FAULT_MINUTES       minutes of faulty destinations (default 5)
  store faults LT_STORE_FAULT_SECONDS seconds each store fault lasts (default 60)
  overload     LT_OVERLOAD_EVENTS     events queued on disk behind a dead peer (default 100000)
  fuzz         LT_FUZZ_RUNS           executions per libFuzzer harness (default 10000000), in
               LT_FUZZ_WORKERS        parallel workers (default 2: one per core), stopping at
               LT_FUZZ_LONG_SECONDS   the time cap per harness (default 7200); a crash input is
                                      kept in tests/fuzz/regressions/NAME/, the new coverage
                                      merged into tests/fuzz/seeds/NAME/ (tests/fuzz/run.sh)
  valgrind     LT_VALGRIND_TESTS      integration tests under memcheck (default: all)

`scripts/reliability.py crash fuzz` runs only those. The table is printed and
kept in build/reliability/table.md; the exit status is 0 only when every
campaign passed with nothing lost and no fuzz crash."""
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
OUT = os.path.join(ROOT, "build", "reliability")
FIG = os.path.join(OUT, "figures")

CAMPAIGNS = {
    "crash": (["integration", "test_kill9"], {"LT_CRASH_CYCLES": "50"}),
    "powercut": (["integration", "test_power_cuts"], {"LT_POWERCUT_CYCLES": "50"}),
    "faults": (["integration", "test_faults"], {"LT_FAULT_MINUTES": "5"}),
    "store": (["integration", "test_store_faults"], {"LT_STORE_FAULT_SECONDS": "60"}),
    "overload": (["integration", "test_overload"], {"LT_OVERLOAD_EVENTS": "100000"}),
    "fuzz": (None, {"LT_FUZZ_RUNS": "10000000", "LT_FUZZ_WORKERS": "2", "LT_FUZZ_LONG_SECONDS": "7200",
                    "LT_FUZZ_KEEP": "1"}),
    "valgrind": (["integration"], {"LT_VALGRIND": "1"}),
}


def run(name):
    args, defaults = CAMPAIGNS[name]
    env = dict(os.environ)
    if name != "valgrind":              # its short runs must not add to the long ones' figures
        env["LT_FIGURES"] = FIG
    for k, v in defaults.items():
        env.setdefault(k, v)
    if name == "fuzz":
        argv = ["bash", "tests/fuzz/run.sh", env["LT_FUZZ_LONG_SECONDS"]]
    else:
        argv = ["bash", "tests/run-all.sh"] + args
        if name == "valgrind" and env.get("LT_VALGRIND_TESTS"):
            argv += env["LT_VALGRIND_TESTS"].split()
    log = os.path.join(OUT, name + ".log")
    print("== %s: %s (log: %s)" % (name, " ".join(argv), os.path.relpath(log, ROOT)), flush=True)
    t0 = time.monotonic()
    with open(log, "w") as f:
        rc = subprocess.call(argv, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT)
    with open(log, errors="replace") as f:
        text = f.read()
    counts = re.findall(r"^(\d+) passed, (\d+) failed", text, re.M)
    passed, failed = (int(counts[-1][0]), int(counts[-1][1])) if counts else (0, 1)
    secs = time.monotonic() - t0
    print("   %s in %.0fs: %d passed, %d failed" % ("ok" if rc == 0 else "FAILED", secs, passed, failed), flush=True)
    return {"rc": rc, "passed": passed, "failed": failed, "seconds": secs}


def load(name):
    path = os.path.join(FIG, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        if name.endswith(".jsonl"):
            return [json.loads(line) for line in f if line.strip()]
        return json.load(f)


def table(results):
    rows = []

    def row(campaign, measure, value):
        rows.append("| %s | %s | %s |" % (campaign, measure, value))

    def status(name):
        r = results.get(name)
        return "" if r is None else (" (passed)" if r["rc"] == 0 else " (**FAILED**, see build/reliability/%s.log)" % name)

    c = load("crash.json")
    if c:
        row("Crash: kill -9 under a signed stream" + status("crash"), "cycles", c["cycles"])
        row("", "events acknowledged / delivered to %d destinations / lost" % c["destinations"],
            "%d / %d / **%d**" % (c["acknowledged"], c["delivered"], c["lost"]))
        row("", "duplicates at receivers (all with the original Idempotency-Key)", c["duplicates"])
        row("", "posts refused or cut (the sender resent them)", c["refused_or_cut"])
    p = load("powercut.json")
    if p:
        row("Power cuts: unsynced writes lost, under a signed stream" + status("powercut"),
            "cuts at a commit's fsync / at a checkpoint's fsync (writes issued, none durable) / at random",
            "%d / %d / %d" % (p["cuts_at_fsync"], p["cuts_at_checkpoint"], p["cuts_at_random"]))
        row("", "unsynced 4 KiB blocks lost / written anyway at the cuts at an fsync",
            "%d / %d" % (p["blocks_lost"], p["blocks_kept"]))
        row("", "cuts whose database passed integrity_check and held every earlier 202", "%d of %d" % (
            p["cuts_checked"], p["cycles"]))
        row("", "events acknowledged / delivered to %d destinations / lost" % p["destinations"],
            "%d / %d / **%d**" % (p["acknowledged"], p["delivered"], p["lost"]))
        row("", "duplicates at receivers (all with the original Idempotency-Key)", p["duplicates"])
    f = load("faults.json")
    if f:
        row("Peer faults: 5xx, timeouts, resets, slow, vanished" + status("faults"), "fault minutes survived",
            f.get("minutes"))
        row("", "events acknowledged / delivered / lost",
            "%s / %s / **%s**" % (f.get("events_acked"), f.get("delivered"), f.get("lost")))
        row("", "duplicates (same Idempotency-Key)", "%s (%s)" % (f.get("duplicates"), f.get("duplicates_same_key")))
        mc = f.get("max_concurrency_seen") or {}
        if mc:
            row("", "most concurrent requests seen per peer", ", ".join("%s %s" % kv for kv in sorted(mc.items())))
        if f.get("healthy_peer_p95_ms") is not None:
            row("", "healthy peer's p95 delivery latency during faults", "%s ms" % f["healthy_peer_p95_ms"])
    s = load("store_faults.jsonl")
    if s:
        for i, x in enumerate(s):
            row("Store faults" + status("store") if i == 0 else "",
                "%s: fault seconds, posts acknowledged / refused 503 / lost" % x["test"].replace("_", " "),
                "%.0f s, %d / %d / **%d**" % (x["fault_s"], x["acknowledged"], x["refused"], x["lost"]))
    o = load("overload.json")
    if o:
        row("Overload: backlog behind a dead peer" + status("overload"), "events queued (on disk)",
            "%d (%.0f MiB)" % (o["backlog_events"], o["db_mib"]))
        row("", "RSS at 10% of the backlog / full / peak", "%.1f / %.1f / %.1f MiB" % (
            o["rss_mib_at_10pct"], o["rss_mib_full"], o["peak_rss_mib"]))
        row("", "drained in / lost", "%.0f s / **%d**" % (o["drain_s"], o["lost"]))
    z = load("fuzz.json")
    if z:
        if z.get("runs"):
            title = "Fuzz: to %s executions or %d s per harness, %d workers" % (
                format(z["runs"], ","), z["seconds_per_harness"], z["workers"])
        else:
            title = "Fuzz: %d s per harness" % z["seconds_per_harness"]
        for i, h in enumerate(z["harnesses"]):
            done = "" if h.get("reached") is None else " (reached)" if h["reached"] else " (time cap)"
            row(title + status("fuzz") if i == 0 else "", h["name"],
                "%s executions%s in %s s (%s exec/s), **%s** crashes" % (
                    format(h["executions"], ","), done, format(round(h.get("seconds", 0)), ","),
                    format(h.get("exec_per_s", 0), ","), h["crashes"]))
    v = results.get("valgrind")
    if v:
        which = os.environ.get("LT_VALGRIND_TESTS") or "all"
        row("Valgrind memcheck, integration tests: %s" % which + status("valgrind"),
            "tests passed / failed (any error or definite leak fails a test)", "%d / %d" % (v["passed"], v["failed"]))
    head = ["| Campaign | Measure | Result |", "|---|---|---|"]
    return "\n".join(head + rows)


def main(argv):
    names = argv[1:] or list(CAMPAIGNS)
    for n in names:
        if n not in CAMPAIGNS:
            sys.exit("unknown campaign %r (known: %s)" % (n, " ".join(CAMPAIGNS)))
    os.makedirs(FIG, exist_ok=True)
    for n in os.listdir(FIG):
        os.unlink(os.path.join(FIG, n))
    results = {n: run(n) for n in names}
    text = table(results)
    with open(os.path.join(OUT, "table.md"), "w") as f:
        f.write(text + "\n")
    print()
    print(text)
    bad = [n for n, r in results.items() if r["rc"] != 0]
    print()
    print("all campaigns passed" if not bad else "FAILED: %s" % " ".join(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
