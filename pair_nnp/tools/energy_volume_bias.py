#!/usr/bin/env python3
"""How far a model's pressure is from the reference's, estimated from energies alone.

    energy_volume_bias.py REFERENCE.extxyz PREDICTIONS.extxyz [--window 0.9 1.1] [--bootstrap 500] [--seed 0]

Reference data without virials (the water set here) still constrain the pressure through how the energy changes
with volume across frames. With r_k the model's energy error per atom on frame k (prediction minus reference; the
predictions are `pnnp-eval MODEL DATA --predictions OUT`, which adds the model's baseline) and v_k its volume per
atom, a pressure error dP (model minus reference, taken as the same for every frame of a density window) makes the
errors drift with volume: P = -dE/dV, so dr/dv = -dP. The slope of a straight-line fit of r_k against v_k over the
frames whose density (g/cm^3, for water: 18.015 g/mol per 3 atoms) lies in --window gives dP = -slope, in bar. The error is the bootstrap standard deviation over frames.

What it is and is not: frames at different densities also differ in structure (temperature, stretched molecules),
so the fit mixes the volume trend with whatever else correlates with density in the data set, and a 1-meV/atom
residual scatter gives a few hundred bar of uncertainty. Across the water models of this project it ranks their
NPT densities correctly (docs/training.md, "Measured: water density"), which makes it a cheap screen between
candidates before an NPT run, not a replacement for one.
Units: energies eV (file), reported in meV/atom; pressure in bar. Needs numpy only.
"""
import argparse
import sys

import numpy as np

EV_PER_A3_TO_BAR = 1.602176634e6
GRAMS_PER_MOL_PER_ATOM = 18.015 / 3   # water: one molecule per 3 atoms
AVOGADRO_PER_A3_TO_G_CM3 = 1.0 / 0.602214076  # (g/mol) / A^3 -> g/cm^3


def read_energies(path):
    """(energy eV, atoms, volume A^3) per frame of an extended-XYZ file with a Lattice and an energy key."""
    out = []
    with open(path) as f:
        while True:
            line = f.readline()
            if not line:
                return out
            if not line.strip():
                continue
            n = int(line)
            head = f.readline()
            if 'Lattice="' not in head:
                raise ValueError("%s: frame %d has no Lattice" % (path, len(out)))
            i = head.index('Lattice="') + 9
            cell = np.array([float(x) for x in head[i:head.index('"', i)].split()]).reshape(3, 3)
            energy = None
            for key in ("energy=", "REF_energy=", "free_energy="):
                k = head.find(" " + key)
                if k >= 0 or head.startswith(key):
                    k = k + 1 if k >= 0 else 0
                    energy = float(head[k + len(key):].split()[0])
                    break
            if energy is None:
                raise ValueError("%s: frame %d has no energy" % (path, len(out)))
            for _ in range(n):
                f.readline()
            out.append((energy, n, abs(np.linalg.det(cell))))


def pressure_bias(ref, pred, window, n_boot, seed):
    if len(ref) != len(pred):
        raise ValueError("%d reference frames but %d predictions" % (len(ref), len(pred)))
    n = np.array([r[1] for r in ref], float)
    if np.any(n != np.array([p[1] for p in pred])):
        raise ValueError("the two files' frames have different atom counts")
    v = np.array([r[2] for r in ref]) / n                       # A^3 per atom
    resid = np.array([(p[0] - r[0]) for r, p in zip(ref, pred)]) / n  # eV per atom
    rho = GRAMS_PER_MOL_PER_ATOM / v * AVOGADRO_PER_A3_TO_G_CM3
    sel = (rho >= window[0]) & (rho <= window[1])
    if sel.sum() < 10:
        raise ValueError("%d frames in the density window %g-%g g/cm^3 (need 10)" % (sel.sum(), *window))
    x, y = v[sel], resid[sel]

    def dp(xx, yy):
        return -np.polyfit(xx, yy, 1)[0] * EV_PER_A3_TO_BAR

    rng = np.random.default_rng(seed)
    boot = [dp(x[b], y[b]) for b in (rng.integers(0, len(x), len(x)) for _ in range(n_boot))]
    return dp(x, y), float(np.std(boot)), int(sel.sum()), float(np.sqrt(np.mean((y - y.mean()) ** 2)) * 1e3)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reference")
    ap.add_argument("predictions")
    ap.add_argument("--window", type=float, nargs=2, default=(0.9, 1.1), help="density window, g/cm^3")
    ap.add_argument("--bootstrap", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    try:
        bias, err, frames, scatter = pressure_bias(read_energies(a.reference), read_energies(a.predictions),
                                                   a.window, a.bootstrap, a.seed)
    except (OSError, ValueError) as e:
        print("energy_volume_bias.py: %s" % e, file=sys.stderr)
        return 2
    print("%d frames at %g-%g g/cm^3: pressure bias (model - reference) %+.0f +- %.0f bar; residual scatter %.3f "
          "meV/atom" % (frames, a.window[0], a.window[1], bias, err, scatter))
    return 0


if __name__ == "__main__":
    sys.exit(main())
