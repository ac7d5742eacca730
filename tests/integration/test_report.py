"""lienthong report: an office's figures for a period, per receiving agency."""
import csv
import io
import json
import subprocess

from harness import LIENTHONG, Gateway, Peersim, event

A, B, B_OLD = "000.00.12.H12", "000.00.15.H68", "000.00.12.H99"


def received(code, agency, channel, at, due):
    return event(code, "dossier.received", occurred_at=at, dossier={
        "receiving_agency": {"code": agency}, "channel": channel, "received_at": at, "due_at": due})


def resolved(code, at):
    return event(code, "dossier.resolved", occurred_at=at)


def apology(code, at, new_due):
    return event(code, "dossier.apology", occurred_at=at, detail={"reason": "chờ xác minh", "new_due_at": new_due})


T = "T09:00:00+07:00"
OCTOBER = [
    # carried over from September, resolved early
    received("RP-A1", A, "direct", "2026-09-20" + T, "2026-10-05" + T), resolved("RP-A1", "2026-10-03" + T),
    # resolved on the appointment day (later hour, same day)
    received("RP-A2", A, "online", "2026-10-02" + T, "2026-10-10" + T), resolved("RP-A2", "2026-10-10T15:00:00+07:00"),
    # late with no apology
    received("RP-A3", A, "postal", "2026-10-05" + T, "2026-10-08" + T), resolved("RP-A3", "2026-10-12" + T),
    # an apology and a new date, kept: still late (the first appointment was missed)
    received("RP-A4", A, "online", "2026-10-06" + T, "2026-10-09" + T), apology("RP-A4", "2026-10-08" + T, "2026-10-15" + T),
    resolved("RP-A4", "2026-10-14" + T),
    # open at the end of October: within its deadline, and overdue with no apology
    received("RP-A5", A, "direct", "2026-10-20" + T, "2026-11-20" + T),
    received("RP-A6", A, "direct", "2026-10-10" + T, "2026-10-25" + T),
    # outside the period: after it, and closed before it
    received("RP-A7", A, "direct", "2026-11-05" + T, "2026-11-10" + T),
    received("RP-A8", A, "direct", "2026-09-01" + T, "2026-09-20" + T), resolved("RP-A8", "2026-09-15" + T),
    # received under a unit code since merged into B
    received("RP-B1", B_OLD, "online", "2026-10-15" + T, "2026-10-20" + T), resolved("RP-B1", "2026-10-19" + T),
]


def report(gw, *args):
    r = subprocess.run([LIENTHONG, "report", *args, "-c", gw.config], capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout, r.stderr


def test_report_counts_received_resolved_open_and_apologies_per_agency(tmp, cleanup):
    portal = cleanup.add(Peersim(tmp, "portal"))
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}, "portal": {"url": portal.url}},
                             {"all": {"from": "peer-a", "to": "portal"}}, start=False))
    with open(gw.config, "a") as f:
        f.write("\n[units]\n%s = %s since 2025-07-01\n" % (B_OLD, B))
    gw.start()
    status, doc, _ = gw.post("peer-a", {"events": OCTOBER}, "report-1")
    assert status == 202, doc

    rc, out, err = report(gw, "--from", "2026-10-01", "--to", "2026-10-31", "--format", "json")
    assert rc == 0, err
    doc = json.loads(out)
    rows = {r["agency"]: r for r in doc["agencies"]}
    assert set(rows) == {A, B}, rows
    a = rows[A]
    assert (a["carried_over"], a["direct"], a["online"], a["postal"], a["received"]) == (1, 2, 2, 1, 5), a
    assert (a["resolved_early"], a["resolved_on_time"], a["resolved_late"]) == (1, 1, 2), a
    assert (a["in_progress_on_time"], a["in_progress_overdue"]) == (1, 1), a
    assert (a["apologies"], a["late_without_apology"], a["online_share"]) == (1, 2, 40.0), a
    assert a["from_merged_units"] == 0 and rows[B]["from_merged_units"] == 1, rows
    assert (rows[B]["online"], rows[B]["resolved_early"]) == (1, 1), rows[B]
    t = doc["total"]
    assert (t["received"], t["resolved_early"], t["resolved_late"], t["online_share"]) == (6, 2, 2, 50.0), t
    assert doc["from"].startswith("2026-10-01T00:00:00") and doc["to"].startswith("2026-11-01T00:00:00"), doc

    rc, out, _ = report(gw, "--from", "2026-10-01", "--to", "2026-10-31", "--format", "csv")
    assert rc == 0
    rows = [r for r in csv.DictReader(io.StringIO(out)) if r["table"] in ("receiving", "total")]
    assert [r["agency"] for r in rows] == [A, B, "total"], out
    assert rows[0]["resolved_late"] == "2" and rows[2]["received"] == "6" and rows[2]["online_share"] == "50.0", rows

    rc, out, _ = report(gw, "--from", "2026-10-01", "--to", "2026-10-31")
    assert rc == 0 and A in out and "total" in out and "merged" in out, out

    # a period with nothing in it; September: A1 and A8 received, A8 resolved early, A1 open on time
    rc, out, _ = report(gw, "--from", "2027-01-01", "--to", "2027-01-31", "--format", "json")
    assert rc == 0 and json.loads(out)["total"]["received"] == 0, out
    rc, out, _ = report(gw, "--from", "2026-09-01", "--to", "2026-09-30", "--format", "json")
    sept = {r["agency"]: r for r in json.loads(out)["agencies"]}[A]
    assert (sept["received"], sept["resolved_early"], sept["in_progress_on_time"]) == (2, 1, 1), sept

    for args, words in [(["--from", "2026-10-01"], "give the period"),
                        (["--from", "2026-10-31", "--to", "2026-10-01"], "after --from"),
                        (["--from", "1/10/2026", "--to", "2026-10-31"], "YYYY-MM-DD"),
                        (["--from", "2026-10-01", "--to", "2026-10-31", "--format", "xlsx"], "text, csv or json"),
                        (["--since", "2026-10-01"], "unknown option")]:
        rc, _, err = report(gw, *args)
        assert rc == 2 and words in err, (args, err)


def test_report_dates_are_named_as_typed_and_day_first_dates_are_read(tmp, cleanup):
    from test_spine import one_route
    gw, _ = one_route(tmp, cleanup)
    rc, out, err = report(gw, "--from", "31/02/2026", "--to", "2026-03-31")
    assert rc == 2 and '--from "31/02/2026" is not a date' in err and "T00:00:00" not in err, err
    rc, out, err = report(gw, "--from", "2026-03-01", "--to", "March")
    assert rc == 2 and '--to "March" is not a date' in err, err
    rc, day_first, err = report(gw, "--from", "01/03/2026", "--to", "31/03/2026", "--format", "json")
    assert rc == 0, err
    rc, iso, err = report(gw, "--from", "2026-03-01", "--to", "2026-03-31", "--format", "json")
    assert rc == 0 and json.loads(day_first) == json.loads(iso)
