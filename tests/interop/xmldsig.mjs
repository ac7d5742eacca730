// xmldsig.mjs — an independent XML-DSig implementation (xml-crypto v6) for interop checks.
//
//   node xmldsig.mjs sign KEY.pem CERT.pem < in.xml > out.xml
//   node xmldsig.mjs verify CERT.pem < in.xml
//
// sign appends an enveloped Signature as the last child of the root with lienthong's
// profile (DESIGN.md §3): one Reference URI="", enveloped-signature + exclusive C14N,
// exclusive C14N SignedInfo, RSA-SHA256 or ECDSA-SHA256 (by the key), SHA-256 digest, the
// certificate in KeyInfo/X509Data. verify checks the signature with CERT's key, requires
// that exactly one Reference covers the whole document and that KeyInfo carries CERT;
// it prints {"ok":true,"signer":CN} or {"ok":false,"error":…} and exits 1.
// Setup: cd tests/interop && npm ci
import crypto from "node:crypto";
import fs from "node:fs";
import { SignedXml } from "xml-crypto";
import { DOMParser } from "@xmldom/xmldom";
import xpath from "xpath";

const DSIG = "http://www.w3.org/2000/09/xmldsig#";
const EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256";
const RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";

// xml-crypto has no ECDSA; XML-DSig wants the raw r||s form (RFC 4050 / xmldsig-more).
class EcdsaSha256 {
  getSignature(signedInfo, privateKey, callback) {
    const sig = crypto
      .sign("sha256", Buffer.from(signedInfo), { key: privateKey, dsaEncoding: "ieee-p1363" })
      .toString("base64");
    if (callback) return callback(null, sig);
    return sig;
  }
  verifySignature(material, key, signatureValue, callback) {
    const ok = crypto.verify(
      "sha256",
      Buffer.from(material),
      { key, dsaEncoding: "ieee-p1363" },
      Buffer.from(signatureValue, "base64"),
    );
    if (callback) return callback(null, ok);
    return ok;
  }
  getAlgorithmName() {
    return ECDSA_SHA256;
  }
}

function withEcdsa(sig) {
  sig.SignatureAlgorithms[ECDSA_SHA256] = EcdsaSha256;
  return sig;
}

function sign(keyPath, certPath, xml) {
  const keyPem = fs.readFileSync(keyPath, "utf8");
  const certPem = fs.readFileSync(certPath, "utf8");
  const kind = crypto.createPrivateKey(keyPem).asymmetricKeyType;
  if (kind !== "rsa" && kind !== "ec") throw new Error(`unsupported key type ${kind}`);
  const sig = withEcdsa(
    new SignedXml({
      privateKey: keyPem,
      publicCert: certPem,
      signatureAlgorithm: kind === "rsa" ? RSA_SHA256 : ECDSA_SHA256,
      canonicalizationAlgorithm: EXC_C14N,
    }),
  );
  sig.addReference({
    xpath: "/*",
    transforms: [ENVELOPED, EXC_C14N],
    digestAlgorithm: SHA256,
    isEmptyUri: true,
  });
  sig.computeSignature(xml, { location: { reference: "/*", action: "append" } });
  return sig.getSignedXml();
}

function bare(pemOrB64) {
  return pemOrB64.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
}

function verify(certPath, xml) {
  const certPem = fs.readFileSync(certPath, "utf8");
  const doc = new DOMParser().parseFromString(xml, "text/xml");
  const sigs = xpath.select(`//*[local-name()='Signature' and namespace-uri()='${DSIG}']`, doc);
  if (sigs.length !== 1) throw new Error(`expected one Signature, found ${sigs.length}`);
  const root = doc.documentElement;
  if (sigs[0].parentNode !== root) throw new Error("Signature is not a child of the root");
  const inDoc = xpath.select(
    `./*[local-name()='KeyInfo']/*[local-name()='X509Data']/*[local-name()='X509Certificate']/text()`,
    sigs[0],
  );
  if (inDoc.length === 0) throw new Error("no X509Certificate in KeyInfo");
  if (bare(inDoc.map((t) => t.data).join("")) !== bare(certPem))
    throw new Error("KeyInfo certificate is not CERT");

  const sig = withEcdsa(new SignedXml({ publicCert: certPem }));
  sig.loadSignature(sigs[0]);
  if (!sig.checkSignature(xml)) throw new Error("signature check failed");
  const refs = sig.getReferences();
  const rootId = ["Id", "ID", "id"].map((a) => root.getAttribute(a)).find((v) => v);
  if (refs.length !== 1 || !(refs[0].uri === "" || (rootId && refs[0].uri === `#${rootId}`)))
    throw new Error("the reference does not cover the whole document");
  const signer = new crypto.X509Certificate(certPem).subject.match(/CN=([^\n]*)/);
  return signer ? signer[1] : "";
}

const [cmd, ...args] = process.argv.slice(2);
const input = fs.readFileSync(0, "utf8");
try {
  if (cmd === "sign" && args.length === 2) {
    process.stdout.write(sign(args[0], args[1], input));
  } else if (cmd === "verify" && args.length === 1) {
    process.stdout.write(JSON.stringify({ ok: true, signer: verify(args[0], input) }) + "\n");
  } else {
    process.stderr.write(
      "usage: node xmldsig.mjs sign KEY.pem CERT.pem < in > out\n" +
        "       node xmldsig.mjs verify CERT.pem < in\n",
    );
    process.exit(2);
  }
} catch (e) {
  if (cmd === "verify") process.stdout.write(JSON.stringify({ ok: false, error: e.message }) + "\n");
  else process.stderr.write(`xmldsig.mjs: ${e.message}\n`);
  process.exit(1);
}
