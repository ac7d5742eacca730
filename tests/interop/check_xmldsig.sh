#!/usr/bin/env bash
# check_xmldsig.sh — XML-DSig interop between lienthong (build/xmltool), the xmlsec1
# command and xml-crypto (node), RSA and EC, on a civil-registry and an edXML document.
#
#   bash tests/interop/check_xmldsig.sh
#
# Every signer's output must verify with every verifier, and a tampered document must be
# refused by each. Env: LT_TEST_PKI (default build/certs, made if missing), XMLTOOL
# (default build/xmltool, built with make if missing). Needs xmlsec1, node and npm
# (tests/interop/node_modules is installed with npm ci when missing). Ends with
# "N passed, N failed"; exits 0 only when nothing failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
PKI=${LT_TEST_PKI:-build/certs}
XMLTOOL=${XMLTOOL:-build/xmltool}
JS=$repo/tests/interop/xmldsig.mjs
passed=0
failed=0

die() { printf 'check_xmldsig: %s\n' "$*" >&2; echo "0 passed, 1 failed"; exit 1; }

command -v xmlsec1 >/dev/null || die "xmlsec1 not found (apt-get install xmlsec1)"
command -v node >/dev/null || die "node not found"
bash certs/gen-dev-pki.sh "$PKI" >/dev/null || die "cannot make the test PKI in $PKI"
[ -x "$XMLTOOL" ] || make -s "$XMLTOOL" >/dev/null || die "cannot build $XMLTOOL"
if [ ! -d tests/interop/node_modules/xml-crypto ] || [ ! -d tests/interop/node_modules/@xmldom/xmldom ]; then
	(cd tests/interop && npm ci --no-audit --no-fund >/dev/null 2>&1) \
		|| die "npm ci in tests/interop failed"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

ok() { passed=$((passed + 1)); printf 'ok    %s\n' "$1"; }
bad() { failed=$((failed + 1)); printf 'FAIL  %s\n' "$1"; [ -n "${2:-}" ] && sed 's/^/      /' <<<"$2" | head -5; }

# ---------------------------------------------------------------- documents
cat >"$work/civilreg.xml" <<'EOF'
<HoSoDangKyKhaiSinh xmlns="urn:lienthong:civilreg:1" maHoSoLT="LT-2026-0001" thoiGian="2026-11-24T09:00:00+07:00"><maDonVi>H12.01957</maDonVi><module>LTKS</module><maHoSoMCDT>000.00.12.H12-261124-0001</maHoSoMCDT><nksHoTen>Nguyễn Văn An</nksHoTen></HoSoDangKyKhaiSinh>
EOF
cat >"$work/edxml.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<edXML:edXMLEnvelope xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">
  <edXML:edXMLHeader>
    <edXML:MessageHeader>
      <edXML:From><edXML:OrganId>000.00.12.H12</edXML:OrganId><edXML:OrganName>UBND xã Đường Phong</edXML:OrganName></edXML:From>
      <edXML:To><edXML:OrganId>000.00.14.H12</edXML:OrganId><edXML:OrganName>Sở Tư pháp</edXML:OrganName></edXML:To>
      <edXML:DocumentId>000.00.12.H12,2026/11/24,15/UBND-VP</edXML:DocumentId>
      <edXML:Subject>Chuyển hồ sơ 000.00.12.H12-261124-0001</edXML:Subject>
    </edXML:MessageHeader>
  </edXML:edXMLHeader>
  <edXML:edXMLBody><hs:HoSo xmlns:hs="urn:lienthong:dossier:1" loai="0"><hs:maHoSo>000.00.12.H12-261124-0001</hs:maHoSo></hs:HoSo></edXML:edXMLBody>
</edXML:edXMLEnvelope>
EOF

# A document with an xmlsec1 signature template (ds: prefix) before its root's end tag.
template() {   # DOC SIGALG
	local sig="<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo>"
	sig+="<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>"
	sig+="<ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#$2\"/>"
	sig+="<ds:Reference URI=\"\"><ds:Transforms>"
	sig+="<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>"
	sig+="<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/></ds:Transforms>"
	sig+="<ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/>"
	sig+="<ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/>"
	sig+="<ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data></ds:KeyInfo></ds:Signature>"
	local body
	body=$(cat "$1")
	printf '%s%s</%s\n' "${body%</*}" "$sig" "${body##*</}"
}

# ---------------------------------------------------------------- signers
sign_lienthong() {   # KIND DOC OUT  (the gateway's identity)
	"$XMLTOOL" sign "$PKI/$1/gateway/sign.key" "$PKI/$1/gateway/sign.pem" <"$2" >"$3"
}
sign_xmlsec1() {     # KIND DOC OUT  (peer hotich-tinh)
	local alg=rsa-sha256
	[ "$1" = ec ] && alg=ecdsa-sha256
	template "$2" "$alg" >"$3.tmpl" &&
		xmlsec1 --sign --privkey-pem "$PKI/$1/peers/hotich-tinh/sign.key,$PKI/$1/peers/hotich-tinh/sign.pem" \
			--output "$3" "$3.tmpl" 2>"$3.err"
}
sign_xmlcrypto() {   # KIND DOC OUT  (peer motcua-xa-duongphong)
	node "$JS" sign "$PKI/$1/peers/motcua-xa-duongphong/sign.key" \
		"$PKI/$1/peers/motcua-xa-duongphong/sign.pem" <"$2" >"$3"
}
signer_cn() {        # SIGNER
	case $1 in
	lienthong) echo lienthong-gateway-signing ;;
	xmlsec1) echo hotich-tinh-signing ;;
	xmlcrypto) echo motcua-xa-duongphong-signing ;;
	esac
}
signer_cert() {      # KIND SIGNER
	case $2 in
	lienthong) echo "$PKI/$1/gateway/sign.pem" ;;
	xmlsec1) echo "$PKI/$1/peers/hotich-tinh/sign.pem" ;;
	xmlcrypto) echo "$PKI/$1/peers/motcua-xa-duongphong/sign.pem" ;;
	esac
}

# ---------------------------------------------------------------- verifiers (print why on failure)
verify_lienthong() { # KIND SIGNER FILE
	local out
	out=$("$XMLTOOL" verify "$PKI/$1/trust.pem" <"$3" 2>&1) &&
		[ "$out" = "{\"ok\":true,\"signer\":\"$(signer_cn "$2")\"}" ] || { echo "$out"; return 1; }
}
verify_xmlsec1() {
	xmlsec1 --verify --trusted-pem "$PKI/$1/root-ca.pem" --untrusted-pem "$PKI/$1/issuing-ca.pem" \
		--enabled-reference-uris empty "$3" 2>&1 | grep -v '^SignedInfo References\|^Manifests References' |
		{ read -r first; rest=$(cat); [ "$first" = OK ] || { echo "$first"; echo "$rest"; return 1; }; }
}
verify_xmlcrypto() {
	local out
	out=$(node "$JS" verify "$(signer_cert "$1" "$2")" <"$3" 2>&1) &&
		[ "$out" = "{\"ok\":true,\"signer\":\"$(signer_cn "$2")\"}" ] || { echo "$out"; return 1; }
}

# ---------------------------------------------------------------- the matrix
for kind in rsa ec; do
	for doc in civilreg edxml; do
		for signer in lienthong xmlsec1 xmlcrypto; do
			f=$work/$kind-$doc-$signer.xml
			if ! why=$("sign_$signer" "$kind" "$work/$doc.xml" "$f" 2>&1); then
				bad "$kind $doc: $signer signs" "$why$(cat "$f.err" 2>/dev/null)"
				continue
			fi
			ok "$kind $doc: $signer signs"
			# the signature sits where the profile says: the last thing in the root
			if tr -d '\n ' <"$f" | grep -Eq '</([A-Za-z]+:)?Signature></[A-Za-z:]+>$'; then
				ok "$kind $doc: $signer puts Signature last in the root"
			else
				bad "$kind $doc: $signer puts Signature last in the root"
			fi
			for verifier in lienthong xmlsec1 xmlcrypto; do
				if why=$("verify_$verifier" "$kind" "$signer" "$f"); then
					ok "$kind $doc: $signer-signed verifies with $verifier"
				else
					bad "$kind $doc: $signer-signed verifies with $verifier" "$why"
				fi
			done
			# and none of them accepts it once the content is changed
			t=$work/$kind-$doc-$signer-tampered.xml
			sed 's/000\.00\.12\.H12-261124-0001/000.00.12.H12-261124-9999/' "$f" >"$t"
			for verifier in lienthong xmlsec1 xmlcrypto; do
				if "verify_$verifier" "$kind" "$signer" "$t" >/dev/null 2>&1; then
					bad "$kind $doc: tampered $signer-signed is refused by $verifier"
				else
					ok "$kind $doc: tampered $signer-signed is refused by $verifier"
				fi
			done
		done
	done
	# a signer lienthong does not trust is refused, for the right reason
	f=$work/$kind-untrusted.xml
	node "$JS" sign "$PKI/$kind/hostile/untrusted-peer-sign.key" "$PKI/$kind/hostile/untrusted-peer-sign.pem" \
		<"$work/civilreg.xml" >"$f" 2>/dev/null
	out=$("$XMLTOOL" verify "$PKI/$kind/trust.pem" <"$f" 2>&1)
	if [[ "$out" == *'"ok":false'*'signer certificate not trusted'* ]]; then
		ok "$kind: an untrusted peer's xml-crypto signature is refused by lienthong"
	else
		bad "$kind: an untrusted peer's xml-crypto signature is refused by lienthong" "$out"
	fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
