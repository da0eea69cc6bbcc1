#!/usr/bin/python3
"""pair_style nnp against SPC/E + PPPM on the same water boxes: cost per atom-step, memory, scaling.

    bench_suite.py --lmp LMP --plugin pair_nnp.so --model M.nnp [--sizes 2,4,8] [--layouts 1x1,1x2,2x1]
                   [--repeat 3] [--work-per-run 2e6] [--radial-step 0.01] [--precision double] [--out DIR]
                   [--reference]

For every box size (copies of the 192-atom box per side: 2 -> 1536 atoms, 4 -> 12288, 8 -> 98304) and every
layout RANKSxTHREADS, runs LAMMPS with the NNP (NVE, 0.5 fs) and then, in the same repeat, SPC/E + PPPM (1e-5) with
SHAKE (examples/water/in.spce, 2 fs) on the same atoms, --repeat times. Reports medians of LAMMPS's loop time
(setup excluded; --clock cpu: loop CPU time, for shared machines) as microseconds per atom-step (wall, and x cores used), the median of the per-repeat NNP/SPC/E
ratios, the peak resident memory per atom (1-rank layouts: whole process, so LAMMPS's own share is included), the
growth of the cost with atom count and the speed-up and parallel efficiency of each layout against 1x1.
The ratio is per atom-step, not per simulated time (SPC/E takes 2 fs steps, the flexible NNP 0.5 fs).
Threaded layouts pin threads to cores (OMP_PROC_BIND=close, OMP_PLACES=cores unless set; mpirun --map-by slot:PE=T),
as mpirun pins ranks.
Steps per run: about --work-per-run atom-steps, at least 5. Writes bench.csv, bench.md and bench.png to --out.

--reference also times one energy+force+virial evaluation of the model on a 192-atom water frame with the
independent numpy reference (tests/reference/nnp_ref.py, complex-step forces) against pnnp-eval (--pnnp-eval).
Benchmarks are noisy on shared machines: compare ratios from one run, not absolute times across runs.
"""
import argparse
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)

NNP_INPUT = """units metal
atom_style atomic
read_data water.data
plugin load {plugin}
pair_style nnp radial_step {step}{precision}
pair_coeff * * {model} O H
neighbor 1.0 bin
velocity all create 300.0 12345
timestep 0.0005
fix 1 all nve
thermo {steps}
run {steps}
"""


def lammps_run(o, wd, args, n_ranks, n_threads):
    """(loop time in s, peak RSS of the largest process in kB) of one LAMMPS run."""
    cmd = [os.path.abspath(o.lmp)] + args + ["-log", "none", "-echo", "none"]
    if n_ranks > 1:
        # mpirun binds each rank to one core; a threaded rank needs n_threads of them
        bind = ["--map-by", "slot:PE=%d" % n_threads] if n_threads > 1 else []
        cmd = [o.mpirun, "--oversubscribe", "--allow-run-as-root", "-np", str(n_ranks)] + bind + cmd
    env = dict(os.environ, OMP_NUM_THREADS=str(n_threads), OPENBLAS_NUM_THREADS="1")
    if n_threads > 1:  # threads pinned to cores, as ranks are (unpinned, 2 threads ran 1.5x slower at 1536 atoms)
        env.setdefault("OMP_PROC_BIND", "close")
        env.setdefault("OMP_PLACES", "cores")
    with open(os.path.join(wd, "run.out"), "w") as out:
        p = subprocess.Popen(cmd, cwd=wd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(p.pid, 0)
    text = open(os.path.join(wd, "run.out")).read()
    m = re.search(r"Loop time of ([0-9.eE+-]+) on", text)
    if status != 0 or not m:
        sys.stderr.write(text[-3000:])
        raise SystemExit("bench_suite: LAMMPS failed: %s" % " ".join(cmd))
    loop_s = float(m.group(1))
    if o.clock == "cpu":
        # LAMMPS reports the loop's CPU time over its wall time per rank ("99.7% CPU use"); on a machine shared with
        # other jobs, loop CPU time is the cost without the waits for a core (it still carries cache interference)
        cpu = re.search(r"([0-9.]+)% CPU use", text)
        if not cpu:
            raise SystemExit("bench_suite: no '%% CPU use' line in the LAMMPS output of %s" % " ".join(cmd))
        loop_s *= float(cpu.group(1)) / 100.0
    return loop_s, usage.ru_maxrss


def make_box(wd, replicate):
    if not os.path.exists(os.path.join(wd, "water-full.data")):
        subprocess.run([sys.executable, os.path.join(HERE, "make_water_box.py"), os.path.join(wd, "water.xyz"),
                        "--replicate", str(replicate), "--lammps-data", os.path.join(wd, "water.data"),
                        "--lammps-full", os.path.join(wd, "water-full.data")], check=True)
    return int(open(os.path.join(wd, "water.xyz")).readline())


def bench_size(o, replicate, layouts, rows):
    wd = os.path.abspath(os.path.join(o.out, "box%d" % replicate))
    os.makedirs(wd, exist_ok=True)
    natoms = make_box(wd, replicate)
    steps = max(5, int(o.work_per_run / natoms))
    with open(os.path.join(wd, "in.nnp"), "w") as f:
        f.write(NNP_INPUT.format(plugin=os.path.abspath(o.plugin), model=os.path.abspath(o.model), steps=steps,
                                 step=o.radial_step,
                                 precision=" precision single" if o.precision == "single" else ""))
    spce = ["-in", os.path.join(TOP, "examples", "water", "in.spce"), "-var", "data", "water-full.data",
            "-var", "steps", str(steps)]
    for n_ranks, n_threads in layouts:
        nnp_t, ref_t, ratios, nnp_mem, ref_mem = [], [], [], [], []
        for _ in range(o.repeat):
            t, mem = lammps_run(o, wd, ["-in", "in.nnp"], n_ranks, n_threads)
            nnp_t.append(t)
            nnp_mem.append(mem)
            if not o.no_spce:
                tr, memr = lammps_run(o, wd, spce, n_ranks, n_threads)
                ref_t.append(tr)
                ref_mem.append(memr)
                ratios.append(t / tr)
        cores = n_ranks * n_threads
        row = {"atoms": natoms, "ranks": n_ranks, "threads": n_threads, "steps": steps,
               "nnp_us_per_atom_step": 1e6 * statistics.median(nnp_t) / (steps * natoms),
               "spce_us_per_atom_step": 1e6 * statistics.median(ref_t) / (steps * natoms) if ref_t else float("nan"),
               "ratio": statistics.median(ratios) if ratios else float("nan"),
               "ratio_min": min(ratios) if ratios else float("nan"),
               "ratio_max": max(ratios) if ratios else float("nan"),
               "nnp_kB_per_atom": statistics.median(nnp_mem) / natoms if n_ranks == 1 else float("nan"),
               "spce_kB_per_atom": statistics.median(ref_mem) / natoms if n_ranks == 1 and ref_mem else float("nan")}
        row["nnp_us_per_atom_step_core"] = row["nnp_us_per_atom_step"] * cores
        rows.append(row)
        print("%7d %3dx%-3d %6d %10.2f %10.2f %7.2f [%5.2f-%5.2f] %9.2f %9.2f" % (
            natoms, n_ranks, n_threads, steps, row["nnp_us_per_atom_step"], row["spce_us_per_atom_step"],
            row["ratio"], row["ratio_min"], row["ratio_max"], row["nnp_kB_per_atom"], row["spce_kB_per_atom"]),
            flush=True)


def time_reference(o):
    """Seconds for one energy+force+virial evaluation: numpy reference against the C core (pnnp-eval)."""
    wd = os.path.abspath(os.path.join(o.out, "reference"))
    os.makedirs(wd, exist_ok=True)
    xyz = os.path.join(wd, "water192.xyz")
    subprocess.run([sys.executable, os.path.join(HERE, "make_water_box.py"), xyz, "--replicate", "1"], check=True)
    t0 = time.monotonic()
    subprocess.run(["/usr/bin/python3", os.path.join(TOP, "tests", "reference", "nnp_ref.py"), o.model, xyz,
                    "--out", os.path.join(wd, "ref.json")], check=True, stdout=subprocess.DEVNULL)
    t_ref = time.monotonic() - t0
    runs = []
    for _ in range(max(3, o.repeat)):  # exact radial functions, as the reference: the same arithmetic
        p = subprocess.run([o.pnnp_eval, o.model, xyz, "--threads", "1", "--json"], check=True, stdout=subprocess.PIPE)
        runs.append(json.loads(p.stdout)["time_total_s"])
    return t_ref, statistics.median(runs)


def write_outputs(o, rows, growth, ref):
    if not rows:
        return
    keys = list(rows[0].keys())
    with open(os.path.join(o.out, "bench.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    with open(os.path.join(o.out, "bench.md"), "w") as f:
        f.write("| atoms | ranks x threads | NNP us/atom-step | SPC/E us/atom-step | NNP/SPC/E (min-max) | "
                "speed-up vs 1x1 | efficiency | NNP kB/atom | SPC/E kB/atom |\n|---|---|---|---|---|---|---|---|---|\n")
        for r in rows:
            f.write("| %d | %dx%d | %.2f | %.2f | %.2f (%.2f-%.2f) | %s | %s | %s | %s |\n" % (
                r["atoms"], r["ranks"], r["threads"], r["nnp_us_per_atom_step"], r["spce_us_per_atom_step"],
                r["ratio"], r["ratio_min"], r["ratio_max"], fmt(r.get("speedup")), fmt(r.get("efficiency")),
                fmt(r["nnp_kB_per_atom"], "%.1f"), fmt(r["spce_kB_per_atom"], "%.1f")))
        for line in growth:
            f.write("\n" + line + "\n")
        if ref:
            f.write("\nOne evaluation of 192 atoms: numpy reference %.1f s, C core %.4f s: %.0fx\n"
                    % (ref[0], ref[1], ref[0] / ref[1]))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("bench_suite: no matplotlib, no bench.png")
        return
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    for (nr, nt) in sorted({(r["ranks"], r["threads"]) for r in rows}):
        sel = [r for r in rows if (r["ranks"], r["threads"]) == (nr, nt)]
        x = [r["atoms"] for r in sel]
        a.plot(x, [r["nnp_us_per_atom_step"] for r in sel], "o-", label="NNP %dx%d" % (nr, nt))
        a.plot(x, [r["spce_us_per_atom_step"] for r in sel], "s--", label="SPC/E+PPPM %dx%d" % (nr, nt))
    a.set_xscale("log")
    a.set_yscale("log")
    a.set_xlabel("atoms")
    a.set_ylabel("us per atom-step (wall)")
    a.set_title("cost per atom-step")
    a.legend(fontsize=7)
    for natoms in sorted({r["atoms"] for r in rows}):
        sel = sorted([r for r in rows if r["atoms"] == natoms and r.get("speedup")],
                     key=lambda r: r["ranks"] * r["threads"])
        b.plot([r["ranks"] * r["threads"] for r in sel], [r["speedup"] for r in sel], "o-", label="%d atoms" % natoms)
    cmax = max(r["ranks"] * r["threads"] for r in rows)
    b.plot([1, cmax], [1, cmax], "k:", label="ideal")
    b.set_xlabel("cores (ranks x threads)")
    b.set_ylabel("NNP speed-up against 1x1")
    b.set_title("scaling")
    b.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(o.out, "bench.png"), dpi=120)


def fmt(x, f="%.2f"):
    return "-" if x is None or x != x else f % x


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lmp", required=True)
    ap.add_argument("--plugin", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--sizes", default="2,4,8", help="copies of the 192-atom box per side ('' with --reference: "
                    "the reference timing only)")
    ap.add_argument("--layouts", default="1x1,1x2,2x1", help="RANKSxTHREADS, comma separated")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work-per-run", type=float, default=2e6, help="atom-steps per run (sets the step count)")
    ap.add_argument("--radial-step", default="0.01")
    ap.add_argument("--precision", default="double", choices=("single", "double"),
                    help="pair_style nnp precision (float32 or float64 convolutions)")
    ap.add_argument("--mpirun", default="mpirun")
    ap.add_argument("--out", default="bench-results")
    ap.add_argument("--no-spce", action="store_true")
    ap.add_argument("--clock", default="wall", choices=("wall", "cpu"),
                    help="loop wall time, or loop CPU time (wall x LAMMPS's %% CPU use: for shared machines)")
    ap.add_argument("--reference", action="store_true")
    ap.add_argument("--pnnp-eval", default=os.path.join(TOP, "build", "pair_nnp", "pnnp-eval"))
    o = ap.parse_args()
    os.makedirs(o.out, exist_ok=True)
    layouts = [tuple(int(x) for x in s.split("x")) for s in o.layouts.split(",")]
    print("model %s, radial_step %s, median of %d, %s clock; SPC/E + PPPM 1e-5 + SHAKE in the same repeat" % (
        os.path.basename(o.model), o.radial_step, o.repeat, o.clock))
    print("%7s %7s %6s %10s %10s %7s %13s %9s %9s" % ("atoms", "layout", "steps", "NNP us", "SPC/E us", "ratio",
                                                   "[min-max]", "NNP kB/at", "SPC kB/at"))
    rows = []
    for rep in (int(x) for x in o.sizes.split(",") if x):
        bench_size(o, rep, layouts, rows)
    base = {r["atoms"]: r["nnp_us_per_atom_step"] for r in rows if (r["ranks"], r["threads"]) == (1, 1)}
    for r in rows:
        if r["atoms"] in base:
            r["speedup"] = base[r["atoms"]] / r["nnp_us_per_atom_step"]
            r["efficiency"] = r["speedup"] / (r["ranks"] * r["threads"])
    growth = []
    sizes = sorted({r["atoms"] for r in rows})
    for nr, nt in layouts:
        sel = {r["atoms"]: r["nnp_us_per_atom_step"] for r in rows if (r["ranks"], r["threads"]) == (nr, nt)}
        if len(sizes) > 1:
            growth.append("%dx%d: NNP cost per atom-step grows by %+.1f%% from %d to %d atoms" % (
                nr, nt, 100 * (sel[sizes[-1]] / sel[sizes[0]] - 1), sizes[0], sizes[-1]))
    one = [r for r in rows if r["ranks"] == 1 and r["threads"] == 1]
    if len(one) > 1:
        a, b = one[0], one[-1]
        growth.append("memory, 1x1: %.2f kB per additional atom for the NNP, %.2f for SPC/E (%d to %d atoms)" % (
            (b["nnp_kB_per_atom"] * b["atoms"] - a["nnp_kB_per_atom"] * a["atoms"]) / (b["atoms"] - a["atoms"]),
            (b["spce_kB_per_atom"] * b["atoms"] - a["spce_kB_per_atom"] * a["atoms"]) / (b["atoms"] - a["atoms"]),
            a["atoms"], b["atoms"]))
    for r in rows:
        if r.get("speedup") and (r["ranks"], r["threads"]) != (1, 1):
            growth.append("%d atoms, %dx%d: speed-up %.2f against 1x1, efficiency %.0f%%" % (
                r["atoms"], r["ranks"], r["threads"], r["speedup"], 100 * r["efficiency"]))
    for line in growth:
        print(line)
    ref = None
    if o.reference:
        ref = time_reference(o)
        print("one evaluation of 192 atoms: numpy reference %.1f s, C core (pnnp-eval, 1 thread, exact radial MLP, graph "
              "build included) "
              "%.4f s: %.0fx" % (ref[0], ref[1], ref[0] / ref[1]))
    write_outputs(o, rows, growth, ref)
    if rows:
        print("wrote %s/bench.csv, bench.md, bench.png" % o.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
