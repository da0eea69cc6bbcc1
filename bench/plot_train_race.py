#!/usr/bin/python3
"""Validation force RMSE against wall time for several pnnp-train runs of the same model and data (issue 12's
equal-wall-time comparison of trainers).

    plot_train_race.py LABEL=LOG.csv [LABEL=LOG.csv ...] -o OUT.png [--title TEXT]

Reads the learning-curve CSV that pnnp-train writes (`time_s` is each epoch's wall time, summed here; epoch 0 is the
model before the first step) and prints, per run, the epochs done and the best validation force RMSE reached.
"""
import argparse
import csv
import math
import sys


def read_curve(path):
    t, f, elapsed = [], [], 0.0
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            elapsed += float(row["time_s"]) / 60.0
            v = float(row["val_force_rmse_meV_per_A"])
            if math.isfinite(v):
                t.append(elapsed)
                f.append(v)
    if not t:
        sys.exit("plot_train_race.py: %s: no validation rows" % path)
    return t, f


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+", help="LABEL=LOG.csv")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--title", default="")
    a = ap.parse_args()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for spec in a.runs:
        label, _, path = spec.partition("=")
        t, f = read_curve(path)
        ax.plot(t, f, "o-", ms=3, label=label)
        print("%-40s %3d epochs in %6.1f min, best validation force RMSE %.1f meV/A"
              % (label, len(t) - 1, t[-1], min(f)))
    ax.set_xlabel("wall time (min)")
    ax.set_ylabel("validation force RMSE (meV/A)")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    if a.title:
        ax.set_title(a.title, fontsize=9)
    fig.tight_layout()
    fig.savefig(a.output, dpi=120)


if __name__ == "__main__":
    main()
