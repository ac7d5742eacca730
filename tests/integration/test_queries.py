"""The operator's reads are the store's: the admin API and the CLI answer a
dossier's trail, the dead letters, the report, the refusals and the audit
check with the same code, on SQLite and on a real PostgreSQL, and the CLI
reads them with the gateway stopped too."""
import json
import subprocess

from harness import LIENTHONG, event, wait_until
from test_spine import one_route
from test_store_pg import Postgres, pg_gateway

T = "T09:00:00+07:00"
WARD, LAND = "000.00.12.H12", "000.20.15.H68"


def cli(gw, *args):
    r = subprocess.run([LIENTHONG, *args, "-c", gw.config], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def api(gw, path, method="GET", body=None):
    status, doc, headers = gw.admin_request(method, path, body)
    return status, doc


def steady(trail):
    """A trail without the figures that grow with the clock (held, late by)."""
    for h in trail["holders"]:
        h.pop("held_s"), h.pop("working_days")
    if trail["late"]:
        trail["late"].pop("late_by_s")
    return trail


def journey(gw, sims):
    """A dossier received at the ward, sent to the land office, past its appointment there;
    the portal refuses everything (dead letters); one message with a bad signature."""
    sims["portal"].fail(status=400, body='{"error":"ma_ho_so khong hop le"}')
    events = [
        event("Q-1", occurred_at="2026-10-01" + T, dossier={
            "receiving_agency": {"code": WARD, "name": "UBND phường Bình Hưng"}, "channel": "direct",
            "received_at": "2026-10-01" + T, "due_at": "2026-10-08T17:00:00+07:00"}),
        event("Q-1", "dossier.transferred", occurred_at="2026-10-02" + T, detail={
            "from_agency": {"code": WARD}, "to_agency": {"code": LAND, "name": "Văn phòng đăng ký đất đai"}}),
        event("Q-1", "dossier.apology", occurred_at="2026-10-09" + T,
              detail={"reason": "chờ đo đạc", "new_due_at": "2026-10-15T17:00:00+07:00"}),
        event("Q-1", "dossier.resolved", occurred_at="2026-10-14" + T),
    ]
    for n, ev in enumerate(events):
        assert gw.post("peer-a", ev, "q-%d" % n)[0] == 202
    assert gw.post("peer-a", event("Q-2"), "q-bad", jws={"kid": "no-such-key"})[0] == 401
    wait_until(lambda: gw.query("SELECT COUNT(*) FROM deliveries WHERE state = 3")[0][0] == 4, what="4 dead letters")
    wait_until(lambda: len(sims["office"].received(ok_only=True)) == 4, what="the office got everything")
    wait_until(lambda: gw.query("SELECT COUNT(*) FROM refusals")[0][0] == 1, what="the refusal recorded")


def check_reads(gw):
    # the trail: one document for the API and the CLI, read by the same code
    status, trail = api(gw, "/v1/admin/dossiers/Q-1/trail")
    assert status == 200, trail
    rc, out, err = cli(gw, "trail", "Q-1", "--json")
    assert rc == 0, err
    assert steady(json.loads(out)) == steady(json.loads(json.dumps(trail))), (out, trail)
    assert [e["type"] for e in trail["events"]] == ["dossier.received", "dossier.transferred", "dossier.apology",
                                                   "dossier.resolved"], trail
    assert [h["agency"]["code"] for h in trail["holders"]] == [WARD, LAND], trail["holders"]
    assert trail["late"]["agency"] == {"code": LAND, "name": "Văn phòng đăng ký đất đai"}, trail["late"]
    assert trail["late"]["due_at"].startswith("2026-10-08T17:00:00"), trail["late"]
    office = [d for e in trail["events"] for d in e["deliveries"] if d["dest"] == "office"]
    assert len(office) == 4 and all(d["state"] == "delivered" and d["delay_s"] >= 0 for d in office), office
    assert len([t for t in trail["timeline"] if t["what"] == "attempt"]) == 8, trail["timeline"]
    rc, out, _ = cli(gw, "trail", "Q-1")
    assert rc == 0 and "late at    %s (Văn phòng đăng ký đất đai)" % LAND in out and "DEAD" in out, out
    status, doc = api(gw, "/v1/admin/dossiers/NO-SUCH/trail")
    assert status == 404 and "no dossier NO-SUCH" in doc["detail"], doc

    # dead letters: list and show
    status, dlq = api(gw, "/v1/admin/dlq?peer=portal")
    assert status == 200 and dlq["count"] == 4 and not dlq["more"], dlq
    first = dlq["dead_letters"][0]
    assert first["dossier_code"] == "Q-1" and first["last_status"] == 400, first
    rc, out, _ = cli(gw, "dlq", "list", "--peer", "portal")
    assert rc == 0 and "4 dead letters" in out and first["message_id"] in out, out
    status, one = api(gw, "/v1/admin/dlq/%d" % first["id"])
    assert status == 200 and one["event"]["dossier_code"] == "Q-1", one
    assert "ma_ho_so khong hop le" in one["last_response"] and one["attempt_list"][0]["status"] == 400, one
    rc, out, _ = cli(gw, "dlq", "show", str(first["id"]))
    assert rc == 0 and "dossier Q-1 to portal" in out and "ma_ho_so khong hop le" in out, out
    office_id = [d["id"] for d in office][0]
    status, doc = api(gw, "/v1/admin/dlq/%d" % office_id)
    assert status == 409 and "not a dead letter" in doc["detail"], doc
    assert api(gw, "/v1/admin/dlq/999999")[0] == 404
    assert api(gw, "/v1/admin/dlq?peer=nosuch")[0] == 400

    # the report: the same figures from the API (JSON and CSV) and the CLI
    status, rep = api(gw, "/v1/admin/report?from=2026-10-01&to=31/10/2026")
    assert status == 200, rep
    rc, out, _ = cli(gw, "report", "--from", "2026-10-01", "--to", "2026-10-31", "--format", "json")
    assert rc == 0 and json.loads(out) == rep, (out, rep)
    assert rep["total"]["resolved_late"] == 1 and rep["agencies"][0]["name"] == "UBND phường Bình Hưng", rep
    assert [h["agency"] for h in rep["handling_agencies"]] == [LAND], rep["handling_agencies"]
    status, doc = api(gw, "/v1/admin/report?from=2026-10-01")
    assert status == 400 and "give the period" in doc["detail"], doc

    # refusals, newest first
    status, ref = api(gw, "/v1/admin/refusals")
    assert status == 200 and ref["count"] == 1 and ref["refusals"][0]["peer"] == "peer-a", ref
    assert ref["refusals"][0]["status"] == 401 and ref["refusals"][0]["message_id"] == "q-bad", ref

    # the audit trail, verified by the same walk (GET or POST)
    status, audit = api(gw, "/v1/admin/audit/verify")
    assert status == 200 and audit["intact"] and audit["in"] == 4 and audit["out"] == 8, audit
    assert api(gw, "/v1/admin/audit/verify", "POST", {})[1] == audit
    rc, out, _ = cli(gw, "audit", "verify")
    assert rc == 0 and "audit trail intact: 12 rows (4 messages in, 8 out)" in out, out
    assert api(gw, "/v1/admin/report", "POST", {})[0] == 405
    return trail, rep


def test_reads_are_the_stores_and_the_cli_reads_with_the_gateway_stopped_sqlite(tmp, cleanup):
    gw, sims = one_route(tmp, cleanup, dests=("portal", "office"))
    journey(gw, sims)
    trail, rep = check_reads(gw)
    gw.stop()
    rc, out, err = cli(gw, "trail", "Q-1", "--json")
    assert rc == 0 and steady(json.loads(out)) == steady(trail), err
    rc, out, _ = cli(gw, "report", "--from", "2026-10-01", "--to", "2026-10-31", "--format", "json")
    assert rc == 0 and json.loads(out) == rep


def test_reads_are_the_stores_on_postgresql(tmp, cleanup):
    pg = cleanup.add(Postgres(tmp))
    gw, sims = pg_gateway(tmp, cleanup, pg, dests=("portal", "office"))
    journey(gw, sims)
    trail, _ = check_reads(gw)
    gw.stop()
    rc, out, err = cli(gw, "trail", "Q-1", "--json")
    assert rc == 0 and steady(json.loads(out)) == steady(trail), err
    rc, out, err = cli(gw, "dlq", "list")
    assert rc == 0 and "4 dead letters" in out, out + err


def test_trail_tells_where_a_dossier_waited_each_hops_delay_and_which_agency_made_it_late(tmp, cleanup):
    gw, sims = one_route(tmp, cleanup, retry={"initial": "200ms", "max_delay": "300ms"})
    sims["portal"].fail(status=503, count=1)
    code = "000.00.12.H12-261001-0042"
    for n, ev in enumerate([
            event(code, occurred_at="2026-10-01" + T, dossier={
                "receiving_agency": {"code": WARD, "name": "UBND phường Bình Hưng"}, "received_at": "2026-10-01" + T,
                "due_at": "2026-10-05T17:00:00+07:00"}),
            event(code, "dossier.transferred", occurred_at="2026-10-02" + T,
                  detail={"from_agency": {"code": WARD}, "to_agency": {"code": LAND, "name": "VPĐK đất đai"}}),
            event(code, "dossier.transferred", occurred_at="2026-10-09" + T,
                  detail={"from_agency": {"code": LAND}, "to_agency": {"code": WARD}})]):
        assert gw.post("peer-a", ev, "tr-%d" % n)[0] == 202
    wait_until(lambda: gw.query("SELECT COUNT(*) FROM deliveries WHERE state = 2")[0][0] == 3, what="all delivered")
    status, t = api(gw, "/v1/admin/dossiers/%s/trail" % code)
    assert status == 200, t
    # who held it: the ward, the land office for a week, the ward again (holding it now)
    assert [(h["agency"]["code"], h["to"] is None) for h in t["holders"]] == [(WARD, False), (LAND, False), (WARD, True)]
    land = t["holders"][1]
    assert land["held_s"] == 7 * 86400 and land["working_days"] == 5, land
    assert t["holder_now"]["code"] == WARD
    # its appointment (5 October) passed while the land office held it: the land office made it late
    assert t["late"]["agency"]["code"] == LAND and not t["late"]["resolved"], t["late"]
    # the first delivery was answered 503 then delivered: two attempts, its delay covers both
    first = t["events"][0]["deliveries"][0]
    assert first["attempts"] == 2 and first["state"] == "delivered" and first["delay_s"] > 0, first
    times = [e["at"] for e in t["timeline"]]
    assert times == sorted(times), times
    kinds = [(e["what"], e.get("outcome")) for e in t["timeline"] if e["n"] == 1]
    assert kinds == [("event", None), ("attempt", "retry"), ("attempt", "done")], kinds
    rc, out, _ = cli(gw, "trail", code)
    assert rc == 0 and "held by    %s (UBND phường Bình Hưng)" % WARD in out, out
    assert "%s (VPĐK đất đai)" % LAND in out and "5 working days" in out, out
