#!/usr/bin/python3
"""Runs (or continues) the all-atom SPC/E + Joung-Cheatham NaCl(aq) simulation of one concentration for the
coarse-grained force-matching data: NPT equilibration at 300 K / 1 bar, then NVT production at the mean NPT volume
that dumps the ion positions and total forces (in.aa-nacl). Every call continues from the newest checkpoint in the
run directory, so the same command resumes a run killed at any moment (at most one chunk is lost); a finished run
is not touched, and raising --nvt-ps extends it.

Run directory layout (RUN_DIR):
  params.json                  the system (waters, ion pairs, molality, seed); a resume must not contradict it
  box.data                     the lattice start (bench/make_nacl_box.py --lammps-full)
  ckpt.npt.STEP.restart/.data  newest NPT checkpoint (binary restart, and a portable text data file)
  ckpt.nvt.STEP.restart/.data  newest NVT checkpoint
  ckpt.*.data.xz               a compressed data checkpoint (what is committed): used when nothing newer exists
  ions.dump.xz                 a committed snapshot of ions.dump: unpacked when ions.dump is absent
  npt_box.txt                  the cube side chosen for NVT (mean NPT volume over the second half of NPT)
  log.npt, log.nvt             LAMMPS logs (appended across resumes)
  ions.dump                    NVT ion frames: id type xu yu zu fx fy fz (real units: A, kcal/mol/A), appended;
                               before continuing from step S the frames at steps >= S are cut off (LAMMPS writes
                               step S again at the start), so no frame is duplicated or missing

usage: driver.py RUN_DIR --molality M [--waters 2220] [--npt-ps 200] [--nvt-ps 2000] [--chunk-ps 4]
                 [--dump-ps 1] [--seed 1] [--lmp PATH] [--portable]
--portable starts from the text data checkpoint even when a binary restart exists (another LAMMPS build; the
Nose-Hoover thermostat state is then reset, a negligible perturbation).
"""
import argparse
import fcntl
import glob
import json
import lzma
import os
import re
import shutil
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
DT_FS = 2.0
M_WATER = 18.0153e-3  # kg/mol
# Experimental densities of NaCl(aq) at 298 K (g/cm^3; CRC Handbook, concentrative properties) for the lattice
# start only; NPT finds the model's own density.
DENSITY = {0: 0.997, 1: 1.037, 2: 1.075, 3: 1.110, 4: 1.142, 5: 1.172, 6: 1.199}


def ps_to_steps(ps):
    return int(round(ps * 1000.0 / DT_FS))


def checkpoints(d, stage=None):
    """{step: {kind: path}} of the checkpoints ckpt.STAGE.STEP.KIND of one stage, or ckpt.STEP.KIND without a stage
    (cg_md.py's runs) (kind: restart, data, data.xz)."""
    prefix = "ckpt.%s." % stage if stage else "ckpt."
    out = {}
    for p in glob.glob(os.path.join(d, prefix + "*")):
        m = re.match(re.escape(prefix) + r"(\d+)\.(restart|data|data\.xz)$", os.path.basename(p))
        if m:
            out.setdefault(int(m.group(1)), {})[m.group(2)] = p
    return out


def unpack(path):
    """path from path.xz when only the committed, packed copy exists"""
    if not os.path.exists(path) and os.path.exists(path + ".xz"):
        with lzma.open(path + ".xz", "rb") as src, open(path + ".tmp", "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.replace(path + ".tmp", path)


def start_file(files, portable):
    """(path, kind) to start from: the binary restart unless --portable or absent; a .data.xz is unpacked."""
    if "restart" in files and not portable:
        return files["restart"], "restart"
    if "data" not in files:
        files["data"] = files["data.xz"][:-3]
        unpack(files["data"])
    return files["data"], "data"


def read_whole_frame(f):
    """Reads one dump frame after its ITEM: TIMESTEP line; its step, or None when the frame is incomplete (a kill
    can cut the file anywhere, even inside a number: every line must be there and end with a newline)."""
    step_line = f.readline()
    head = [f.readline() for _ in range(2)]  # ITEM: NUMBER OF ATOMS, n
    try:
        step, n = int(step_line), int(head[1])
    except ValueError:
        return None
    rest = [f.readline() for _ in range(5 + n)]  # box header, 3 bounds, atoms header, n atoms
    if not all(line.endswith(b"\n") for line in [step_line] + head + rest):
        return None
    return step


def truncate_dump(path, first_bad_step):
    """Cuts the dump file before the first frame whose step is >= first_bad_step, or that is incomplete, or whose
    step does not increase. Returns the number of frames kept."""
    if not os.path.exists(path):
        return 0
    kept, cut_at, last = 0, None, -1
    with open(path, "rb") as f:
        while True:
            pos = f.tell()
            line = f.readline()
            if not line:
                break
            step = read_whole_frame(f) if line == b"ITEM: TIMESTEP\n" else None
            if step is None or step >= first_bad_step or step <= last:
                cut_at = pos
                break
            kept, last = kept + 1, step
    if cut_at is not None:
        with open(path, "r+b") as f:
            f.truncate(cut_at)
    return kept


def thermo_rows(log):
    """Rows of every thermo table in a LAMMPS log as {column: array}, the last value kept for a repeated step
    (a resumed run prints steps again)."""
    rows, cols, header = {}, None, None
    with open(log) as f:
        for line in f:
            w = line.split()
            if w[:1] == ["Step"]:
                cols = w if "Time" in w else None  # in.aa-nacl's tables (not the minimiser's)
                header = cols or header
                continue
            if cols and len(w) == len(cols):
                try:
                    vals = [float(x) for x in w]
                except ValueError:
                    cols = None
                    continue
                rows[int(vals[0])] = vals
            elif cols and w[:1] != ["WARNING:"]:
                cols = None
    steps = sorted(rows)
    table = np.array([rows[s] for s in steps]) if steps else np.zeros((0, 1))
    return {c: table[:, k] for k, c in enumerate(header)} if steps else {}


def mean_npt_box(d, npt_steps):
    """Cube side (A) of the mean volume over the second half of the NPT stage."""
    th = thermo_rows(os.path.join(d, "log.npt"))
    sel = th["Step"] >= npt_steps / 2
    if sel.sum() < 2:
        raise SystemExit("driver.py: too few NPT thermo rows in the second half of %s/log.npt" % d)
    return float(th["Volume"][sel].mean()) ** (1.0 / 3.0)


def lammps(args, d, stage, start, kind, fresh, box, target, step0):
    chunk = ps_to_steps(args.chunk_ps)
    dump_every = ps_to_steps(args.dump_ps)
    if chunk % dump_every or chunk % 100:
        raise SystemExit("driver.py: --chunk-ps must be a multiple of --dump-ps and of 0.2 ps (thermo)")
    # LAMMPS re-reads its input at every `jump SELF`: run a private copy, so that editing the example's input never
    # changes a run in flight (the next invocation picks the edit up)
    shutil.copyfile(os.path.join(HERE, "in.aa-nacl"), os.path.join(d, "in.aa-nacl.run"))
    cmd = [args.lmp, "-in", "in.aa-nacl.run", "-log", "none", "-screen", "none",
           "-var", "stage", stage, "-var", "start", os.path.relpath(start, d), "-var", "start_kind", kind,
           "-var", "fresh", str(fresh), "-var", "box", "%.8f" % box, "-var", "target", str(target),
           "-var", "chunk", str(chunk), "-var", "dump_every", str(dump_every), "-var", "seed", str(args.seed),
           "-var", "step0", str(step0), "-var", "logfile", "log." + stage]
    print("driver.py: %s %s from %s (%s), to step %d" % (d, stage, os.path.basename(start), kind, target),
          flush=True)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run(cmd, cwd=d, env=env)
    if r.returncode != 0:
        raise SystemExit("driver.py: LAMMPS failed (exit %d); see %s/log.%s" % (r.returncode, d, stage))


def setup(args, d):
    pairs = int(round(args.molality * args.waters * M_WATER))
    params = {"waters": args.waters, "pairs": pairs, "molality": pairs / (args.waters * M_WATER),
              "seed": args.seed}
    pj = os.path.join(d, "params.json")
    if os.path.exists(pj):
        old = json.load(open(pj))
        if {k: old[k] for k in ("waters", "pairs", "seed")} != {k: params[k] for k in ("waters", "pairs", "seed")}:
            raise SystemExit("driver.py: %s holds another system (%s); use another run directory" % (d, old))
    else:
        os.makedirs(d, exist_ok=True)
        with open(pj, "w") as f:
            json.dump(params, f, indent=1)
    if not os.path.exists(os.path.join(d, "box.data")):
        rho = np.interp(args.molality, sorted(DENSITY), [DENSITY[k] for k in sorted(DENSITY)])
        # the lattice placer can fail to fit every water (a lattice site boxed in by ions, or a lattice shape like
        # 12x14x14 that is tight along one axis): then try another placement (seed + 1000 k) 1% less dense; NPT
        # finds the density anyway. The start actually used is recorded in box_start.txt.
        for k in range(8):
            seed_k, rho_k = args.seed + 1000 * k, rho * 0.99 ** k
            r = subprocess.run([sys.executable, os.path.join(TOP, "bench", "make_nacl_box.py"),
                                os.path.join(d, "box.xyz"), "--waters", str(args.waters), "--pairs", str(pairs),
                                "--density", "%.4f" % rho_k, "--seed", str(seed_k),
                                "--lammps-full", os.path.join(d, "box.data.tmp")], stderr=subprocess.PIPE, text=True)
            if r.returncode == 0:
                break
            print("driver.py: lattice start failed (%s); another placement" % r.stderr.strip().splitlines()[-1],
                  flush=True)
        else:
            raise SystemExit("driver.py: bench/make_nacl_box.py could not build the start box")
        with open(os.path.join(d, "box_start.txt"), "w") as f:
            f.write("make_nacl_box.py --waters %d --pairs %d --density %.4f --seed %d\n"
                    % (args.waters, pairs, rho_k, seed_k))
        os.replace(os.path.join(d, "box.data.tmp"), os.path.join(d, "box.data"))
    return params


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--molality", type=float, required=True)
    ap.add_argument("--waters", type=int, default=2220)
    ap.add_argument("--npt-ps", type=float, default=200.0)
    ap.add_argument("--nvt-ps", type=float, default=2000.0)
    ap.add_argument("--chunk-ps", type=float, default=4.0)
    ap.add_argument("--dump-ps", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lmp", default=os.environ.get("LMP", os.path.expanduser(
        "~/.cache/pair_nnp/lammps-bookworm/build/lmp")))
    ap.add_argument("--portable", action="store_true")
    args = ap.parse_args()
    d = os.path.abspath(args.dir)
    os.makedirs(d, exist_ok=True)
    # one driver per run directory: a second one (e.g. the resume command typed while the run still goes) would
    # write the same checkpoints and dump; the lock dies with the process, so a kill leaves no stale lock
    lock = open(os.path.join(d, ".lock"), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise SystemExit("driver.py: another driver is running in %s" % d)
    setup(args, d)
    npt_target, nvt_target = ps_to_steps(args.npt_ps), ps_to_steps(args.nvt_ps)
    dump = os.path.join(d, "ions.dump")
    unpack(dump)  # a committed snapshot, on a new machine
    while True:
        nvt, npt = checkpoints(d, "nvt"), checkpoints(d, "npt")
        if nvt:
            s = max(nvt)
            if s >= nvt_target:
                truncate_dump(dump, s + 1)  # frames a killed run wrote after its last checkpoint
                print("driver.py: %s done (NVT step %d >= %d)" % (d, s, nvt_target))
                return
            kept = truncate_dump(dump, s)
            print("driver.py: %s: continuing NVT at step %d, %d dump frames kept" % (d, s, kept), flush=True)
            path, kind = start_file(nvt[s], args.portable)
            lammps(args, d, "nvt", path, kind, 0, 0.0, nvt_target, s)
        elif npt and max(npt) >= npt_target:
            s = max(npt)
            box = mean_npt_box(d, s)
            with open(os.path.join(d, "npt_box.txt"), "w") as f:
                f.write("%.8f\n" % box)
            truncate_dump(dump, 0)  # an NVT start killed before its first checkpoint
            path, kind = start_file(npt[s], args.portable)
            lammps(args, d, "nvt", path, kind, 0, box, nvt_target, 0)
        elif npt:
            s = max(npt)
            path, kind = start_file(npt[s], args.portable)
            lammps(args, d, "npt", path, kind, 0, 0.0, npt_target, s)
        else:
            lammps(args, d, "npt", os.path.join(d, "box.data"), "data", 1, 0.0, npt_target, 0)


if __name__ == "__main__":
    main()
