#!/usr/bin/env bash
# Runs every test suite and ends with one line: `N passed, N failed`.
#   tests/run-all.sh            all suites
#   tests/run-all.sh unit       unit tests and schema cross-checks only
#   tests/run-all.sh interop    signatures checked with xmlsec1, node jose and xml-crypto
#   tests/run-all.sh integration [NAME…]   integration tests (optionally filtered)
#   tests/run-all.sh fuzz       libFuzzer harnesses, LT_FUZZ_SECONDS each (default 4); one test per harness
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-/usr/bin/python3}
what=${1:-all}
[ $# -gt 0 ] && shift
passed=0
failed=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

count() {   # add the "N passed, N failed" line of a suite's output
	local line p f
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -1)
	if [ -z "$line" ]; then
		echo "!! $1 printed no result line; counted as one failure"
		failed=$((failed + 1))
		return
	fi
	p=${line%% passed*}
	f=${line#*, }
	f=${f%% failed*}
	passed=$((passed + p))
	failed=$((failed + f))
}

if [ "$what" = all ] || [ "$what" = unit ]; then
	for t in "${LT_BUILD:-build}"/tests/test_*; do
		[ -x "$t" ] || continue
		echo "== $t"
		"$t" >"$out" 2>&1
		rc=$?
		cat "$out"
		# cmocka prints "[  PASSED  ] N test(s)." and "[  FAILED  ] N test(s)…"
		p=$(grep -Eo '^\[  PASSED  \] [0-9]+' "$out" | grep -Eo '[0-9]+$' | tail -1)
		f=$(grep -Eo '^\[  FAILED  \] [0-9]+' "$out" | grep -Eo '[0-9]+$' | tail -1)
		passed=$((passed + ${p:-0}))
		failed=$((failed + ${f:-0}))
		if [ $rc -ne 0 ] && [ -z "$f" ]; then failed=$((failed + 1)); fi
	done
	echo "== schema samples cross-checked with python3-jsonschema"
	"$PY" tests/schemas_check.py >"$out" 2>&1
	cat "$out"
	count schemas_check
fi

if [ "$what" = all ] || [ "$what" = interop ]; then
	for check in tests/interop/check_*.sh; do
		echo "== $check (signatures against implementations we did not write)"
		bash "$check" >"$out" 2>&1
		cat "$out"
		count "$check"
	done
fi

if [ "$what" = all ] || [ "$what" = integration ]; then
	echo "== integration tests (real sockets, real processes, real SQLite)"
	"$PY" -u tests/integration/run.py "$@" 2>&1 | tee "$out"
	count integration
fi

# the harnesses are built with ASan + UBSan already: make test-asan (LT_BUILD set) does not run them twice
if { [ "$what" = all ] && [ -z "${LT_BUILD:-}" ]; } || [ "$what" = fuzz ]; then
	echo "== fuzzing (libFuzzer, ASan + UBSan, ${LT_FUZZ_SECONDS:-4} s per harness)"
	bash tests/fuzz/run.sh "${LT_FUZZ_SECONDS:-4}" 2>&1 | tee "$out"
	count fuzz
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
