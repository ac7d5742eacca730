"""lienthong report: an office's figures for a period, per receiving agency."""
import csv
import io
import json
import os
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


# The ward of seeds/002 (Bình Hưng, Phan Thiết), its first five months of 2023 as its
# chairwoman reported them: 741 dossiers received of which 33 carried over, 369 direct,
# 236 online and 27 by post; 710 resolved, 643 of them early; 31 still within their
# deadline; 17 apology letters for dossiers that were late at the city land office.
WARD, LAND = "000.00.12.H48", "000.20.12.H48"
DAY = "T08:00:00+07:00"


def ward_events():
    """The events the ward's one-stop software would have sent, made up to match the
    reported figures: (events, the figures counted by hand from how they were made)."""
    import datetime
    start = datetime.date(2023, 1, 2)
    out, n = [], [0]

    def day(d):
        return d.isoformat() + DAY

    def dossier(received, due, channel=None, handling=None):
        n[0] += 1
        code = "%s-%s-%04d" % (WARD, received.strftime("%y%m%d"), n[0])
        d = {"receiving_agency": {"code": WARD}, "received_at": day(received), "due_at": day(due)}
        if channel:
            d["channel"] = channel
        if handling:
            d["handling_agency"] = {"code": handling}
        out.append(event(code, "dossier.received", occurred_at=day(received), dossier=d))
        return code

    def resolved(code, when):
        out.append(event(code, "dossier.resolved", occurred_at=day(when)))

    td = datetime.timedelta
    # 33 carried over from December 2022, resolved early in January
    for i in range(33):
        r = datetime.date(2022, 12, 12) + td(days=i % 15)
        resolved(dossier(r, datetime.date(2023, 1, 20), channel="direct"), datetime.date(2023, 1, 5) + td(days=i % 10))
    # 708 received from January to May: 369 direct, 236 online, 27 by post, 76 with no channel stated
    channels = ["direct"] * 369 + ["online"] * 236 + ["postal"] * 27 + [None] * 76
    for i, ch in enumerate(channels):
        r = start + td(days=(i * 148) // 708)          # spread over 2 January .. 29 May
        if i < 17:
            # late at the land office: sent there, an apology with a new date, resolved after the first one
            code = dossier(r, r + td(days=10), ch, handling=LAND)
            out.append(event(code, "dossier.transferred", occurred_at=day(r + td(days=1)),
                             detail={"from_agency": {"code": WARD}, "to_agency": {"code": LAND}}))
            out.append(event(code, "dossier.apology", occurred_at=day(r + td(days=9)),
                             detail={"reason": "Chờ đo đạc", "new_due_at": day(r + td(days=20))}))
            resolved(code, r + td(days=15))
        elif i < 67:                                   # 50 resolved on their appointment day
            resolved(dossier(r, r + td(days=7), ch), r + td(days=7))
        elif i < 677:                                  # 610 resolved early; 8 of them handled on paper by the land office
            resolved(dossier(r, r + td(days=7), ch, handling=LAND if i < 75 else None), r + td(days=3))
        else:                                          # 31 received late in May, within their deadline on 31 May
            dossier(datetime.date(2023, 5, 25) + td(days=i % 5), datetime.date(2023, 6, 15), ch)
    # 5 dossiers in progress on go-live day, first seen through a later step: counted apart
    for i in range(5):
        code = "%s-221101-%04d" % (WARD, 9000 + i)
        out.append(event(code, "dossier.step", occurred_at=day(datetime.date(2023, 3, 1) + td(days=i)),
                         dossier={"receiving_agency": {"code": WARD}}))
        if i < 3:
            out.append(event(code, "dossier.returned", occurred_at=day(datetime.date(2023, 4, 3) + td(days=i))))
    figures = {"carried_over": 33, "direct": 369, "online": 236, "postal": 27, "not_stated": 76, "received": 708,
               "received_total": 741, "resolved": 710, "resolved_early": 643, "resolved_on_time": 50,
               "resolved_late": 17, "in_progress": 31, "in_progress_on_time": 31, "in_progress_overdue": 0,
               "apologies": 17, "late_without_apology": 0, "inter_agency": 25, "exchanged_electronically": 17,
               "from_merged_units": 0, "online_share": 33.3, "electronic_share": 68.0}
    return out, figures


def test_report_reproduces_the_ward_figures_of_binh_hung_from_its_events(tmp, cleanup):
    # the ward's name from the configuration, the land office's from the deployment's units table
    os.mkdir(os.path.join(tmp, "codes"))
    with open(os.path.join(tmp, "codes", "units.codes"), "w") as f:
        f.write("[units.names]\ncode  name\n%s  Văn phòng đăng ký đất đai thành phố Phan Thiết\n" % LAND)
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}}, {}, start=False, gateway={"codes_dir": os.path.join(tmp, "codes")}))
    with open(gw.config, "a") as f:
        f.write("\n[agencies]\n%s = UBND phường Bình Hưng\n" % WARD)
    gw.start()
    events, want = ward_events()
    for i in range(0, len(events), 100):
        status, doc, _ = gw.post("peer-a", {"events": events[i:i + 100]}, "ward-%d" % i)
        assert status == 202, doc
    rc, out, err = report(gw, "--from", "01/01/2023", "--to", "31/05/2023", "--format", "json")
    assert rc == 0, err
    doc = json.loads(out)
    (ward,) = doc["agencies"]
    assert ward["agency"] == WARD and ward["name"] == "UBND phường Bình Hưng", ward
    for row in (ward, doc["total"]):
        got = {k: row[k] for k in want}
        assert got == want, {k: (got[k], want[k]) for k in want if got[k] != want[k]}
    # the channels and the carried over add up to everything received: nothing hidden
    t = doc["total"]
    assert t["carried_over"] + t["direct"] + t["online"] + t["postal"] + t["not_stated"] == t["received_total"] == 741
    # where the 17 went late: the land office, not the ward that received them
    assert doc["late_at"] == [{"agency": {"code": LAND, "name": "Văn phòng đăng ký đất đai thành phố Phan Thiết"},
                               "late": 17}], doc["late_at"]
    hand = {r["agency"]: r for r in doc["handling_agencies"]}
    assert (hand[LAND]["resolved_late"], hand[LAND]["resolved_early"], hand[LAND]["apologies"]) == (17, 8, 17), hand
    assert (hand[WARD]["resolved_late"], hand[WARD]["resolved"]) == (0, 710 - 25), hand[WARD]
    # the dossiers whose start the gateway never saw are counted apart, never guessed
    assert doc["unknown_start"] == {"seen": 5, "resolved": 3, "in_progress": 2}, doc["unknown_start"]
    # and in a month before they were first seen, they are nowhere
    rc, out, _ = report(gw, "--from", "2023-01-01", "--to", "2023-01-31", "--format", "json")
    assert json.loads(out)["unknown_start"] == {"seen": 0, "resolved": 0, "in_progress": 0}, out

    # the text an office reads: the same figures, the names, where they went late
    rc, out, _ = report(gw, "--from", "01/01/2023", "--to", "31/05/2023")
    assert rc == 0, out
    total = [l for l in out.splitlines() if l.startswith("total ")][0].split()
    assert total[1:17] == ["33", "369", "236", "27", "76", "741", "710", "643", "50", "17", "31", "0", "17", "25",
                           "0", "33.3%"], total
    assert "UBND phường Bình Hưng" in out and "late at %s (Văn phòng đăng ký đất đai" % LAND in out, out
    assert "unknown start" in out and "5 dossiers, 3 resolved" in out, out
    rc, out, _ = report(gw, "--from", "01/01/2023", "--to", "31/05/2023", "--format", "csv")
    rows = {(r["table"], r["agency"]): r for r in csv.DictReader(io.StringIO(out))}
    assert rows[("total", "total")]["received_total"] == "741" and rows[("handling", LAND)]["resolved_late"] == "17"
    assert rows[("unknown_start", "(unknown start)")]["resolved"] == "3", out
