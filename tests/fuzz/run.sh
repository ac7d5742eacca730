#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang (ASan + UBSan) into build-fuzz/ and
# runs each for a bounded time from seed corpora made of schemas/samples/.
#   tests/fuzz/run.sh [SECONDS_PER_HARNESS]      (default 20)
# Prints executions and crashes per harness, then "N passed, N failed"
# (a harness fails when libFuzzer finds a crash, leak or sanitizer error;
# the reproducer is kept in build-fuzz/crashes/).
set -uo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-20}
B=build-fuzz
SAN="-fsanitize=fuzzer-no-link,address,undefined"
make -s B=$B CC=clang OPT="-O1 -g -Wno-unknown-warning-option" SANFLAGS="$SAN" $B/liblt.a || exit 1
libs=$(pkg-config --libs libevent libevent_pthreads libevent_openssl libcurl libxml-2.0 xmlsec1-openssl openssl jansson sqlite3 libpq)
cflags="-std=c11 -D_GNU_SOURCE -g -O1 -Igateway -Iadapters $(pkg-config --cflags libxml-2.0 xmlsec1-openssl jansson)"
mkdir -p $B/fuzz $B/crashes
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
passed=0
failed=0
run() {     # name corpus-dir
	local log=$B/fuzz/$1.log
	mkdir -p "$B/crashes/$1"
	ASAN_OPTIONS=detect_leaks=1 "$B/fuzz/$1" -max_total_time="$secs" -max_len=65536 -timeout=10 \
		-artifact_prefix="$B/crashes/$1/" "$2" >"$log" 2>&1
	local rc=$? execs
	execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1)
	[ -n "$execs" ] || execs=$(grep -Eo '#[0-9]+' "$log" | tail -1 | tr -d '#')
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1))
		printf "ok    %-22s %10s executions, 0 crashes\n" "$1" "${execs:-?}"
	else
		failed=$((failed + 1))
		printf "FAIL  %-22s %10s executions, crash (see %s and %s)\n" "$1" "${execs:-?}" "$log" "$B/crashes/$1"
		grep -E "ERROR|SUMMARY" "$log" | head -3
	fi
}
for a in canonical onestop provincial postal civilreg edxml; do
	build "adapter_$a" tests/fuzz/fuzz_adapter.c -DADAPTER="\"$a\"" || exit 1
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
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
