"""Runs every test_* function of tests/integration/test_*.py, each in a fresh
temporary directory, and ends with the line `N passed, N failed`."""
import importlib.util
import inspect
import os
import re
import shutil
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


class Cleanup:
    def __init__(self):
        self.items = []

    def add(self, obj):
        self.items.append(obj)
        return obj

    def run(self):
        for obj in reversed(self.items):
            try:
                obj.stop()
            except Exception:
                pass


MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "SUMMARY: UndefinedBehaviorSanitizer")
VALGRIND_ERRORS = re.compile(r"ERROR SUMMARY: [1-9]")


def sanitizer_report(tmp):
    """The first sanitizer report any gateway or simulator wrote (make test-asan)."""
    for fname in sorted(os.listdir(tmp)):
        if not fname.endswith(".log"):
            continue
        with open(os.path.join(tmp, fname), errors="replace") as f:
            text = f.read()
        for m in MARKERS:
            i = text.find(m)
            if i >= 0:
                return "%s: %s" % (fname, text[max(0, i - 200):i + 2000])
        if fname.startswith("valgrind-") and VALGRIND_ERRORS.search(text):
            return "%s: %s" % (fname, text[-6000:])
    return None


def main(argv):
    only = argv[1:]
    files = sorted(f for f in os.listdir(HERE) if f.startswith("test_") and f.endswith(".py"))
    passed = failed = 0
    for fname in files:
        spec = importlib.util.spec_from_file_location(fname[:-3], os.path.join(HERE, fname))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        for name, fn in inspect.getmembers(mod, inspect.isfunction):
            if not name.startswith("test_") or fn.__module__ != mod.__name__:
                continue
            if only and not any(o in name or o in fname for o in only):
                continue
            tmp = tempfile.mkdtemp(prefix="lt-%s-" % name[:40])
            cleanup = Cleanup()
            t0 = time.monotonic()
            error = None
            try:
                fn(tmp, cleanup)
            except Exception:
                error = traceback.format_exc()
            finally:
                cleanup.run()
            report = sanitizer_report(tmp)
            if report and not error:
                error = "sanitizer report in the logs:\n" + report
            if error:
                failed += 1
                print("FAIL  %-60s %.1fs  (kept %s)" % (name, time.monotonic() - t0, tmp), flush=True)
                print(error, flush=True)
            else:
                passed += 1
                print("ok    %-60s %.1fs" % (name, time.monotonic() - t0), flush=True)
                shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
