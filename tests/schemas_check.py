#!/usr/bin/env python3
"""Cross-check every sample under schemas/samples/*/ with python3-jsonschema.

Our C validator (gateway/jsonschema.c) is checked against an implementation we
did not write: samples in a directory must pass the schema the directory maps
to, samples in its "-invalid" twin must fail it. Prints one line per failure,
then "N passed, N failed" alone on a line; exits 1 if anything failed.

Runs on Debian 12's python3-jsonschema 4.10 (Draft202012Validator). That
package has no rfc3339-validator, so jsonschema would skip "date-time"; a
stdlib check with the same rules as the C one fills the gap when it is missing.
"""
import calendar
import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
from jsonschema import Draft202012Validator, FormatChecker

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "schemas" / "samples"

# Sample directory (without "-invalid") -> the schema its samples are written for.
SCHEMAS = {
    "canonical": "canonical-event.schema.json",
}
# Adapters follow a convention instead of a line here: a sample
# schemas/samples/ADAPTER[-invalid]/KIND.anything.json is checked against
# schemas/ADAPTER/KIND.schema.json, and KIND.anything.xml against
# schemas/ADAPTER/KIND.xsd with xmllint (libxml2's own XSD validator).

DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})([.][0-9]+)?"
    r"([Zz]|[+-]([0-9]{2}):([0-9]{2}))")


def is_date_time(value):
    """RFC 3339 date-time with a mandatory offset and every field in range."""
    if not isinstance(value, str):
        return True
    m = DATE_TIME.fullmatch(value)
    if not m:
        return False
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    if not 1 <= mo <= 12 or not 1 <= d <= calendar.monthrange(y, mo)[1]:
        return False
    if h > 23 or mi > 59 or s > 60:
        return False
    return m.group(9) is None or (int(m.group(9)) <= 23 and int(m.group(10)) <= 59)


def format_checker():
    checker = FormatChecker()
    if "date-time" not in checker.checkers:
        checker.checks("date-time")(is_date_time)
    return checker


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def check_adapter_dir(directory, adapter, invalid, checker, validators):
    """Samples of one adapter: KIND.*.json against schemas/ADAPTER/KIND.schema.json,
    KIND.*.xml against schemas/ADAPTER/KIND.xsd."""
    passed = failed = 0
    for sample in sorted(p for p in directory.iterdir() if p.suffix in (".json", ".xml")):
        name = sample.relative_to(ROOT)
        kind = sample.name.split(".")[0]
        if sample.suffix == ".json":
            schema_path = ROOT / "schemas" / adapter / (kind + ".schema.json")
            if not schema_path.exists():
                print(f"{name}: no schema {schema_path.relative_to(ROOT)} for kind '{kind}'")
                failed += 1
                continue
            if schema_path not in validators:
                schema = load(schema_path)
                Draft202012Validator.check_schema(schema)
                validators[schema_path] = Draft202012Validator(schema, format_checker=checker)
            try:
                doc = load(sample)
            except (OSError, ValueError) as e:
                print(f"{name}: cannot read: {e}")
                failed += 1
                continue
            error = jsonschema.exceptions.best_match(validators[schema_path].iter_errors(doc))
            ok = error is None
            why = "" if ok else "/" + "/".join(str(p) for p in error.absolute_path) + ": " + error.message
        else:
            xsd = ROOT / "schemas" / adapter / (kind + ".xsd")
            if not xsd.exists():
                print(f"{name}: no schema {xsd.relative_to(ROOT)} for kind '{kind}'")
                failed += 1
                continue
            r = subprocess.run(["xmllint", "--noout", "--nonet", "--schema", str(xsd), str(sample)],
                               capture_output=True, text=True)
            ok = r.returncode == 0
            why = r.stderr.strip().splitlines()[0] if r.stderr.strip() else "xmllint refused it"
        if invalid and ok:
            print(f"{name}: should fail its schema but passes")
            failed += 1
        elif not invalid and not ok:
            print(f"{name}: {why}")
            failed += 1
        else:
            passed += 1
    return passed, failed


def main():
    passed = failed = 0
    checker = format_checker()
    validators = {}
    for directory in sorted(p for p in SAMPLES.iterdir() if p.is_dir()):
        kind = directory.name
        invalid = kind.endswith("-invalid")
        if invalid:
            kind = kind[: -len("-invalid")]
        rel = directory.relative_to(ROOT)
        if kind not in SCHEMAS and (ROOT / "schemas" / kind).is_dir():
            p, f = check_adapter_dir(directory, kind, invalid, checker, validators)
            passed += p
            failed += f
            continue
        if kind not in SCHEMAS:
            print(f"{rel}: no schema mapped for '{kind}' in tests/schemas_check.py")
            failed += 1
            continue
        if kind not in validators:
            schema = load(ROOT / "schemas" / SCHEMAS[kind])
            Draft202012Validator.check_schema(schema)
            validators[kind] = Draft202012Validator(schema, format_checker=checker)
        validator = validators[kind]
        for sample in sorted(directory.glob("*.json")):
            name = sample.relative_to(ROOT)
            try:
                doc = load(sample)
            except (OSError, ValueError) as e:
                print(f"{name}: cannot read: {e}")
                failed += 1
                continue
            error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
            if invalid and error is None:
                print(f"{name}: should fail {SCHEMAS[kind]} but passes")
                failed += 1
            elif not invalid and error is not None:
                where = "/" + "/".join(str(p) for p in error.absolute_path)
                print(f"{name}: {where}: {error.message}")
                failed += 1
            else:
                passed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
