"""The operator's page at /ui: served with a strict policy, and its script
renders the gateway's real status (run under node, as a browser would)."""
import base64
import hashlib
import json
import os
import subprocess
import urllib.request

from harness import event, wait_until
from test_spine import one_route


def test_ui_page_renders_the_real_status_and_escapes_what_it_shows(tmp, cleanup):
    gw, sims = one_route(tmp, cleanup)
    sims["portal"].fail(status=400, body='{"error":"bad"}')
    assert gw.post("peer-a", event("UI-1"), "ui-1")[0] == 202
    wait_until(lambda: gw.query("SELECT state FROM deliveries") == [(3,)], what="a dead letter")

    with urllib.request.urlopen("http://127.0.0.1:%d/ui" % gw.admin_port, timeout=10) as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/html")
        csp, page = r.headers["Content-Security-Policy"], r.read().decode()
    script = page[page.index("<script>") + len("<script>"):page.index("</script>")]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    # the browser runs this script and nothing else, and talks only to the gateway
    assert "script-src 'sha256-%s'" % digest in csp and "default-src 'none'" in csp and "connect-src 'self'" in csp, csp
    assert "http" not in script.replace("/v1/admin/status", ""), "the page loads nothing from elsewhere"

    path = os.path.join(tmp, "ui.js")
    with open(path, "w") as f:
        f.write(script)
    status = json.loads(gw.admin("/v1/admin/status"))

    def render(s, ready=True, lang="en"):
        r = subprocess.run(["node", "-e", "const m = require(process.argv[1]);"
                            "process.stdout.write(m.render(JSON.parse(process.argv[2]), process.argv[3] === '1',"
                            " process.argv[4]))",
                            path, json.dumps(s), "1" if ready else "0", lang], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout

    vi = render(status, lang="vi")          # Vietnamese first
    assert "sẵn sàng" in vi and "tốt" in vi and "đóng" in vi and "<td>portal</td>" in vi, vi
    html = render(status)
    assert "<td>peer-a</td>" in html and "<td>portal</td>" in html, html
    portal_row = html[html.index("<td>portal</td>"):].split("</tr>")[0]
    assert '<span class="bad">1</span>' in portal_row, portal_row        # its dead letter stands out
    assert "closed" in portal_row and "healthy" in html and "ready" in html, html
    assert "peer refused with 400" in portal_row and "none yet" in portal_row, portal_row    # last error, no success
    status["node_id"] = "<img src=x onerror=alert(1)>"
    status["store_healthy"] = False
    html = render(status, ready=False)
    assert "<img" not in html and "&lt;img src=x" in html, html
    assert "FAILING" in html and "NOT READY" in html, html
