#!/usr/bin/python3
"""Writes a NaCl(aq) box (extended XYZ): N_w water molecules and N_p Na+ / N_p Cl- ions on a jittered, nearly cubic
lattice with random water orientations and minimum distances between species, at a given mass density. Default:
512 H2O + 9 NaCl (1554 atoms), 0.976 mol/kg, at 1.036 g/cm^3 (experimental density of ~1 mol/kg NaCl(aq) at
298 K, CRC Handbook concentrative-properties tables). A starting structure for examples, not an equilibrated liquid.

Every lattice site holds one water molecule or one ion; the lattice has at least N_w + 2 N_p sites, the surplus
sites stay empty (a water whose site admits no orientation, e.g. boxed in by ions at high concentration, moves
to a surplus site). Ions go first, at random sites at least MIN_ION_ION apart (no contact pairs at the start), then
the waters, at random remaining sites, each orientation redrawn until the molecule respects MIN_DISTANCE to every
atom already placed (periodic images included).

The same coordinates go to all outputs (atom order: the waters O H H ..., then the Na, then the Cl):
  OUT.xyz             extended XYZ (species O H Na Cl)
  --lammps-data F     LAMMPS data, atom_style atomic, types 1 O, 2 H, 3 Na, 4 Cl, for `pair_style nnp`
                      (pair_coeff * * MODEL O H Na Cl)
  --lammps-full F     LAMMPS data, atom_style full: molecules, bonds, angles, SPC/E charges and a `Pair Coeffs`
                      section for lj/cut/coul/long with SPC/E oxygen and the Joung-Cheatham ions for SPC/E
                      (Lorentz-Berthelot mixing: `pair_modify mix arithmetic` in the input), for the classical
                      reference (examples/nacl/in.nacl-spce-jc; define pair_style before read_data)

usage: make_nacl_box.py OUT.xyz [--waters 512] [--pairs 9] [--density 1.036] [--seed 1]
                        [--lammps-data OUT.data] [--lammps-full OUT.data]
"""
import argparse
import itertools
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_water_box import (ANGLE_HOH, MIN_INTERMOLECULAR, R_OH, SPCE_CHARGE,  # noqa: E402
                            random_rotation, write_water_topology)

MASS = {"O": 15.9994, "H": 1.008, "Na": 22.98977, "Cl": 35.453}  # g/mol
TYPE = {"O": 1, "H": 2, "Na": 3, "Cl": 4}
CHARGE = {"O": SPCE_CHARGE["O"], "H": SPCE_CHARGE["H"], "Na": 1.0, "Cl": -1.0}  # e

# Lennard-Jones parameters for lj/cut/coul/long in real units: (epsilon / kcal mol^-1, sigma / Angstrom).
# O: SPC/E, epsilon 0.650 kJ/mol = 0.15535 kcal/mol, sigma 3.166 A (Berendsen, Grigera, Straatsma,
#    J. Phys. Chem. 91, 6269 (1987)); H: no Lennard-Jones site.
# Na+, Cl-: Joung and Cheatham, J. Phys. Chem. B 112, 9020 (2008), the set fitted for SPC/E (their Table 5, the
#    AMBER file frcmod.ionsjc_spce): R_min/2 = 1.212 A, epsilon = 0.3526418 kcal/mol for Na+; R_min/2 = 2.711 A,
#    epsilon = 0.0127850 kcal/mol for Cl-. sigma = 2 (R_min/2) / 2^(1/6): 2.1595 A (Na+), 4.8305 A (Cl-).
#    They were fitted with Lorentz-Berthelot mixing, so the input must use `pair_modify mix arithmetic`.
LJ = {"O": (0.15535, 3.166),
      "H": (0.0, 0.0),
      "Na": (0.3526418, 2 * 1.212 / 2 ** (1 / 6)),
      "Cl": (0.0127850, 2 * 2.711 / 2 ** (1 / 6))}

MIN_ION_ION = 4.5  # Angstrom, between any two ions at the start
# Minimum distances (Angstrom) between atoms of different molecules/ions; water-water pairs use MIN_INTERMOLECULAR.
MIN_DISTANCE = {("O", "Na"): 2.2, ("H", "Na"): 2.6, ("O", "Cl"): 2.9, ("H", "Cl"): 1.9}


def lattice_shape(n_sites):
    """The most nearly cubic (nx, ny, nz), nx <= ny <= nz, with the fewest sites >= n_sites."""
    m = int(np.ceil(n_sites ** (1 / 3)))
    best = None
    for nx, ny, nz in itertools.product(range(max(1, m - 2), m + 1), repeat=3):
        if nx <= ny <= nz and nx * ny * nz >= n_sites:
            key = (nx * ny * nz, nz - nx)
            if best is None or key < best[0]:
                best = (key, (nx, ny, nz))
    return best[1]


def min_image(d, box):
    return d - box * np.round(d / box)


def nacl_box(n_waters, n_pairs, density, seed):
    rng = np.random.default_rng(seed)
    mass = n_waters * (2 * MASS["H"] + MASS["O"]) + n_pairs * (MASS["Na"] + MASS["Cl"])
    box = (mass / 0.602214076 / density) ** (1 / 3)  # Angstrom: g/mol / (g/cm^3) = 1/0.6022 A^3 per molecule
    shape = np.array(lattice_shape(n_waters + 2 * n_pairs))
    spacing = box / shape
    sites = [np.array(s) for s in itertools.product(*(range(k) for k in shape))]
    order = rng.permutation(len(sites))

    def site_position(s):
        return (s + 0.5 + rng.uniform(-0.05, 0.05, 3)) * spacing

    ions, ion_pos, used = [], [], set()
    for species in ["Na"] * n_pairs + ["Cl"] * n_pairs:
        for idx in order:
            if idx in used:
                continue
            p = site_position(sites[idx])
            if all(np.linalg.norm(min_image(p - q, box)) >= MIN_ION_ION for q in ion_pos):
                ions.append(species)
                ion_pos.append(p)
                used.add(idx)
                break
        else:
            raise RuntimeError("no lattice site left for an ion %d A from the others; fewer ions or a bigger box"
                               % MIN_ION_ION)
    water_sites = sorted(i for i in order if i not in used)
    water_sites = sorted(rng.choice(water_sites, size=n_waters, replace=False))

    h = np.array([[0.0, 0.0, 0.0],
                  [R_OH * np.sin(ANGLE_HOH / 2), 0.0, R_OH * np.cos(ANGLE_HOH / 2)],
                  [-R_OH * np.sin(ANGLE_HOH / 2), 0.0, R_OH * np.cos(ANGLE_HOH / 2)]])
    h -= h.mean(axis=0)
    ion_pos = np.array(ion_pos).reshape(-1, 3)
    ions = np.array(ions)
    # per-atom thresholds of a water's O and H against each ion
    thr_ion = np.array([[MIN_DISTANCE[(a, s)] for s in ions] for a in ("O", "H", "H")]).reshape(3, -1)
    waters = np.zeros((0, 3))
    # a site boxed in by ions can admit no orientation: then the water goes to the next unused (surplus) site
    # instead; boxes that never hit this are exactly as before
    spare = [i for i in order if i not in used and i not in set(water_sites)]
    queue = list(water_sites)
    while queue:
        idx = queue.pop(0)
        for attempt in range(2000):
            mol = site_position(sites[idx]) + h @ random_rotation(rng).T
            ok = True
            if len(ions):
                d = np.linalg.norm(min_image(mol[:, None, :] - ion_pos[None, :, :], box), axis=-1)
                ok = bool((d >= thr_ion).all())
            if ok and len(waters):
                d = np.linalg.norm(min_image(mol[:, None, :] - waters[None, :, :], box), axis=-1)
                ok = d.min() > MIN_INTERMOLECULAR
            if ok:
                break
        else:
            if not spare:
                raise RuntimeError("could not place the water molecule at lattice site %s, and no lattice site is "
                                   "left" % (sites[idx],))
            queue.append(spare.pop(0))
            continue
        waters = np.vstack([waters, mol])
    symbols = ["O", "H", "H"] * n_waters + list(ions)
    pos = np.vstack([waters, ion_pos])
    return symbols, pos % box, box


def write_xyz(path, symbols, pos, box):
    with open(path, "w") as f:
        f.write(f"{len(symbols)}\n")
        f.write(f'Lattice="{box:.8f} 0 0 0 {box:.8f} 0 0 0 {box:.8f}" Properties=species:S:1:pos:R:3 pbc="T T T"\n')
        for s, p in zip(symbols, pos):
            f.write(f"{s} {p[0]:.8f} {p[1]:.8f} {p[2]:.8f}\n")


def header(f, box):
    f.write(f"0 {box:.8f} xlo xhi\n0 {box:.8f} ylo yhi\n0 {box:.8f} zlo zhi\n\nMasses\n\n")
    for s, t in TYPE.items():
        f.write(f"{t} {MASS[s]}  # {s}\n")


def write_lammps_data(path, symbols, pos, box):
    with open(path, "w") as f:
        f.write(f"# NaCl(aq) box from bench/make_nacl_box.py (types: 1 O, 2 H, 3 Na, 4 Cl)\n\n"
                f"{len(symbols)} atoms\n4 atom types\n\n")
        header(f, box)
        f.write("\nAtoms # atomic\n\n")
        for i, (s, p) in enumerate(zip(symbols, pos)):
            f.write(f"{i + 1} {TYPE[s]} {p[0]:.8f} {p[1]:.8f} {p[2]:.8f}\n")


def write_lammps_full(path, symbols, pos, box):
    n_w = symbols.count("H") // 2
    with open(path, "w") as f:
        f.write("# NaCl(aq) box from bench/make_nacl_box.py (types: 1 O, 2 H, 3 Na, 4 Cl; SPC/E water, "
                "Joung-Cheatham 2008 ions for SPC/E; Pair Coeffs: epsilon kcal/mol, sigma A, "
                "pair_modify mix arithmetic)\n\n")
        f.write(f"{len(symbols)} atoms\n{2 * n_w} bonds\n{n_w} angles\n4 atom types\n1 bond types\n"
                f"1 angle types\n\n")
        header(f, box)
        # the word after '#' must be the pair style only (LAMMPS compares it with the defined one)
        f.write("\nPair Coeffs # lj/cut/coul/long\n\n")
        for s, t in TYPE.items():
            eps, sig = LJ[s]
            f.write(f"{t} {eps:.7f} {sig if sig else 1.0:.5f}  # {s}\n")
        f.write("\nAtoms # full\n\n")
        for i, (s, p) in enumerate(zip(symbols, pos)):
            mol = i // 3 + 1 if i < 3 * n_w else n_w + (i - 3 * n_w) + 1
            f.write(f"{i + 1} {mol} {TYPE[s]} {CHARGE[s]} {p[0]:.8f} {p[1]:.8f} {p[2]:.8f}\n")
        write_water_topology(f, n_w)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--waters", type=int, default=512)
    ap.add_argument("--pairs", type=int, default=9, help="number of Na+ and of Cl- ions")
    ap.add_argument("--density", type=float, default=1.036, help="g/cm^3")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lammps-data", help="also write a LAMMPS data file (atom_style atomic; 1 O, 2 H, 3 Na, 4 Cl)")
    ap.add_argument("--lammps-full", help="also write an atom_style full data file (SPC/E + Joung-Cheatham ions)")
    a = ap.parse_args()
    symbols, pos, box = nacl_box(a.waters, a.pairs, a.density, a.seed)
    write_xyz(a.out, symbols, pos, box)
    if a.lammps_data:
        write_lammps_data(a.lammps_data, symbols, pos, box)
    if a.lammps_full:
        write_lammps_full(a.lammps_full, symbols, pos, box)
    molal = a.pairs / (a.waters * (2 * MASS["H"] + MASS["O"]) * 1e-3)
    print(f"{len(symbols)} atoms: {a.waters} H2O + {a.pairs} Na+ + {a.pairs} Cl- ({molal:.3f} mol/kg), "
          f"box {box:.4f} A, lattice {'x'.join(map(str, lattice_shape(a.waters + 2 * a.pairs)))}")


if __name__ == "__main__":
    main()
