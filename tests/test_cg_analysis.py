#!/usr/bin/python3
"""The structure and nucleation analyses of examples/cg-nacl (ion_structure.py, nucleation.py) on configurations
whose answers are known (seconds, no LAMMPS):

- rock salt (a = 5.64 A, 4x4x4 cells, periodic, 0.03 A of Gaussian noise): Na-Cl first peak at a/2, Na-Na and
  Cl-Cl at a/sqrt(2), six counter-ions per ion; one cluster of every ion, all of them in rock-salt environments;
- an ideal gas (uniform random ions): g(r) = 1 within the counting noise, no rock-salt environments;
- a 3x3x3 rock-salt cube in a dilute gas far from it: the largest cluster is the cube's 27 ions and exactly the
  19 with at least 4 counter-ions (1 centre, 6 faces, 12 edges; not the 8 corners) are in rock-salt environments;
- the same frames as a LAMMPS dump (types 3 and 4, unwrapped coordinates, box corner off the origin) and as
  extended XYZ give identical numbers; the comparison flags a CG trajectory whose peak is shifted;
- bad input (rmax beyond half the box, an unmapped atom type) exits 2 with a message.

usage: test_cg_analysis.py --workdir DIR
"""
import argparse
import json
import math
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "examples", "cg-nacl")
sys.path.insert(0, EXAMPLE)
import nucleation  # noqa: E402
from analyse_cg import cg_diffusion  # noqa: E402
from analyse_aa import cost  # noqa: E402
from ion_traj import Frame  # noqa: E402

FAILED = []
A = 5.64  # rock-salt lattice constant of NaCl, A


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        FAILED.append(what)
    return ok


def rocksalt(cells, a=A):
    """Ion species and positions of a cells^3 rock-salt block with its corner at the origin."""
    sp, pos = [], []
    for i in range(2 * cells):
        for j in range(2 * cells):
            for k in range(2 * cells):
                sp.append("Na" if (i + j + k) % 2 == 0 else "Cl")
                pos.append((i * a / 2, j * a / 2, k * a / 2))
    return np.array(sp), np.array(pos, float)


def write_extxyz(path, frames):
    with open(path, "w") as f:
        for t, (sp, pos, box) in enumerate(frames):
            f.write("%d\nLattice=\"%.6f 0 0 0 %.6f 0 0 0 %.6f\" Properties=species:S:1:pos:R:3 time_ps=%.3f "
                    "pbc=\"T T T\"\n" % (len(sp), box, box, box, float(t)))
            for s, p in zip(sp, pos):
                f.write("%s %.6f %.6f %.6f\n" % (s, p[0], p[1], p[2]))


def write_dump(path, frames, lo=-3.0, step_per_frame=500):
    with open(path, "w") as f:
        for t, (sp, pos, box) in enumerate(frames):
            f.write("ITEM: TIMESTEP\n%d\nITEM: NUMBER OF ATOMS\n%d\nITEM: BOX BOUNDS pp pp pp\n" % (t * step_per_frame,
                                                                                                   len(sp)))
            f.write(("%.6f %.6f\n" % (lo, lo + box)) * 3)
            f.write("ITEM: ATOMS id type xu yu zu fx fy fz\n")
            for n, (s, p) in enumerate(zip(sp, pos)):
                q = p + lo + box * ((n % 3) - 1)  # shifted by the corner and by -1, 0 or +1 box: unwrapped
                f.write("%d %d %.6f %.6f %.6f 0 0 0\n" % (n + 1, 3 if s == "Na" else 4, q[0], q[1], q[2]))


def structure(work, *args):
    out = os.path.join(work, "s.json")
    p = subprocess.run([sys.executable, os.path.join(EXAMPLE, "ion_structure.py")] + list(args) + ["--json", out],
                       capture_output=True, text=True)
    return p, (json.load(open(out))["results"] if p.returncode == 0 else None)


def nuc_args(**kw):
    a = argparse.Namespace(cutoff=3.5, angle_tol=20.0, min_neighbours=4)
    a.__dict__.update(kw)
    return a


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", required=True)
    work = ap.parse_args().workdir
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(7)

    # rock salt: 4x4x4 cells, 512 ions, box 22.56 A, 8 noisy frames
    sp, pos0 = rocksalt(4)
    box = 4 * A
    crystal = [(sp, np.mod(pos0 + rng.normal(0, 0.03, pos0.shape), box), box) for _ in range(8)]
    xyz = os.path.join(work, "crystal.extxyz")
    dump = os.path.join(work, "crystal.dump")
    write_extxyz(xyz, crystal)
    write_dump(dump, crystal)
    p, res = structure(work, "rs", xyz, dump, "--cg-types", "3:Na,4:Cl", "--rmax", "8", "--dr", "0.01")
    check(p.returncode == 0, "ion_structure.py runs on extended XYZ and a dump (%s)" % p.stderr.strip())
    if res:
        aa, cg = res["rs"]["aa"], res["rs"]["cg"]
        check(abs(aa["Na-Cl"]["peak_r"] - A / 2) < 0.01, "rock salt: Na-Cl first peak %.4f A at a/2 = %.4f"
              % (aa["Na-Cl"]["peak_r"], A / 2))
        for pair in ("Na-Na", "Cl-Cl"):
            check(abs(aa[pair]["peak_r"] - A / math.sqrt(2)) < 0.01, "rock salt: %s first peak %.4f A at a/sqrt2 = "
                  "%.4f" % (pair, aa[pair]["peak_r"], A / math.sqrt(2)))
        check(abs(aa["Na-Cl"]["coordination"] - 6.0) < 0.05, "rock salt: Na-Cl coordination %.3f = 6"
              % aa["Na-Cl"]["coordination"])
        check(abs(aa["Na-Na"]["coordination"] - 12.0) < 0.1, "rock salt: Na-Na coordination %.3f = 12"
              % aa["Na-Na"]["coordination"])
        same = all(aa[k]["g"] == cg[k]["g"] for k in ("Na-Cl", "Na-Na", "Cl-Cl"))
        check(same, "the dump (types 3/4, unwrapped, corner at -3 A) gives the extended XYZ's g(r) exactly")
        check(res["rs"]["verdict"]["Na-Cl"]["ok"], "identical trajectories pass the comparison")
    size, members, frac = nucleation.analyse_frame(Frame(*crystal[0], 0.0), nuc_args())
    check(size == 512 and frac == 1.0, "rock salt: largest cluster %d of 512 ions, rock-salt fraction %.3f = 1"
          % (size, frac))

    # a shifted "CG" crystal (lattice 1% larger): the comparison must flag the Na-Cl peak (0.028 A per 1%)
    sp2, pos2 = rocksalt(4, A * 1.03)
    box2 = 4 * A * 1.03
    big = os.path.join(work, "crystal103.extxyz")
    write_extxyz(big, [(sp2, np.mod(pos2 + rng.normal(0, 0.03, pos2.shape), box2), box2) for _ in range(8)])
    p, res = structure(work, "rs", xyz, big, "--rmax", "8", "--dr", "0.01")
    if check(p.returncode == 0, "comparison with a 3% larger lattice runs"):
        v = res["rs"]["verdict"]["Na-Cl"]
        check(not v["ok"] and abs(v["shift_A"] - 0.03 * A / 2) < 0.01,
              "a 3%% larger lattice is flagged: Na-Cl shift %.4f A (expected %.4f)" % (v["shift_A"], 0.03 * A / 2))

    # the shape of Na-Cl at 2-4 mol/kg: a contact peak below 1 at 2.8 A, then a higher solvent-shared peak at 4.9 A,
    # with counting noise on the rising edge; the first peak is the contact peak, its minimum the one before 4.9 A
    import ion_structure  # noqa: E402
    rng_g = np.random.default_rng(3)
    r = np.arange(0.01, 10.0, 0.02)
    g = (0.55 * np.exp(-0.5 * ((r - 2.8) / 0.1) ** 2) + 2.6 * np.exp(-0.5 * ((r - 4.9) / 0.3) ** 2)
         + (r > 5.5) * (1 - np.exp(-(r - 5.5))))
    g = g + (r > 2.3) * (r < 2.6) * rng_g.uniform(0, 0.02, len(r))
    pos, h, rmin = ion_structure.first_peak(r, g)
    check(abs(pos - 2.8) < 0.01 and abs(h - 0.55) < 0.05 and 3.0 < rmin < 4.2,
          "contact peak below 1 before a higher peak: first peak %.3f A (2.8), height %.3f (0.55), minimum %.2f A"
          % (pos, h, rmin))

    # ideal gas: 400 ions in a 30 A box, 40 frames
    L = 30.0
    gas = [(np.array(["Na", "Cl"] * 200), rng.uniform(0, L, (400, 3)), L) for _ in range(40)]
    gxyz = os.path.join(work, "gas.extxyz")
    write_extxyz(gxyz, gas)
    p, res = structure(work, "gas", gxyz, gxyz, "--rmax", "12", "--dr", "0.2")
    if check(p.returncode == 0, "ion_structure.py on an ideal gas"):
        r = np.array(res["gas"]["aa"]["r"])
        g = np.array(res["gas"]["aa"]["Na-Cl"]["g"])
        sel = r > 6.0
        # counting noise of a bin: 1 / sqrt(expected pairs); 4 sigma
        pairs = 4 * math.pi * r[sel] ** 2 * 0.2 * 200 * 200 / L ** 3 * 40
        check(np.all(np.abs(g[sel] - 1) < 4 / np.sqrt(pairs)),
              "ideal gas: Na-Cl g(r) = 1 within 4 sigma of counting noise beyond 6 A (max dev %.3f)"
              % np.abs(g[sel] - 1).max())
    _, _, frac = nucleation.analyse_frame(Frame(*gas[0], 0.0), nuc_args())
    check(frac < 0.01, "ideal gas (1.3 counter-ions within 3.5 A on average): rock-salt fraction %.4f < 1%%"
          % frac)
    # a dilute gas (100 ions in 30 A: 0.33 counter-ions within 3.5 A on average) has no large clusters
    size, _, _ = nucleation.analyse_frame(Frame(np.array(["Na", "Cl"] * 50), rng.uniform(0, L, (100, 3)),
                                                np.array([L] * 3), 0.0), nuc_args())
    check(size < 10, "dilute ideal gas: largest cluster %d < 10 ions" % size)

    # a 3x3x3 cube of rock salt (27 ions) at the centre of a 40 A box, dilute gas ions kept 8 A away from it
    ions = [("Na" if (i + j + k) % 2 == 0 else "Cl", (20 + i * A / 2, 20 + j * A / 2, 20 + k * A / 2))
            for i in range(3) for j in range(3) for k in range(3)]
    centre = np.array([20 + A / 2] * 3)
    while len(ions) < 27 + 60:
        q = rng.uniform(0, 40, 3)
        if np.linalg.norm(q - centre) > 12 and all(np.linalg.norm(q - np.array(o[1])) > 4.0 for o in ions[27:]):
            ions.append(("Na" if len(ions) % 2 else "Cl", tuple(q)))
    fr = Frame(np.array([s for s, _ in ions]), np.array([p for _, p in ions]), np.array([40.0] * 3), 0.0)
    size, members, frac = nucleation.analyse_frame(fr, nuc_args())
    n_rs = int(round(frac * len(ions)))
    check(size == 27 and sorted(members) == list(range(27)), "cube in a gas: the largest cluster is the cube's 27 "
          "ions (%d)" % size)
    check(n_rs == 19, "cube in a gas: %d ions in rock-salt environments (centre + 6 faces + 12 edges = 19)" % n_rs)
    snap = os.path.join(work, "cube.xyz")
    nucleation.write_snapshot(snap, fr, members)
    check(open(snap).readline().strip() == "27", "the snapshot holds the 27 ions of the cluster")

    # the command line: a dump trajectory, TSV output
    cube_dump = os.path.join(work, "cube.dump")
    write_dump(cube_dump, [(fr.species, fr.pos, 40.0)] * 3)
    tsv = os.path.join(work, "cube.tsv")
    p = subprocess.run([sys.executable, os.path.join(EXAMPLE, "nucleation.py"), cube_dump, "--types", "3:Na,4:Cl",
                        "--tsv", tsv], capture_output=True, text=True)
    rows = open(tsv).read().split("\n")[1:-1] if p.returncode == 0 else []
    check(len(rows) == 3 and all(r.split("\t")[1:3] == ["87", "27"] for r in rows) and rows[1].startswith("1.000"),
          "nucleation.py on a dump: 3 rows, 87 ions, largest cluster 27, time = step x 0.002 ps (%s)" % rows)

    # CG diffusion and cost (analyse_cg.py): random walks with D = 1e-9 m^2/s = 0.1 A^2/ps, frames 1 ps apart
    # (500 steps of 2 fs), 300 ions over 400 frames, unwrapped coordinates leaving the 30 A box; the estimate must lie
    # within 4 of its own block errors of the true D, and those errors must be small (under 10%)
    d_a2ps = 0.1
    steps = rng.normal(0, math.sqrt(2 * d_a2ps * 1.0), (400, 300, 3))
    traj = np.cumsum(steps, axis=0) + rng.uniform(0, 30, (1, 300, 3))
    walk = os.path.join(work, "walk.dump")
    with open(walk, "w") as f:
        for t, x in enumerate(traj):
            f.write("ITEM: TIMESTEP\n%d\nITEM: NUMBER OF ATOMS\n%d\nITEM: BOX BOUNDS pp pp pp\n" % (500 * t, len(x)))
            f.write("0 30\n0 30\n0 30\nITEM: ATOMS id type xu yu zu fx fy fz\n")
            for n, p in enumerate(x):
                f.write("%d %d %.5f %.5f %.5f 0 0 0\n" % (n + 1, 1 + n % 2, p[0], p[1], p[2]))
    got, span = cg_diffusion(walk, 0.0, 0.002)
    for name in ("Na", "Cl"):
        v = got[name] if got else {"D": float("nan"), "err": float("nan")}
        check(abs(v["D"] - 1e-9) < 4 * v["err"] and v["err"] < 1e-10 and span == 399.0,
              "random walk, D = 1e-9 m^2/s: %s D = %.3g +- %.2g over %.0f ps" % (name, v["D"], v["err"], span))
    log = os.path.join(work, "log.lammps")
    with open(log, "w") as f:
        f.write("Step Temp E_pair\n0 0 1\nLoop time of 99 on 1 procs for 100 steps with 10 atoms\n\n"
                "50.0% CPU use with 1 MPI tasks x 1 OpenMP threads\n"
                "Step Time Temp\n0 0 300\nLoop time of 10 on 1 procs for 1000 steps with 10 atoms\n\n"
                "80.0% CPU use with 1 MPI tasks x 1 OpenMP threads\n")
    n, _, cpu = cost(log)
    check(n == 1000 and abs(cpu - 8.0) < 1e-12, "cost: the MD run's 1000 steps and 8 CPU-s, the minimiser's table "
          "excluded (%s steps, %s s)" % (n, cpu))

    # bad input
    p, _ = structure(work, "rs", xyz, xyz, "--rmax", "12")
    check(p.returncode == 2 and "half the box" in p.stderr, "rmax beyond half the box: exit 2, '%s'"
          % p.stderr.strip())
    p = subprocess.run([sys.executable, os.path.join(EXAMPLE, "nucleation.py"), cube_dump], capture_output=True,
                       text=True)
    check(p.returncode == 2 and "type 3" in p.stderr, "an atom type without a species: exit 2, '%s'"
          % p.stderr.strip())

    print("%d failure(s)" % len(FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
