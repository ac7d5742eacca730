"""/metrics as Prometheus reads it: promtool (Debian's prometheus package)
checks the text of a gateway that has received, delivered and dead-lettered."""
import json
import subprocess

from harness import Gateway, Peersim, event, wait_until


def test_metrics_pass_promtool_check_metrics(tmp, cleanup):
    ok = cleanup.add(Peersim(tmp, "peer-c"))
    gone = cleanup.add(Peersim(tmp, "peer-b"))
    gone.fail(status=400, count=100)                  # refused for good: a dead letter
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}, "peer-c": {"url": ok.url}, "peer-b": {"url": gone.url}},
                             {"all": {"from": "peer-a", "to": "peer-c peer-b"}}))
    assert gw.post("peer-a", event("000.00.12.H12-261204-0001"), "m-1")[0] == 202
    wait_until(lambda: gw.metric("lienthong_dead_letters", peer="peer-b") == 1, what="a dead letter")
    # the workers' queue wait: every job is counted (at least the decode, peer-b's encode and its answer)
    waits = gw.metric("lienthong_pool_queue_wait_seconds_count")
    assert waits is not None and waits >= 3, waits
    assert gw.metric("lienthong_pool_queue_wait_seconds_bucket", le="+Inf") == waits
    text = gw.admin("/metrics")
    p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    # each family once, its samples together
    types = [l.split()[2] for l in text.splitlines() if l.startswith("# TYPE ")]
    assert len(types) == len(set(types)), types


def test_status_prints_a_table_an_operator_reads(tmp, cleanup):
    import re
    from harness import LIENTHONG
    ok = cleanup.add(Peersim(tmp, "peer-c"))
    down = cleanup.add(Peersim(tmp, "peer-b"))
    down.fail(status=503)
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}, "peer-c": {"url": ok.url}, "peer-b": {"url": down.url}},
                             {"all": {"from": "peer-a", "to": "peer-c peer-b"}}, retry={"max_delay": "10s"}))
    assert gw.post("peer-a", event("000.00.12.H12-261204-0002"), "m-2")[0] == 202
    wait_until(lambda: len(ok.received()) == 1, what="delivered to peer-c")
    p = subprocess.run([LIENTHONG, "status", "-c", gw.config], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("lienthong ") and "node gw-test" in lines[0] and "store healthy" in lines[0]
    header = [l for l in lines if l.startswith("PEER")][0].split()
    row = {l.split()[0]: l.split() for l in lines if l[:6] in ("peer-a", "peer-b", "peer-c")}
    assert header[:3] == ["PEER", "ADAPTER", "BREAKER"]
    assert row["peer-c"][3] == "0" and row["peer-c"][-3] == "1"        # nothing pending, one delivered
    assert row["peer-b"][3] in ("0", "1") and re.match(r"\d", row["peer-b"][-2])   # waiting, retried
    assert row["peer-a"][-1] == "1"                                      # one event in from the sender
    # --json is the admin API's answer
    p = subprocess.run([LIENTHONG, "status", "--json", "-c", gw.config], capture_output=True, text=True, timeout=30)
    assert json.loads(p.stdout)["node_id"] == "gw-test"
