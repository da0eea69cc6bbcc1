#!/usr/bin/python3
"""Crystal nucleation in an ion trajectory: the largest ion cluster and the fraction of ions in rock-salt
environments, frame by frame.

    nucleation.py TRAJ [--types 1:Na,2:Cl] [--dt-ps 0.002] [--every 1] [--cutoff 3.5] [--angle-tol 20]
                  [--min-neighbours 4] [--tsv OUT.tsv] [--snapshot OUT.xyz] [--figure OUT.png] [--label NAME]

Definitions (all on counter-ion neighbours, i.e. Na-Cl pairs closer than --cutoff, A; 3.5 A is past the first
minimum of the Na-Cl g(r) of Joung-Cheatham NaCl in SPC/E, so a contact ion pair is bonded and a solvent-shared
pair is not):
  - cluster: a connected set of ions in the graph of those bonds; the largest cluster's size is the number of ions
    in it (a free ion is a cluster of 1, a contact pair of 2);
  - rock-salt environment: an ion with at least --min-neighbours counter-ions within the cutoff, every pair of whose
    bonds makes an angle within --angle-tol degrees of 90 or 180 (in rock salt an ion has 6 counter-ions on the
    octahedron, angles 90 and 180; 5, 4 or 3 on faces, edges and corners, with the same angles). A dense liquid
    or an amorphous cluster rarely has 4 counter-ion contacts at right angles.
Prints a line per frame (time, ions, largest cluster, rock-salt fraction) or writes them to --tsv; --snapshot writes
the largest cluster of the last frame (extended XYZ, unwrapped around its first ion); --figure plots both series.
Exit status 2 on bad input.
"""
import argparse
import math
import sys

import numpy as np

from ion_traj import pair_vectors, parse_types, read_frames


def bonds(fr, cutoff):
    """Counter-ion pairs within cutoff: indices into the frame (Na index, Cl index) and their Na->Cl vectors."""
    na = np.flatnonzero(fr.species == "Na")
    cl = np.flatnonzero(fr.species == "Cl")
    if len(na) == 0 or len(cl) == 0:
        return np.empty(0, int), np.empty(0, int), np.empty((0, 3))
    ia, ic, vec = [], [], []
    chunk = max(1, 2000000 // max(1, len(cl)))  # bounds the (chunk, n_Cl, 3) temporary
    for s in range(0, len(na), chunk):
        d = pair_vectors(fr.pos[na[s:s + chunk]], fr.pos[cl], fr.box, False)
        a, c = np.nonzero(np.einsum("ijk,ijk->ij", d, d) < cutoff * cutoff)
        ia.append(na[s + a])
        ic.append(cl[c])
        vec.append(d[a, c])
    return np.concatenate(ia), np.concatenate(ic), np.concatenate(vec)


def largest_cluster(n, ia, ic):
    """Size and members of the largest connected component (union-find with path halving)."""
    parent = np.arange(n)

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, c in zip(ia, ic):
        ra, rc = find(a), find(c)
        if ra != rc:
            parent[ra] = rc
    roots = np.array([find(x) for x in range(n)])
    if n == 0:
        return 0, np.empty(0, int)
    values, counts = np.unique(roots, return_counts=True)
    best = values[np.argmax(counts)]
    return int(counts.max()), np.flatnonzero(roots == best)


def rocksalt_mask(n, ia, ic, vec, min_neighbours, tol_deg):
    """Ions whose counter-ion bonds are at least min_neighbours and pairwise within tol of 90 or 180 degrees."""
    cos90 = math.sin(math.radians(tol_deg))         # |cos| below this: within tol of 90 degrees
    cos180 = -math.cos(math.radians(tol_deg))       # cos below this: within tol of 180 degrees
    out = np.zeros(n, bool)
    nbr = [[] for _ in range(n)]
    for a, c, v in zip(ia, ic, vec):
        u = v / np.linalg.norm(v)
        nbr[a].append(u)    # from Na to Cl
        nbr[c].append(-u)   # from Cl to Na
    for i in range(n):
        if len(nbr[i]) < min_neighbours:
            continue
        u = np.array(nbr[i])
        cos = (u @ u.T)[np.triu_indices(len(u), k=1)]
        out[i] = bool(np.all((np.abs(cos) <= cos90) | (cos <= cos180)))
    return out


def analyse_frame(fr, a):
    ia, ic, vec = bonds(fr, a.cutoff)
    n = len(fr.species)
    size, members = largest_cluster(n, ia, ic)
    rs = rocksalt_mask(n, ia, ic, vec, a.min_neighbours, a.angle_tol)
    return size, members, float(rs.mean()) if n else 0.0


def write_snapshot(path, fr, members):
    """The cluster, each ion moved to the image nearest the first one (small clusters; a percolating one wraps)."""
    ref = fr.pos[members[0]]
    d = fr.pos[members] - ref
    d -= fr.box * np.round(d / fr.box)
    with open(path, "w") as f:
        f.write("%d\n" % len(members))
        f.write('Lattice="%g 0 0 0 %g 0 0 0 %g" Properties=species:S:1:pos:R:3 time_ps=%g pbc="F F F"\n'
                % (fr.box[0], fr.box[1], fr.box[2], fr.time_ps))
        for s, p in zip(fr.species[members], ref + d):
            f.write("%s %.5f %.5f %.5f\n" % (s, p[0], p[1], p[2]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("traj")
    ap.add_argument("--types", default="1:Na,2:Cl")
    ap.add_argument("--dt-ps", type=float, default=0.002)
    ap.add_argument("--skip-ps", type=float, default=0.0)
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--cutoff", type=float, default=3.5)
    ap.add_argument("--angle-tol", type=float, default=20.0)
    ap.add_argument("--min-neighbours", type=int, default=4)
    ap.add_argument("--tsv")
    ap.add_argument("--snapshot")
    ap.add_argument("--figure")
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    rows, last = [], None
    try:
        for fr in read_frames(a.traj, parse_types(a.types), a.dt_ps, a.skip_ps, a.every):
            size, members, frac = analyse_frame(fr, a)
            rows.append((fr.time_ps, len(fr.species), size, frac))
            last = (fr, members)
    except (OSError, ValueError) as e:
        print("nucleation.py: %s" % e, file=sys.stderr)
        return 2
    if not rows:
        print("nucleation.py: %s: no frames" % a.traj, file=sys.stderr)
        return 2
    lines = ["time_ps\tions\tlargest_cluster\trocksalt_fraction"] + ["%.3f\t%d\t%d\t%.4f" % r for r in rows]
    if a.tsv:
        with open(a.tsv, "w") as f:
            f.write("\n".join(lines) + "\n")
    else:
        print("\n".join(lines))
    if a.snapshot:
        write_snapshot(a.snapshot, *last)
    if a.figure:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        t = [r[0] for r in rows]
        fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
        ax[0].plot(t, [r[2] for r in rows], lw=1)
        ax[0].set_ylabel("largest cluster (ions)")
        ax[1].plot(t, [r[3] for r in rows], lw=1)
        ax[1].set_ylabel("fraction of ions in rock-salt environments")
        for x in ax:
            x.set_xlabel("time (ps)")
        if a.label:
            fig.suptitle(a.label, fontsize=10)
        fig.tight_layout()
        fig.savefig(a.figure, dpi=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
