#!/usr/bin/env python3
"""Sweeps of `ccpump bench`: one parameter at a time around a base point.

Each swept parameter (pollers, dispatchers, batch, dup factor, ring size,
wait strategy) is run for the lock-free and the mutex claim; the mode sweep
also runs the 1998 race (naive), whose duplicates are recorded, not fatal.
Every point runs --reps times, its modes interleaved (repetition r of each
mode before repetition r+1 of any, so machine noise hits them alike), and
the median msgs/s is kept.  Thread counts are flags, so the same sweep runs
on a bigger machine (--scale multiplies the thread counts swept).

Writes pump.csv and pump.json into the results folder, afresh after each
point (so a sweep cut short keeps the points it finished; pump.json says
"complete": false until the end), and prints a table.  Exits 1 when a
lock-free or mutex run is not exactly once.
"""
import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time

COLUMNS = ["sweep", "value", "mode", "pollers", "dispatchers", "batch", "dup_factor",
           "ring_size", "wait", "messages", "reps", "msgs_per_sec", "msgs_per_sec_min",
           "msgs_per_sec_max", "notifications_per_sec", "latency_p50_us", "latency_p99_us",
           "cpu_cores", "claim_conflicts", "notifications_per_message", "duplicates", "lost",
           "exactly_once"]

SETS = {
    # Under a minute on 2 cores.
    "quick": dict(messages=1000000, reps=1, pollers=[1, 2, 4], dispatchers=[1, 2, 4],
                  batch=[1, 8, 32, 128], dup_factor=[1, 2, 4, 8],
                  ring_size=[256, 4096, 16384, 65536], wait=["spin", "yield", "block"]),
    "full": dict(messages=5000000, reps=3, pollers=[1, 2, 4, 8], dispatchers=[1, 2, 4, 8],
                 batch=[1, 4, 8, 16, 32, 64, 128, 256], dup_factor=[1, 2, 4, 8, 16],
                 ring_size=[64, 256, 1024, 4096, 16384, 65536],
                 wait=["spin", "yield", "block"]),
}
# The base point is `ccpump bench`'s defaults, the command of the engine's
# figures: each sweep moves one flag away from what a user runs first.
BASE = dict(pollers=2, dispatchers=2, batch=32, dup_factor=4, ring_size=16384, wait="block")
FLAG = dict(pollers="--pollers", dispatchers="--dispatchers", batch="--batch",
            dup_factor="--dup-factor", ring_size="--ring-size", wait="--wait")


def command(ccpump, mode, point, messages, pin):
    cmd = [ccpump, "bench", "--json", "--no-progress", "--mode", mode,
           "--messages", str(messages)]
    for k, v in point.items():
        cmd += [FLAG[k], str(v)]
    if pin:
        cmd.append("--pin")
    return cmd


def run_once(cmd, messages):
    p = subprocess.run(cmd, capture_output=True, text=True)
    line = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    try:
        rep = json.loads(line)
    except ValueError:
        sys.exit("sweep: '%s' gave no JSON report (exit %d): %s"
                 % (" ".join(cmd), p.returncode, p.stderr.strip()))
    if rep.get("ended") not in (None, "messages"):
        sys.exit("sweep: '%s' ended early (%s): not a full run"
                 % (" ".join(cmd), rep["ended"]))
    # The exit status must agree with the report (0 exactly once, 3
    # not), and the report must be of the messages asked for: a run
    # that crashed after printing is no result.
    if (p.returncode not in (0, 3) or (p.returncode == 0) != bool(rep["exactly_once"])
            or rep["messages"] != messages):
        sys.exit("sweep: '%s' exited %d; its report disagrees: %s"
                 % (" ".join(cmd), p.returncode, line))
    return rep


def summary(mode, point, reports, messages, reps):
    rates = [r["msgs_per_sec"] for r in reports]
    med = statistics.median(rates)
    rep = min(reports, key=lambda r: abs(r["msgs_per_sec"] - med))
    return dict(
        mode=mode, messages=messages, reps=reps, msgs_per_sec=round(med, 1),
        msgs_per_sec_min=round(min(rates), 1), msgs_per_sec_max=round(max(rates), 1),
        notifications_per_sec=round(rep["notifications_per_sec"], 1),
        latency_p50_us=round(rep["latency_ns"]["p50"] / 1e3, 2),
        latency_p99_us=round(rep["latency_ns"]["p99"] / 1e3, 2),
        cpu_cores=round(rep["cpu_seconds"] / rep["seconds"], 2) if rep["seconds"] else 0,
        claim_conflicts=rep["claim_conflicts"],
        notifications_per_message=rep.get("notifications_per_message", 0),
        duplicates=max(r["duplicates"] for r in reports),
        lost=max(r["lost"] for r in reports),
        exactly_once=all(r["exactly_once"] for r in reports),
        **point)


def run_point(ccpump, modes, point, messages, reps, pin):
    """Every mode at one point, the repetitions interleaved across modes.
    Returns (mode, command, reports, row) per mode."""
    cmds = {m: command(ccpump, m, point, messages, pin) for m in modes}
    reports = {m: [] for m in modes}
    for _ in range(reps):
        for m in modes:
            reports[m].append(run_once(cmds[m], messages))
    return [(m, cmds[m], reports[m], summary(m, point, reports[m], messages, reps))
            for m in modes]


def write_results(folder, rows, raw, meta, complete):
    """pump.csv and pump.json afresh, through a rename each."""
    path = os.path.join(folder, "pump.csv")
    with open(path + ".tmp", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({k: r[k] for k in COLUMNS})
    os.replace(path + ".tmp", path)
    path = os.path.join(folder, "pump.json")
    with open(path + ".tmp", "w") as f:
        json.dump(dict(benchmark="pump", complete=complete, rows=rows, runs=raw, **meta), f,
                  indent=1)
        f.write("\n")
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", help="folder for pump.csv and pump.json")
    ap.add_argument("--set", choices=sorted(SETS), default="quick")
    ap.add_argument("--ccpump", default="build/ccpump", help="the ccpump binary")
    ap.add_argument("--messages", type=int, help="messages per run (the set's)")
    ap.add_argument("--reps", type=int, help="repetitions per point (the set's)")
    ap.add_argument("--scale", type=int, default=1,
                    help="multiply swept and base thread counts (bigger machines)")
    ap.add_argument("--only", help="comma-separated sweeps to run (all)")
    ap.add_argument("--pin", action="store_true", help="pass --pin to ccpump bench")
    a = ap.parse_args()

    s = dict(SETS[a.set])
    messages = a.messages or s["messages"]
    reps = a.reps or s["reps"]
    base = dict(BASE)
    base["pollers"] *= a.scale
    base["dispatchers"] *= a.scale
    sweeps = [("pollers", [v * a.scale for v in s["pollers"]]),
              ("dispatchers", [v * a.scale for v in s["dispatchers"]]),
              ("batch", s["batch"]), ("dup_factor", s["dup_factor"]),
              ("ring_size", s["ring_size"]), ("wait", s["wait"]),
              ("mode", ["lockfree", "mutex", "naive"])]
    if a.only:
        keep = set(a.only.split(","))
        sweeps = [sw for sw in sweeps if sw[0] in keep]
    os.makedirs(a.results, exist_ok=True)

    rows, raw = [], []
    meta = dict(set=a.set, base=base, messages=messages, reps=reps)
    t0 = time.time()
    for name, values in sweeps:
        # The mode sweep is one point: its three modes interleaved.
        points = [(name, values)] if name == "mode" else [(v, ["lockfree", "mutex"])
                                                          for v in values]
        for v, modes in points:
            point = dict(base)
            if name != "mode":
                point[name] = v
            for mode, cmd, reports, row in run_point(a.ccpump, modes, point, messages, reps,
                                                     a.pin):
                value = mode if name == "mode" else v
                row.update(sweep=name, value=value)
                rows.append(row)
                raw.append(dict(sweep=name, value=value, command=" ".join(cmd),
                                reports=reports))
            write_results(a.results, rows, raw, meta, False)
    write_results(a.results, rows, raw, meta, True)

    print("%-12s %-9s %-9s %14s %10s %10s %6s" % ("sweep", "value", "mode", "msgs/s",
                                                   "p50 us", "p99 us", "once"))
    for r in rows:
        print("%-12s %-9s %-9s %14.0f %10.1f %10.1f %6s" % (
            r["sweep"], r["value"], r["mode"], r["msgs_per_sec"], r["latency_p50_us"],
            r["latency_p99_us"], "yes" if r["exactly_once"] else "NO"))
    print("pump sweep: %d points in %.0f s; %s/pump.csv" % (len(rows), time.time() - t0,
                                                              a.results))
    bad = [r for r in rows if r["mode"] != "naive" and not r["exactly_once"]]
    if bad:
        print("pump sweep: %d lock-free or mutex runs were not exactly once" % len(bad),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
