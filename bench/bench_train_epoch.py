#!/usr/bin/env python3
"""Epoch time of nnp-train before and after the exact force-loss gradient with radial tables (issue 12).

    bench/bench_train_epoch.py [--frames N] [--repeats R] [--threads T] [--new BUILD/pair_nnp/nnp-train]

Trains l_max 2 / 16 channels / 3 layers (otherwise potentials/water-revpbe0d3.cfg: radial_basis 8, radial_hidden
16, readout_hidden 16, batch_size 8, 10% validation) for one epoch on the first N frames of the water training set
(all 1393 with --frames 0), with the trainer of commit fd9ad87 (three passes per structure, the force term by central
differences, exact radial MLP; built once into ~/.cache/pair_nnp/bench-train-fd9ad87) and the new one (this
checkout), alternately R times in the same run. Epoch time is the `time_s` column of the learning-curve log (one
epoch's training steps and its validation). Prints each time, the medians and their ratio. The new trainer runs
once more with `radial_step 0` (exact MLP) to separate the gain of the exact scheme from that of the tables.

The per-frame cost does not depend on which frames are used (every frame has 192 atoms), so a full epoch takes
(1393 / N) times the measured one.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "..", "shared", "data", "water_revPBE0-D3.extxyz")
OLD_COMMIT = "fd9ad87"

MODEL = """species H O
r_cut 5.0
l_max 2
channels 16
layers 3
radial_basis 8
radial_hidden 16
readout_hidden 16
validation_fraction 0.1
seed 1
batch_size 8
learning_rate 0.004
epochs 1
"""


def build_old(cache):
    exe = os.path.join(cache, "build", "pair_nnp", "nnp-train")
    if os.path.exists(exe):
        return exe
    src = os.path.join(cache, "src")
    os.makedirs(src, exist_ok=True)
    archive = subprocess.run(["git", "-C", ROOT, "archive", OLD_COMMIT], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", src], input=archive, check=True)
    bld = os.path.join(cache, "build")
    subprocess.run(["cmake", "-S", src, "-B", bld, "-DCMAKE_BUILD_TYPE=Release"], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["nice", "cmake", "--build", bld, "-j2", "--target", "nnp-train"], check=True,
                   stdout=subprocess.DEVNULL)
    return exe


def write_subset(path, n_frames):
    """The first n_frames frames of the water set (all with 0)."""
    with open(DATA) as f, open(path, "w") as out:
        frames = 0
        while True:
            head = f.readline()
            if not head:
                break
            n = int(head)
            if n_frames and frames == n_frames:
                break
            out.write(head)
            for _ in range(n + 1):
                out.write(f.readline())
            frames += 1
    return frames


def epoch_time(exe, workdir, name, data, threads, extra=""):
    cfg = os.path.join(workdir, name + ".cfg")
    with open(cfg, "w") as f:
        f.write(MODEL + extra + "train %s\noutput %s.nnp\n" % (data, name))
    for suffix in (".nnp", ".nnp.ckpt", ".nnp.log.csv"):
        p = os.path.join(workdir, name + suffix)
        if os.path.exists(p):
            os.remove(p)
    subprocess.run([exe, cfg, "--threads", str(threads), "--max-epochs", "1"], check=True, cwd=workdir,
                   stdout=subprocess.DEVNULL)
    with open(os.path.join(workdir, name + ".nnp.log.csv")) as f:
        rows = [line.strip().split(",") for line in f if line.strip()]
    col = rows[0].index("time_s")
    return float([r for r in rows[1:] if r[0] == "1"][0][col])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=80, help="first N frames of the water set (0: all)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--new", default=os.path.join(ROOT, "build", "pair_nnp", "nnp-train"))
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/pair_nnp/bench-train-" + OLD_COMMIT))
    ap.add_argument("--no-exact", action="store_true", help="skip the new trainer's radial_step 0 run")
    args = ap.parse_args()
    old = build_old(args.cache)
    work = tempfile.mkdtemp(prefix="bench_train_epoch.")
    try:
        data = os.path.join(work, "water.extxyz")
        n = write_subset(data, args.frames)
        print("%d frames (full training set: 1393 frames), %d threads, l_max 2 / 16 channels / 3 layers" %
              (n, args.threads))
        t_old, t_new = [], []
        for r in range(args.repeats):
            t_old.append(epoch_time(old, work, "old", data, args.threads))
            t_new.append(epoch_time(args.new, work, "new", data, args.threads))
            print("repeat %d: old %.2f s, new %.2f s, ratio %.2f" % (r + 1, t_old[-1], t_new[-1], t_old[-1] / t_new[-1]),
                  flush=True)
        mo, mn = statistics.median(t_old), statistics.median(t_new)
        print("median epoch: old %.2f s, new %.2f s: %.2fx faster" % (mo, mn, mo / mn))
        print("full epoch (x %.2f): old %.0f s, new %.0f s" % (1393 / n, mo * 1393 / n, mn * 1393 / n))
        if not args.no_exact:
            te = epoch_time(args.new, work, "exact", data, args.threads, "radial_step 0\n")
            print("new trainer with the exact radial MLP (radial_step 0): %.2f s (old / this %.2f)" % (te, mo / te))
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    sys.exit(main())
