#!/usr/bin/env bash
# check_jws.sh — detached JWS interop between lienthong (build/jwstool, gateway/sign_jws.c)
# and an independent implementation (node jose v5, tests/interop/jws.mjs), both directions,
# RS256, PS256 and ES256, for several bodies (JSON with UTF-8, empty, binary, 1 MB).
#
#   bash tests/interop/check_jws.sh
#
# Env: LT_TEST_PKI (default build/certs, made by `make certs`), JWSTOOL (default
# build/jwstool). Installs tests/interop/node_modules with `npm ci` if it is missing.
# Ends with "N passed, N failed"; exits 0 only if nothing failed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
pki=${LT_TEST_PKI:-build/certs}
tool=${JWSTOOL:-build/jwstool}
jws=$here/jws.mjs
passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}
preflight() { bad "$*"; finish; }

[ -f "$pki/manifest.json" ] || preflight "dev PKI not found at $pki: run \`make certs\` (or set LT_TEST_PKI)"
[ -x "$tool" ] || preflight "$tool not found: run \`make build/jwstool\` (or set JWSTOOL)"
command -v node >/dev/null || preflight "node not found (apt-get install nodejs npm)"
if [ ! -d "$here/node_modules/jose" ]; then
	(cd "$here" && npm ci --no-audit --no-fund >/dev/null) || preflight "npm ci failed in $here"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '{"event_id":"01J9Z","dossier_code":"000.00.12.H12-261122-0001","applicant":"Nguyễn Thị Bích Ngọc"}' >"$work/json"
: >"$work/empty"
head -c 5000 /dev/urandom >"$work/binary"   # not a multiple of 3; crosses an encoding chunk
head -c 1000001 /dev/urandom >"$work/big"

# has OUT WORD...: every WORD occurs in OUT
has() {
	local out=$1 w
	shift
	for w in "$@"; do [[ "$out" == *"$w"* ]] || return 1; done
}

for spec in rsa:RS256 rsa:PS256 ec:ES256; do
	kind=${spec%%:*} alg=${spec#*:}
	peer_key=$pki/$kind/peers/peer-a/sign.key peer_cert=$pki/$kind/peers/peer-a/sign.pem
	gw_key=$pki/$kind/gateway/sign.key gw_cert=$pki/$kind/gateway/sign.pem

	kid=$(node "$jws" kid "$gw_cert")
	if [ -n "$kid" ] && [ "$kid" = "$("$tool" kid "$gw_cert")" ]; then
		ok "$alg: kid agrees (x5t#S256 $kid)"
	else
		bad "$alg: kid differs: jose '$kid', jwstool '$("$tool" kid "$gw_cert" 2>&1)'"
	fi

	for b in json empty binary big; do
		body=$work/$b
		# lienthong signs, jose verifies (the chain file: jose picks the leaf by kid)
		sig=$("$tool" sign "$peer_key" "$peer_cert" "c-$alg-$b" "$alg" <"$body" 2>&1)
		out=$(SIG=$sig node "$jws" verify "$pki/$kind/peers/peer-a/sign-chain.pem" <"$body" 2>&1)
		if [ $? -eq 0 ] && has "$out" "\"alg\":\"$alg\"" "\"jti\":\"c-$alg-$b\""; then
			ok "$alg: lienthong -> jose, $b body"
		else
			bad "$alg: lienthong -> jose, $b body: $out"
		fi
		# jose signs, lienthong verifies
		sig=$(node "$jws" sign "$gw_key" "$kid" "$alg" "n-$alg-$b" <"$body" 2>&1)
		out=$(SIG=$sig "$tool" verify "$gw_cert" <"$body" 2>&1)
		if [ $? -eq 0 ] && has "$out" "\"alg\":\"$alg\"" "\"jti\":\"n-$alg-$b\"" '"signer_cn":"lienthong-gateway-signing"'; then
			ok "$alg: jose -> lienthong, $b body"
		else
			bad "$alg: jose -> lienthong, $b body: $out"
		fi
	done

	# A changed body is refused in both directions.
	printf ' ' | cat "$work/json" - >"$work/tampered"
	sig=$("$tool" sign "$peer_key" "$peer_cert" "c-$alg-t" "$alg" <"$work/json" 2>&1)
	if [ "$alg" = ES256 ]; then
		s=${sig#*..}
		if [ ${#s} -eq 86 ]; then
			ok "ES256: lienthong sends the 64-byte r||s form"
		else
			bad "ES256: signature part is ${#s} characters, not 86 (64 bytes)"
		fi
	fi
	if out=$(SIG=$sig node "$jws" verify "$peer_cert" <"$work/tampered" 2>&1); then
		bad "$alg: jose accepted a lienthong signature over a changed body"
	else
		ok "$alg: jose refuses a lienthong signature over a changed body ($out)"
	fi
	sig=$(node "$jws" sign "$gw_key" "$kid" "$alg" "n-$alg-t" <"$work/json" 2>&1)
	out=$(SIG=$sig "$tool" verify "$gw_cert" <"$work/tampered" 2>&1)
	if [ $? -ne 0 ] && has "$out" "bad signature"; then
		ok "$alg: lienthong refuses a jose signature over a changed body"
	else
		bad "$alg: lienthong on a jose signature over a changed body: $out"
	fi
done

finish
