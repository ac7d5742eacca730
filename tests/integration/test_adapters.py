"""One file, one line: `lienthong adapters` lists what the registry holds, and
the worked example of adapters/README.md (tests/example/kiosk.c, built into
build/tests/lienthong-example by its registry line alone) carries a rating in
and an invitation out over mutual TLS like any shipped adapter."""
import json
import os
import subprocess

from harness import BUILD, LIENTHONG, ROOT, Gateway, Peersim, event, wait_until

EXAMPLE = os.path.join(BUILD, "tests", "lienthong-example")
EXAMPLE_ENV = {"LT_CODES_DIR": os.path.join(ROOT, "codes") + ":" + os.path.join(ROOT, "tests", "example")}
KIOSK = "peer-c"      # a dev-PKI identity, here the kiosk


def adapters(binary=LIENTHONG, *args):
    p = subprocess.run([binary, "adapters"] + list(args), capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_lienthong_adapters_lists_each_adapter_with_its_directions_and_params(tmp, cleanup):
    listed = json.loads(adapters(LIENTHONG, "--json"))
    names = [a["name"] for a in listed]
    assert names == adapters(LIENTHONG, "--names").split()
    assert {"canonical", "onestop", "provincial", "postal", "civilreg", "edxml"} <= set(names)
    assert "kiosk" not in names                                 # the example does not ship
    by = {a["name"]: a for a in listed}
    assert by["onestop"]["in"] == ["push", "pull"] and by["onestop"]["out"] == ["deliveries"]
    assert by["provincial"]["out"] == ["deliveries", "session login"]
    assert by["civilreg"]["content_type"] == "application/xml" and by["civilreg"]["answers"] == "signed"
    assert "KetQuaDangKy" in by["civilreg"]["signed_xml_kinds"]
    madonvi = [p for p in by["provincial"]["params"] if p["name"] == "madonvi"][0]
    assert madonvi["required"] is True and madonvi["about"]
    assert "postal.tracking" in by["postal"]["codes"]
    assert "dossier.channel" in by["provincial"]["needs"] and "needs" not in by["canonical"]   # deliverable.h
    text = adapters(LIENTHONG)
    assert "*madonvi" in text and "page_size" in text and "(default: 100)" in text
    p = subprocess.run([LIENTHONG, "adapters", "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "usage: lienthong adapters" in p.stdout
    # the example build: the same binary plus one registry line
    assert adapters(EXAMPLE, "--names").split() == names + ["kiosk"]


def test_the_worked_example_adapter_carries_a_rating_in_and_an_invitation_out(tmp, cleanup):
    office = cleanup.add(Peersim(tmp, "office"))
    kiosk = cleanup.add(Peersim(tmp, "kiosk-in"))
    gw = cleanup.add(Gateway(tmp, {
        KIOSK: {"adapter": "kiosk"},
        "kiosk-out": {"adapter": "kiosk", "url": kiosk.url, "param.ma_co_quan": "000.00.12.H12",
                      "param.path": "/moi-danh-gia"},
        "peer-a": {}, "office": {"url": office.url}},
        {"ratings": {"from": KIOSK, "to": "office"},
         "returned": {"from": "peer-a", "events": "dossier.returned", "to": "kiosk-out"}},
        binary=EXAMPLE, env=EXAMPLE_ENV))
    rating = {"maHoSo": "000.00.12.H12-250310-0001", "mucDo": "HAI_LONG", "thoiGian": "15/03/2025 19:45:00",
              "yKien": "Nhanh gọn"}
    status, doc, _ = gw.post(KIOSK, rating, "k-1")
    assert status == 202, doc
    body = wait_until(lambda: office.bodies(), what="the feedback at the office")[0]
    assert body["type"] == "dossier.feedback" and body["detail"] == {"rating": 4, "comment": "Nhanh gọn"}
    assert body["source"] == KIOSK and body["occurred_at"] == "2025-03-15T19:45:00+07:00"
    bad = dict(rating, mucDo="TUYET_VOI")
    status, doc, _ = gw.post(KIOSK, bad, "k-2")
    assert status == 422 and '/mucDo: unknown rating "TUYET_VOI"' in doc["detail"], doc
    # out: a returned dossier becomes an invitation to rate, signed like any delivery
    returned = event("000.00.12.H12-250310-0002", "dossier.returned",
                     dossier={"procedure": {"code": "2.000986", "name": "Đăng ký khai sinh"},
                              "returned_at": "2025-03-16T10:00:00+07:00"})
    assert gw.post("peer-a", returned, "k-3")[0] == 202
    got = wait_until(lambda: kiosk.received(ok_only=True), what="the invitation at the kiosk")[0]
    assert got["path"].endswith("/moi-danh-gia") and got["headers"]["x-signature"], got
    invitation = json.loads(got["body"])
    assert invitation == {"maCoQuan": "000.00.12.H12", "maHoSo": "000.00.12.H12-250310-0002",
                          "tenTTHC": "Đăng ký khai sinh", "ngayTra": "16/03/2025 10:00:00"}


def test_check_config_names_the_example_adapters_missing_param(tmp, cleanup):
    gw = cleanup.add(Gateway(tmp, {"kiosk-out": {"adapter": "kiosk", "url": "https://127.0.0.1:1/x"}}, {},
                             start=False))
    p = subprocess.run([EXAMPLE, "check-config", "-c", gw.config], capture_output=True, text=True,
                       env=dict(os.environ, **EXAMPLE_ENV))
    assert p.returncode == 2 and "peer kiosk-out: adapter kiosk needs param.ma_co_quan" in p.stderr, p.stderr
    p = subprocess.run([LIENTHONG, "check-config", "-c", gw.config], capture_output=True, text=True)
    assert p.returncode == 2 and 'unknown adapter "kiosk"' in p.stderr, p.stderr
