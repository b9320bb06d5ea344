"""Checks each run's measured activation peak against the planned one."""
import re
import sys

runs = 0
for path in sys.argv[1:]:
    text = open(path).read()
    m = re.search(r"\((\d+) and (\d+) bytes\)", text)
    if not m:
        sys.exit(f"{path}: no activation peak line")
    measured, planned = int(m.group(1)), int(m.group(2))
    if planned <= 0 or abs(measured - planned) > 0.1 * planned:
        sys.exit(f"{path}: measured {measured} bytes, planned {planned}")
    runs += 1
print(f"{runs} runs: measured within 10% of planned")
