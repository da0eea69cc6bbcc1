#!/usr/bin/python3
"""Draw the learning curve that pnnp-train writes (the `log` CSV file).

    plot_learning_curve.py LOG.csv [-o OUT.png] [--title TEXT]

Three panels against the epoch: energy RMSE (meV/atom) and force RMSE (meV/A), training and validation, on log
scales; and the learning rate. Epoch 0 is the model before the first step (validation only). Training errors are
those of the batches as they were seen during the epoch (the weights changing), validation errors those of the
EMA weights at the end of the epoch, so the two are not strictly comparable early on.
"""
import argparse
import csv
import math
import sys


def read_log(path):
    rows = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            rows.append({k: float(v) if v not in ("", "nan", "-nan") else math.nan for k, v in row.items()})
    if not rows:
        sys.exit(f"plot_learning_curve.py: {path}: no rows")
    return rows


def series(rows, key):
    xs = [r["epoch"] for r in rows if math.isfinite(r[key])]
    ys = [r[key] for r in rows if math.isfinite(r[key])]
    return xs, ys


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("log")
    ap.add_argument("-o", "--output", help="image file (default: LOG with .png)")
    ap.add_argument("--title", default=None)
    a = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_log(a.log)
    fig, axes = plt.subplots(3, 1, sharex=True, figsize=(7, 8), gridspec_kw={"height_ratios": [3, 3, 1.5]})
    for ax, what, unit in ((axes[0], "energy", "meV/atom"), (axes[1], "force", "meV/\u00c5")):
        for split, style in (("train", "-"), ("val", "-o")):
            xs, ys = series(rows, f"{split}_{what}_rmse_{'meV_per_atom' if what == 'energy' else 'meV_per_A'}")
            if xs:
                ax.plot(xs, ys, style, ms=3, label="training" if split == "train" else "validation (EMA)")
        ax.set_yscale("log")
        ax.set_ylabel(f"{what} RMSE ({unit})")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    xs, ys = series(rows, "learning_rate")
    xs, ys = zip(*[(x, y) for x, y in zip(xs, ys) if y > 0]) if any(y > 0 for y in ys) else ((), ())
    axes[2].step(xs, ys, where="post")
    axes[2].set_yscale("log")
    axes[2].set_ylabel("learning rate")
    axes[2].set_xlabel("epoch")
    axes[2].grid(True, which="both", alpha=0.3)
    best = [r["epoch"] for r in rows if r.get("best", 0) == 1]
    if best:
        for ax in axes[:2]:
            ax.axvline(best[-1], color="grey", ls=":", lw=1)
    fig.suptitle(a.title or a.log)
    fig.tight_layout()
    out = a.output or (a.log[:-4] if a.log.endswith(".csv") else a.log) + ".png"
    fig.savefig(out, dpi=120)
    print(out)


if __name__ == "__main__":
    main()
