"""Adds up the unit (meson testlog.json) and integration (JUnit XML)
results of every suite run by tests/run.sh and prints one closing line,
"N passed, N failed" (", N skipped" when any were skipped). Exits non-zero
when anything failed or a build broke."""
import json
import pathlib
import sys
import xml.etree.ElementTree as ET


def main(results: pathlib.Path) -> int:
    passed = failed = skipped = 0
    for fatal in sorted(results.glob("*.fatal")):
        print(f"{fatal.stem}: {fatal.read_text().strip()}")
        failed += 1
    for log in sorted(results.glob("*-unit.json")):
        for line in log.read_text().splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            res = rec.get("result")
            if res in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif res == "SKIP":
                skipped += 1
            else:
                failed += 1
                print(f"FAILED unit {log.stem}: {rec.get('name')} ({res})")
    for xml in sorted(results.glob("*-integration.xml")):
        for case in ET.parse(xml).getroot().iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
                print(f"FAILED {xml.stem}: {case.get('classname')}::{case.get('name')}")
            elif case.find("skipped") is not None:
                skipped += 1
            else:
                passed += 1
    if passed + failed == 0:
        print("no tests ran")
        failed = 1
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(pathlib.Path(sys.argv[1])))
