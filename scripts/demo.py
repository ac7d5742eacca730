"""`make demo`: start simulated peers and the gateway (default SQLite store),
send sample dossiers from a commune one-stop office, wait until they are
delivered, print what happened, and stop everything it started."""
import json
import os
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from harness import Gateway, Peersim, wait_until  # noqa: E402

OFFICE = "motcua-xa-duongphong"
PORTAL, REGISTRY, POST = "cong-dvc-tinh", "hotich-tinh", "buudien-tinh"

BIRTH = {"code": "2.000986", "name": "Đăng ký khai sinh"}
DEATH = {"code": "1.011733", "name": "Đăng ký khai tử"}
LAND = {"code": "1.004227", "name": "Đăng ký biến động quyền sử dụng đất"}
HOUSEHOLD = {"code": "2.001612", "name": "Đăng ký thành lập hộ kinh doanh"}

APPLICANTS = ["Nguyễn Thị Lan", "Trần Văn Hùng", "Lê Thị Mai", "Phạm Minh Tuấn", "Hoàng Thị Hoa",
              "Vũ Văn Nam", "Đặng Thị Thu", "Bùi Quang Huy"]


def dossier_event(n, proc, type_, channel="direct", status=2, detail=None, return_via="direct"):
    code = "000.00.12.H12-261124-%04d" % n
    ev = {
        "type": type_,
        "occurred_at": "2026-11-24T08:%02d:00+07:00" % (n % 60),
        "dossier_code": code,
        "dossier": {
            "procedure": proc,
            "receiving_agency": {"code": "000.00.12.H12", "name": "UBND xã Dương Phong"},
            "channel": channel,
            "status": status,
            "applicant": {"type": "citizen", "name": APPLICANTS[n % len(APPLICANTS)],
                          "address": {"province": {"code": "06", "name": "Tỉnh Bắc Kạn"},
                                      "commune": {"code": "01957", "name": "Xã Dương Phong"},
                                      "detail": "Thôn Nà Pài"}},
            "received_at": "2026-11-24T08:00:00+07:00",
            "due_at": "2026-11-27T17:00:00+07:00",
            "return_via": return_via,
        },
    }
    if detail:
        ev["detail"] = detail
    return ev


def samples():
    """(message id, event) in the order a busy morning at the counter sends them."""
    out = []
    n = 1
    for i in range(4):      # births: to the civil registry and the portal
        out.append(dossier_event(n, BIRTH, "dossier.received"))
        out.append(dossier_event(n, BIRTH, "dossier.step", status=4,
                                 detail={"step": {"code": "TD", "name": "Thẩm định hồ sơ", "handler": "Công chức tư pháp - hộ tịch"}}))
        n += 1
    out.append(dossier_event(n, DEATH, "dossier.received"))
    n += 1
    for i in range(3):      # land and business: portal only, one returned by post
        out.append(dossier_event(n, LAND if i < 2 else HOUSEHOLD, "dossier.received", channel="online", status=2))
        out.append(dossier_event(n, LAND if i < 2 else HOUSEHOLD, "dossier.resolved", status=9))
        out.append(dossier_event(n, LAND if i < 2 else HOUSEHOLD, "dossier.returned", status=10,
                                 return_via="postal" if i else "direct"))
        n += 1
    return [("demo-%03d" % i, ev) for i, ev in enumerate(out, 1)]


def main():
    tmp = tempfile.mkdtemp(prefix="lienthong-demo-")
    print("lienthong demo — working directory %s" % tmp)
    sims = {}
    gw = None
    try:
        for name in (PORTAL, REGISTRY, POST):
            sims[name] = Peersim(tmp, name)
        # the civil registry "often fails": its next 3 answers are 503, then it is slow
        sims[REGISTRY].fail(status=503, count=3)
        sims[REGISTRY].fail(delay_ms=300, count=2)
        # the post office refuses one order outright (bad address): a dead letter
        sims[POST].fail(status=400, count=1, body='{"Status":"400","Message":"Địa chỉ người nhận không hợp lệ"}')
        peers = {OFFICE: {"inbound": "push"},
                 PORTAL: {"url": sims[PORTAL].url, "concurrency": 4},
                 REGISTRY: {"url": sims[REGISTRY].url, "concurrency": 2},
                 POST: {"url": sims[POST].url, "concurrency": 2}}
        routes = {"birth-death-registration": {"from": OFFICE, "events": "dossier.received",
                                               "procedures": "2.000986 2.001023 1.011733", "to": REGISTRY},
                  "everything-to-portal": {"from": OFFICE, "to": PORTAL},
                  "return-by-post": {"from": OFFICE, "events": "dossier.returned", "to": POST}}
        gw = Gateway(tmp, peers, routes, retry={"initial": "200ms", "max_delay": "2s", "max_age": "1h"},
                     gateway={"log_format": "json"})
        print("gateway up: peers on 127.0.0.1:%d, admin on 127.0.0.1:%d, store %s" % (gw.port, gw.admin_port, gw.db))
        print()
        events = samples()
        accepted = 0
        for mid, ev in events:
            status, doc, _ = gw.post(OFFICE, ev, mid)
            if status == 202:
                accepted += 1
            dest = ", ".join(doc.get("events", [{}])[0].get("routed_to", [])) if status == 202 else doc
            print("  %s %-18s %-26s -> %s" % (status, ev["type"], ev["dossier_code"], dest))
        # a repeat of the first message: answered with its original receipt, stored once
        status, doc, _ = gw.post(OFFICE, events[0][1], events[0][0])
        print("  %s duplicate of %s: %s" % (status, events[0][0], doc.get("status")))
        # a broken message: refused with a reason, nothing stored
        status, doc, _ = gw.post(OFFICE, {"type": "dossier.received", "dossier_code": "X"}, "demo-bad")
        print("  %s refused: %s" % (status, doc.get("detail")))

        def drained():
            text = gw.admin("/metrics")
            depth = [l for l in text.splitlines() if l.startswith("lienthong_queue_depth{")]
            return depth and all(l.endswith(" 0") for l in depth)
        wait_until(drained, timeout=60, step=0.2, what="every queue to drain")

        print()
        print("hops (from the store):")
        for row in gw.query(
                "SELECT e.dossier_code, e.type, d.dest, d.attempts, d.state, COALESCE(d.last_status, 0)"
                " FROM deliveries d JOIN events e ON e.seq = d.event_seq ORDER BY d.id"):
            code, type_, dest, attempts, state, last = row
            outcome = {2: "delivered", 3: "DEAD LETTER (%d)" % last}.get(state, "state %d" % state)
            print("  %-26s %-18s -> %-14s %d attempt%s  %s" % (code, type_, dest, attempts,
                                                            "" if attempts == 1 else "s", outcome))
        print()
        status = json.loads(gw.admin("/v1/admin/status"))
        print("summary:")
        print("  events received:   %d (from %d messages; 1 duplicate answered, 1 refused)" % (
            status["events_stored"], accepted))
        for p in status["peers"]:
            if p["destination"]:
                print("  %-16s delivered %3d   retried %3d   dead-lettered %d" % (
                    p["name"], p["delivered"], p["retried"], p["dead_letters"]))
        print("  every event and attempt is one JSON line in %s" % gw.log_path)
    finally:
        if gw:
            gw.stop()
        for s in sims.values():
            s.stop()
    print("demo stopped everything it started.")


if __name__ == "__main__":
    main()
