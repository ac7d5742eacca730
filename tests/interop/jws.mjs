// jws.mjs — an independent detached JWS implementation (jose v5) for interop checks.
//
//   node jws.mjs sign KEY.pem KID ALG JTI < body > sigheader
//   SIG=... node jws.mjs verify CERT.pem < body
//   node jws.mjs kid CERT.pem
//
// The wire form is lienthong's X-Signature (DESIGN.md §3): RFC 7515 compact
// serialization with the payload part left empty (appendix F),
// BASE64URL(header)..BASE64URL(signature), signed over
// BASE64URL(header) "." BASE64URL(body). Protected header: alg (RS256, PS256,
// ES256), kid (BASE64URL(SHA-256(DER of the certificate))), iat, jti.
// verify accepts any certificate of the PEM file (a bundle is fine), chosen by
// kid; on success it prints the protected header as JSON, on failure it prints
// the reason on stderr and exits 1.
// Setup: cd tests/interop && npm ci
import { createHash, createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { CompactSign, compactVerify, base64url } from "jose";

const ALGS = ["RS256", "PS256", "ES256"];

function fail(reason) {
  process.stderr.write(`jws.mjs: ${reason}\n`);
  process.exit(1);
}

const usage = () => {
  process.stderr.write(
    "usage: node jws.mjs sign KEY.pem KID ALG JTI < body\n" +
      "       SIG=... node jws.mjs verify CERT.pem < body\n" +
      "       node jws.mjs kid CERT.pem\n",
  );
  process.exit(2);
};

const kidOf = (cert) => createHash("sha256").update(cert.raw).digest("base64url");

function certsOf(path) {
  const pems = readFileSync(path, "latin1").match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g);
  if (!pems) fail(`no certificate in ${path}`);
  return pems.map((pem) => new X509Certificate(pem));
}

async function sign([keyPath, kid, alg, jti]) {
  if (!jti) usage();
  const body = readFileSync(0);
  const key = createPrivateKey(readFileSync(keyPath));
  const jws = await new CompactSign(body)
    .setProtectedHeader({ alg, kid, iat: Math.floor(Date.now() / 1000), jti })
    .sign(key);
  const [header, , signature] = jws.split(".");
  process.stdout.write(`${header}..${signature}\n`);
}

async function verify([certPath]) {
  if (!certPath) usage();
  const sig = process.env.SIG;
  if (!sig) fail("no signature (set SIG)");
  const parts = sig.split(".");
  if (parts.length !== 3 || parts[1] !== "") fail("malformed signature: expected HEADER..SIGNATURE");
  const body = readFileSync(0);
  const byKid = new Map(certsOf(certPath).map((c) => [kidOf(c), c]));
  const compact = `${parts[0]}.${base64url.encode(body)}.${parts[2]}`;
  let result;
  try {
    result = await compactVerify(
      compact,
      (header) => {
        const cert = byKid.get(header.kid);
        if (!cert) throw new Error(`unknown key: ${header.kid}`);
        const now = Date.now();
        if (now < Date.parse(cert.validFrom)) throw new Error("certificate not yet valid");
        if (now > Date.parse(cert.validTo)) throw new Error("certificate expired");
        return cert.publicKey;
      },
      { algorithms: ALGS },
    );
  } catch (e) {
    fail(e.message);
  }
  const h = result.protectedHeader;
  if (!Number.isInteger(h.iat)) fail("missing iat");
  if (typeof h.jti !== "string" || h.jti.length < 1 || h.jti.length > 128) fail("missing jti");
  process.stdout.write(JSON.stringify(h) + "\n");
}

function kid([certPath]) {
  if (!certPath) usage();
  process.stdout.write(kidOf(certsOf(certPath)[0]) + "\n");
}

const [cmd, ...args] = process.argv.slice(2);
const commands = { sign, verify, kid };
if (!commands[cmd]) usage();
try {
  await commands[cmd](args);
} catch (e) {
  fail(e.message);
}
