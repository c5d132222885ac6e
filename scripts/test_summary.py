#!/usr/bin/env python3
"""Counts test results across meson build directories.

Usage: test_summary.py BUILD_DIR...

Reads BUILD_DIR/meson-logs/testlog.json (one JSON object per meson test).
A GoogleTest binary counts as its test cases, read from the XML report it
wrote during this run; any other test counts as one. A test binary that
failed without a fresh report (a crash, a sanitizer abort, a timeout) counts
as one failure. A build directory without a testlog counts as one failure.
A build directory with a fuzz-results.txt (scripts/fuzz.sh: one
"<target> passed|failed" line per fuzz target) or a lint-results.txt
(scripts/lint.sh: one line per check, clang-format and clang-tidy) counts
those lines instead.
Prints one line per build directory, then the plain line "N passed, N failed".
"""
import json
import os
import sys
import xml.etree.ElementTree as ET

PASS = {"OK", "EXPECTEDFAIL"}
SKIP = {"SKIP"}


def gtest_reports(build_dir):
    """Test name -> path of the XML report of each GoogleTest test."""
    try:
        with open(os.path.join(build_dir, "meson-info", "intro-tests.json"),
                  encoding="utf-8") as f:
            tests = json.load(f)
    except (OSError, ValueError):
        return {}
    # Meson runs a gtest binary with --gtest_output=xml:<name>.xml in its
    # working directory (the build directory unless the test sets one).
    return {t["name"]: os.path.join(t.get("workdir") or build_dir, t["name"] + ".xml")
            for t in tests if t.get("protocol") == "gtest"}


def read_report(path, starttime):
    """(passed, failed, skipped) from a gtest XML report written by this run."""
    try:
        # A report older than the run is left over from an earlier one (the
        # binary crashed before writing a new one).
        if path is None or os.path.getmtime(path) < starttime - 0.05:
            return None
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    passed = failed = skipped = 0
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif (case.find("skipped") is not None or case.get("status") == "notrun"
              or case.get("result") in ("skipped", "suppressed")):
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


# Results files of runs that are not meson tests: file name -> what a line is.
RESULTS_FILES = {"fuzz-results.txt": "fuzz targets", "lint-results.txt": "lint checks"}


def count_results(build_dir, path, what):
    """(passed, failed, skipped) from a results file of "<name> passed|failed" lines."""
    passed = failed = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.split()[-1:] == ["passed"]:
                passed += 1
            elif line.strip():
                failed += 1
    print(f"{build_dir}: {passed} passed, {failed} failed, 0 skipped ({what})")
    return passed, failed, 0


def count(build_dir):
    """(passed, failed, skipped) for one build directory."""
    for name, what in RESULTS_FILES.items():
        results = os.path.join(build_dir, name)
        if os.path.exists(results):
            return count_results(build_dir, results, what)
    log = os.path.join(build_dir, "meson-logs", "testlog.json")
    if not os.path.exists(log):
        print(f"{build_dir}: no test log (did the build fail?)")
        return 0, 1, 0
    reports = gtest_reports(build_dir)
    passed = failed = skipped = 0
    with open(log, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            entry = json.loads(line)
            result = entry.get("result")
            # "project:suite / name" when the project has several suites.
            name = entry["name"].rsplit(" / ", 1)[-1]
            report = read_report(reports.get(name), entry.get("starttime", 0))
            if result in SKIP:
                skipped += 1
            elif report is not None:
                passed += report[0]
                skipped += report[2]
                failed += report[1] if result in PASS else max(report[1], 1)
            elif result in PASS:
                passed += 1
            else:
                failed += 1
    print(f"{build_dir}: {passed} passed, {failed} failed, {skipped} skipped")
    return passed, failed, skipped


def main(build_dirs):
    totals = [0, 0, 0]
    for build_dir in build_dirs:
        for i, n in enumerate(count(build_dir)):
            totals[i] += n
    print(f"{totals[0]} passed, {totals[1]} failed")
    return 0 if totals[1] == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
