"""The operator's console in a real browser: Debian's chromium, headless, driven
by puppeteer-core (tests/browser/console.mjs). The page loads with no console
error and no Content-Security-Policy violation, a dossier search shows its
trail, a dead letter replayed from the page is then delivered, and the report's
figures are the API's. Screenshots go to build/screenshots/ for review."""
import json
import os
import shutil
import subprocess

from harness import BUILD, ROOT, Gateway, Peersim, event, wait_until

T = "T09:00:00+07:00"
CHROMIUM = os.environ.get("LT_CHROMIUM", "/usr/bin/chromium")
DRIVER = os.path.join(ROOT, "tests", "browser", "console.mjs")


def test_console_in_a_real_browser_shows_the_trail_replays_a_dead_letter_and_the_report(tmp, cleanup):
    assert os.path.exists(CHROMIUM), "%s is missing: run make deps (scripts/deps.sh installs chromium)" % CHROMIUM
    assert os.path.isdir(os.path.join(ROOT, "tests", "browser", "node_modules", "puppeteer-core")), \
        "puppeteer-core is missing: run make deps (npm ci in tests/browser)"
    portal = cleanup.add(Peersim(tmp, "portal"))
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}, "portal": {"url": portal.url}},
                             {"all": {"from": "peer-a", "to": "portal"}}, start=False))
    with open(gw.config, "a") as f:
        f.write("\n[agencies]\n000.00.12.H12 = UBND phường Bình Hưng\n000.20.12.H12 = Văn phòng đăng ký đất đai\n")
    gw.start()
    portal.fail(status=400, body='{"error":"thiếu mã thủ tục"}')
    code = "000.00.12.H12-261102-0007"
    received = event(code, occurred_at="2026-11-02" + T, dossier={
        "receiving_agency": {"code": "000.00.12.H12"}, "channel": "online", "received_at": "2026-11-02" + T,
        "due_at": "2026-11-09T17:00:00+07:00"})
    status, doc, _ = gw.post("peer-a", received, "br-1")
    assert status == 202, doc
    event_id = doc["events"][0]["event_id"]
    assert gw.post("peer-a", event("X-1"), "br-bad", jws={"kid": "unknown"})[0] == 401       # a refusal to show
    assert gw.post("peer-a", event("000.00.12.H12-261102-0008"), "br-3")[0] == 202
    wait_until(lambda: gw.query("SELECT COUNT(*) FROM deliveries WHERE state = 3")[0][0] == 2, what="dead letters")
    (dead_id, purged_id), = [tuple(r[0] for r in gw.query("SELECT id FROM deliveries WHERE state = 3 ORDER BY id"))]
    portal.clear()                                  # the portal is fixed: the operator replays from the page
    transfer = event(code, "dossier.transferred", occurred_at="2026-11-03" + T, detail={
        "from_agency": {"code": "000.00.12.H12"}, "to_agency": {"code": "000.20.12.H12"}})
    assert gw.post("peer-a", transfer, "br-2")[0] == 202
    wait_until(lambda: len(portal.received(ok_only=True)) == 1, what="the transfer delivered")

    shots = os.path.join(BUILD, "screenshots")
    os.makedirs(shots, exist_ok=True)
    p = subprocess.run(["node", DRIVER, "http://127.0.0.1:%d" % gw.admin_port, shots, code, str(dead_id),
                        "2026-11-01", "2026-11-30"], capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr
    seen = json.loads(p.stdout.strip().splitlines()[-1])
    assert seen["errors"] == [] and seen["csp"] == [], (seen["errors"], seen["csp"])
    assert seen["status"] == 200 and "script-src 'sha256-" in seen["csp_header"], seen
    # nothing but the gateway itself was asked for anything (data: is chromium's own date-picker icon)
    assert all(u.startswith("http://127.0.0.1:%d/" % gw.admin_port) for u in seen["requests"]
               if not u.startswith("data:image/svg+xml")), seen["requests"]
    # Vietnamese first
    assert seen["lang"] == "vi" and "sẵn sàng" in seen["overview"] and "portal" in seen["overview"], seen["overview"]
    # the trail of the dossier searched: its event, the dead delivery and why
    assert "dossier.received" in seen["trail"] and "UBND phường Bình Hưng" in seen["trail"], seen["trail"]
    assert "peer refused with 400" in seen["trail"] and "Văn phòng đăng ký đất đai" in seen["trail"], seen["trail"]
    # the dead letter replayed from the page, then delivered with its original message id
    assert seen["dead_letters"] == [str(dead_id), str(purged_id)] and seen["after_replay"] == [str(purged_id)], seen
    assert "1 " in seen["replay_said"], seen["replay_said"]
    # the other purged, after the page asked
    assert "Xoá vĩnh viễn" in seen["dialog"] and "1 " in seen["purge_said"], seen
    assert gw.query("SELECT COUNT(*) FROM deliveries WHERE id = ?", purged_id) == [(0,)]
    wait_until(lambda: event_id in portal.delivered(), what="the replayed delivery at the portal")
    wait_until(lambda: gw.query("SELECT state FROM deliveries WHERE id = ?", dead_id) == [(2,)], what="delivered")
    # the report's figures are the API's
    status, rep, _ = gw.admin_request("GET", "/v1/admin/report?from=2026-11-01&to=2026-11-30")
    assert status == 200, rep
    fields = ["carried_over", "direct", "online", "postal", "not_stated", "received_total", "resolved",
              "resolved_early", "resolved_on_time", "resolved_late", "in_progress_on_time", "in_progress_overdue",
              "apologies", "inter_agency", "exchanged_electronically", "late_without_apology"]
    want = [rep["total"][f] for f in fields] + [rep["total"]["online_share"], rep["total"]["electronic_share"]]
    page = seen["report_total"][1:]
    assert [float(x.rstrip("%")) for x in page] == [float(x) for x in want], (page, want)
    assert (rep["total"]["received_total"], rep["total"]["online"], rep["total"]["not_stated"]) == (2, 1, 1), rep["total"]
    assert seen["csv_href"].endswith("/v1/admin/report?from=2026-11-01&to=2026-11-30&format=csv"), seen["csv_href"]
    assert "gateway" in seen["certs"] and "401" in seen["refusals"], (seen["certs"], seen["refusals"])
    assert "Overview" in seen["nav_en"] and "Dead letters" in seen["nav_en"], seen["nav_en"]
    for name in ("overview", "trail", "dead-letters", "report", "overview-en"):
        assert os.path.getsize(os.path.join(shots, "console-%s.png" % name)) > 1000, name


def test_console_over_a_token_listener_asks_the_token_once_and_replays_as_its_operator(tmp, cleanup):
    from test_admin_remote import ALICE, token_file
    assert os.path.exists(CHROMIUM), "%s is missing: run make deps" % CHROMIUM
    portal = cleanup.add(Peersim(tmp, "portal"))
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}, "portal": {"url": portal.url}},
                             {"all": {"from": "peer-a", "to": "portal"}},
                             gateway={"admin_token_file": token_file(tmp)}))
    portal.fail(status=400)
    status, doc, _ = gw.post("peer-a", event("TOKEN-UI-1"), "tok-1")
    assert status == 202, doc
    wait_until(lambda: gw.query("SELECT COUNT(*) FROM deliveries WHERE state = 3")[0][0] == 1, what="a dead letter")
    (dead_id,), = gw.query("SELECT id FROM deliveries WHERE state = 3")
    portal.clear()
    shots = os.path.join(BUILD, "screenshots")
    os.makedirs(shots, exist_ok=True)
    p = subprocess.run(["node", os.path.join(ROOT, "tests", "browser", "token.mjs"), gw.admin_url(), shots, ALICE,
                        str(dead_id)], capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr
    seen = json.loads(p.stdout.strip().splitlines()[-1])
    assert seen["errors"] == [] and seen["csp"] == [], (seen["errors"], seen["csp"])
    assert seen["status"] == 200 and "token" in seen["asked"], seen
    assert seen["auth_hidden"] and "portal" in seen["overview"], seen
    assert seen["stored"] == [True, False], seen          # this tab's session only, never localStorage
    assert "1 " in seen["replay_said"], seen["replay_said"]
    assert all(u.startswith(gw.admin_url() + "/") for u in seen["requests"]), seen["requests"]
    wait_until(lambda: gw.query("SELECT state FROM deliveries WHERE id = ?", dead_id) == [(2,)], what="delivered")
    assert gw.query("SELECT trust FROM audit WHERE direction = 'replay'") == [("token:alice",)]
