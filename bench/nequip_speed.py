#!/usr/bin/python3
"""NequIP 0.6.2 against this core on one CPU core, same model, same structure, same run (docs/nequip.md).

Usage:
    /usr/bin/python3 bench/nequip_speed.py --pnnp-eval build/pair_nnp/pnnp-eval --third-party ../shared/third_party \
        [--data ../shared/data/water_revPBE0-D3.extxyz] [--frame 0] [--repeats 5] [--workdir /tmp/nequip_speed] \
        [--train-dir RUN_DIR]

Builds a random NequIP model of the size of Duignan's electrolyte models (l_max 2, 16 features, 3 layers, 5 A,
parity off, 8 Bessel functions, radial MLP 2 x 64), imports it, and times per atom-step (energy and forces, float64,
one thread, neighbour list included on both sides) NequIP's own evaluation (AtomicData.from_points + the model) and
pnnp-eval's (graph build + evaluation), in CPU seconds, on the first frame of DATA, alternating the two REPEATS times; reports the
medians and their ratio. Both outputs are also compared (they must agree to ~1e-12). With --train-dir, the model is
that NequIP training run (config.yaml + best_model.pth, e.g. examples/nequip's trained water model) instead of a random
one, and the structure is frame --frame of DATA.
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
sys.path.insert(0, os.path.join(HERE, "..", "pair_nnp", "tools"))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
import nnp_ref as ref  # noqa: E402

THIRD_PARTY = ("nequip-0.6.2", "e3nn-0.5.1", "pytorch_runstats-0.2.0", "opt_einsum_fx-0.1.4", "opt_einsum-3.3.0")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pnnp-eval", required=True)
    ap.add_argument("--third-party", required=True)
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "shared", "data", "water_revPBE0-D3.extxyz"))
    ap.add_argument("--frame", type=int, default=0, help="which frame of DATA (default 0)")
    ap.add_argument("--train-dir", help="a NequIP training run to measure instead of the random Duignan-sized model")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--workdir", default="/tmp/nequip_speed")
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"
    import nnp_import_nequip as imp
    import test_nequip_import as tni
    torch = imp.load_nequip([os.path.join(args.third_party, d) for d in THIRD_PARTY], "1.13.1")
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    from nequip.data import AtomicData
    os.makedirs(args.workdir, exist_ok=True)
    frame = ref.read_extxyz(args.data)[args.frame]
    symbols = list(frame["arrays"]["species"])
    if args.train_dir:
        run = args.train_dir
        model, cfg = imp.load_training_dir(run)
        species = list(cfg["type_names"])
    else:
        species = sorted(set(symbols))
        cfg = tni.nequip_config(2, 3, False, species, 16, (64, 64), r_max=5.0, num_basis=8, avg_num_neighbors=40.0)
        run = tni.build_run(torch, args.workdir, "speed", cfg, 1)
        model, _ = imp.load_training_dir(run)
    r_max = float(cfg["r_max"])
    describe = "model l_max %d, %d features, %d layers, r_max %g A, radial MLP %d x %d" % (
        cfg["l_max"], cfg["num_features"], cfg["num_layers"], r_max, cfg["invariant_layers"], cfg["invariant_neurons"])
    model.eval()
    nnp_path = os.path.join(args.workdir, "speed.nnp")
    if imp.main([run, "-o", nnp_path]) != 0:
        return 1
    xyz = os.path.join(args.workdir, "frame.extxyz")
    pos, cell = frame["arrays"]["pos"], frame["cell"]
    ref.write_extxyz(xyz, [dict(symbols=symbols, positions=pos, cell=cell, pbc=(True, True, True))])
    types = torch.tensor([species.index(s) for s in symbols])
    n = len(symbols)

    # CPU time, not wall time: this machine is shared, and a process's CPU time is far less disturbed by the others
    # than its wall time. pnnp-eval's per-step cost is the difference between 1 + K and 1 copies of the frame (the
    # model load and coupling build cancel).
    K = 4
    xyz_k = os.path.join(args.workdir, "frames.extxyz")
    ref.write_extxyz(xyz_k, [dict(symbols=symbols, positions=pos, cell=cell, pbc=(True, True, True))] * (1 + K))

    def nequip_step():
        t0 = time.process_time()
        data = AtomicData.from_points(pos=pos, r_max=r_max, cell=cell, pbc=True, atom_types=types)
        out = model(AtomicData.to_AtomicDataDict(data))
        e = float(out["total_energy"])
        out["forces"].detach().numpy()
        return time.process_time() - t0, e

    def child_cpu(path, step):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([args.pnnp_eval, nnp_path, path, "--threads", "1", "--radial-step", str(step), "--predictions",
                        os.path.join(args.workdir, "pred.extxyz")], stdout=subprocess.PIPE, text=True, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)

    def core_step(step):
        return (child_cpu(xyz_k, step) - child_cpu(xyz, step)) / K

    nequip_step()   # warm-up (the first call allocates)
    t_nq, t_core, t_tab = [], [], []
    for _ in range(args.repeats):
        t, e_nq = nequip_step()
        t_nq.append(t)
        t_tab.append(core_step(0.01))   # pair_style nnp's default: radial tables, 0.01 A knots
        t_core.append(core_step(0))     # exact radial functions (last: pred.extxyz is this one's)
    e_core = float(ref.read_extxyz(os.path.join(args.workdir, "pred.extxyz"))[0]["info"]["energy"])
    m_nq, m_core = statistics.median(t_nq), statistics.median(t_core)
    print("structure: %s frame %d, %d atoms; %s, float64, 1 thread"
          % (os.path.basename(args.data), args.frame, n, describe))
    print("NequIP 0.6.2 (torch %s): %.0f us per atom-step (median of %d: %s)"
          % (torch.__version__, 1e6 * m_nq / n, args.repeats, " ".join("%.0f" % (1e6 * t / n) for t in t_nq)))
    print("pair_nnp pnnp-eval:          %.0f us per atom-step (median of %d: %s)"
          % (1e6 * m_core / n, args.repeats, " ".join("%.0f" % (1e6 * t / n) for t in t_core)))
    m_tab = statistics.median(t_tab)
    print("pair_nnp, radial tables:    %.0f us per atom-step (median of %d: %s)"
          % (1e6 * m_tab / n, args.repeats, " ".join("%.0f" % (1e6 * t / n) for t in t_tab)))
    print("ratio NequIP / pair_nnp: %.1f exact radial functions, %.1f with radial tables (pair_style nnp's default)"
          % (m_nq / m_core, m_nq / m_tab))
    print("energy: NequIP %.12f eV, pair_nnp %.12f eV" % (e_nq, e_core))
    return 0


if __name__ == "__main__":
    sys.exit(main())
