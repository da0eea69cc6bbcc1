#!/usr/bin/python3
"""Model-size sweep: cost per atom-step of three model sizes, float64 and float32, 1 and 2 threads, with the
per-kernel FLOP counts and GFLOP/s against the core's measured peak (bench/peak_flops, same run).

    model_sweep.py --build BUILD [--lmp LMP --plugin pair_nnp.so] [--replicate 4] [--repeat 3] [--threads 1,2]
                   [--precisions double,single] [--profile] [--out DIR]

Sizes: the shipped potentials/water-revpbe0d3.nnp (l_max 1, 8 channels, 2 layers), l_max 2 / 16 channels / 2 and 3
layers with radial MLP 64-64 (2 layers: the v2 candidate), and l_max 2 / 32 channels / 3 layers
(bench/hyper_water_small.txt); all but the first with random weights (pnnp-init), which cost the same as trained ones.

Core figures: bench_core (BUILD/bench/bench_core) on a 1536-atom water box, median of --repeat evaluations, wall
and process CPU time (the CPU time is the cost on a shared machine without the waits; peak_flops uses CPU time too).
With --lmp and --plugin, also LAMMPS figures through bench_suite.py: NNP against SPC/E + PPPM 1e-5 + SHAKE on the
same atoms in the same repeat (--replicate copies of the 192-atom box per side: 4 -> 12288 atoms), layouts 1xT.
With --profile (needs `perf`), the share of each kernel in a one-thread float64 and float32 evaluation (perf
record -e cpu-clock), turned into GFLOP/s with the FLOP counts below.

FLOP counts per edge and layer (an FMA is 2 FLOP), with E the nonzero coupling entries of the layer's paths, M the
summed output rows (2 l3 + 1), C the channels, P the paths: forward tensor product (2E + 2M) C; adjoint (7E + 4M) C
(docs/performance.md); radial table, forward 6 P C (3 FMA per value), adjoint 14 P C (value and derivative).
"""
import argparse
import csv
import os
import re
import statistics
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "pair_nnp", "src"))
import tp_codegen  # noqa: E402  (the kernels' generator: the same path lists and coupling patterns)


def hyper_lines(l_max, channels, layers, hidden):
    return ("species O H\nr_cut 5.0\nr_min 0.5\nl_max %d\nchannels %d\nlayers %d\nradial_basis 8\n"
            "radial_hidden %s\nenvelope_p 6\nreadout_hidden 16\navg_num_neighbors 50\n" % (
                l_max, channels, layers, " ".join(str(h) for h in hidden)))


SIZES = [("l1_c8_t2_shipped", None, (1, 8, 2)),
         ("l2_c16_t2_mlp64", hyper_lines(2, 16, 2, [64, 64]), (2, 16, 2)),
         ("l2_c16_t3_mlp64", hyper_lines(2, 16, 3, [64, 64]), (2, 16, 3)),
         ("l2_c32_t3", hyper_lines(2, 32, 3, [64, 64]), (2, 32, 3))]


def layer_flops(l_max, channels, layers):
    """per layer: (forward TP, adjoint TP, table forward, table adjoint) FLOP per edge"""
    q = tp_codegen.quadrature(l_max)
    out = []
    for t in range(layers):
        lin = 0 if t == 0 else l_max
        lout = 0 if t == layers - 1 else l_max
        ly = tp_codegen.Layer(l_max, lin, lout, q)
        E = sum(len(p) for p in ly.pattern)
        M = sum(2 * p[2] + 1 for p in ly.paths)
        P = len(ly.paths)
        C = channels
        out.append(((2 * E + 2 * M) * C, (7 * E + 4 * M) * C, 6 * P * C, 14 * P * C))
    return out


def edges_per_atom(xyz, r_cut):
    """mean number of neighbours within r_cut in a periodic orthorhombic extended-XYZ frame"""
    with open(xyz) as f:
        n = int(f.readline())
        header = f.readline()
        box = np.array([float(x) for x in re.search(r'Lattice="([^"]+)"', header).group(1).split()]).reshape(3, 3)
        pos = np.array([[float(x) for x in f.readline().split()[1:4]] for _ in range(n)])
    L = np.diag(box)
    count = 0
    for i in range(0, n, 256):
        d = pos[i:i + 256, None, :] - pos[None, :, :]
        d -= L * np.round(d / L)
        r2 = (d * d).sum(-1)
        count += int(((r2 < r_cut * r_cut) & (r2 > 0)).sum())
    return count / n


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def peak(build):
    out = run([os.path.join(build, "bench", "peak_flops"), "0.5"])
    return {k: float(v) for k, v in (line.split() for line in out.splitlines() if not line.startswith("#"))}


def core_us(build, model, xyz, precision, threads, repeat):
    cmd = [os.path.join(build, "bench", "bench_core")] + (["--single"] if precision == "single" else [])
    out = run(cmd + [model, xyz, "0.01", str(repeat), str(threads)])
    cols = out.strip().splitlines()[-1].split()
    return float(cols[1]), float(cols[3])  # wall, process CPU (us per atom-step)


KERNELS = {"tp_forward": r"nnp_tp_edge_forward", "tp_adjoint": r"nnp_tp_edge_adjoint",
           "table": r"nnp_radial_table_eval"}


PROFILE_EVALS = 4  # bench_core REPS 3: one warm-up and three timed evaluations


def profile_seconds(build, model, xyz, precision, out_dir):
    """CPU seconds per kernel family over PROFILE_EVALS one-thread evaluations (perf record -e cpu-clock, whose
    event count is CPU time in ns, so time the process spends descheduled on a shared machine is not counted)"""
    data = os.path.join(out_dir, "perf.data")
    cmd = [os.path.join(build, "bench", "bench_core")] + (["--single"] if precision == "single" else [])
    subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-o", data] + cmd + [model, xyz, "0.01", "3", "1"],
                   check=True, capture_output=True)
    rep = run(["perf", "report", "-i", data, "--stdio", "--sort", "symbol"])
    total = float(re.search(r"Event count \(approx\.\): (\d+)", rep).group(1)) * 1e-9
    shares = {k: 0.0 for k in KERNELS}
    for line in rep.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+\[\.\]\s+(\S+)", line)
        if not m:
            continue
        for k, pat in KERNELS.items():
            if re.match(pat, m.group(2)):
                shares[k] += float(m.group(1)) / 100 * total
    return shares


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    ap.add_argument("--lmp")
    ap.add_argument("--plugin")
    ap.add_argument("--replicate", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--precisions", default="double,single")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--sizes", default=",".join(s[0] for s in SIZES))
    ap.add_argument("--work-per-run", default="2e5", help="atom-steps per LAMMPS run (bench_suite.py; at least 5 "
                    "steps): 2e5 is 16 steps of 12288 atoms, about a minute for l_max 2 / 32 channels")
    ap.add_argument("--out", default="sweep-results")
    o = ap.parse_args()
    os.makedirs(o.out, exist_ok=True)
    xyz = os.path.join(o.out, "water1536.xyz")
    if not os.path.exists(xyz):
        run([sys.executable, os.path.join(HERE, "make_water_box.py"), xyz, "--molecules-per-side", "8"])
    nbr = edges_per_atom(xyz, 5.0)
    with open(xyz) as f:
        n_atoms = int(f.readline())
    pk = peak(o.build)
    print("peak (one core, same run): FMA %.1f GFLOP/s f64, %.1f f32; dgemm %.1f, sgemm %.1f; %.1f edges per atom"
          % (pk.get("fma_f64_gflops", float("nan")), pk.get("fma_f32_gflops", float("nan")),
             pk["dgemm512_gflops"], pk["sgemm512_gflops"], nbr))
    threads = [int(t) for t in o.threads.split(",")]
    precisions = o.precisions.split(",")
    rows = []
    for name, hyper, (L, C, T) in SIZES:
        if name not in o.sizes.split(","):
            continue
        model = os.path.join(o.out, name + ".nnp")
        if hyper is None:
            model = os.path.join(TOP, "potentials", "water-revpbe0d3.nnp")
        elif not os.path.exists(model):
            hf = os.path.join(o.out, name + ".txt")
            with open(hf, "w") as f:
                f.write(hyper)
            run([os.path.join(o.build, "pair_nnp", "pnnp-init"), hf, model])
        fl = layer_flops(L, C, T)
        tot = [sum(x[k] for x in fl) * nbr for k in range(4)]  # FLOP per atom-step per kernel
        print("\n%s: per atom-step %.0f kFLOP TP forward, %.0f kFLOP TP adjoint, %.0f kFLOP tables" % (
            name, tot[0] / 1e3, tot[1] / 1e3, (tot[2] + tot[3]) / 1e3))
        for prec in precisions:
            for th in threads:
                us, cpu = core_us(o.build, model, xyz, prec, th, o.repeat)
                row = {"model": name, "precision": prec, "threads": th, "core_us_per_atom": us, "core_cpu_us": cpu,
                       "edge_gflops_per_core": sum(tot) / (cpu * 1e3)}
                if o.profile and th == 1:
                    sec = profile_seconds(o.build, model, xyz, prec, o.out)
                    flop = {"tp_forward": tot[0], "tp_adjoint": tot[1], "table": tot[2] + tot[3]}
                    for k in KERNELS:  # FLOP per atom-step x atoms x evaluations / CPU seconds
                        row[k + "_gflops"] = flop[k] * n_atoms * PROFILE_EVALS / sec[k] * 1e-9 if sec[k] else 0
                        row["us_" + k] = 1e6 * sec[k] / (n_atoms * PROFILE_EVALS)
                rows.append(row)
                print("  %-6s %d thread(s): core %.1f us/atom-step wall, %.1f CPU" % (prec, th, us, cpu) + (
                    "; CPU us/atom-step and GFLOP/s: TP forward %.1f us %.2f, TP adjoint %.1f us %.2f, tables %.1f us "
                    "%.2f" % (row["us_tp_forward"], row["tp_forward_gflops"], row["us_tp_adjoint"],
                              row["tp_adjoint_gflops"], row["us_table"], row["table_gflops"])
                    if "us_table" in row else ""), flush=True)
            if o.lmp and o.plugin:
                lout = os.path.join(o.out, "lammps_%s_%s" % (name, prec))
                subprocess.run([sys.executable, os.path.join(HERE, "bench_suite.py"), "--lmp", o.lmp,
                                "--plugin", o.plugin, "--model", model, "--sizes", str(o.replicate),
                                "--layouts", ",".join("1x%d" % t for t in threads), "--repeat", str(o.repeat),
                                "--work-per-run", o.work_per_run,
                                "--precision", prec, "--out", lout], check=True)
                with open(os.path.join(lout, "bench.csv")) as f:
                    for r in csv.DictReader(f):
                        print("  %-6s LAMMPS %s atoms 1x%s: %.2f us/atom-step, SPC/E %.2f, ratio %.2f" % (
                            prec, r["atoms"], r["threads"], float(r["nnp_us_per_atom_step"]),
                            float(r["spce_us_per_atom_step"]), float(r["ratio"])), flush=True)
                        rows.append({"model": name, "precision": prec, "threads": int(r["threads"]),
                                     "lammps_atoms": int(r["atoms"]),
                                     "lammps_us_per_atom_step": float(r["nnp_us_per_atom_step"]),
                                     "spce_us_per_atom_step": float(r["spce_us_per_atom_step"]),
                                     "ratio": float(r["ratio"])})
    keys = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with open(os.path.join(o.out, "sweep.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    print("\nwrote %s" % os.path.join(o.out, "sweep.csv"))


if __name__ == "__main__":
    main()
