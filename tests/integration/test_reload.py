"""Reload without restart (SIGHUP, systemctl reload): the whole configuration file is read
and checked again and swapped in while events stream through — a new peer and route, a
destination's new url, a removed peer whose queue waits in the store, changed code tables
and mapping files, changed limits — with nothing lost or sent twice; an invalid file
changes nothing and every mistake is logged with its FILE:LINE; a setting that needs a
restart keeps its running value and says so. (Certificate rotation by SIGHUP:
test_rotation.py.)"""
import json
import os
import re
import subprocess
import time

from harness import BUILD, LIENTHONG, Gateway, Peersim, Sender, event, wait_until
from test_codes import deployment_codes, shipped_section, tracking
from test_mapped import VENDOR_B, write as write_mapping
from test_onestop import sample


def reload_lines(gw, name):
    return [r for r in gw.log_lines() if r.get("event") == name]


def test_under_a_stream_a_new_peer_and_route_get_events_and_a_changed_url_takes_the_next_deliveries(tmp, cleanup):
    old, new = cleanup.add(Peersim(tmp, "portal-old")), cleanup.add(Peersim(tmp, "portal-new"))
    office = cleanup.add(Peersim(tmp, "office"))
    peers = {"peer-a": {}, "portal": {"url": old.url, "concurrency": 4}}
    routes = {"to-portal": {"from": "peer-a", "to": "portal"}}
    gw = cleanup.add(Gateway(tmp, peers, routes))
    sender = Sender(gw, 100000, prefix="rl", seconds=120)
    sender.start()
    try:
        wait_until(lambda: len(sender.acked) >= 40, timeout=30, what="a stream of events")
        peers = dict(peers, office={"url": office.url})
        routes = dict(routes, **{"to-office": {"from": "peer-a", "to": "office"}})
        line = gw.reload(peers, routes)
        assert line["generation"] == 2 and line["peers"] == 3 and line["routes"] == 2, line
        wait_until(lambda: len(office.delivered()) >= 20, timeout=30, what="events at the new peer")
        peers = dict(peers, portal={"url": new.url, "concurrency": 4})
        gw.reload(peers, routes)
        at_reload = len(sender.acked)
        wait_until(lambda: len(new.delivered()) >= 20 and len(sender.acked) > at_reload + 20, timeout=30,
                   what="deliveries at the new url while the stream goes on")
    finally:
        sender.stop_flag = True
        sender.join(30)
    assert sender.refused == 0, sender.refused         # the sender's keep-alive connection was never cut
    acked = {e for ids in sender.acked.values() for e in ids}
    wait_until(lambda: acked <= old.delivered() | new.delivered(), timeout=60,
               what="every event at the portal's old or new url")
    # each delivered once: at the url it was sent to when it started, never at both
    assert not old.delivered() & new.delivered()
    for sim in (old, new, office):
        assert len(sim.received(ok_only=True)) == len(sim.delivered()), sim.name
    # every event routed to the office after the reload reached it
    routed = {r[0] for r in gw.query("SELECT e.event_id FROM deliveries d JOIN events e ON e.seq = d.event_seq "
                                         "WHERE d.dest = ?", "office")}
    assert len(routed) >= 20
    wait_until(lambda: routed <= office.delivered(), timeout=60, what="every event routed to the office")
    assert not reload_lines(gw, "delivery.dead") and not reload_lines(gw, "config.reload_refused")
    assert gw.metric("lienthong_config_reloads_total", result="ok") == 2
    assert gw.metric("lienthong_config_generation") == 3


def test_a_removed_peer_keeps_its_queue_and_resumes_when_it_comes_back(tmp, cleanup):
    office = cleanup.add(Peersim(tmp, "office"))
    office.fail(status=503)                  # it is down: deliveries wait for it
    peers = {"peer-a": {}, "peer-b": {}, "office": {"url": office.url}}
    routes = {"to-office": {"from": "peer-a", "to": "office"}}
    gw = cleanup.add(Gateway(tmp, peers, routes, retry={"initial": "100ms", "max_delay": "300ms"}))
    ids = []
    for i in range(5):
        status, doc, _ = gw.post("peer-a", event("RM-%d" % i), "rm-%d" % i)
        assert status == 202, doc
        ids.append(doc["events"][0]["event_id"])
    assert gw.post("peer-b", event("RM-B-1"), "rm-b-1")[0] == 202
    wait_until(lambda: len(office.received()) >= 5, what="the office refusing")
    gw.reload({"peer-a": {}}, {})
    line = wait_until(lambda: reload_lines(gw, "config.peer_removed"), what="the removed peers")
    removed = {r["peer"]: r for r in line}
    wait_until(lambda: {"office", "peer-b"} <= {r["peer"] for r in reload_lines(gw, "config.peer_removed")},
               what="both removed peers reported")
    removed = {r["peer"]: r for r in reload_lines(gw, "config.peer_removed")}
    assert removed["office"]["waiting"] == 5 and "5 deliveries to it wait in the store" in removed["office"]["msg"]
    # inbound from a removed peer is refused, naming it
    status, doc, _ = gw.post("peer-b", event("RM-B-2"), "rm-b-2")
    assert status == 404 and 'no peer named "peer-b"' in doc["detail"], doc
    # while it is gone nothing is sent to it, even once it answers again
    office.clear()
    sent = len(office.received())
    time.sleep(1.5)
    assert len(office.received()) == sent
    assert gw.query("SELECT COUNT(*) FROM deliveries WHERE dest = ? AND state <> 2", "office")[0][0] == 5
    # it comes back: its queue resumes, each event once
    gw.reload(peers, routes)
    wait_until(lambda: set(ids) <= office.delivered(), what="the queue delivered after the peer came back")
    assert len(office.received(ok_only=True)) == 5
    assert gw.post("peer-b", event("RM-B-3"), "rm-b-3")[0] == 202


def test_a_changed_code_table_and_mapping_file_are_used_by_the_next_event(tmp, cleanup):
    post, office, vendor_in = "buudien-tinh", cleanup.add(Peersim(tmp, "office")), cleanup.add(Peersim(tmp, "vendor-in"))
    vendor_in.control("POST", "/_sim/reply", {"status": 200, "body": json.dumps({"thanhCong": True})})
    write_mapping(tmp, "vendor-b.map", VENDOR_B)
    peers = {post: {"adapter": "postal"}, "peer-a": {}, "office": {"url": office.url},
             "vendor-out": {"adapter": "mapped", "param.mapping": "vendor-b", "url": vendor_in.url}}
    routes = {"post-to-office": {"from": post, "to": "office"}, "to-vendor": {"from": "peer-a", "to": "vendor-out"}}
    gw = cleanup.add(Gateway(tmp, peers, routes))
    status, doc, _ = gw.post(post, tracking("000.00.12.H12-250311-0009", 8), "c-1")
    assert status == 422 and 'unknown VNPost status code "8"' in doc["detail"], doc
    assert gw.post("peer-a", event("MAP-1"), "m-1")[0] == 202
    first = json.loads(wait_until(lambda: vendor_in.received(ok_only=True), what="the first delivery")[0]["body"])
    assert "maHoSo" in first and "soHoSo" not in first, first
    # the province's table gains code 8, the vendor renames a field: files only, then SIGHUP
    deployment_codes(tmp, "postal.codes", shipped_section("postal.codes", "postal.tracking") +
                     "8           postal.failed     yes       Hoàn trả theo yêu cầu của người gửi\n")
    write_mapping(tmp, "vendor-b.map", VENDOR_B.replace("maHoSo       = dossier_code", "soHoSo       = dossier_code"))
    gw.reload(peers, routes)
    status, doc, _ = gw.post(post, tracking("000.00.12.H12-250311-0009", 8), "c-2")
    assert status == 202, doc
    assert wait_until(lambda: office.bodies(), what="the event at the office")[0]["type"] == "postal.failed"
    assert gw.post("peer-a", event("MAP-2"), "m-2")[0] == 202
    second = wait_until(lambda: len(vendor_in.received(ok_only=True)) == 2 and vendor_in.received(ok_only=True),
                        what="the second delivery")[1]
    body = json.loads(second["body"])
    assert body["soHoSo"] == "MAP-2" and "maHoSo" not in body, body


def rss_kib(gw):
    with open("/proc/%d/status" % gw.proc.pid) as f:
        return int([l for l in f if l.startswith("VmRSS:")][0].split()[1])


def test_reloads_of_unchanged_files_keep_memory_flat_and_every_change_is_still_read(tmp, cleanup):
    """A gateway reloaded again and again (configuration management, a timer) with the same
    files keeps one copy of its code tables and mapping files, not one more per reload
    (a retired copy stays until exit; it was ~700 KiB each); a code table changed, changed
    back and changed again is read every time."""
    post, office = "buudien-tinh", cleanup.add(Peersim(tmp, "office"))
    peers = {post: {"adapter": "postal"}, "office": {"url": office.url}}
    routes = {"post-to-office": {"from": post, "to": "office"}}
    with_8 = shipped_section("postal.codes", "postal.tracking") + \
        "8           postal.failed     yes       Hoàn trả theo yêu cầu của người gửi\n"
    deployment_codes(tmp, "postal.codes", with_8)
    gw = cleanup.add(Gateway(tmp, peers, routes))
    assert gw.post(post, tracking("000.00.12.H12-250311-0010", 8), "r-0")[0] == 202
    gw.reload(peers, routes)
    before = rss_kib(gw)
    for _ in range(40):
        line = gw.reload(peers, routes)
        assert line["code_tables"] == "unchanged" and line["mapping_files"] == "unchanged", line
    grown = rss_kib(gw) - before
    print("    40 reloads of the same files: VmRSS %d -> %d KiB" % (before, before + grown))
    if "asan" not in os.path.basename(BUILD.rstrip("/")):       # ASan keeps what is freed in quarantine
        assert grown < 4096, "40 reloads of the same files grew the gateway by %d KiB" % grown
    deployment_codes(tmp, "postal.codes", shipped_section("postal.codes", "postal.tracking"))
    assert gw.reload(peers, routes)["code_tables"] == "read again"
    status, doc, _ = gw.post(post, tracking("000.00.12.H12-250311-0010", 8), "r-1")
    assert status == 422 and 'unknown VNPost status code "8"' in doc["detail"], doc
    deployment_codes(tmp, "postal.codes", with_8)
    assert gw.reload(peers, routes)["code_tables"] == "read again"
    assert gw.post(post, tracking("000.00.12.H12-250311-0010", 8), "r-2")[0] == 202


def test_an_invalid_file_keeps_the_running_configuration_and_logs_every_mistake_with_its_line(tmp, cleanup):
    portal = cleanup.add(Peersim(tmp, "portal"))
    peers = {"peer-a": {}, "portal": {"url": portal.url}}
    routes = {"r": {"from": "peer-a", "to": "portal"}}
    gw = cleanup.add(Gateway(tmp, peers, routes))
    bad_peers = dict(peers, portal={"url": portal.url, "concurrency": "lots"})
    bad_routes = dict(routes, extra={"from": "peer-a", "to": "nobody"})
    line = gw.reload(bad_peers, bad_routes, gateway={"max_body": "0", "no_such_key": "1"},
                     expect="config.reload_refused")
    mistakes = reload_lines(gw, "config.mistake")
    assert line["mistakes"] == len(mistakes) >= 4, (line, mistakes)
    text = open(gw.config).read().split("\n")
    for m in mistakes:                        # FILE:LINE, and the line says what it names
        found = re.match(r"(.+):(\d+): ", m["msg"])
        assert found and found.group(1) == gw.config, m
    said = " ".join(m["msg"] for m in mistakes)
    for what, where in (("no_such_key", "no_such_key"), ("max_body", "max_body"), ("concurrency", "concurrency"),
                        ("nobody", "[route.extra]")):
        assert what in said, (what, said)
        n = [i + 1 for i, t in enumerate(text) if where in t][0]
        assert "%s:%d:" % (gw.config, n) in said, (what, n, said)
    assert "the running configuration, keys and certificates stay" in line["msg"]
    # the running configuration goes on
    assert gw.post("peer-a", event("BAD-1"), "bad-1")[0] == 202
    wait_until(lambda: portal.delivered(), what="a delivery with the running configuration")
    assert gw.metric("lienthong_config_reloads_total", result="refused") == 1
    assert gw.metric("lienthong_config_reloads_total", result="ok") == 0
    status = json.loads(gw.admin("/v1/admin/status"))
    assert status["config"]["generation"] == 1 and status["config"]["reloads_refused"] == 1, status["config"]


def test_a_restart_only_setting_is_logged_and_kept_while_limits_change_live(tmp, cleanup):
    portal = cleanup.add(Peersim(tmp, "portal"))
    peers = {"peer-a": {}, "portal": {"url": portal.url}}
    routes = {"r": {"from": "peer-a", "to": "portal"}}
    gw = cleanup.add(Gateway(tmp, peers, routes))
    big = event("LIM-1", detail={"pad": "x" * 3000})
    assert gw.post("peer-a", big, "lim-1")[0] == 202
    gw.reload(peers, routes, gateway={"node_id": "gw-renamed", "workers": "3", "max_body": "2k"})
    restart = reload_lines(gw, "config.restart_needed")
    said = {re.search(r": (\w+) changed", r["msg"]).group(1): r["msg"] for r in restart}
    assert set(said) == {"node_id", "workers"}, said
    assert all("needs a restart" in m and m.startswith(gw.config + ":") for m in said.values()), said
    status, doc, _ = gw.post("peer-a", event("LIM-2", detail={"pad": "x" * 3000}), "lim-2")
    assert status == 413 and "2048 bytes" in doc["detail"], doc           # the new limit, at once
    assert gw.post("peer-a", event("LIM-3"), "lim-3")[0] == 202
    st = json.loads(gw.admin("/v1/admin/status"))
    assert st["node_id"] == "gw-test" and st["config"]["generation"] == 2, st   # kept until a restart
    p = subprocess.run([LIENTHONG, "status", "-c", gw.config], capture_output=True, text=True, timeout=30)
    assert "config %s: generation 2, loaded 20" % gw.config in p.stdout and "reloads 1 ok, 0 refused" in p.stdout, \
        p.stdout


def test_a_pull_peer_added_by_a_reload_is_polled_and_stops_when_removed(tmp, cleanup):
    office, portal = cleanup.add(Peersim(tmp, "motcua-xa-duongphong")), cleanup.add(Peersim(tmp, "cong-dvc-tinh"))
    office.control("POST", "/_sim/reply", {"status": 200, "body": json.dumps(sample("search-page.empty.json"))})
    office.fail(status=200, count=1, path_prefix="/dossiers/search",
                body=json.dumps(sample("search-page.two-records.json")))
    peers = {"cong-dvc-tinh": {"url": portal.url}}
    gw = cleanup.add(Gateway(tmp, peers, {}))
    puller = {"adapter": "onestop", "inbound": "pull", "url": office.url.replace("/in", ""),
              "poll_interval": "200ms", "verify": "none"}
    gw.reload(dict(peers, **{"motcua-xa-duongphong": puller}),
              {"r": {"from": "motcua-xa-duongphong", "to": "cong-dvc-tinh"}})
    wait_until(lambda: len(portal.received(ok_only=True)) == 2, what="both polled changes at the portal")
    gw.reload(peers, {})
    time.sleep(0.5)                           # a poll in flight at the reload ends
    polls = len(office.received())
    time.sleep(1.0)
    assert len(office.received()) == polls, "a removed pull peer is still polled"
    assert len(portal.received(ok_only=True)) == 2
