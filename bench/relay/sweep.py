#!/usr/bin/env python3
"""Sweeps of `ccpump relay`: batch size and dispatchers.

For each point a fresh demo spool (`ccpump demo --spool-only`, the same
generator and seed every time) is relayed with `ccpump relay --once` into a
fresh post office, and checked exactly once with `ccpump po stats`.  Batch 1
runs fewer messages (a sync per message is slow); msgs/s is comparable.

Writes relay.csv and relay.json into the results folder and prints a table.
Exits 1 when a run is not exactly once.
"""
import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

COLUMNS = ["sweep", "value", "batch", "dispatchers", "messages", "sync", "seconds",
           "msgs_per_sec", "deliveries", "duplicate_deliveries", "exactly_once"]

SETS = {
    "quick": dict(messages=10000, small=400, batch=[1, 16, 128, 1024], dispatchers=[1, 2, 4]),
    "full": dict(messages=50000, small=1500, batch=[1, 4, 16, 64, 256, 1024, 4096],
                 dispatchers=[1, 2, 3, 4, 8]),
}
BASE = dict(batch=1024, dispatchers=2)


def po_stats(ccpump, po):
    out = subprocess.run([ccpump, "po", "stats", "--po", po, "--json"], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def run_one(ccpump, work, batch, dispatchers, messages, sync, max_body):
    d = os.path.join(work, "run")
    shutil.rmtree(d, ignore_errors=True)
    demo = subprocess.run([ccpump, "demo", "--dir", d, "--messages", str(messages),
                           "--max-body", str(max_body), "--spool-only"], check=True,
                          capture_output=True, text=True).stdout
    m = re.search(r"(\d+) recipients", demo)
    if not m:
        sys.exit("relay sweep: demo printed no recipient count: " + demo)
    recipients = int(m.group(1))
    cmd = [ccpump, "relay", "--spool", d + "/spool", "--store", d + "/store", "--po",
           d + "/po", "--once", "--stats-interval", "0", "--batch", str(batch),
           "--dispatchers", str(dispatchers)]
    if not sync:
        cmd.append("--no-sync")
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, capture_output=True)
    secs = time.monotonic() - t0
    st = po_stats(ccpump, d + "/po")
    left = len(os.listdir(d + "/spool/new"))
    # Once per message and once per recipient: no duplicate, every
    # message, and one delivery for each recipient the spool held.
    once = (st["duplicate_deliveries"] == 0 and st["distinct_keys"] == messages
            and st["delivered"] == recipients and left == 0)
    shutil.rmtree(d, ignore_errors=True)
    return dict(batch=batch, dispatchers=dispatchers, messages=messages, sync=int(sync),
                seconds=round(secs, 3), msgs_per_sec=round(messages / secs, 1),
                deliveries=st["delivered"], duplicate_deliveries=st["duplicate_deliveries"],
                exactly_once=int(once))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="results folder")
    ap.add_argument("--set", choices=sorted(SETS), default="quick")
    ap.add_argument("--ccpump", default="./build/ccpump")
    ap.add_argument("--no-sync", action="store_true", help="relay without fsync")
    ap.add_argument("--max-body", type=int, default=9000,
                    help="cap of each message's text and attachment (1 KB to 10 KB messages)")
    ap.add_argument("--scale", type=int, default=1, help="multiply the dispatcher counts")
    a = ap.parse_args()
    s = SETS[a.set]
    os.makedirs(a.out, exist_ok=True)
    rows = []
    bad = False
    with tempfile.TemporaryDirectory(prefix="ccpump-relay-sweep.") as work:
        points = [("batch", b, dict(BASE, batch=b)) for b in s["batch"]]
        points += [("dispatchers", d * a.scale, dict(BASE, dispatchers=d * a.scale))
                   for d in s["dispatchers"]]
        for sweep, value, p in points:
            n = s["small"] if p["batch"] < 16 else s["messages"]
            r = run_one(a.ccpump, work, p["batch"], p["dispatchers"], n, not a.no_sync,
                        a.max_body)
            r = dict(sweep=sweep, value=value, **r)
            rows.append(r)
            bad |= not r["exactly_once"]
            print(f"{sweep:12} {value:>6}  batch {r['batch']:>5}  dispatchers "
                  f"{r['dispatchers']:>2}  {r['messages']:>7} msgs  {r['msgs_per_sec']:>10.0f} "
                  f"msgs/s  exactly once {'yes' if r['exactly_once'] else 'NO'}", flush=True)
    with open(os.path.join(a.out, "relay.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    with open(os.path.join(a.out, "relay.json"), "w") as f:
        json.dump(rows, f, indent=1)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
