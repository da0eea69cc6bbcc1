#!/usr/bin/python3
"""Per-kernel share of one energy + force + virial evaluation, setup excluded.

    profile_eval.py [--build BUILD] [--single] [--threads 1] [--reps 1,9] MODEL STRUCTURE.extxyz [STEP]

Runs `perf record -e cpu-clock` (CPU time, so time a shared machine spends elsewhere is not counted) over bench_core
twice, with A and B timed evaluations (--reps A,B; bench_core adds one warm-up to each), and takes the difference of
each symbol's samples: model loading, table construction and first-touch page faults are the same in both runs and
cancel, what remains is B - A evaluations. Prints us per atom-step per kernel family and its share.
"""
import argparse
import os
import re
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)

# kernel family <- symbol regex (first match wins); the names are those of pair_nnp/src and OpenBLAS
FAMILIES = [
    ("TP adjoint (generated kernels)", r"nnp_tp_edge_adjoint"),
    ("TP forward (generated kernels)", r"nnp_tp_edge_forward"),
    ("radial tables", r"nnp_radial_table_eval|table_row"),
    ("convolution adjoint loop (dE/dr, edge gradient)", r"conv_adjoint\._omp_fn\.0|conv_adjoint_atom|edge_gradient"),
    ("gather of ghost feature adjoints", r"conv_adjoint\._omp_fn\.[1-9]"),
    ("convolution forward loop", r"conv_forward"),
    ("float32 conversions", r"rows_to_float"),
    ("BLAS (self-connections, up/down, readout)", r"^[ds]gemm|^[ds]gemv|^[ds]axpy|^[ds]scal|blas|^[ds]dot"),
    ("gates, down/up projections (own loops)", r"nnp_gate|nnp_down|nnp_up|nnp_self|nnp_linear|gate_"),
    ("readout", r"readout"),
    ("harmonics", r"nnp_sph"),
    ("edge list, geometry, transposition, symmetry check",
     r"build_edges|atom_edges|edge_geometry|transpose_edges|edges_paired|nnp_cell_graph"),
    ("forces, virials", r"assemble|virial"),
    ("exp, memset, memcpy (libc)", r"exp|memset|memcpy|memmove"),
    ("kernel (page faults, scheduling)", r"^\[k\]"),
]


def samples(build, args, reps, out):
    data = out + ".data"
    cmd = [os.path.join(build, "bench", "bench_core")] + (["--single"] if args.single else [])
    subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-o", data] + cmd +
                   [args.model, args.structure, args.step, str(reps), str(args.threads)],
                   check=True, capture_output=True)
    rep = subprocess.run(["perf", "report", "-i", data, "--stdio", "--sort", "symbol", "-n"],
                         check=True, capture_output=True, text=True).stdout
    period = float(re.search(r"Event count \(approx\.\): (\d+)", rep).group(1))
    counts, total = {}, 0
    for line in rep.splitlines():
        m = re.match(r"\s*[\d.]+%\s+(\d+)\s+\[(.)\]\s+(\S+)", line)
        if m:
            key = ("[k]" if m.group(2) == "k" else "") + m.group(3)
            counts[key] = counts.get(key, 0) + int(m.group(1))
            total += int(m.group(1))
    os.remove(data)
    return counts, period / total  # ns per sample


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    ap.add_argument("--single", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", default="1,9")
    ap.add_argument("model")
    ap.add_argument("structure")
    ap.add_argument("step", nargs="?", default="0.01")
    o = ap.parse_args()
    a, b = (int(x) for x in o.reps.split(","))
    with open(o.structure) as f:
        n_atoms = int(f.readline())
    ca, ns = samples(o.build, o, a, "/tmp/profile_eval_%d_a" % os.getpid())
    cb, _ = samples(o.build, o, b, "/tmp/profile_eval_%d_b" % os.getpid())
    per = {}
    for sym in set(ca) | set(cb):
        d = cb.get(sym, 0) - ca.get(sym, 0)
        fam = next((name for name, pat in FAMILIES if re.search(pat, sym.replace("[k]", "") if not
                                                                  pat.startswith("^\\[k") else sym)), "other")
        if sym.startswith("[k]"):
            fam = FAMILIES[-1][0]
        per.setdefault(fam, [0, []])
        per[fam][0] += d
        per[fam][1].append((d, sym))
    total = sum(v[0] for v in per.values())
    scale = ns * 1e-3 / ((b - a) * n_atoms)  # samples -> CPU us per atom-step
    print("# %s%s, %d thread(s): %.1f CPU us per atom-step (perf cpu-clock, %d - %d evaluations)" % (
        os.path.basename(o.model), " float32" if o.single else " float64", o.threads, total * scale, b, a))
    print("| kernel | us/atom-step | share | largest symbols |\n|---|---|---|---|")
    for fam, (d, syms) in sorted(per.items(), key=lambda kv: -kv[1][0]):
        top = ", ".join("%s %.0f%%" % (s.split(".arch")[0], 100.0 * x / d) for x, s in sorted(syms)[::-1][:2]
                        if d > 0 and x > 0)
        print("| %s | %.1f | %.1f%% | %s |" % (fam, d * scale, 100.0 * d / total, top))


if __name__ == "__main__":
    main()
