"""One gateway per SQLite store: a second `lienthong run` on the same file
would send the same queue twice, so it refuses to start and names the owner."""
import os
import subprocess

from harness import LIENTHONG, Gateway, Peersim, event, wait_until


def test_second_gateway_on_the_same_sqlite_store_refuses_to_start_naming_the_pid(tmp, cleanup):
    dest = cleanup.add(Peersim(tmp, "peer-c"))
    peers = {"peer-a": {}, "peer-c": {"url": dest.url}}
    routes = {"r": {"from": "peer-a", "to": "peer-c"}}
    first = cleanup.add(Gateway(tmp, peers, routes))
    second = Gateway(tmp, peers, routes, start=False, name="second")      # same lienthong.db
    p = subprocess.run([LIENTHONG, "run", "-c", second.config], capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert "in use by another lienthong process (pid %d)" % first.proc.pid in p.stderr, p.stderr[-2000:]
    # the first one goes on as before
    assert first.post("peer-a", event("000.00.12.H12-261204-0009"), "owner-1")[0] == 202
    wait_until(lambda: len(dest.received()) == 1, what="delivery by the first gateway")
    # once it has stopped (even by kill -9), the store can be opened again
    first.kill9()
    again = cleanup.add(Gateway(tmp, peers, routes, name="again"))
    assert again.post("peer-a", event("000.00.12.H12-261204-0010"), "owner-2")[0] == 202
    assert os.path.exists(first.db + ".lock")
