#!/usr/bin/python3
"""Writes a liquid-water-like box (extended XYZ): n^3 molecules on a jittered lattice with random orientations,
at a density of 1 g/cm^3, optionally replicated. For benchmarks and examples; not an equilibrated liquid.

usage: make_water_box.py OUT.xyz [--molecules-per-side 4] [--replicate 2] [--seed 1] [--lammps-data OUT.data]
                         [--lammps-full OUT.data]
"""
import argparse

import numpy as np

R_OH = 0.9572  # Angstrom (SPC/E uses 1.0; TIP3P geometry here)
ANGLE_HOH = np.deg2rad(104.52)
MOLAR_VOLUME = 18.015 / 0.602214 / 1.0  # Angstrom^3 per molecule at 1 g/cm^3 (= 29.9)


def random_rotation(rng):
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


MIN_INTERMOLECULAR = 1.9  # Angstrom: no atom of a molecule closer than this to an atom of another one


def min_image_distance(a, b, box):
    d = a[:, None, :] - b[None, :, :]
    d -= box * np.round(d / box)
    return np.sqrt((d * d).sum(-1)).min()


def water_box(per_side, seed):
    """Molecules on a jittered cubic lattice; each orientation is redrawn until the molecule keeps
    MIN_INTERMOLECULAR from every molecule already placed (periodic images included)."""
    rng = np.random.default_rng(seed)
    n = per_side ** 3
    box = (n * MOLAR_VOLUME) ** (1.0 / 3.0)
    spacing = box / per_side
    h = np.array([[0.0, 0.0, 0.0],
                  [R_OH * np.sin(ANGLE_HOH / 2), 0.0, R_OH * np.cos(ANGLE_HOH / 2)],
                  [-R_OH * np.sin(ANGLE_HOH / 2), 0.0, R_OH * np.cos(ANGLE_HOH / 2)]])
    h -= h.mean(axis=0)
    placed = np.zeros((0, 3))
    for i in range(per_side):
        for j in range(per_side):
            for k in range(per_side):
                for attempt in range(1000):
                    centre = (np.array([i, j, k]) + 0.5 + rng.uniform(-0.05, 0.05, 3)) * spacing
                    mol = centre + h @ random_rotation(rng).T
                    if len(placed) == 0 or min_image_distance(mol, placed, box) > MIN_INTERMOLECULAR:
                        break
                else:
                    raise RuntimeError("could not place molecule %d %d %d" % (i, j, k))
                placed = np.vstack([placed, mol])
    return ["O", "H", "H"] * n, placed, box


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--molecules-per-side", type=int, default=4)
    ap.add_argument("--replicate", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lammps-data", help="also write a LAMMPS data file (atom_style atomic; types 1 = O, 2 = H)")
    ap.add_argument("--lammps-full", help="also write a LAMMPS data file with molecules, charges (SPC/E), bonds and "
                                          "angles (atom_style full), for the classical reference")
    a = ap.parse_args()
    symbols, pos, box = water_box(a.molecules_per_side, a.seed)
    r = a.replicate
    shifts = [np.array([i, j, k]) * box for i in range(r) for j in range(r) for k in range(r)]
    all_pos = np.concatenate([pos + s for s in shifts])
    all_sym = symbols * len(shifts)
    L = box * r
    with open(a.out, "w") as f:
        f.write(f"{len(all_sym)}\n")
        f.write(f'Lattice="{L:.8f} 0 0 0 {L:.8f} 0 0 0 {L:.8f}" Properties=species:S:1:pos:R:3 pbc="T T T"\n')
        for s, p in zip(all_sym, all_pos):
            f.write(f"{s} {p[0]:.8f} {p[1]:.8f} {p[2]:.8f}\n")
    if a.lammps_data:
        write_lammps_data(a.lammps_data, all_sym, all_pos, L)
    if a.lammps_full:
        write_lammps_full(a.lammps_full, all_pos, L)


SPCE_CHARGE = {"O": -0.8476, "H": 0.4238}  # e (Berendsen, Grigera, Straatsma, J. Phys. Chem. 91, 6269 (1987))


def write_lammps_full(path, pos, box):
    """Molecules O H H in order: atoms, charges, one bond type (O-H) and one angle type (H-O-H)."""
    n_mol = len(pos) // 3
    with open(path, "w") as f:
        f.write("# water box from bench/make_water_box.py (types: 1 O, 2 H; SPC/E charges)\n\n")
        f.write(f"{len(pos)} atoms\n{2 * n_mol} bonds\n{n_mol} angles\n2 atom types\n1 bond types\n1 angle types\n\n")
        f.write(f"0 {box:.8f} xlo xhi\n0 {box:.8f} ylo yhi\n0 {box:.8f} zlo zhi\n\n")
        f.write("Masses\n\n1 15.9994\n2 1.008\n\nAtoms # full\n\n")
        for i, p in enumerate(pos):
            s = "OHH"[i % 3]
            f.write(f"{i + 1} {i // 3 + 1} {1 if s == 'O' else 2} {SPCE_CHARGE[s]} {p[0]:.8f} {p[1]:.8f} {p[2]:.8f}\n")
        write_water_topology(f, n_mol)


def write_water_topology(f, n_mol):
    """Bonds and Angles sections for n_mol molecules stored as atoms O H H, 1-based, first in the Atoms list."""
    f.write("\nBonds\n\n")
    for m in range(n_mol):
        f.write(f"{2 * m + 1} 1 {3 * m + 1} {3 * m + 2}\n{2 * m + 2} 1 {3 * m + 1} {3 * m + 3}\n")
    f.write("\nAngles\n\n")
    for m in range(n_mol):
        f.write(f"{m + 1} 1 {3 * m + 2} {3 * m + 1} {3 * m + 3}\n")


def write_lammps_data(path, symbols, pos, box):
    types = {"O": 1, "H": 2}
    with open(path, "w") as f:
        f.write(f"# water box from bench/make_water_box.py (types: 1 O, 2 H)\n\n{len(symbols)} atoms\n2 atom types\n\n")
        f.write(f"0 {box:.8f} xlo xhi\n0 {box:.8f} ylo yhi\n0 {box:.8f} zlo zhi\n\n")
        f.write("Masses\n\n1 15.9994\n2 1.008\n\nAtoms # atomic\n\n")
        for i, (s, p) in enumerate(zip(symbols, pos)):
            f.write(f"{i + 1} {types[s]} {p[0]:.8f} {p[1]:.8f} {p[2]:.8f}\n")


if __name__ == "__main__":
    main()
