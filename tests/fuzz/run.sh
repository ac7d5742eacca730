#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang (ASan + UBSan) into build-fuzz/ and
# runs each for a bounded time from seed corpora made of schemas/samples/.
#   tests/fuzz/run.sh [SECONDS_PER_HARNESS]      (default 20)
# Prints executions and crashes per harness, then "N passed, N failed"
# (a harness fails when libFuzzer finds a crash, leak or sanitizer error;
# the reproducer is kept in build-fuzz/crashes/). When LT_FIGURES names a
# directory, the figures also go to $LT_FIGURES/fuzz.json.
set -uo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-20}
B=build-fuzz
SAN="-fsanitize=fuzzer-no-link,address,undefined"
make -s B=$B CC=clang OPT="-O1 -g -Wno-unknown-warning-option" SANFLAGS="$SAN" $B/liblt.a || exit 1
libs=$(pkg-config --libs libevent libevent_pthreads libevent_openssl libcurl libxml-2.0 xmlsec1-openssl openssl jansson sqlite3 libpq)
cflags="-std=c11 -D_GNU_SOURCE -g -O1 -Igateway -Iadapters $(pkg-config --cflags libxml-2.0 xmlsec1-openssl jansson)"
rm -rf $B/tmp
mkdir -p $B/fuzz $B/crashes $B/tmp
build() {   # name source [extra flags]
	clang $cflags -fsanitize=fuzzer,address,undefined "${@:3}" "$2" $B/liblt.a $libs -lpthread -lm -o "$B/fuzz/$1"
}
seed() {    # dir mode-byte files...
	local dir=$1 mode=$2
	shift 2
	mkdir -p "$dir"
	for f in "$@"; do
		[ -f "$f" ] || continue
		{ printf "\\x$mode"; cat "$f"; } >"$dir/$(basename "$f").$mode"
	done
}
# one HTTP request: peer content-type message-id body-file [extra header lines]
request() {
	printf 'POST /v1/inbound/%s HTTP/1.1\r\nHost: gw\r\nContent-Type: %s\r\nX-Message-Id: %s\r\n' "$1" "$2" "$3"
	[ -z "${5:-}" ] || printf '%s\r\n' "$5"
	printf 'Content-Length: %d\r\n\r\n' "$(wc -c <"$4")"
	cat "$4"
}
seed_http() {   # dir: requests to the peers of fuzz_http.c, from the samples
	local dir=$1 f n=0
	rm -rf "$dir"
	mkdir -p "$dir"
	for f in schemas/samples/canonical/*.json schemas/samples/canonical-invalid/*.json; do
		n=$((n + 1))
		request portal application/json "seed-$n" "$f" >"$dir/portal.$(basename "$f")"
	done
	for f in schemas/samples/civilreg/*.xml; do
		n=$((n + 1))
		request hotich application/xml "seed-$n" "$f" >"$dir/hotich.$(basename "$f")"
	done
	request hotich-tinh application/xml seed-signed schemas/samples/civilreg/result.registered-signed.xml \
		>"$dir/hotich-tinh.signed"
	for f in schemas/samples/edxml/*.xml; do
		n=$((n + 1))
		request vpcp 'application/xml; charset=utf-8' "seed-$n" "$f" >"$dir/vpcp.$(basename "$f")"
	done
	request peer-a application/json seed-jws schemas/samples/canonical/dossier.received.json \
		'X-Signature: eyJhbGciOiJSUzI1NiIsImtpZCI6InBlZXItYSJ9..c2lnbmF0dXJl' >"$dir/peer-a.jws"
	printf 'GET /v1/inbound/portal HTTP/1.1\r\nHost: gw\r\n\r\n' >"$dir/get"
	printf 'POST /v1/inbound/portal HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nX-Message-Id: seed-chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n[{"a"\r\n3\r\n:1}\r\n1\r\n]\r\n0\r\n\r\n' \
		>"$dir/chunked"
	{ request portal application/json seed-p1 schemas/samples/canonical/dossier.step.json
	  request nobody application/json seed-p2 schemas/samples/canonical/dossier.step.json; } >"$dir/pipelined"
	cp tests/fuzz/seeds/http/* "$dir/"     # reproducers of what it found before
}
passed=0
failed=0
figures=()
run() {     # name corpus-dir
	local log=$B/fuzz/$1.log
	mkdir -p "$B/crashes/$1"
	# UBSan reports are failures too; temp files of a harness that crashed stay in $B/tmp
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 TMPDIR="$PWD/$B/tmp" \
		"$B/fuzz/$1" -max_total_time="$secs" -max_len=65536 -timeout=10 \
		-artifact_prefix="$B/crashes/$1/" "$2" >"$log" 2>&1
	local rc=$? execs
	execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1)
	[ -n "$execs" ] || execs=$(grep -Eo '#[0-9]+' "$log" | tail -1 | tr -d '#')
	# libFuzzer stops at the first crash; a failure that is not one (the
	# harness could not start) shows as passed: false with 0 crashes
	local crashes=0
	grep -q -E '^(==[0-9]+==ERROR|SUMMARY: )|Test unit written to' "$log" && crashes=1
	figures+=("$(printf '{"name": "%s", "executions": %d, "crashes": %d, "passed": %s}' "$1" "${execs:-0}" \
		"$crashes" "$([ $rc -eq 0 ] && echo true || echo false)")")
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1))
		printf "ok    %-22s %10s executions, 0 crashes\n" "$1" "${execs:-?}"
	else
		failed=$((failed + 1))
		printf "FAIL  %-22s %10s executions, crash (see %s and %s)\n" "$1" "${execs:-?}" "$log" "$B/crashes/$1"
		grep -E "ERROR|SUMMARY" "$log" | head -3
	fi
}
# one harness for every adapter of the registry, run as adapter_NAME
build adapter tests/fuzz/fuzz_adapter.c || exit 1
adapters=$(LT_FUZZ_LIST=1 "$B/fuzz/adapter" 2>/dev/null) && [ -n "$adapters" ] || { echo "fuzz: cannot list the adapters"; exit 1; }
for a in $adapters; do
	ln -sf adapter "$B/fuzz/adapter_$a"
	c=$B/fuzz/corpus-$a
	rm -rf "$c"
	files=(schemas/samples/$a/* schemas/samples/$a-invalid/*)
	seed "$c" 00 "${files[@]}"
	seed "$c" 01 schemas/samples/$a/answer* schemas/samples/$a/*answer* schemas/samples/$a/status*
	seed "$c" 02 schemas/samples/$a/search-page* schemas/samples/$a/results*
	run "adapter_$a" "$c"
done
build jws tests/fuzz/fuzz_jws.c && mkdir -p $B/fuzz/corpus-jws && run jws $B/fuzz/corpus-jws
build xmldsig tests/fuzz/fuzz_xmldsig.c && rm -rf $B/fuzz/corpus-xml && mkdir -p $B/fuzz/corpus-xml &&
	cp schemas/samples/civilreg/*.xml schemas/samples/edxml/*.xml $B/fuzz/corpus-xml/ && run xmldsig $B/fuzz/corpus-xml
build config tests/fuzz/fuzz_config.c && mkdir -p $B/fuzz/corpus-config && run config $B/fuzz/corpus-config
build codes tests/fuzz/fuzz_codes.c && rm -rf $B/fuzz/corpus-codes && mkdir -p $B/fuzz/corpus-codes &&
	cp codes/*.codes $B/fuzz/corpus-codes/ && run codes $B/fuzz/corpus-codes
build http tests/fuzz/fuzz_http.c && seed_http $B/fuzz/corpus-http && run http $B/fuzz/corpus-http
if [ -n "${LT_FIGURES:-}" ]; then
	mkdir -p "$LT_FIGURES"
	{
		printf '{"seconds_per_harness": %d, "harnesses": [' "$secs"
		sep=
		for f in "${figures[@]}"; do
			printf '%s\n  %s' "$sep" "$f"
			sep=,
		done
		printf '\n]}\n'
	} >"$LT_FIGURES/fuzz.json"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
