#!/usr/bin/env python3
"""Epoch time of pnnp-train before and after the exact force-loss gradient with radial tables (issue 12).

    bench/bench_train_epoch.py [--frames N] [--repeats R] [--threads T] [--new BUILD/pair_nnp/pnnp-train]

Trains l_max 2 / 16 channels / 3 layers (otherwise potentials/water-revpbe0d3.cfg: radial_basis 8, radial_hidden
16, readout_hidden 16, batch_size 8, 10% validation) for one epoch on the first N frames of the water training set
(all 1393 with --frames 0), with the trainer of commit fd9ad87 (three passes per structure, the force term by central
differences, exact radial MLP; built once into ~/.cache/pair_nnp/bench-train-fd9ad87) and the new one (this
checkout), alternately R times in the same run. Epoch wall time is the `time_s` column of the learning-curve log
(one epoch's training steps and its validation); epoch CPU time is that of a one-epoch run less that of a run that
stops before the first epoch, which makes the comparison robust on a loaded machine. Prints each time, the medians
and their ratios. The new trainer runs
once more with `radial_step 0` (exact MLP) to separate the gain of the exact scheme from that of the tables.

The per-frame cost does not depend on which frames are used (every frame has 192 atoms), so a full epoch takes
(1393 / N) times the measured one.
"""
import argparse
import os
import resource
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
    exe = os.path.join(cache, "build", "pair_nnp", "pnnp-train")
    if os.path.exists(exe):
        return exe
    src = os.path.join(cache, "src")
    os.makedirs(src, exist_ok=True)
    archive = subprocess.run(["git", "-C", ROOT, "archive", OLD_COMMIT], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", src], input=archive, check=True)
    bld = os.path.join(cache, "build")
    subprocess.run(["cmake", "-S", src, "-B", bld, "-DCMAKE_BUILD_TYPE=Release"], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["nice", "cmake", "--build", bld, "-j2", "--target", "pnnp-train"], check=True,
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


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_trainer(exe, workdir, name, data, threads, epochs, extra):
    """Returns (epoch 1's wall time from the log or None, CPU seconds of the whole run)."""
    cfg = os.path.join(workdir, name + ".cfg")
    with open(cfg, "w") as f:
        f.write(MODEL + extra + "epochs %d\ntrain %s\noutput %s.nnp\n" % (epochs, data, name))
    for suffix in (".nnp", ".nnp.ckpt", ".nnp.log.csv"):
        p = os.path.join(workdir, name + suffix)
        if os.path.exists(p):
            os.remove(p)
    cpu0 = child_cpu()
    subprocess.run([exe, cfg, "--threads", str(threads)], check=True, cwd=workdir, stdout=subprocess.DEVNULL)
    cpu = child_cpu() - cpu0
    if epochs == 0:
        return None, cpu
    with open(os.path.join(workdir, name + ".nnp.log.csv")) as f:
        rows = [line.strip().split(",") for line in f if line.strip()]
    col = rows[0].index("time_s")
    return float([r for r in rows[1:] if r[0] == "1"][0][col]), cpu


def epoch_time(exe, workdir, name, data, threads, extra=""):
    """Wall time of one epoch (the log's time_s) and its CPU time: that of a one-epoch run less that of a run that
    stops after the set-up and the initial evaluation (epochs 0). The CPU time hardly depends on what else runs on
    the machine; the wall time does, a lot, on a shared one."""
    wall, cpu1 = run_trainer(exe, workdir, name, data, threads, 1, extra)
    _, cpu0 = run_trainer(exe, workdir, name, data, threads, 0, extra)
    return wall, cpu1 - cpu0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=80, help="first N frames of the water set (0: all)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--new", default=os.path.join(ROOT, "build", "pair_nnp", "pnnp-train"))
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/pair_nnp/bench-train-" + OLD_COMMIT))
    ap.add_argument("--no-exact", action="store_true", help="skip the new trainer's radial_step 0 run")
    ap.add_argument("--radial-hidden", default="16", help="hidden widths of the radial MLP (default 16, as the "
                    "shipped water potential; the trainer's default is '64 64')")
    args = ap.parse_args()
    global MODEL
    MODEL = MODEL.replace("radial_hidden 16", "radial_hidden " + args.radial_hidden)
    old = build_old(args.cache)
    work = tempfile.mkdtemp(prefix="bench_train_epoch.")
    try:
        data = os.path.join(work, "water.extxyz")
        n = write_subset(data, args.frames)
        print("%d frames (full training set: 1393 frames), %d threads, l_max 2 / 16 channels / 3 layers, "
              "radial_hidden %s" % (n, args.threads, args.radial_hidden))
        w_old, w_new, c_old, c_new = [], [], [], []
        for r in range(args.repeats):
            w, c = epoch_time(old, work, "old", data, args.threads)
            w_old.append(w), c_old.append(c)
            w, c = epoch_time(args.new, work, "new", data, args.threads)
            w_new.append(w), c_new.append(c)
            print("repeat %d: wall old %.2f s, new %.2f s (%.2fx); CPU old %.2f s, new %.2f s (%.2fx)" %
                  (r + 1, w_old[-1], w_new[-1], w_old[-1] / w_new[-1], c_old[-1], c_new[-1], c_old[-1] / c_new[-1]),
                  flush=True)
        mwo, mwn = statistics.median(w_old), statistics.median(w_new)
        mco, mcn = statistics.median(c_old), statistics.median(c_new)
        print("median epoch wall time: old %.2f s, new %.2f s: %.2fx faster" % (mwo, mwn, mwo / mwn))
        print("median epoch CPU time:  old %.2f s, new %.2f s: %.2fx less" % (mco, mcn, mco / mcn))
        print("full epoch (x %.2f), wall: old %.0f s, new %.0f s" % (1393 / n, mwo * 1393 / n, mwn * 1393 / n))
        if not args.no_exact:
            we, ce = epoch_time(args.new, work, "exact", data, args.threads, "radial_step 0\n")
            print("new trainer, exact radial MLP (radial_step 0): wall %.2f s (old / this %.2f), CPU %.2f s (%.2f)" %
                  (we, mwo / we, ce, mco / ce))
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    sys.exit(main())
