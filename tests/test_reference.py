#!/usr/bin/python3
"""Compare the C tools (pnnp-init, pnnp-eval) with the independent Python reference (tests/reference/nnp_ref.py).

    /usr/bin/python3 tests/test_reference.py --pnnp-init PATH --pnnp-eval PATH --workdir DIR
    /usr/bin/python3 tests/test_reference.py --self-check --workdir DIR     (no C tools: the reference against
                                                                             itself, to test the plumbing)

For each hyperparameter set: write a hyperparameter file, `pnnp-init HYPER MODEL.nnp --seed N`, write random
structures (periodic cubic, small triclinic cell whose images are neighbours, a T T F slab, an open cluster),
`pnnp-eval MODEL.nnp STRUCTS.extxyz --predictions PRED.extxyz`, then compare with the reference evaluated on the
model file the C tool wrote:
    energy and per-atom energies: |diff| / max(|E|, 1)            <= 1e-10
    forces:  max |diff| / max |F_ref|                             <= 1e-9
    virial:  max |diff| / max |W_ref| (full 3x3, reference symmetric) <= 1e-9
Prints a table and `N passed, M failed`; exits non-zero on any failure.
"""
import argparse
import os
import subprocess
import sys
import time

import numpy as np

sys.dont_write_bytecode = True   # keep the source tree clean (no __pycache__ next to nnp_ref.py)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference"))
import nnp_ref as ref  # noqa: E402

TOL_ENERGY = 1e-10
TOL_FORCE = 1e-9
TOL_VIRIAL = 1e-9


# ------------------------------------------------------------------------------------------------------------------
# Test cases

def _hyper(**kw):
    base = dict(r_min=0.5, radial_basis=6, radial_hidden=[8], envelope_p=6, readout_hidden=8,
                avg_num_neighbors=12.0, pair_cutoff=[])
    base.update(kw)
    return base


CASES = [
    ("L1_S1_T1", 11, _hyper(species=["Si"], r_cut=4.0, l_max=1, channels=4, layers=1,
                            energy_shift=[-4.5], energy_scale=[1.3])),
    ("L2_S2_T2_pair", 12, _hyper(species=["H", "O"], r_cut=4.5, l_max=2, channels=6, layers=2,
                                 pair_cutoff=[("H", "H", 3.0), ("H", "O", 3.6)], radial_hidden=[8, 8],
                                 energy_shift=[-0.7, -3.1], energy_scale=[0.6, 1.4], avg_num_neighbors=9.5)),
    ("L3_S3_T3_pair", 13, _hyper(species=["C", "H", "N"], r_cut=4.0, l_max=3, channels=4, layers=3,
                                 pair_cutoff=[("C", "N", 3.5), ("H", "H", 2.5)], radial_basis=8,
                                 energy_shift=[-1.2, -0.4, -2.6], energy_scale=[1.1, 0.5, 0.9], envelope_p=5)),
    ("L2_S1_T3", 14, _hyper(species=["Cu"], r_cut=5.0, l_max=2, channels=8, layers=3, radial_hidden=[6, 10, 6],
                            energy_shift=[-3.5], energy_scale=[0.8], readout_hidden=4, avg_num_neighbors=20.0)),
]

# Models with the options of imported NequIP models (docs/model.md, "Model options"; issue 16). pnnp-init does not
# make them (they come from nnp_import_nequip.py), so the reference writes these models and pnnp-eval evaluates them.
OPTION_CASES = [
    ("O_L2_S2_T3_all", 15, _hyper(species=["H", "O"], r_cut=4.2, l_max=2, channels=4, layers=3, radial_basis=6,
                                  energy_shift=[-0.7, -3.1], energy_scale=[0.6, 1.4], paths="all",
                                  gate_activation="silu", residual=[0, 1, 1], readout_activation="none",
                                  radial_frequencies=[3.3, 6.0, 9.6, 12.2, 15.9, 18.4])),
    ("O_L3_S1_T2_all", 16, _hyper(species=["O"], r_cut=4.0, l_max=3, channels=3, layers=2, energy_shift=[-2.1],
                                  energy_scale=[1.2], paths="all", residual=[1, 0], gate_activation="silu")),
    ("O_L1_S3_T2_even", 17, _hyper(species=["C", "H", "N"], r_cut=4.0, l_max=1, channels=4, layers=2,
                                   pair_cutoff=[("H", "H", 2.5)], energy_shift=[-1.2, -0.4, -2.6],
                                   energy_scale=[1.1, 0.5, 0.9], readout_activation="none", residual=[0, 0])),
]

# The product interaction family (docs/model.md, issue 13): run with --product (or --product-only, a ctest of its
# own) and always with --self-check.  Correlation 1-4, invariant and vector messages, 1-4 species, 1-3 layers.
PRODUCT_CASES = [
    ("P_L3_S1_T2_c3_m0", 21, _hyper(species=["O"], r_cut=4.5, l_max=3, channels=4, layers=2, radial_hidden=[8, 8],
                                     energy_shift=[-2.1], energy_scale=[1.2], interaction="product", correlation=3,
                                     message_l_max=0)),
    ("P_L2_S2_T2_c2_m1", 22, _hyper(species=["H", "O"], r_cut=4.2, l_max=2, channels=4, layers=2,
                                     pair_cutoff=[("H", "H", 3.0)], energy_shift=[-0.7, -3.1],
                                     energy_scale=[0.6, 1.4], interaction="product", correlation=2, message_l_max=1)),
    ("P_L2_S3_T3_c1_m0", 23, _hyper(species=["C", "H", "N"], r_cut=4.0, l_max=2, channels=3, layers=3,
                                     energy_shift=[-1.2, -0.4, -2.6], energy_scale=[1.1, 0.5, 0.9],
                                     interaction="product", correlation=1, message_l_max=0)),
    ("P_L1_S4_T1_c4_m0", 24, _hyper(species=["H", "C", "N", "O"], r_cut=4.0, l_max=1, channels=3, layers=1,
                                     energy_shift=[-0.4, -1.2, -2.6, -3.1], energy_scale=[0.5, 1.1, 0.9, 1.4],
                                     interaction="product", correlation=4, message_l_max=0)),
    # 8 channels and messages of every degree: layers 0 and 1 have the paths of a tensor layer of the same l_max, so
    # they run on the generated kernels (tp_codegen.py), which the cases above (3-4 channels) never reach
    ("P_L2_S2_T3_c2_m2_C8", 25, _hyper(species=["H", "O"], r_cut=4.0, l_max=2, channels=8, layers=3,
                                        energy_shift=[-0.7, -3.1], energy_scale=[0.6, 1.4], interaction="product",
                                        correlation=2, message_l_max=2)),
]

HYPER_KEYS = ("species", "r_cut", "pair_cutoff", "r_min", "l_max", "channels", "layers", "radial_basis",
              "radial_hidden", "envelope_p", "readout_hidden", "avg_num_neighbors", "energy_shift", "energy_scale",
              "interaction", "correlation", "message_l_max") + ref.OPTION_KEYS


def write_hyper(path, hyper):
    """The hyperparameter file: the model header's key/value syntax (no magic line, no `units`)."""
    lines = [ln for ln in ref.format_header(dict(hyper, units="metal")) if ln.split()[0] in HYPER_KEYS]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def make_structures(hyper, seed):
    """Random structures with a minimum separation of 0.8 A (over periodic images)."""
    rng = np.random.default_rng(seed)
    S = len(hyper["species"])
    frames = []

    def add(name, n, cell, pbc, box=None, write_pbc=True, frac_pad=0.0):
        if cell is not None and frac_pad:
            # positions partly outside the cell: the tools must wrap them (or not care)
            pos = []
            while len(pos) < n:
                x = (rng.random(3) * (1 + 2 * frac_pad) - frac_pad) @ cell
                trial = np.array(pos + [x])
                if len(ref.neighbour_list(np.zeros(len(trial), int), trial, cell, pbc, np.array([[0.8]]))[0]) == 0:
                    pos.append(x)
            pos = np.array(pos)
        else:
            pos = ref.random_structure(rng, n, cell, pbc, min_sep=0.8, box=box)
        sp = rng.integers(0, S, size=n)
        sp[:min(n, S)] = np.arange(min(n, S))   # every species present
        frames.append({"name": name, "symbols": [hyper["species"][s] for s in sp], "species": sp,
                       "positions": pos, "cell": cell, "pbc": pbc, "write_pbc": write_pbc})

    side = (18 / 0.07) ** (1 / 3)
    add("cubic", 18, np.eye(3) * side, (True, True, True), write_pbc=False, frac_pad=0.1)
    add("triclinic_small", 5, np.array([[3.0, 0.0, 0.0], [0.8, 2.8, 0.0], [-0.5, 0.6, 3.2]]), (True, True, True))
    add("slab_TTF", 12, np.array([[5.2, 0.0, 0.0], [1.3, 4.9, 0.0], [0.0, 0.0, 4.0]]), (True, True, False))
    add("open", 10, None, (False, False, False), box=4.5, write_pbc=False)
    return frames


def write_structures(path, frames):
    with open(path, "w") as f:
        for fr in frames:
            f.write("%d\n" % len(fr["symbols"]))
            head = []
            if fr["cell"] is not None:
                head.append('Lattice="%s"' % " ".join(ref.fmt(v) for v in np.ravel(fr["cell"])))
            head.append("Properties=species:S:1:pos:R:3")
            if fr["write_pbc"]:
                head.append('pbc="%s"' % " ".join("T" if p else "F" for p in fr["pbc"]))
            head.append("name=%s" % fr["name"])
            f.write(" ".join(head) + "\n")
            for s, x in zip(fr["symbols"], fr["positions"]):
                f.write("%-2s %s %s %s\n" % (s, ref.fmt(x[0]), ref.fmt(x[1]), ref.fmt(x[2])))


# ------------------------------------------------------------------------------------------------------------------
# The tools under test (the thin layer) and a stand-in for them

def run_tool(cmd, log):
    t0 = time.time()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    with open(log, "w") as f:
        f.write("$ %s\n%s" % (" ".join(cmd), proc.stdout))
    if proc.returncode != 0:
        raise RuntimeError("%s exited with %d:\n%s" % (os.path.basename(cmd[0]), proc.returncode,
                                                        proc.stdout[-2000:]))
    return time.time() - t0


class CTools:
    def __init__(self, init, evaluate):
        self.init_path, self.eval_path = init, evaluate

    def init(self, hyper_path, model_path, seed, hyper):
        if any(key in hyper for key in ref.OPTION_KEYS):   # an imported model's options: pnnp-init does not make them
            return SelfTools().init(hyper_path, model_path, seed, hyper)
        return run_tool([self.init_path, hyper_path, model_path, "--seed", str(seed)], model_path + ".init.log")

    def evaluate(self, model_path, structs_path, pred_path):
        return run_tool([self.eval_path, model_path, structs_path, "--predictions", pred_path],
                        pred_path + ".eval.log")


class SelfTools:
    """The reference standing in for the C tools, writing the same files (tests the plumbing only)."""

    def init(self, hyper_path, model_path, seed, hyper):
        with open(hyper_path) as f:
            h, _ = ref.parse_header(f.read().split("\n") + ["units metal"], hyper_path)
        ref.write_model(model_path, h, ref.random_params(h, seed), ["generator test_reference --self-check"])
        return 0.0

    def evaluate(self, model_path, structs_path, pred_path):
        t0 = time.time()
        model = ref.read_model(model_path)
        with open(pred_path, "w") as f:
            for fr in ref.read_extxyz(structs_path):
                res = ref.compute(model, ref.frame_species(model, fr), fr["arrays"]["pos"], fr["cell"], fr["pbc"])
                W = voigt_to_matrix(res["virial"])
                f.write("%d\n" % len(res["forces"]))
                head = ['energy=%.17g' % res["energy"], 'virial="%s"' % " ".join("%.17g" % v for v in W.ravel()),
                        "Properties=species:S:1:pos:R:3:forces:R:3:energies:R:1"]
                if fr["cell"] is not None:
                    head.insert(0, 'Lattice="%s"' % " ".join("%.17g" % v for v in fr["cell"].ravel()))
                f.write(" ".join(head) + "\n")
                for s, x, F, e in zip(fr["arrays"]["species"], fr["arrays"]["pos"], res["forces"],
                                      res["atom_energies"]):
                    f.write("%s %s %.17g\n" % (s, " ".join("%.17g" % v for v in list(x) + list(F)), e))
        return time.time() - t0


# ------------------------------------------------------------------------------------------------------------------
# Comparison

def voigt_to_matrix(w):
    """(xx, yy, zz, xy, xz, yz) -> symmetric 3x3."""
    W = np.zeros((3, 3))
    for v, (a, b) in enumerate(ref.VOIGT):
        W[a, b] = W[b, a] = w[v]
    return W


def compare_frame(model, frame, pred):
    """Relative deviations (dE, dEi, dF, dW) and a reason string when the prediction is unusable."""
    res = ref.compute(model, frame["species"], frame["positions"], frame["cell"], frame["pbc"])
    n = len(frame["species"])
    arrays, info = pred["arrays"], pred["info"]
    for key in ("forces", "energies"):
        if key not in arrays:
            return res, None, "predictions lack `%s`" % key
    if "energy" not in info or "virial" not in info:
        return res, None, "predictions lack energy= or virial="
    if len(arrays["forces"]) != n or list(arrays["species"]) != list(frame["symbols"]):
        return res, None, "predictions hold other atoms (count or species order)"
    d = arrays["pos"] - frame["positions"]
    if frame["cell"] is not None:   # the tool may have wrapped positions into the cell
        d = d - np.round(d @ np.linalg.inv(frame["cell"])) @ frame["cell"]
    if np.max(np.abs(d)) > 1e-6:
        return res, None, "predictions hold other positions (by %.1e A)" % np.max(np.abs(d))
    escale = max(abs(res["energy"]), 1.0)
    W_c = np.array(info["virial"].split(), dtype=float)
    if W_c.size != 9:
        return res, None, "virial= needs 9 numbers"
    W_r = voigt_to_matrix(res["virial"])
    dev = {
        "dE": abs(float(info["energy"]) - res["energy"]) / escale,
        "dEi": np.max(np.abs(arrays["energies"] - res["atom_energies"])) / escale,
        "dF": np.max(np.abs(arrays["forces"] - res["forces"])) / max(np.max(np.abs(res["forces"])), 1e-8),
        "dW": np.max(np.abs(W_c.reshape(3, 3) - W_r)) / max(np.max(np.abs(W_r)), 1e-8),
    }
    return res, dev, None


def frame_ok(dev):
    return (dev["dE"] <= TOL_ENERGY and dev["dEi"] <= TOL_ENERGY and dev["dF"] <= TOL_FORCE
            and dev["dW"] <= TOL_VIRIAL)


def run_case(tools, workdir, name, seed, hyper):
    """Returns a list of table rows (case, structure, n, edges, E, devs or None, status)."""
    hyper_path = os.path.join(workdir, name + ".hyper")
    model_path = os.path.join(workdir, name + ".nnp")
    structs_path = os.path.join(workdir, name + ".structs.extxyz")
    pred_path = os.path.join(workdir, name + ".pred.extxyz")
    write_hyper(hyper_path, hyper)
    frames = make_structures(hyper, seed)
    write_structures(structs_path, frames)
    try:
        tools.init(hyper_path, model_path, seed, hyper)
        model = ref.read_model(model_path)          # also checks the C writer: format, shapes, checksum
        for key in ("species", "l_max", "channels", "layers", "radial_basis", "radial_hidden", "envelope_p",
                    "readout_hidden", "interaction", "correlation", "message_l_max"):
            if model.hyper.get(key) != hyper.get(key) and not (key == "interaction" and
                                                               ref.interaction(model.hyper) == ref.interaction(hyper)):
                raise RuntimeError("model file has %s = %s, hyperparameter file said %s"
                                   % (key, model.hyper[key], hyper[key]))
        if np.max(np.abs(model.rc - ref.cutoff_matrix(hyper))) > 0:
            raise RuntimeError("model file pair cutoffs differ from the hyperparameter file")
        tools.evaluate(model_path, structs_path, pred_path)
        preds = ref.read_extxyz(pred_path)
        if len(preds) != len(frames):
            raise RuntimeError("%d predicted frames for %d structures" % (len(preds), len(frames)))
    except (RuntimeError, ValueError, OSError, subprocess.TimeoutExpired) as exc:
        return [(name, "(all)", 0, 0, float("nan"), None, "FAIL: %s" % exc)]
    rows = []
    for fr, pred in zip(frames, preds):
        res, dev, why = compare_frame(model, fr, pred)
        status = ("FAIL: " + why) if why else ("ok" if frame_ok(dev) else "FAIL")
        rows.append((name, fr["name"], len(fr["symbols"]), res["n_edges"], res["energy"], dev, status))
    return rows


def main():
    ap = argparse.ArgumentParser(description="C tools vs the Python reference")
    ap.add_argument("--pnnp-init")
    ap.add_argument("--pnnp-eval")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--self-check", action="store_true", help="reference against itself (no C tools)")
    ap.add_argument("--case", action="append", help="run only these cases (by name)")
    ap.add_argument("--product", action="store_true", help="also the product-family cases (always with --self-check)")
    ap.add_argument("--product-only", action="store_true", help="only the product-family cases")
    args = ap.parse_args()
    if args.self_check:
        tools = SelfTools()
    elif args.pnnp_init and args.pnnp_eval:
        tools = CTools(args.pnnp_init, args.pnnp_eval)
    else:
        ap.error("--pnnp-init and --pnnp-eval are required (or --self-check)")
    os.makedirs(args.workdir, exist_ok=True)

    t0 = time.time()
    rows = []
    cases = CASES + OPTION_CASES + (PRODUCT_CASES if args.product or args.self_check else [])
    if args.product_only:
        cases = PRODUCT_CASES
    for name, seed, hyper in cases:
        if args.case and name not in args.case:
            continue
        rows += run_case(tools, args.workdir, name, seed, hyper)

    print("%-14s %-16s %4s %6s %20s %9s %9s %9s %9s  %s"
          % ("case", "structure", "N", "edges", "E_ref (eV)", "dE", "dE_i", "dF", "dW", "status"))
    for name, sname, n, ne, e, dev, status in rows:
        devs = ("%9.1e %9.1e %9.1e %9.1e" % (dev["dE"], dev["dEi"], dev["dF"], dev["dW"])
                if dev else "%9s %9s %9s %9s" % ("-", "-", "-", "-"))
        print("%-14s %-16s %4d %6d %20.12f %s  %s" % (name, sname, n, ne, e, devs, status.split("\n")[0]))
    for name, sname, _, _, _, _, status in rows:   # full messages (tool output) below the table
        if "\n" in status:
            print("\n--- %s %s ---\n%s" % (name, sname, status))
    print("tolerances: dE, dE_i %.0e (of max(|E|,1)); dF %.0e (of max |F|); dW %.0e (of max |W|)"
          % (TOL_ENERGY, TOL_FORCE, TOL_VIRIAL))
    failed = sum(1 for r in rows if r[-1] != "ok")
    print("(%.1f s)" % (time.time() - t0))
    print("%d passed, %d failed" % (len(rows) - failed, failed))
    return 1 if failed or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
