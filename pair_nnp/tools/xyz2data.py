#!/usr/bin/python3
"""One extended-XYZ frame as a LAMMPS data file (atom_style atomic) for pair_style nnp.

    xyz2data.py FRAME.xyz OUT.data --species O H Na Cl [--frame 0]

Atom type k is the k-th element of --species (pass the model's species, in any order you then repeat in
pair_coeff * * MODEL O H Na Cl). Orthorhombic or triclinic cells (LAMMPS's restricted form: a along x, b in the xy
plane); atoms are wrapped into the box. Masses are standard atomic weights.
"""
import argparse
import re
import sys

MASS = {"H": 1.008, "Li": 6.94, "C": 12.011, "N": 14.007, "O": 15.999, "F": 18.998, "Na": 22.990, "Mg": 24.305,
        "Cl": 35.45, "K": 39.098, "Ca": 40.078, "Br": 79.904, "I": 126.90}


def read_frame(path, index=0):
    """(symbols, positions, cell rows) of frame `index`."""
    with open(path) as f:
        for k in range(index + 1):
            line = f.readline()
            if not line:
                raise ValueError("%s: no frame %d" % (path, index))
            n = int(line)
            head = f.readline()
            body = [f.readline() for _ in range(n)]
    m = re.search(r'Lattice="([^"]*)"', head)
    if not m:
        raise ValueError("%s: frame %d has no Lattice" % (path, index))
    lat = [float(x) for x in m.group(1).split()]
    sym = [b.split()[0] for b in body]
    pos = [[float(x) for x in b.split()[1:4]] for b in body]
    return sym, pos, [lat[0:3], lat[3:6], lat[6:9]]


def write_data(path, sym, pos, cell, species, title="from extended XYZ"):
    a, b, c = cell
    if abs(a[1]) > 1e-10 or abs(a[2]) > 1e-10 or abs(b[2]) > 1e-10:
        raise ValueError("the cell is not in LAMMPS's restricted triclinic form (a along x, b in the xy plane)")
    missing = sorted(set(sym) - set(species))
    if missing:
        raise ValueError("elements %s are not among --species %s" % (" ".join(missing), " ".join(species)))
    with open(path, "w") as f:
        f.write("%s\n\n%d atoms\n%d atom types\n\n" % (title, len(sym), len(species)))
        f.write("0 %.17g xlo xhi\n0 %.17g ylo yhi\n0 %.17g zlo zhi\n" % (a[0], b[1], c[2]))
        if any(abs(x) > 1e-12 for x in (b[0], c[0], c[1])):
            f.write("%.17g %.17g %.17g xy xz yz\n" % (b[0], c[0], c[1]))
        f.write("\nMasses\n\n")
        for t, s in enumerate(species):
            if s not in MASS:
                raise ValueError("no standard mass for %s" % s)
            f.write("%d %g\n" % (t + 1, MASS[s]))
        f.write("\nAtoms # atomic\n\n")
        for i, (s, p) in enumerate(zip(sym, pos)):
            # fractional coordinates (upper-triangular cell), wrapped into [0, 1)
            fz = p[2] / c[2]
            fy = (p[1] - fz * c[1]) / b[1]
            fx = (p[0] - fz * c[0] - fy * b[0]) / a[0]
            fx, fy, fz = fx % 1.0, fy % 1.0, fz % 1.0
            x = [fx * a[k] + fy * b[k] + fz * c[k] for k in range(3)]
            f.write("%d %d %.17g %.17g %.17g\n" % (i + 1, species.index(s) + 1, *x))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("xyz")
    ap.add_argument("data")
    ap.add_argument("--species", nargs="+", required=True)
    ap.add_argument("--frame", type=int, default=0)
    o = ap.parse_args()
    try:
        sym, pos, cell = read_frame(o.xyz, o.frame)
        write_data(o.data, sym, pos, cell, o.species, "%s frame %d" % (o.xyz, o.frame))
    except (ValueError, OSError) as e:
        sys.exit("xyz2data.py: %s" % e)


if __name__ == "__main__":
    main()
