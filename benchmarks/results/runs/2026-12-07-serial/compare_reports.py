"""python compare_reports.py A.json B.json: how many of check_full_reports.py's reports differ, and in which fields."""
import json
import sys

a, b = (json.load(open(f)) for f in sys.argv[1:3])
assert len(a) == len(b), (len(a), len(b))
bad = [(x[:2], [i for i, (p, q) in enumerate(zip(x, y)) if p != q]) for x, y in zip(a, b) if x != y]
print(json.dumps({"reports": len(a), "differing": len(bad), "first": bad[:5]}))
sys.exit(1 if bad else 0)
