#!/usr/bin/python3
"""A random start for the coarse-grained NaCl(aq) runs (in.cg-nacl): N_PAIRS Na+ and Cl- in a cubic box of side BOX
(A), no two ions closer than DMIN (default 3 A: the Na-Cl contact is about 2.8 A), written as a LAMMPS data file
(atom_style charge; type 1 Na, type 2 Cl; charges 0, in.cg-nacl's force field sets them).

usage: make_cg_start.py N_PAIRS BOX SEED OUT.data [--dmin 3.0]
"""
import argparse
import math
import random
import sys


def place(n, box, rng, dmin):
    pos = []
    for _ in range(n):
        for _try in range(100000):
            p = [box * rng.random() for _ in range(3)]
            if all(sum((d - box * round(d / box)) ** 2 for d in (p[k] - q[k] for k in range(3))) >= dmin * dmin
                   for q in pos):
                pos.append(p)
                break
        else:
            sys.exit("make_cg_start.py: cannot place %d ions %g A apart in a %g A box" % (n, dmin, box))
    return pos


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("n_pairs", type=int)
    ap.add_argument("box", type=float)
    ap.add_argument("seed", type=int)
    ap.add_argument("out")
    ap.add_argument("--dmin", type=float, default=3.0)
    a = ap.parse_args()
    if a.n_pairs < 1 or not (a.box > 0 and math.isfinite(a.box)):
        sys.exit("make_cg_start.py: need N_PAIRS >= 1 and BOX > 0")
    pos = place(2 * a.n_pairs, a.box, random.Random(a.seed), a.dmin)
    with open(a.out, "w") as f:
        f.write("CG NaCl start: %d pairs, box %g A, seed %d\n\n%d atoms\n2 atom types\n\n" % (a.n_pairs, a.box, a.seed,
                                                                                              len(pos)))
        f.write("0 %.10g xlo xhi\n0 %.10g ylo yhi\n0 %.10g zlo zhi\n\nAtoms # charge\n\n" % (a.box, a.box, a.box))
        for i, p in enumerate(pos):
            f.write("%d %d 0 %.8f %.8f %.8f\n" % (i + 1, 1 + (i >= a.n_pairs), *p))


if __name__ == "__main__":
    main()
