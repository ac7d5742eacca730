#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang (ASan + UBSan) into build-fuzz/ and,
# for each harness:
#   1. replays tests/fuzz/regressions/NAME/ (inputs that once crashed it) and
#      tests/fuzz/seeds/NAME/ (committed seeds: the numeric edges — huge times,
#      sizes, codes); any crash, leak or sanitizer report fails the harness;
#   2. fuzzes from a corpus of those, seeds made now from schemas/samples/ and
#      the signed seeds of signed_seeds.py (with tests/fuzz/dict/NAME.dict).
#
#   tests/fuzz/run.sh [SECONDS_PER_HARNESS]      (default 20)
#
# Campaign mode (make reliability): with LT_FUZZ_RUNS=N each harness fuzzes
# until N executions or SECONDS (the time cap), in LT_FUZZ_WORKERS processes
# (libFuzzer -fork, default 2: one per core); then a crash input is copied to
# tests/fuzz/regressions/NAME/, and the inputs the run found that add coverage
# are merged (-merge=1) into tests/fuzz/seeds/NAME/ while the committed seeds
# and regressions stay under LT_FUZZ_SEED_BUDGET bytes (default 2000000).
#
# Prints per harness the executions, seconds, executions per second and
# crashes, then "N passed, N failed" (reproducers are kept in
# build-fuzz/crashes/). When LT_FIGURES names a directory, the figures also go
# to $LT_FIGURES/fuzz.json.
set -uo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-20}
runs=${LT_FUZZ_RUNS:-}
workers=${LT_FUZZ_WORKERS:-2}
budget=${LT_FUZZ_SEED_BUDGET:-2000000}
B=build-fuzz
SAN="-fsanitize=fuzzer-no-link,address,undefined"
make -s B=$B CC=clang OPT="-O1 -g -Wno-unknown-warning-option" SANFLAGS="$SAN" $B/liblt.a || exit 1
libs=$(pkg-config --libs libevent libevent_pthreads libevent_openssl libcurl libxml-2.0 xmlsec1-openssl openssl jansson sqlite3 libpq)
cflags="-std=c11 -D_GNU_SOURCE -g -O1 -Igateway -Igateway/store -Igateway/cli -Iadapters $(pkg-config --cflags libxml-2.0 xmlsec1-openssl jansson)"
rm -rf $B/tmp
mkdir -p $B/fuzz $B/crashes $B/tmp
# UBSan reports are failures too; temp files of a harness that crashed stay in $B/tmp
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 TMPDIR="$PWD/$B/tmp"
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
	/usr/bin/python3 tests/fuzz/signed_seeds.py http "$dir"
}
committed() {   # name: the committed inputs of a harness, regressions first
	local f
	for f in tests/fuzz/regressions/"$1"/* tests/fuzz/seeds/"$1"/*; do
		[ -f "$f" ] && printf '%s\n' "$f"
	done
}
# A campaign's new coverage as committed seeds, minimised: the inputs an
# earlier campaign merged (named by their SHA-1, as libFuzzer names them) are
# merged again with this run's corpus against everything that is there anyway
# (the seeds made at run time, the hand-written seeds, the regressions), on
# edges only (-use_counters=0), and replace what was merged before.
keep() {    # name base-dir corpus-dir: crash inputs to regressions, new coverage to seeds
	local name=$1 base=$2 corpus=$3 f size used added=0 left=0
	local fixed=$B/fuzz/fixed-$name pool=$B/fuzz/pool-$name merged=$B/fuzz/merged-$name
	local sha='^[0-9a-f]{40}$'
	for f in "$B/crashes/$name"/*; do
		[ -f "$f" ] || continue
		mkdir -p "tests/fuzz/regressions/$name"
		cp "$f" "tests/fuzz/regressions/$name/"
		echo "      kept $(basename "$f") in tests/fuzz/regressions/$name/ (make test replays it)"
	done
	rm -rf "$fixed" "$pool" "$merged"
	mkdir -p "$fixed" "$pool" "tests/fuzz/seeds/$name"
	for f in "$base"/*; do
		if [[ $(basename "$f") =~ $sha ]]; then cp "$f" "$pool/"; else cp "$f" "$fixed/"; fi
	done
	for f in "$corpus"/*; do
		[ -e "$fixed/$(basename "$f")" ] || cp "$f" "$pool/"
	done
	cp -r "$fixed" "$merged"
	"$B/fuzz/$name" -merge=1 -use_counters=0 -max_len=65536 -timeout=10 "$merged" "$pool" \
		>"$B/fuzz/$name.merge.log" 2>&1 || {
		echo "      merge failed (see $B/fuzz/$name.merge.log); seeds unchanged"
		return
	}
	for f in "tests/fuzz/seeds/$name"/*; do
		[[ $(basename "$f") =~ $sha ]] && rm -f "$f"
	done
	used=$(cat tests/fuzz/seeds/*/* tests/fuzz/regressions/*/* 2>/dev/null | wc -c)
	for f in "$merged"/*; do
		[ -e "$fixed/$(basename "$f")" ] && continue
		size=$(wc -c <"$f")
		if [ $((used + size)) -gt "$budget" ]; then
			left=$((left + 1))
			continue
		fi
		cp "$f" "tests/fuzz/seeds/$name/"
		used=$((used + size))
		added=$((added + 1))
	done
	echo "      tests/fuzz/seeds/$name/: $added inputs beyond the hand-written seeds, minimised (-merge=1)" \
		"$([ $left -gt 0 ] && echo "($left left out: over the $budget-byte budget)")"
}
passed=0
failed=0
figures=()
run() {     # name corpus-dir: replay the committed inputs, then fuzz
	local name=$1 corpus=$2 log=$B/fuzz/$1.log dict=tests/fuzz/dict/$1.dict
	local -a inputs opts
	mapfile -t inputs < <(committed "$name")
	rm -rf "$B/crashes/$name"
	mkdir -p "$B/crashes/$name"
	if [ ${#inputs[@]} -gt 0 ] && ! "$B/fuzz/$name" -timeout=10 -artifact_prefix="$B/crashes/$name/" "${inputs[@]}" \
		>"$B/fuzz/$name.replay.log" 2>&1; then
		failed=$((failed + 1))
		figures+=("$(printf '{"name": "%s", "executions": 0, "seconds": 0, "crashes": 1, "passed": false}' "$name")")
		printf "FAIL  %-22s a committed input crashes it: %s (see %s)\n" "$name" \
			"$(grep -Eo 'Running: [^ ]+' "$B/fuzz/$name.replay.log" | tail -1 | cut -d' ' -f2)" "$B/fuzz/$name.replay.log"
		grep -E "ERROR|SUMMARY|runtime error" "$B/fuzz/$name.replay.log" | head -3
		return
	fi
	for f in "${inputs[@]}"; do
		cp "$f" "$corpus/"
	done
	local base=$B/fuzz/base-$name
	rm -rf "$base"
	cp -r "$corpus" "$base"
	opts=(-max_total_time="$secs" -max_len=65536 -timeout=10 -artifact_prefix="$B/crashes/$name/" -print_final_stats=1)
	[ -f "$dict" ] && opts+=(-dict="$dict")
	[ -n "$runs" ] && opts+=(-runs="$runs" -fork="$workers")
	local t0 t1 rc execs crashes=0
	t0=$(date +%s.%N)
	"$B/fuzz/$name" "${opts[@]}" "$corpus" >"$log" 2>&1
	rc=$?
	t1=$(date +%s.%N)
	# single process: its final stats; -fork: the parent's last "#N:" line (all workers)
	execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1)
	[ -n "$runs" ] && execs=$(grep -Eo '^#[0-9]+' "$log" | tail -1 | tr -d '#')
	[ -n "$execs" ] || execs=$(grep -Eo '#[0-9]+' "$log" | tail -1 | tr -d '#')
	execs=${execs:-0}
	local took rate
	took=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	rate=$(awk -v n="$execs" -v t="$took" 'BEGIN { printf "%.0f", (t > 0 ? n / t : 0) }')
	# libFuzzer stops at the first crash; -fork also keeps what a worker found in
	# the initial pass without failing, so the reproducer directory decides too
	grep -q -E '^(==[0-9]+==ERROR|SUMMARY: )|Test unit written to' "$log" && crashes=1
	[ -n "$(ls -A "$B/crashes/$name")" ] && crashes=$(ls "$B/crashes/$name" | wc -l)
	[ "$crashes" -gt 0 ] && [ $rc -eq 0 ] && rc=1
	local reached=null
	[ -n "$runs" ] && reached=$([ "$execs" -ge "$runs" ] && echo true || echo false)
	figures+=("$(printf '{"name": "%s", "executions": %d, "seconds": %s, "exec_per_s": %d, "runs_target": %s, "reached": %s, "crashes": %d, "passed": %s}' \
		"$name" "$execs" "$took" "$rate" "${runs:-null}" "$reached" "$crashes" "$([ $rc -eq 0 ] && echo true || echo false)")")
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1))
		printf "ok    %-22s %10s executions in %6s s (%6s exec/s), 0 crashes\n" "$name" "$execs" "$took" "$rate"
	else
		failed=$((failed + 1))
		printf "FAIL  %-22s %10s executions in %6s s, crash (see %s and %s)\n" "$name" "$execs" "$took" "$log" \
			"$B/crashes/$name"
		grep -E "ERROR|SUMMARY|runtime error" "$log" | head -3
	fi
	[ -n "${LT_FUZZ_KEEP:-}" ] && keep "$name" "$base" "$corpus"
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
build jws tests/fuzz/fuzz_jws.c && rm -rf $B/fuzz/corpus-jws &&
	/usr/bin/python3 tests/fuzz/signed_seeds.py jws $B/fuzz/corpus-jws && run jws $B/fuzz/corpus-jws
build xmldsig tests/fuzz/fuzz_xmldsig.c && rm -rf $B/fuzz/corpus-xml && mkdir -p $B/fuzz/corpus-xml &&
	cp schemas/samples/civilreg/*.xml schemas/samples/edxml/*.xml $B/fuzz/corpus-xml/ && run xmldsig $B/fuzz/corpus-xml
build config tests/fuzz/fuzz_config.c && rm -rf $B/fuzz/corpus-config && mkdir -p $B/fuzz/corpus-config &&
	run config $B/fuzz/corpus-config
build codes tests/fuzz/fuzz_codes.c && rm -rf $B/fuzz/corpus-codes && mkdir -p $B/fuzz/corpus-codes &&
	cp codes/*.codes $B/fuzz/corpus-codes/ && run codes $B/fuzz/corpus-codes
build mappings tests/fuzz/fuzz_mappings.c && rm -rf $B/fuzz/corpus-mappings && mkdir -p $B/fuzz/corpus-mappings &&
	cp mappings/*.map $B/fuzz/corpus-mappings/ && run mappings $B/fuzz/corpus-mappings
build http tests/fuzz/fuzz_http.c && rm -rf $B/fuzz/corpus-http && seed_http $B/fuzz/corpus-http &&
	run http $B/fuzz/corpus-http
if [ -n "${LT_FIGURES:-}" ]; then
	mkdir -p "$LT_FIGURES"
	{
		printf '{"seconds_per_harness": %d, "runs": %s, "workers": %s, "harnesses": [' "$secs" "${runs:-null}" \
			"$([ -n "$runs" ] && echo "$workers" || echo 1)"
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
