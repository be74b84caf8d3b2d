#!/usr/bin/env python3
"""Prints the fault suite's table from its ledger (JSON lines written by tests/e2e/support's
Ledger) and fails when anything was lost or leaked, or a scenario did not pass.

Usage: table.py LEDGER
"""
import json
import sys


def main():
    rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    if not rows:
        sys.exit("fault suite: the ledger is empty (no scenario ran)")
    cols = ["faults", "commands", "records", "lost", "leaked"]
    width = max(len(r["scenario"]) for r in rows + [{"scenario": "total"}])
    head = f"{'scenario':<{width}}  " + "  ".join(f"{c:>8}" for c in cols) + "  result"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['scenario']:<{width}}  " + "  ".join(f"{r[c]:>8}" for c in cols)
              + ("  ok" if r["passed"] else "  FAILED"))
    total = {c: sum(r[c] for r in rows) for c in cols}
    print("-" * len(head))
    print(f"{'total':<{width}}  " + "  ".join(f"{total[c]:>8}" for c in cols))
    if total["lost"] or total["leaked"] or not all(r["passed"] for r in rows):
        sys.exit("fault suite: something was lost or leaked, or a scenario failed")


if __name__ == "__main__":
    main()
