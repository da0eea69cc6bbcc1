#!/usr/bin/python3
"""Timing of pair_style nnp in LAMMPS on a water box (bench/make_water_box.py), per MPI-rank x thread layout.

    bench_lammps.py --lmp LMP --plugin pair_nnp.so (--model M.nnp | --nnp-init nnp-init --hyper H.txt)
                    [--replicate 2] [--steps 50] [--repeat 3] [--runs 1x1,2x1,1x2] [--radial-step 0.01]

Runs NVE for --steps steps for each RANKSxTHREADS in --runs, --repeat times each, and prints the median timesteps/s
and microseconds per atom-step (wall) and per atom-step x core, from LAMMPS's loop time (which excludes setup).
In the same run it times the classical reference on the same atoms, SPC/E + PPPM (1e-5) with SHAKE
(examples/water/in.spce), and prints the ratio of the two costs per atom-step (not per simulated time: SPC/E takes
2 fs steps, the flexible NNP 0.5 fs).
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

INPUT = """units metal
atom_style atomic
read_data water.data
plugin load {plugin}
pair_style nnp radial_step {step}
pair_coeff * * {model} O H
neighbor 1.0 bin
velocity all create 300.0 12345
timestep 0.0005
fix 1 all nve
thermo {steps}
run {steps}
"""


def median_loop_time(o, wd, args, n_ranks, n_threads):
    cmd = [os.path.abspath(o.lmp)] + args + ["-log", "none", "-echo", "none"]
    if n_ranks > 1:
        cmd = [o.mpirun, "--oversubscribe", "--allow-run-as-root", "-np", str(n_ranks)] + cmd
    env = dict(os.environ, OMP_NUM_THREADS=str(n_threads), OPENBLAS_NUM_THREADS="1")
    times = []
    for _ in range(o.repeat):
        p = subprocess.run(cmd, cwd=wd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        m = re.search(r"Loop time of ([0-9.eE+-]+) on", p.stdout)
        if p.returncode != 0 or not m:
            print(p.stdout[-2000:])
            return None
        times.append(float(m.group(1)))
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lmp", required=True)
    ap.add_argument("--plugin", required=True)
    ap.add_argument("--model")
    ap.add_argument("--nnp-init")
    ap.add_argument("--hyper")
    ap.add_argument("--replicate", type=int, default=2, help="copies of the 192-atom box per side (2: 1536 atoms)")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--runs", default="1x1,2x1,1x2")
    ap.add_argument("--radial-step", default="0.01")
    ap.add_argument("--mpirun", default="mpirun")
    ap.add_argument("--workdir", default="lammps-bench")
    ap.add_argument("--no-spce", action="store_true", help="skip the classical reference")
    o = ap.parse_args()
    os.makedirs(o.workdir, exist_ok=True)
    wd = os.path.abspath(o.workdir)
    subprocess.run([sys.executable, os.path.join(HERE, "make_water_box.py"), os.path.join(wd, "water.xyz"),
                    "--replicate", str(o.replicate), "--lammps-data", os.path.join(wd, "water.data"),
                    "--lammps-full", os.path.join(wd, "water-full.data")], check=True)
    natoms = int(open(os.path.join(wd, "water.xyz")).readline())
    model = os.path.abspath(o.model) if o.model else os.path.join(wd, "bench.nnp")
    if not o.model:
        subprocess.run([o.nnp_init, os.path.abspath(o.hyper), model, "--seed", "1"], check=True)
    with open(os.path.join(wd, "in.bench"), "w") as f:
        f.write(INPUT.format(plugin=os.path.abspath(o.plugin), model=model, steps=o.steps, step=o.radial_step))
    print("%d atoms, %d steps, model %s, radial_step %s, median of %d" % (natoms, o.steps, os.path.basename(model),
                                                                       o.radial_step, o.repeat))
    print("%6s %8s %10s %14s %20s %16s" % ("ranks", "threads", "steps/s", "us/atom-step", "us/atom-step x core",
                                            "NNP / SPC/E"))
    spce = os.path.join(os.path.dirname(HERE), "examples", "water", "in.spce")
    for spec in o.runs.split(","):
        n_ranks, n_threads = (int(x) for x in spec.split("x"))
        t = median_loop_time(o, wd, ["-in", "in.bench"], n_ranks, n_threads)
        if t is None:
            return 1
        us = 1e6 * t / (o.steps * natoms)
        ratio = ""
        if not o.no_spce:
            t_ref = median_loop_time(o, wd, ["-in", spce, "-var", "data", "water-full.data", "-var", "steps",
                                             str(o.steps)], n_ranks, n_threads)
            if t_ref is None:
                return 1
            ratio = "%.1f" % (t / t_ref)
            print("%6d %8d %10.2f %14.2f %20.2f %16s" % (n_ranks, n_threads, o.steps / t_ref,
                                                         1e6 * t_ref / (o.steps * natoms),
                                                         1e6 * t_ref / (o.steps * natoms) * n_ranks * n_threads,
                                                         "(SPC/E)"))
        print("%6d %8d %10.2f %14.1f %20.1f %16s" % (n_ranks, n_threads, o.steps / t, us, us * n_ranks * n_threads,
                                                     ratio), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
