"""The audit trail: every message accepted and every signed message sent is
a row chained by hashes; `lienthong audit verify` finds any change."""
import hashlib
import json
import os
import shutil
import subprocess

from harness import LIENTHONG, event, jws_detached, peer_files, wait_until
from test_spine import one_route


def sha(b):
    return hashlib.sha256(b if isinstance(b, bytes) else b.encode()).hexdigest()


def verify(gw):
    r = subprocess.run([LIENTHONG, "audit", "verify", "-c", gw.config], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def test_audit_trail_records_what_came_in_and_went_out_and_verify_finds_tampering(tmp, cleanup):
    gw, sims = one_route(tmp, cleanup)
    portal = sims["portal"]
    f = peer_files("peer-a", None)
    sent = {}
    for mid, body in [("au-1", event("AU-1")), ("au-2", {"events": [event("AU-2"), event("AU-3")]})]:
        data = json.dumps(body).encode()
        sig = jws_detached(data, key_path=f["sign_key"], cert_path=f["sign_cert"], jti=mid)
        status, doc, _ = gw.post("peer-a", data, mid, raw=True, sign=False, headers={"X-Signature": sig})
        assert status == 202, doc
        sent[mid] = (sha(data), sha(sig))
    assert gw.post("peer-a", event("AU-1"), "au-1")[0] == 200          # a duplicate: no new row
    assert gw.post("peer-a", {"events": []}, "au-bad")[0] in (400, 422)  # refused: no row
    wait_until(lambda: len(portal.received(ok_only=True)) == 3, what="three deliveries")
    wait_until(lambda: gw.query("SELECT COUNT(*) FROM audit WHERE direction = 'out'")[0][0] == 3,
               what="the three deliveries in the audit trail")

    rows = gw.query("SELECT seq, direction, peer, message_id, body_sha256, sig_sha256 FROM audit ORDER BY seq")
    ins = {r[3]: r for r in rows if r[1] == "in"}
    assert set(ins) == {"au-1", "au-2"}, rows
    for mid, (body_sha, sig_sha) in sent.items():
        assert ins[mid][2] == "peer-a" and (ins[mid][4], ins[mid][5]) == (body_sha, sig_sha), (ins[mid], sent[mid])
    outs = {r[3]: r for r in rows if r[1] == "out"}
    for rec in portal.received(ok_only=True):    # what the portal got is what the trail says went out
        row = outs[rec["headers"]["x-message-id"]]
        assert row[2] == "portal" and row[4] == sha(rec["body"]) and row[5] == sha(rec["headers"]["x-signature"]), row

    rc, out = verify(gw)
    assert rc == 0 and "audit trail intact: 5 rows (2 messages in, 3 out)" in out, out
    gw.stop()
    pristine = os.path.join(tmp, "pristine.db")
    shutil.copy(gw.db, pristine)

    def tampered(sql, want_row, want_words):
        shutil.copy(pristine, gw.db)
        subprocess.run(["sqlite3", gw.db, sql], check=True)
        rc, out = verify(gw)
        assert rc == 1 and "audit trail BROKEN" in out, (sql, out)
        assert ("row %d " % want_row) in out and want_words in out, (sql, out)

    tampered("UPDATE audit SET peer = 'peer-x' WHERE seq = 2", 2, "content does not match its hash")
    tampered("DELETE FROM audit WHERE seq = 2", 3, "does not follow the row before it")
    tampered("UPDATE messages SET digest = '%s' WHERE message_id = 'au-1'" % ("0" * 64), 1, "the message was changed")
    tampered("DELETE FROM messages WHERE message_id = 'au-2'", ins["au-2"][0], "not in the store")
    # a forger who recomputes the row's own hash still breaks the chain after it
    shutil.copy(pristine, gw.db)
    subprocess.run(["sqlite3", gw.db, "UPDATE audit SET hash = '%s' WHERE seq = 2" % ("f" * 64)], check=True)
    rc, out = verify(gw)
    assert rc == 1 and "row 2 " in out and "row 3 " in out, out
    shutil.copy(pristine, gw.db)
    assert verify(gw)[0] == 0
