"""Due dates and the overdue watchdog, end to end: a late dossier gets one
overdue notice to the one-stop office, whose apology with a new date reaches
the portal and stops the notices."""
import time

from harness import Gateway, Peersim, event, wait_until


def test_late_dossier_gets_one_overdue_notice_and_the_apology_reaches_the_portal(tmp, cleanup):
    office = cleanup.add(Peersim(tmp, "motcua-xa-duongphong"))
    portal = cleanup.add(Peersim(tmp, "cong-dvc-tinh"))
    gw = cleanup.add(Gateway(
        tmp,
        {"peer-a": {}, "motcua-xa-duongphong": {"url": office.url}, "cong-dvc-tinh": {"url": portal.url}},
        {"overdue-to-office": {"from": "lienthong", "events": "dossier.overdue", "to": "motcua-xa-duongphong"},
         "office-to-portal": {"from": "peer-a", "to": "cong-dvc-tinh"}},
        gateway={}, start=False))
    with open(gw.config, "a") as f:
        f.write("\n[sla]\ncheck_interval = 200ms\nholidays = 2026-09-01..2026-09-02\n")
    gw.start()
    late = event("000.00.12.H12-261120-0007", dossier={"status": 4, "due_at": "2026-11-20T17:00:00+07:00"})
    on_time = event("000.00.12.H12-261124-0008", dossier={"status": 2, "due_at": "2099-12-31T17:00:00+07:00"})
    assert gw.post("peer-a", late, "late-1")[0] == 202
    assert gw.post("peer-a", on_time, "ontime-1")[0] == 202
    notices = wait_until(lambda: [b for b in office.bodies() if b["type"] == "dossier.overdue"], what="overdue notice")
    n = notices[0]
    assert n["dossier_code"] == "000.00.12.H12-261120-0007" and n["source"] == "lienthong"
    assert n["detail"]["old_due_at"] == "2026-11-20T17:00:00+07:00"
    # the log line an operator greps for says what happened and to which dossier
    line = [l for l in gw.log_lines() if l["event"] == "dossier.overdue"][0]
    assert "overdue" in line["msg"] and "dossier.overdue" in line["msg"], line
    assert "000.00.12.H12-261120-0007" in line["msg"] and "2026-11-20T17:00:00+07:00" in line["msg"], line
    time.sleep(1.0)                     # several sweeps later: still one notice for that due date
    assert len([b for b in office.bodies() if b["type"] == "dossier.overdue"]) == 1
    # the office apologises with a new date; the portal hears of it; no more notices
    apology = event("000.00.12.H12-261120-0007", "dossier.apology",
                    detail={"reason": "Chờ kết quả xác minh của Công an xã", "new_due_at": "2099-01-05T17:00:00+07:00"})
    assert gw.post("peer-a", apology, "apology-1")[0] == 202
    wait_until(lambda: [b for b in portal.bodies() if b["type"] == "dossier.apology"], what="apology at the portal")
    (due, apologies), = gw.query("SELECT due_at, apologies FROM dossiers WHERE code = ?", "000.00.12.H12-261120-0007")
    assert apologies == 1 and due > time.time()
    time.sleep(0.6)
    assert len([b for b in office.bodies() if b["type"] == "dossier.overdue"]) == 1
    assert gw.query("SELECT COUNT(*) FROM events WHERE type = 'dossier.overdue'") == [(1,)]
