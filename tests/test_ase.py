#!/usr/bin/env python3
"""The ASE calculator (python/pair_nnp_ase) against pnnp-eval on the shipped models: energies, forces, per-atom
energies and virials of periodic frames agree to 1e-10 (both run the same library code on the same positions, so
they differ only by the 17 significant digits pnnp-eval prints: ~1e-16 relative); the stress against finite
differences of the energy; the README's MD example runs. Prints "N passed, M failed"; exit 1 on any failure.

    test_ase.py --library libpair_nnp.so --pnnp-eval pnnp-eval --potentials DIR --workdir DIR --example FILE
"""
import argparse
import os
import subprocess
import sys

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "python"))

from ase.io import read, write  # noqa: E402

from pair_nnp_ase import NNPCalculator, NNPError  # noqa: E402

n_pass = n_fail = 0


def check(ok, what):
    global n_pass, n_fail
    if ok:
        n_pass += 1
    else:
        n_fail += 1
        print("FAIL", what)


def read_predictions(path):
    """Frames of pnnp-eval --predictions (extended XYZ written by pair_nnp's writer): energy, virial (3x3), forces,
    per-atom energies."""
    frames = []
    with open(path) as f:
        lines = f.read().splitlines()
    k = 0
    while k < len(lines):
        if not lines[k].strip():
            k += 1
            continue
        n = int(lines[k])
        header = lines[k + 1]
        energy = float(header.split(" energy=")[1].split()[0])
        virial = np.array(header.split('virial="')[1].split('"')[0].split(), dtype=float).reshape(3, 3)
        cols = np.array([line.split()[1:] for line in lines[k + 2:k + 2 + n]], dtype=float)
        frames.append({"energy": energy, "virial": virial, "forces": cols[:, 3:6], "energies": cols[:, 6]})
        k += 2 + n
    return frames


def compare_with_nnp_eval(args, name):
    """The check file's frame and a rattled, sheared copy, written once by ASE and read back by both sides (so they
    see the same positions to the last bit)."""
    first = read(os.path.join(args.potentials, name + ".check.xyz"), index=0)
    second = first.copy()
    rng = np.random.default_rng(7)
    second.set_cell(first.cell[:] @ np.array([[1.01, 0.02, 0.0], [0.0, 0.99, 0.01], [0.0, 0.0, 1.0]]),
                    scale_atoms=True)
    second.positions += rng.normal(scale=0.02, size=second.positions.shape)
    subset = os.path.join(args.workdir, name + ".frames.xyz")
    pred = os.path.join(args.workdir, name + ".pred.xyz")
    for a in (first, second):
        a.calc = None
    write(subset, [first, second], format="extxyz")
    frames = read(subset, index=":")
    model = os.path.join(args.potentials, name + ".nnp")
    subprocess.run([args.pnnp_eval, model, subset, "--predictions", pred], check=True, stdout=subprocess.DEVNULL)
    ref = read_predictions(pred)
    calc = NNPCalculator(model, library=args.library, threads=2)
    for q, (atoms, r) in enumerate(zip(frames, ref)):
        check(atoms.pbc.all(), "%s frame %d is periodic" % (name, q))
        atoms.calc = calc
        e = atoms.get_potential_energy()
        f = atoms.get_forces()
        ea = atoms.get_potential_energies()
        s = atoms.get_stress(voigt=False)
        w = -s * atoms.get_volume()  # the virial pnnp-eval writes
        scale = max(1.0, abs(r["energy"]))
        check(abs(e - r["energy"]) <= 1e-10 * scale, "%s frame %d: energy %.17g, pnnp-eval %.17g" % (name, q, e,
                                                                                                   r["energy"]))
        check(np.abs(f - r["forces"]).max() <= 1e-10, "%s frame %d: forces differ by %.3g eV/A" %
              (name, q, np.abs(f - r["forces"]).max()))
        check(np.abs(ea - r["energies"]).max() <= 1e-10 * max(1.0, np.abs(r["energies"]).max()),
              "%s frame %d: per-atom energies differ by %.3g eV" % (name, q, np.abs(ea - r["energies"]).max()))
        check(abs(ea.sum() - e) <= 1e-9 * scale, "%s frame %d: per-atom energies do not sum to the energy" % (name, q))
        check(np.abs(w - r["virial"]).max() <= 1e-10 * max(1.0, np.abs(r["virial"]).max()),
              "%s frame %d: virial differs by %.3g eV" % (name, q, np.abs(w - r["virial"]).max()))
    check(calc.memory() > 0, "%s: nnp_workspace_memory reports %d bytes" % (name, calc.memory()))
    return calc, frames[0]


def check_stress_fd(calc, atoms, name):
    """ASE's stress = (1/V) dE/d(strain) from central differences. Step 1e-5: the truncation error is ~1e-10 times
    the third strain derivative (eV), the rounding error ~ |E| 1e-16 / 1e-5 ~ 3e-7 eV for |E| ~ 3e4 eV; over a
    volume ~ 2e3 A^3 both are below 1e-9 eV/A^3, against stresses of 1e-3 to 1e-2 eV/A^3: 1e-7 leaves room and still
    catches a sign or Voigt-order slip."""
    atoms = atoms.copy()
    atoms.calc = calc
    s = atoms.get_stress()
    fd = calc.calculate_numerical_stress(atoms, d=1e-5)
    check(np.abs(s - fd).max() <= 1e-7, "%s: stress %s vs finite differences %s" % (name, s, fd))


class _FakeLibrary:
    """A stand-in for a library of another ABI version (or one from before nnp_abi_version existed)."""

    def __init__(self, version):
        if version is not None:
            self.nnp_abi_version = lambda: version


def check_refusals(args):
    import pair_nnp_ase
    for version in (1, 3, None):
        try:
            pair_nnp_ase.check_abi(_FakeLibrary(version), "libfake.so")
            check(False, "a library of ABI version %s was accepted" % version)
        except NNPError as e:
            check("libfake.so" in str(e) and "version 2" in str(e), "ABI %s refused: %s" % (version, e))
    try:
        pair_nnp_ase.check_abi(_FakeLibrary(pair_nnp_ase.ABI_VERSION))
        check(True, "")
    except NNPError as e:
        check(False, "the matching ABI version was refused: %s" % e)
    model = os.path.join(args.potentials, "water-revpbe0d3.nnp")
    try:
        NNPCalculator(os.path.join(args.workdir, "missing.nnp"), library=args.library)
        check(False, "a missing model file was accepted")
    except NNPError as e:
        check("missing.nnp" in str(e), "missing model: message %s" % e)
    from ase import Atoms
    atoms = Atoms("ONa", positions=[[0, 0, 0], [1.5, 0, 0]])
    calc = NNPCalculator(model, library=args.library)
    atoms.calc = calc
    try:
        atoms.get_potential_energy()
        check(False, "an element the model does not know was accepted")
    except NNPError as e:
        check("Na" in str(e), "unknown element: message %s" % e)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--library", required=True)
    ap.add_argument("--pnnp-eval", required=True)
    ap.add_argument("--potentials", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--example")
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    for name in ("water-revpbe0d3", "nacl-water-revpbe0d3"):
        calc, atoms = compare_with_nnp_eval(args, name)
        if name.startswith("water"):
            check_stress_fd(calc, atoms, name)
    check_refusals(args)
    if args.example:
        root = os.path.join(here, "..")
        env = dict(os.environ, PAIR_NNP_LIBRARY=args.library, NNP_EXAMPLE_STEPS="3",
                   PYTHONPATH=os.path.join(root, "python"))
        r = subprocess.run([sys.executable, args.example], env=env, cwd=root, capture_output=True, text=True)
        check(r.returncode == 0, "the README example failed:\n%s%s" % (r.stdout, r.stderr))
    print("%d passed, %d failed" % (n_pass, n_fail))
    return 1 if n_fail else 0


if __name__ == "__main__":
    sys.exit(main())
