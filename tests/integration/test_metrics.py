"""/metrics as Prometheus reads it: promtool (Debian's prometheus package)
checks the text of a gateway that has received, delivered and dead-lettered."""
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
    text = gw.admin("/metrics")
    p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    # each family once, its samples together
    types = [l.split()[2] for l in text.splitlines() if l.startswith("# TYPE ")]
    assert len(types) == len(set(types)), types
