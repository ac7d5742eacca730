"""Code tables are data (codes/): a deployment's copy of a table in the
configuration directory changes what the gateway accepts and sends, with no
rebuild; a bad entry is named with its file and line by check-config, and the
gateway does not start with it."""
import os
import subprocess

from harness import LIENTHONG, ROOT, Gateway, Peersim, event, wait_until

POST, OFFICE = "buudien-tinh", "motcua-xa-duongphong"


def shipped_section(name, table):
    """The [table] section of the shipped codes/NAME.codes, as text."""
    with open(os.path.join(ROOT, "codes", name), encoding="utf-8") as f:
        text = f.read()
    start = text.index("[%s]" % table)
    end = text.find("\n[", start)
    return text[start:] if end < 0 else text[start:end + 1]


def deployment_codes(tmp, name, text):
    """Writes the deployment's codes/NAME (beside the gateway's config file)."""
    os.makedirs(os.path.join(tmp, "codes"), exist_ok=True)
    with open(os.path.join(tmp, "codes", name), "w", encoding="utf-8") as f:
        f.write(text)


def tracking(code, status_code):
    return {"orderNumber": code, "statusCode": status_code, "time": "2025-03-15T11:00:00+07:00",
            "itemCode": "EL123456799VN"}


def test_a_deployment_code_table_changes_what_is_accepted_without_a_rebuild(tmp, cleanup):
    office = cleanup.add(Peersim(tmp, OFFICE))
    gw = cleanup.add(Gateway(tmp, {POST: {"adapter": "postal"}, OFFICE: {"url": office.url}},
                             {"post-to-office": {"from": POST, "to": OFFICE}}))
    status, doc, _ = gw.post(POST, tracking("000.00.12.H12-250311-0009", 8), "c-1")
    assert status == 422 and 'unknown VNPost status code "8"' in doc["detail"], doc
    # this province's VNPost contract has code 8: its copy of the table, then a restart
    gw.stop()
    deployment_codes(tmp, "postal.codes", shipped_section("postal.codes", "postal.tracking") +
                     "8           postal.failed     yes       Hoàn trả theo yêu cầu của người gửi\n")
    gw.start()
    assert "replaced: postal.tracking (%s)" % os.path.join(tmp, "codes", "postal.codes") in gw.log_text()
    status, doc, _ = gw.post(POST, tracking("000.00.12.H12-250311-0009", 8), "c-2")
    assert status == 202, doc
    body = wait_until(lambda: office.bodies(), what="the event at the office")[0]
    assert body["type"] == "postal.failed"
    assert body["detail"]["postal_status"] == "Hoàn trả theo yêu cầu của người gửi"
    assert body["detail"]["returned_to_sender"] is True
    # the other tables stay as shipped
    assert gw.post(POST, tracking("000.00.12.H12-250311-0010", 5), "c-3")[0] == 202


def test_unit_renames_come_from_the_deployment_units_table(tmp, cleanup):
    land = cleanup.add(Peersim(tmp, "land"))
    other = cleanup.add(Peersim(tmp, "other"))
    deployment_codes(tmp, "units.codes", "[units]\nold            new            since\n"
                     "000.20.12.H12  000.20.15.H68  2025-07-01\n60             68\n")
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}, "land": {"url": land.url}, "other": {"url": other.url}},
                             {"by-handling-agency": {"from": "peer-a", "agencies": "000.20.15.H68", "to": "land"},
                              "rest": {"from": "peer-a", "to": "other"}}))
    ev = event("000.00.12.H12-250801-0004", dossier={
        "handling_agency": {"code": "000.20.12.H12"},
        "applicant": {"name": "Lê Văn Tám", "address": {"province": {"code": "60"}, "commune": {"code": "22912"}}}},
        occurred_at="2025-08-01T09:00:00+07:00")
    status, doc, _ = gw.post("peer-a", ev, "u-1")
    assert status == 202 and doc["events"][0]["routed_to"] == ["land", "other"], doc
    body = wait_until(lambda: land.bodies())[0]
    assert body["dossier"]["handling_agency"]["code"] == "000.20.15.H68"
    assert body["detail"]["previous_codes"] == {"dossier.handling_agency": "000.20.12.H12",
                                                "dossier.applicant.address.province": "60"}
    old = event("000.00.12.H12-250601-0002", dossier={"handling_agency": {"code": "000.20.12.H12"}},
                occurred_at="2025-06-01T09:00:00+07:00")
    assert gw.post("peer-a", old, "u-2")[1]["events"][0]["routed_to"] == ["other"]   # before the day: unchanged


def test_a_bad_code_entry_is_named_with_its_file_and_line_and_the_gateway_does_not_start(tmp, cleanup):
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}}, {}, start=False))
    deployment_codes(tmp, "local.codes", "# our codes\n[onestop.apply_method]\nid channel\n0 direct\n1 fax\n")
    bad = os.path.join(tmp, "codes", "local.codes")
    p = subprocess.run([LIENTHONG, "check-config", "-c", gw.config], capture_output=True, text=True)
    assert p.returncode == 2
    assert '%s:5: table onestop.apply_method: channel "fax" is not a canonical dossier.channel' % bad in p.stderr, \
        p.stderr
    run = subprocess.run([LIENTHONG, "run", "-c", gw.config], capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert run.returncode == 2 and "%s:5:" % bad in run.stderr, run.stderr
    # fixed, check-config says which tables it took from the deployment's directory
    deployment_codes(tmp, "local.codes", "[onestop.apply_method]\nid channel\n0 direct\n1 online\n2 postal\n")
    p = subprocess.run([LIENTHONG, "check-config", "-c", gw.config], capture_output=True, text=True)
    assert p.returncode == 0 and "replaced: onestop.apply_method (%s)" % bad in p.stdout, p.stdout + p.stderr


def test_codes_dir_names_the_directory_and_a_missing_one_is_a_mistake(tmp, cleanup):
    mine = os.path.join(tmp, "province-codes")
    gw = cleanup.add(Gateway(tmp, {"peer-a": {}}, {}, gateway={"codes_dir": mine}, start=False))
    p = subprocess.run([LIENTHONG, "check-config", "-c", gw.config], capture_output=True, text=True)
    assert p.returncode == 2 and "codes_dir %s: No such file or directory" % mine in p.stderr, p.stderr
    os.makedirs(mine)
    with open(os.path.join(mine, "status.codes"), "w") as f:
        f.write(shipped_section("onestop.codes", "onestop.status"))
    p = subprocess.run([LIENTHONG, "check-config", "-c", gw.config], capture_output=True, text=True)
    assert p.returncode == 0 and "replaced: onestop.status (%s/status.codes)" % mine in p.stdout, p.stdout
