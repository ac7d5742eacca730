#!/usr/bin/env python3
"""Signed seeds for fuzz_jws and fuzz_http, made at run time (make certs makes
the dev PKI, so they cannot be committed): detached JWS by peer-a's RSA and EC
keys over a sample body, with iat now and with iats no clock reaches (2^62,
-2^62, 2^63-1, one whose ×1000 wraps into the window) — the inputs that reach
the replay-window check after a signature verifies.

  signed_seeds.py jws DIR     SIGNATURE "\\n" BODY per file (fuzz_jws.c)
  signed_seeds.py http DIR    a POST to /v1/inbound/peer-a per file (fuzz_http.c)"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import HUGE_IATS, ROOT, jws_detached, peer_files, wrapping_iat  # noqa: E402


def main(kind, out):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(ROOT, "schemas", "samples", "canonical", "dossier.received.json"), "rb") as f:
        body = f.read()
    now = int(time.time())
    for keys in ("rsa", "ec"):
        f = peer_files("peer-a", keys)
        for i, iat in enumerate([now] + HUGE_IATS + [wrapping_iat(now * 1000)]):
            jti = "seed-%s-%d" % (keys, i)
            sig = jws_detached(body, f["sign_key"], f["sign_cert"], jti, iat=iat)
            if kind == "jws":
                data = sig.encode() + b"\n" + body
            else:
                data = (("POST /v1/inbound/peer-a HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
                         "X-Message-Id: %s\r\nX-Signature: %s\r\nContent-Length: %d\r\n\r\n") % (
                             jti, sig, len(body))).encode() + body
            with open(os.path.join(out, "signed-%s-iat-%d" % (keys, i)), "wb") as o:
                o.write(data)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("jws", "http"):
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
