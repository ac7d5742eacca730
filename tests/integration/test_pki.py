"""Real PKI: certificates through intermediate CAs (the dev PKI's three-level hierarchy:
root CA -> policy CA -> issuing CA -> leaf), sent by the peer or configured. Real mTLS,
signatures made by python3-cryptography and node's xml-crypto."""
import ssl

from harness import Gateway, client_context, event, jws_detached, l3, xml_signed
from test_signer_binding import REGISTRY, OFFICE, registry_result


def l3_sender(tmp, cleanup, trust, keys=None, **gateway):
    """A gateway whose client-certificate trust is `trust` (a three-level file) and whose
    peer-a signs with its three-level signing certificate (keys: its chain file)."""
    g = {"trust": trust}
    g.update(gateway)
    return cleanup.add(Gateway(tmp, {"peer-a": {"keys": keys or l3("peers", "peer-a", "sign-chain.pem")},
                                     OFFICE: {"adapter": "onestop", "url": "https://127.0.0.1:1/x"}},
                               {"r": {"from": "peer-a", "to": OFFICE}}, gateway=g))


def l3_post(gw, mid, tls_cert, sign_dir=("peers", "peer-a")):
    """POST an event as peer-a over TLS with the three-level tls_cert (a leaf or a chain
    file), signed by the three-level signing key of sign_dir."""
    ctx = client_context(None, cert=l3(*tls_cert), key=l3(tls_cert[0], *tls_cert[1:-1], "tls.key"))
    return gw.post("peer-a", event("PKI-" + mid), mid, context=ctx,
                   jws={"key_path": l3(*sign_dir, "sign.key"), "cert_path": l3(*sign_dir, "sign.pem")})


def test_client_certificate_through_two_intermediates_sent_by_the_peer(tmp, cleanup):
    gw = l3_sender(tmp, cleanup, l3("trust-root.pem"))
    status, doc, _ = l3_post(gw, "chain-sent", ("peers", "peer-a", "tls-chain.pem"))
    assert status == 202, doc
    # the same leaf without its intermediates does not chain to the root alone
    try:
        status, doc, _ = l3_post(gw, "chain-missing", ("peers", "peer-a", "tls.pem"))
    except (ssl.SSLError, ConnectionError):
        pass
    else:
        raise AssertionError("a leaf without its intermediates was let in: %s %s" % (status, doc))


def test_client_certificate_with_intermediates_configured_in_trust(tmp, cleanup):
    gw = l3_sender(tmp, cleanup, l3("trust.pem"))
    status, doc, _ = l3_post(gw, "chain-conf", ("peers", "peer-a", "tls.pem"))
    assert status == 202, doc


def registry(tmp, cleanup, **opts):
    o = {"adapter": "civilreg", "param.ma_don_vi": "H12.01957", "trust": l3("trust-root.pem")}
    o.update(opts)
    return cleanup.add(Gateway(tmp, {REGISTRY: o, OFFICE: {"adapter": "onestop", "url": "https://127.0.0.1:1/x"}},
                               {"registry-to-office": {"from": REGISTRY, "to": OFFICE}}))


def post_xml(gw, mid, cert):
    body = xml_signed(registry_result(mid), l3("peers", REGISTRY, "sign.key"), cert)
    return gw.post(REGISTRY, body, mid, content_type="application/xml", raw=True, sign=False)


def test_xml_signer_through_intermediates_sent_in_keyinfo(tmp, cleanup):
    gw = registry(tmp, cleanup, keys=None, signer="CN=%s-signing" % REGISTRY)
    status, doc, _ = post_xml(gw, "HT-L3-SENT-1", l3("peers", REGISTRY, "sign-chain.pem"))
    assert status == 202, doc
    # without the intermediates the signer does not chain to the root
    status, doc, _ = post_xml(gw, "HT-L3-SENT-2", l3("peers", REGISTRY, "sign.pem"))
    assert status == 401 and "signer certificate not trusted" in doc["detail"], doc


def test_xml_signer_through_intermediates_configured_in_its_keys(tmp, cleanup):
    # keys = the leaf and its intermediates: the document carries the leaf alone
    gw = registry(tmp, cleanup, keys=l3("peers", REGISTRY, "sign-chain.pem"))
    status, doc, _ = post_xml(gw, "HT-L3-CONF-1", l3("peers", REGISTRY, "sign.pem"))
    assert status == 202, doc


def test_jws_signer_in_a_chain_file_is_accepted_and_logged_by_kid(tmp, cleanup):
    gw = l3_sender(tmp, cleanup, l3("trust-root.pem"))
    status, doc, _ = l3_post(gw, "jws-chain", ("peers", "peer-a", "tls-chain.pem"))
    assert status == 202, doc
    rows = gw.query("SELECT trust FROM audit WHERE message_id = 'jws-chain'")
    assert rows and "CN=peer-a-signing" in rows[0][0], rows
