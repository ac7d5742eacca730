"""`make demo`: start simulated peers (the commune's one-stop software, the
provincial portal, the civil registry, the post office, the city land office)
and the gateway with its default SQLite store, run sample dossiers through
every flow — signed (JWS, XML-DSig) over mutual TLS — wait until they are
delivered, print one line per hop and a summary, and stop everything."""
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from harness import Gateway, Peersim, wait_until  # noqa: E402
import test_flows as f  # noqa: E402  (the flows' sample builders and simulators)

OFFICE, PORTAL, REGISTRY, POST, LAND = f.OFFICE, f.PORTAL, f.REGISTRY, f.POST, f.LAND


class Started(list):
    def add(self, obj):
        self.append(obj)
        return obj


def say(status, what):
    print("  %s  %s" % (status, what))


def main():
    tmp = tempfile.mkdtemp(prefix="lienthong-demo-")
    started = Started()
    print("lienthong demo — working directory %s" % tmp)
    try:
        portal = f.portal_sim(tmp, started)
        office = f.office_sim(tmp, started)
        registry = f.registry_sim(tmp, started)         # its answers signed, as its callbacks are
        registry.fail(status=503, count=2)              # the registry "often fails"
        post = started.add(Peersim(tmp, POST))
        land = started.add(Peersim(tmp, LAND, sign=True))
        land.control("POST", "/_sim/reply", {"status": 200, "content_type": "application/xml",
                                             "body": f.sample("edxml/status.received.xml"), "sign": "xmldsig"})
        returned = f.sample("onestop/push.returned.json")
        answer = f.sample("postal/order-answer.ok.json")
        answer["OrderNumber"] = returned["dossier"]["code"]
        post.control("POST", "/_sim/reply", {"status": 200, "body": json.dumps(answer)})
        WARD = "motcua-phuong-binhhung"
        gw = started.add(Gateway(tmp, {
            WARD: {"adapter": "canonical"},
            OFFICE: {"adapter": "onestop", "url": office.url},
            PORTAL: f.portal_opts(tmp, portal),
            REGISTRY: {"adapter": "civilreg", "url": registry.url, "param.ma_don_vi": "H12.01957"},
            POST: {"adapter": "postal", "url": post.url, "param.customer_code": "UBND-DP",
                   "param.sender_address": "UBND xã Dương Phong", "param.sender_tel": "0209 3850 123",
                   "param.sender_province": "06"},
            LAND: {"adapter": "edxml", "url": land.url}},
            {"birth-to-registry": {"from": OFFICE, "events": "dossier.received", "procedures": "2.000986 2.001023",
                                   "to": REGISTRY},
             "office-to-portal": {"from": OFFICE, "to": PORTAL},
             "return-by-post": {"from": OFFICE, "events": "dossier.returned", "to": POST},
             "transfer": {"from": WARD, "events": "dossier.transferred", "to": LAND},
             "registry-to-office": {"from": REGISTRY, "to": OFFICE},
             "post-to-office": {"from": POST, "to": OFFICE},
             "post-intake-to-portal": {"from": POST, "events": "dossier.received", "to": PORTAL},
             "land-to-office": {"from": LAND, "to": OFFICE},
             "overdue-to-office": {"from": "lienthong", "events": "dossier.overdue", "to": OFFICE}},
            retry={"initial": "200ms", "max_delay": "1s", "max_age": "1h"}, start=False))
        with open(gw.config, "a") as cfg:
            cfg.write("\n[sla]\ncheck_interval = 500ms\nholidays = 2026-09-01..2026-09-02\n")
        gw.start()
        print("gateway up over mutual TLS: peers on 127.0.0.1:%d, admin on 127.0.0.1:%d, store %s" % (
            gw.port, gw.admin_port, gw.db))
        print("\nwhat the peers send (each message signed by its sender):")

        birth = f.birth_push()
        birth["dossier"]["appointmentDate"] = "2099-12-31T17:00:00.000+0700"
        code = birth["dossier"]["code"]
        say(gw.post(OFFICE, birth, "demo-1")[0], "commune counter: birth registration %s (iGate TIEP_NHAN)" % code)
        step = f.sample("onestop/push.step.json")
        step["dossier"]["code"] = code
        say(gw.post(OFFICE, step, "demo-2")[0], "commune: processing step for %s" % code)
        wait_until(lambda: [b for b in office.bodies() if b["event"] == "registry.submitted"], timeout=30)
        result = f.sample("civilreg/result.registered.xml").replace("000.00.12.H12-250310-0001", code).replace(
            'thoiGian="2025-03-12T16:40:00+07:00"', 'thoiGian="%s"' % f.now_vn().isoformat()).replace(
            'messageId="HT60-KQ-20250312-004511"', 'messageId="demo-kq-1"')
        say(gw.post(REGISTRY, f.sign_xml_with_xml_crypto(result, REGISTRY), "demo-kq-1",
                    content_type="application/xml", raw=True, sign=False)[0],
            "civil registry: registered, child's personal ID 060225001234 (XML-DSig by xml-crypto)")
        resolved = f.sample("onestop/push.resolved.json")
        resolved["dossier"]["code"] = code
        say(gw.post(OFFICE, resolved, "demo-3")[0], "commune: %s resolved — nobody typed it twice" % code)
        say(gw.post(POST, f.sample("postal/intake.death-registration.json"), "demo-4")[0],
            "post office: death registration collected at the counter (channel 3)")
        say(gw.post(OFFICE, returned, "demo-5")[0], "commune: result of %s returned by post" % returned["dossier"]["code"])
        delivered = f.sample("postal/tracking.delivered.json")
        delivered["orderNumber"] = returned["dossier"]["code"]
        say(gw.post(POST, delivered, "demo-6")[0], "post office: delivered to the citizen")
        late = f.sample("onestop/push.received.json")
        late["dossier"]["code"] = "000.00.12.H12-261120-0007"
        late["dossier"]["procedure"] = {"code": "1.004227", "name": "Đăng ký biến động đất đai"}
        late["dossier"]["appointmentDate"] = "2026-11-20T17:00:00.000+0700"
        say(gw.post(OFFICE, late, "demo-7")[0], "commune: a dossier already past its appointment date")
        wait_until(lambda: [b for b in office.bodies() if b["event"] == "dossier.overdue"
                            and b["dossier"]["code"] == "000.00.12.H12-261120-0007"], timeout=30)
        say("   ", "lienthong: dossier.overdue sent to the commune, so it prints the apology letter")
        apology = f.sample("onestop/push.apology.json")
        apology["dossier"]["code"] = "000.00.12.H12-261120-0007"
        say(gw.post(OFFICE, apology, "demo-8")[0], "commune: apology letter with a new appointment date")
        with open(os.path.join(ROOT, "tests", "unit", "data", "edxml", "transfer.json"), encoding="utf-8") as tf:
            transfer = json.load(tf)
        transfer.pop("source", None)
        transfer.pop("event_id", None)
        say(gw.post(WARD, transfer, "demo-9")[0], "ward Bình Hưng: dossier %s transferred to the land office (edXML)" %
            transfer["dossier_code"])
        wait_until(lambda: land.received(ok_only=True), timeout=30)
        land_result = f.sample("edxml/status.resolved.xml").replace(
            "25/04/2025 15:30:00", f.now_vn().strftime("%d/%m/%Y %H:%M:%S"))
        say(gw.post(LAND, f.sign_xml_with_xml_crypto(land_result, LAND), "demo-10", content_type="application/xml",
                    raw=True, sign=False)[0], "land office: result back (edXML status 06, XML-DSig)")
        bad = f.sample("onestop/push.received.json")
        bad["dossier"]["applyMethod"] = {"id": 9}
        status, doc, _ = gw.post(OFFICE, bad, "demo-11")
        say(status, "refused: %s" % doc.get("detail"))
        status, doc, _ = gw.post(OFFICE, f.sample("onestop/push.received.json"), "demo-12",
                                 jws={"iat": int(time.time()) - 3600})
        say(status, "refused: %s" % doc.get("detail"))

        def drained():
            text = gw.admin("/metrics")
            depth = [l for l in text.splitlines() if l.startswith("lienthong_queue_depth{")]
            return depth and all(l.endswith(" 0") for l in depth)
        wait_until(drained, timeout=60, step=0.2, what="every queue to drain")

        print("\nhops (from the store: every event, where it went, how many attempts):")
        for row in gw.query(
                "SELECT e.dossier_code, e.type, e.source, d.dest, d.attempts, d.state, COALESCE(d.last_status, 0)"
                " FROM events e LEFT JOIN deliveries d ON d.event_seq = e.seq ORDER BY e.seq, d.id"):
            code_, type_, src, dest, attempts, state, last = row
            if dest is None:
                print("  %-26s %-28s %-22s (kept; no route)" % (code_, type_, src))
                continue
            outcome = {2: "delivered", 3: "DEAD LETTER (%d)" % last}.get(state, "state %s" % state)
            print("  %-26s %-28s %-22s -> %-20s %d attempt%s  %s" % (
                code_, type_, src, dest, attempts, "" if attempts == 1 else "s", outcome))
        status = json.loads(gw.admin("/v1/admin/status"))
        print("\nsummary:")
        print("  events stored: %d (from %d messages)" % (status["events_stored"], status["messages_stored"]))
        for p in status["peers"]:
            if p["destination"]:
                print("  %-22s delivered %3d   retried %3d   dead-lettered %d" % (
                    p["name"], p["delivered"], p["retried"], p["dead_letters"]))
        print("  logins to the portal: %d; every event and attempt is one JSON line in %s" % (
            len([r for r in portal.received() if r["path"] == "/in/login"]), gw.log_path))
        # the samples' dossiers were received from 2022 on: report over all of them
        month = "2022-01-01"
        today = f.now_vn().strftime("%Y-%m-%d")
        print("\nthe offices' report (build/lienthong report --from %s --to %s):" % (month, today))
        rep = subprocess.run([os.path.join(ROOT, "build", "lienthong"), "report", "--from", month, "--to", today,
                              "-c", gw.config], capture_output=True, text=True, timeout=30)
        for line in (rep.stdout or rep.stderr).splitlines():
            print("  " + line)
        print("\n  try: build/lienthong trail %s -c %s" % (code, gw.config))
        print("       build/lienthong dlq list -c %s   (then dlq show ID, dlq replay ID)" % gw.config)
    finally:
        for obj in reversed(started):
            obj.stop()
    print("demo stopped everything it started.")


if __name__ == "__main__":
    main()
