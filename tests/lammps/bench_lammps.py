#!/usr/bin/env python3
"""Timing of pair_style nnp in LAMMPS on a liquid-water-like box (standard library only).

    bench_lammps.py --lmp LMP --plugin pair_nnp.so --nnp-init nnp-init --hyper bench/hyper_water_small.txt \
                    [--per-side 8] [--steps 10] [--runs 1x1,2x1,1x2] [--workdir DIR]

Writes n^3 water molecules (random orientations on a jittered lattice, 1 g/cm^3) as a LAMMPS data file, a random
model from the hyperparameter file, and runs NVE for --steps steps for each RANKSxTHREADS in --runs. Prints
timesteps/s and microseconds per atom-step (LAMMPS's loop time, which excludes setup).
"""
import argparse
import math
import os
import random
import re
import subprocess
import sys

R_OH, ANGLE = 0.9572, math.radians(104.52)
MOLAR_VOLUME = 18.015 / 0.602214    # Angstrom^3 per molecule at 1 g/cm^3


def rotation(rng):
    q = [rng.gauss(0, 1) for _ in range(4)]
    n = math.sqrt(sum(x * x for x in q))
    w, x, y, z = (v / n for v in q)
    return [[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]]


def water_data(path, per_side, seed):
    rng = random.Random(seed)
    box = (per_side ** 3 * MOLAR_VOLUME) ** (1 / 3)
    a = box / per_side
    mol = [[0, 0, 0], [R_OH * math.sin(ANGLE / 2), 0, R_OH * math.cos(ANGLE / 2)],
           [-R_OH * math.sin(ANGLE / 2), 0, R_OH * math.cos(ANGLE / 2)]]
    atoms = []
    for i in range(per_side):
        for j in range(per_side):
            for k in range(per_side):
                c = [(i + 0.5 + 0.1 * rng.uniform(-1, 1)) * a, (j + 0.5 + 0.1 * rng.uniform(-1, 1)) * a,
                     (k + 0.5 + 0.1 * rng.uniform(-1, 1)) * a]
                R = rotation(rng)
                for t, p in zip((1, 2, 2), mol):
                    atoms.append((t, [c[m] + sum(R[m][n] * p[n] for n in range(3)) for m in range(3)]))
    with open(path, "w") as f:
        f.write("water box\n\n%d atoms\n2 atom types\n\n" % len(atoms))
        for d in "xyz":
            f.write("0 %.10f %slo %shi\n" % (box, d, d))
        f.write("\nMasses\n\n1 15.9994\n2 1.008\n\nAtoms # atomic\n\n")
        for n, (t, p) in enumerate(atoms):
            f.write("%d %d %.10f %.10f %.10f\n" % (n + 1, t, p[0] % box, p[1] % box, p[2] % box))
    return len(atoms)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lmp", required=True)
    ap.add_argument("--plugin", required=True)
    ap.add_argument("--nnp-init", required=True)
    ap.add_argument("--hyper", required=True)
    ap.add_argument("--per-side", type=int, default=8)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--runs", default="1x1,2x1,1x2")
    ap.add_argument("--mpirun", default="mpirun")
    ap.add_argument("--workdir", default="lammps-bench")
    o = ap.parse_args()
    os.makedirs(o.workdir, exist_ok=True)
    wd = os.path.abspath(o.workdir)
    natoms = water_data(os.path.join(wd, "water.data"), o.per_side, 1)
    model = os.path.join(wd, "bench.nnp")
    subprocess.run([o.nnp_init, os.path.abspath(o.hyper), model, "--seed", "1"], check=True)
    with open(os.path.join(wd, "in.bench"), "w") as f:
        f.write("""units metal
atom_style atomic
read_data water.data
plugin load {plugin}
pair_style nnp
pair_coeff * * {model} O H
neighbor 1.0 bin
velocity all create 300.0 12345
timestep 0.0005
fix 1 all nve
thermo {steps}
run {steps}
""".format(plugin=os.path.abspath(o.plugin), model=model, steps=o.steps))
    print("%d atoms, %d steps, model %s" % (natoms, o.steps, o.hyper))
    print("%-8s %10s %12s %16s" % ("ranks", "threads", "steps/s", "us/atom-step"))
    for spec in o.runs.split(","):
        np_, nt = (int(x) for x in spec.split("x"))
        cmd = [os.path.abspath(o.lmp), "-in", "in.bench", "-log", "none", "-echo", "none"]
        if np_ > 1:
            cmd = [o.mpirun, "--oversubscribe", "--allow-run-as-root", "-np", str(np_)] + cmd
        env = dict(os.environ, OMP_NUM_THREADS=str(nt))
        p = subprocess.run(cmd, cwd=wd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True)
        m = re.search(r"Loop time of ([0-9.eE+-]+) on", p.stdout)
        if p.returncode != 0 or not m:
            print(p.stdout[-2000:])
            return 1
        t = float(m.group(1))
        print("%-8d %10d %12.3f %16.1f" % (np_, nt, o.steps / t, 1e6 * t / (o.steps * natoms)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
