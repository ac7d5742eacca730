"""Declarative mappings: a new JSON peer dialect connected with a mapping file
and configuration only, over mutual TLS with real signatures; the shipped
onestop mapping carries what the C adapter carries; a mapping file's mistakes
and a peer naming no mapping are found by check-config with their lines."""
import json
import os
import subprocess

from harness import LIENTHONG, ROOT, Gateway, Peersim, event, wait_until
from test_codes import deployment_codes

# A made-up second vendor's dialect (flat Vietnamese field names, compact
# dates, channel and status codes of the portal), written for this test only.
VENDOR_B = """\
[mapping]
batch = danhSach
refusal = thanhCong
refusal_message = thongBao

[decode]
type!              = event(loaiSuKien) | code(onestop.action, loaiSuKien)
occurred_at!       = date(yyyyMMddHHmmss, thoiDiem)
dossier_code!      = maHoSo
dossier.procedure.code = maTTHC
dossier.procedure.name = tenTTHC
dossier.channel    = code(portal.channel, kenh) | "direct"
dossier.status     = int(trangThai)
dossier.applicant.name = concat(" ", hoDem, ten)
dossier.applicant.phone = soDienThoai
dossier.received_at = date("dd/MM/yyyy HH:mm:ss", ngayNop)
dossier.due_at     = date("dd/MM/yyyy", ngayHen)
dossier.documents[].name = giayTo[].ten

[decode when dossier.apology]
detail.reason      = lyDo
detail.new_due_at! = date("dd/MM/yyyy", ngayHenMoi)

[encode]
maHoSo       = dossier_code
loaiSuKien   = type
kenh         = num(code(portal.channel, dossier.channel))
trangThai    = dossier.status
ngayHen      = date("dd/MM/yyyy", dossier.due_at)
thoiDiem     = date(yyyyMMddHHmmss, occurred_at)
hoTen        = dossier.applicant.name
"""

VENDOR = "peer-c"        # a dev-PKI identity, here the vendor's software


def write(tmp, name, text):
    os.makedirs(os.path.join(tmp, "mappings"), exist_ok=True)
    with open(os.path.join(tmp, "mappings", name), "w", encoding="utf-8") as f:
        f.write(text)


def test_a_new_dialect_is_connected_with_a_mapping_file_and_configuration_only(tmp, cleanup):
    write(tmp, "vendor-b.map", VENDOR_B)
    office = cleanup.add(Peersim(tmp, "office"))
    vendor_in = cleanup.add(Peersim(tmp, "vendor-in"))
    vendor_in.control("POST", "/_sim/reply", {"status": 200, "body": json.dumps({"thanhCong": True})})
    gw = cleanup.add(Gateway(tmp, {
        VENDOR: {"adapter": "mapped", "param.mapping": "vendor-b"},
        "vendor-out": {"adapter": "mapped", "param.mapping": "vendor-b", "url": vendor_in.url, "param.path": "/hoso"},
        "peer-a": {}, "office": {"url": office.url}},
        {"from-vendor": {"from": VENDOR, "to": "office"}, "to-vendor": {"from": "peer-a", "to": "vendor-out"}}))
    assert "(onestop, opencps, vendor-b); from the deployment: %s" % os.path.join(tmp, "mappings", "vendor-b.map") in \
        gw.log_text()
    message = {"danhSach": [
        {"loaiSuKien": "TIEP_NHAN", "thoiDiem": "20250310081500", "maHoSo": "000.00.12.H12-250310-0101",
         "maTTHC": "2.000986", "tenTTHC": "Đăng ký khai sinh", "kenh": "2", "trangThai": "2",
         "hoDem": "Nguyễn Văn", "ten": "An", "soDienThoai": "0912345678", "ngayNop": "10/03/2025 08:15:00",
         "ngayHen": "13/03/2025", "giayTo": [{"ten": "Tờ khai"}, {"ten": "Giấy chứng sinh"}]},
        {"loaiSuKien": "XIN_LOI", "thoiDiem": "20250313160000", "maHoSo": "000.00.12.H12-250310-0101",
         "lyDo": "Chờ số định danh", "ngayHenMoi": "17/03/2025"}]}
    status, doc, _ = gw.post(VENDOR, message, "vb-1")
    assert status == 202 and len(doc["events"]) == 2, doc
    got = wait_until(lambda: len(office.bodies()) == 2 and office.bodies(), what="both events at the office")
    received, apology = got
    assert received["type"] == "dossier.received" and received["occurred_at"] == "2025-03-10T08:15:00+07:00"
    assert received["dossier"]["channel"] == "online" and received["dossier"]["status"] == 2
    assert received["dossier"]["applicant"] == {"name": "Nguyễn Văn An", "phone": "0912345678"}
    assert received["dossier"]["received_at"] == "2025-03-10T08:15:00+07:00"
    assert received["dossier"]["due_at"] == "2025-03-13T00:00:00+07:00"
    assert [d["name"] for d in received["dossier"]["documents"]] == ["Tờ khai", "Giấy chứng sinh"]
    assert apology["type"] == "dossier.apology" and apology["detail"]["new_due_at"] == "2025-03-17T00:00:00+07:00"
    # what the dialect cannot say is refused naming the field, and nothing is stored
    bad = {"loaiSuKien": "TIEP_NHAN", "thoiDiem": "20250230081500", "maHoSo": "D-2"}
    status, doc, _ = gw.post(VENDOR, bad, "vb-2")
    assert status == 422 and '/thoiDiem: "20250230081500" is not a real date and time' in doc["detail"], doc
    status, doc, _ = gw.post(VENDOR, {"loaiSuKien": "XIN_LOI", "thoiDiem": "20250313160000", "maHoSo": "D-3"}, "vb-3")
    assert status == 422 and "/ngayHenMoi: missing" in doc["detail"], doc
    assert gw.query("SELECT COUNT(*) FROM events") == [(2,)]
    # out: a canonical event in the vendor's words, signed like any delivery
    ev = event("000.00.12.H12-250310-0102", "dossier.step", occurred_at="2025-03-11T09:00:00+07:00",
               dossier={"channel": "postal", "status": 4, "due_at": "2025-03-14T17:00:00+07:00",
                        "applicant": {"name": "Trần Thị Bình"}})
    assert gw.post("peer-a", ev, "vb-4")[0] == 202
    sent = wait_until(lambda: vendor_in.received(ok_only=True), what="the delivery at the vendor")[0]
    assert sent["path"].endswith("/hoso") and sent["headers"]["x-signature"]
    assert json.loads(sent["body"]) == {"maHoSo": "000.00.12.H12-250310-0102", "loaiSuKien": "dossier.step", "kenh": 3,
                                        "trangThai": 4, "ngayHen": "14/03/2025", "thoiDiem": "20250311090000",
                                        "hoTen": "Trần Thị Bình"}


def test_the_onestop_mapping_carries_what_the_c_adapter_carries(tmp, cleanup):
    portal = cleanup.add(Peersim(tmp, "cong-dvc-tinh"))
    gw = cleanup.add(Gateway(tmp, {"motcua-xa-duongphong": {"adapter": "onestop"},
                                   "peer-b": {"adapter": "mapped", "param.mapping": "onestop"},
                                   "cong-dvc-tinh": {"url": portal.url}},
                             {"r": {"from": "*", "to": "cong-dvc-tinh"}}))
    with open(os.path.join(ROOT, "schemas", "samples", "onestop", "push.apology.json"), encoding="utf-8") as f:
        sample = json.load(f)
    assert gw.post("motcua-xa-duongphong", sample, "c-1")[0] == 202
    assert gw.post("peer-b", sample, "m-1")[0] == 202
    bodies = wait_until(lambda: len(portal.bodies()) == 2 and portal.bodies(), what="both at the portal")
    for b in bodies:
        b.pop("event_id", None)
        b.pop("source", None)
    assert bodies[0] == bodies[1], bodies


def test_check_config_names_a_mapping_files_mistakes_and_a_peer_without_one(tmp, cleanup):
    write(tmp, "vendor-b.map", VENDOR_B.replace("dossier.applicant.phone = soDienThoai",
                                                "dossier.applicant.phon = soDienThoai"))
    gw = cleanup.add(Gateway(tmp, {VENDOR: {"adapter": "mapped", "param.mapping": "vendor-b"},
                                   "peer-a": {"adapter": "mapped", "param.mapping": "vendor-c"}}, {}, start=False))
    p = subprocess.run([LIENTHONG, "check-config", "-c", gw.config], capture_output=True, text=True)
    bad = os.path.join(tmp, "mappings", "vendor-b.map")
    line = VENDOR_B.split("\n").index("dossier.applicant.phone = soDienThoai") + 1
    assert p.returncode == 2, p.stdout + p.stderr
    assert "%s:%d: dossier.applicant.phon is not a field of the canonical event" % (bad, line) in p.stderr, p.stderr
    write(tmp, "vendor-b.map", VENDOR_B)
    p = subprocess.run([LIENTHONG, "check-config", "-c", gw.config], capture_output=True, text=True)
    assert p.returncode == 2 and "peer peer-a: param.mapping names no mapping file (known: onestop, opencps, vendor-b)" in \
        p.stderr, p.stderr
    assert "%s:" % gw.config in p.stderr
    run = subprocess.run([LIENTHONG, "run", "-c", gw.config], capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert run.returncode == 2 and "param.mapping names no mapping file" in run.stderr, run.stderr


def test_opencps_a_second_vendors_dialect_shipped_as_a_mapping_only_works_both_ways(tmp, cleanup):
    """mappings/opencps.map (OpenCPS v2's dossier record in lienthong's envelope): what it
    pushes reaches the office as canonical events; what is routed to it leaves in its words,
    signed, over mutual TLS; what its `!` rules need is filled from the dossier or refused."""
    office = cleanup.add(Peersim(tmp, "office"))
    opencps_in = cleanup.add(Peersim(tmp, "opencps-in"))
    gw = cleanup.add(Gateway(tmp, {
        VENDOR: {"adapter": "mapped", "param.mapping": "opencps"},
        "opencps-out": {"adapter": "mapped", "param.mapping": "opencps", "url": opencps_in.url},
        "peer-a": {}, "office": {"url": office.url}},
        {"from-opencps": {"from": VENDOR, "to": "office"}, "to-opencps": {"from": "peer-a", "to": "opencps-out"}}))
    record = {"dossierNo": "000.00.12.H12-261124-0007", "referenceUid": "G22.99-261124-0007",
              "serviceCode": "1.001612", "serviceName": "Cấp giấy phép xây dựng", "govAgencyCode": "000.00.12.H12",
              "govAgencyName": "UBND xã Dương Phong", "applicantName": "Lê Thị Hoa", "applicantIdNo": "006190001234",
              "contactTelNo": "0912000111", "address": "Thôn Nà Pài", "cityCode": "06", "cityName": "Tỉnh Cao Bằng",
              "wardCode": "01954", "wardName": "Xã Dương Phong", "submitDate": "24/11/2026 08:05:00",
              "receiveDate": "24/11/2026 08:30:00", "dueDate": "08/12/2026 17:00:00", "dossierStatus": "receiving"}
    status, doc, _ = gw.post(VENDOR, {"items": [{"eventType": "dossier.received", "occurredAt": "24/11/2026 08:30:00",
                                                 "channel": "1", "dossier": record}]}, "oc-1")
    assert status == 202, doc
    got = wait_until(lambda: office.bodies(), what="the receipt at the office")[0]
    assert got["type"] == "dossier.received" and got["occurred_at"] == "2026-11-24T08:30:00+07:00", got
    d = got["dossier"]
    assert d["procedure"] == {"code": "1.001612", "name": "Cấp giấy phép xây dựng"} and d["channel"] == "direct", d
    assert d["applicant"]["name"] == "Lê Thị Hoa" and d["applicant"]["address"]["commune"]["code"] == "01954", d
    assert d["due_at"] == "2026-12-08T17:00:00+07:00", got
    assert d["status"] == 2 and "vendor_status" not in got.get("detail", {}), got   # codes/opencps.codes: receiving
    # out: a step of that dossier, which says nothing of its procedure, agency or applicant
    step = event("000.00.12.H12-261124-0007", "dossier.step", occurred_at="2026-11-25T10:00:00+07:00",
                 dossier={"status": 4}, detail={"step": {"name": "Thẩm định hồ sơ"}})
    status, doc, _ = gw.post("peer-a", step, "oc-2")
    assert status == 202, doc
    sent = wait_until(lambda: opencps_in.received(ok_only=True), what="the delivery at OpenCPS")[0]
    assert sent["path"].endswith("/o/rest/v2/lienthong/dossiers") and sent["headers"]["x-signature"]
    body = json.loads(sent["body"])
    assert body["eventType"] == "dossier.step" and body["occurredAt"] == "25/11/2026 10:00:00", body
    assert body["dossier"]["serviceCode"] == "1.001612" and body["dossier"]["govAgencyCode"] == "000.00.12.H12", body
    assert body["dossier"]["applicantName"] == "Lê Thị Hoa" and "dueDate" not in body["dossier"], body  # only what it needs
    assert body["dossier"]["dossierStatus"] == "processing", body     # status 4, through opencps.status
    # a dossier OpenCPS would not know: refused, naming what its mapping requires
    status, doc, _ = gw.post("peer-a", event("D-UNKNOWN", "dossier.step"), "oc-3")
    assert status == 422 and "cannot be delivered to opencps-out: dossier.procedure.code is required" in \
        doc["detail"], doc


# A table of the vendor's own words, declared by a *.codes file of the
# deployment's codes directory alone (codes/README.md: [VENDOR.NAME], its header
# row declares the columns; `status` is checked as the canonical dossier.status).
VENDOR_B_STATES = """\
[vendorb.state]
trangThai  status  meaning
moi        1       Mới đăng ký
tiepnhan   2       Đã tiếp nhận
dangxuly   4       Đang xử lý
"""
VENDOR_B_WORDS = VENDOR_B.replace("dossier.status     = int(trangThai)",
                                  "dossier.status     = int(code(vendorb.state, trangThai))").replace(
    "trangThai    = dossier.status", "trangThai    = code(vendorb.state, dossier.status)")


def test_a_code_table_declared_by_a_codes_file_serves_a_mapping_both_ways_and_a_reload_changes_it(tmp, cleanup):
    write(tmp, "vendor-b.map", VENDOR_B_WORDS)
    deployment_codes(tmp, "vendorb.codes", VENDOR_B_STATES)
    office = cleanup.add(Peersim(tmp, "office"))
    vendor_in = cleanup.add(Peersim(tmp, "vendor-in"))
    vendor_in.control("POST", "/_sim/reply", {"status": 200, "body": json.dumps({"thanhCong": True})})
    peers = {VENDOR: {"adapter": "mapped", "param.mapping": "vendor-b"},
             "vendor-out": {"adapter": "mapped", "param.mapping": "vendor-b", "url": vendor_in.url},
             "peer-a": {}, "office": {"url": office.url}}
    routes = {"from-vendor": {"from": VENDOR, "to": "office"}, "to-vendor": {"from": "peer-a", "to": "vendor-out"}}
    gw = cleanup.add(Gateway(tmp, peers, routes))
    codes = os.path.join(tmp, "codes", "vendorb.codes")
    started = [line for line in gw.log_text().split("\n") if "gateway.started" in line][0]
    assert "declared by data: opencps.status (" in started and "vendorb.state (%s)" % codes in started, started
    assert "replaced" not in started, started     # a table of its own, not a shipped one replaced
    item = {"loaiSuKien": "TIEP_NHAN", "thoiDiem": "20250310081500", "maHoSo": "DT-1", "trangThai": "tiepnhan"}
    assert gw.post(VENDOR, item, "dt-1")[0] == 202
    got = wait_until(lambda: office.bodies(), what="the event at the office")[0]
    assert got["dossier"]["status"] == 2, got
    status, doc, _ = gw.post(VENDOR, dict(item, maHoSo="DT-2", trangThai="xuly"), "dt-2")
    assert status == 422 and '/trangThai: unknown code "xuly" (table vendorb.state' in \
        doc["detail"], doc
    assert "moi, tiepnhan, dangxuly" in doc["detail"] or "moi tiepnhan dangxuly" in doc["detail"], doc
    assert gw.post("peer-a", event("DT-3", "dossier.step", dossier={"status": 4}), "dt-3")[0] == 202
    sent = wait_until(lambda: vendor_in.received(ok_only=True), what="the delivery at the vendor")[0]
    assert json.loads(sent["body"])["trangThai"] == "dangxuly", sent
    # the vendor renames a word and adds one: the file only, then SIGHUP
    deployment_codes(tmp, "vendorb.codes", VENDOR_B_STATES.replace("dangxuly", "xuly") +
                     "daxong     9       Đã giải quyết\n")
    gw.reload(peers, routes)
    assert gw.post(VENDOR, dict(item, maHoSo="DT-2", trangThai="xuly"), "dt-4")[0] == 202
    assert gw.post(VENDOR, dict(item, maHoSo="DT-5", trangThai="daxong"), "dt-5")[0] == 202
    bodies = wait_until(lambda: len(office.bodies()) == 3 and office.bodies(), what="the events after the reload")
    assert [b["dossier"]["status"] for b in bodies] == [2, 4, 9], bodies
    assert gw.post("peer-a", event("DT-3", "dossier.step", dossier={"status": 4},
                                   occurred_at="2025-03-12T09:00:00+07:00"), "dt-6")[0] == 202
    second = wait_until(lambda: len(vendor_in.received(ok_only=True)) == 2 and vendor_in.received(ok_only=True),
                        what="the second delivery")[1]
    assert json.loads(second["body"])["trangThai"] == "xuly", second


def test_check_config_names_a_duplicate_code_of_a_declared_table_and_a_mapping_naming_no_declared_table(tmp, cleanup):
    write(tmp, "vendor-b.map", VENDOR_B_WORDS.replace("int(code(vendorb.state, trangThai))",
                                                      "int(code(vendorb.states, trangThai))"))
    deployment_codes(tmp, "vendorb.codes", VENDOR_B_STATES + "moi        1       Mới (again)\n")
    gw = cleanup.add(Gateway(tmp, {VENDOR: {"adapter": "mapped", "param.mapping": "vendor-b"}}, {}, start=False))
    p = subprocess.run([LIENTHONG, "check-config", "-c", gw.config], capture_output=True, text=True)
    codes, mapping = os.path.join(tmp, "codes", "vendorb.codes"), os.path.join(tmp, "mappings", "vendor-b.map")
    assert p.returncode == 2, p.stdout + p.stderr
    assert '%s:6: table vendorb.state: trangThai "moi" is already on line 3' % codes in p.stderr, p.stderr
    line = VENDOR_B_WORDS.split("\n").index("dossier.status     = int(code(vendorb.state, trangThai))") + 1
    assert '%s:%d: dossier.status: code: unknown table "vendorb.states": no *.codes file declares it' % (mapping, line) in \
        p.stderr, p.stderr
    assert "unknown table [vendorb.state]" not in p.stderr, p.stderr
    # a mapping naming the table its file declares is not blamed for that file's mistake
    write(tmp, "vendor-b.map", VENDOR_B_WORDS)
    for argv in ([LIENTHONG, "check-config", "-c", gw.config], [LIENTHONG, "run", "-c", gw.config]):
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert p.returncode == 2, p.stdout + p.stderr
        assert 'trangThai \\"moi\\" is already on line 3' in p.stderr or \
            'trangThai "moi" is already on line 3' in p.stderr, p.stderr
        assert 'unknown table \\"vendorb.state\\"' not in p.stderr and \
            'unknown table "vendorb.state"' not in p.stderr, p.stderr
    # a namespace of the built-in tables is no vendor's: a typo there is still a mistake
    deployment_codes(tmp, "vendorb.codes", VENDOR_B_STATES + "[onestop.statuz]\nid status\n1 2\n")
    p = subprocess.run([LIENTHONG, "check-config", "-c", gw.config], capture_output=True, text=True)
    assert "%s:6: unknown table [onestop.statuz]" % codes in p.stderr, p.stderr
    # fixed: check-config names the declared table and where it came from
    write(tmp, "vendor-b.map", VENDOR_B_WORDS)
    deployment_codes(tmp, "vendorb.codes", VENDOR_B_STATES)
    p = subprocess.run([LIENTHONG, "check-config", "-c", gw.config], capture_output=True, text=True)
    assert p.returncode == 0 and "vendorb.state (%s)" % codes in p.stdout, p.stdout + p.stderr
