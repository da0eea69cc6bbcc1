"""Ion trajectories of the CG NaCl example, read from the all-atom runs' converted frames (extended XYZ written by
convert_extxyz.py) or from a LAMMPS custom dump (the all-atom ions.dump or the CG cg.dump), as one stream of frames:
species names, positions wrapped into an orthorhombic box [0, L), box lengths, time in ps.

Shared by ion_structure.py (g(r)) and nucleation.py (clusters); plain numpy, no ASE, so the tests need nothing else.
Units: Angstrom, ps.
"""
import math
import sys

import numpy as np


class Frame:
    def __init__(self, species, pos, box, time_ps):
        self.species = species  # numpy array of str
        self.pos = pos          # (N, 3), wrapped into [0, box)
        self.box = box          # (3,) orthorhombic box lengths
        self.time_ps = time_ps


def parse_types(spec):
    """'1:Na,2:Cl' -> {1: 'Na', 2: 'Cl'}"""
    out = {}
    for item in spec.split(","):
        t, name = item.split(":")
        out[int(t)] = name
    return out


def _read_extxyz(f):
    while True:
        line = f.readline()
        if not line:
            return
        if not line.strip():
            continue
        n = int(line)
        head = f.readline()
        i = head.index('Lattice="') + 9
        cell = np.array([float(x) for x in head[i:head.index('"', i)].split()]).reshape(3, 3)
        if np.abs(cell - np.diag(np.diag(cell))).max() > 1e-9:
            raise ValueError("only orthorhombic cells are supported")
        t = 0.0
        for word in head.split():
            if word.startswith("time_ps="):
                t = float(word[8:])
        species, pos = [], np.empty((n, 3))
        for a in range(n):
            w = f.readline().split()
            species.append(w[0])
            pos[a] = [float(x) for x in w[1:4]]
        yield np.array(species), pos, np.diag(cell).copy(), t


def _read_dump(f, types, dt_ps):
    while True:
        line = f.readline()
        if not line:
            return
        if not line.startswith("ITEM: TIMESTEP"):
            continue
        step = int(f.readline())
        f.readline()
        n = int(f.readline())
        f.readline()
        lo, hi = [], []
        for _ in range(3):
            a, b = f.readline().split()[:2]
            lo.append(float(a))
            hi.append(float(b))
        cols = f.readline().split()[2:]
        ci = cols.index("type")
        xyz = [cols.index(c) for c in (("xu", "yu", "zu") if "xu" in cols else ("x", "y", "z"))]
        species, pos = [], np.empty((n, 3))
        for a in range(n):
            w = f.readline().split()
            t = int(w[ci])
            if t not in types:
                raise ValueError("atom type %d has no species (--types)" % t)
            species.append(types[t])
            pos[a] = [float(w[k]) for k in xyz]
        yield np.array(species), pos - np.array(lo), np.array(hi) - np.array(lo), step * dt_ps


def read_frames(path, types=None, dt_ps=0.002, skip_ps=0.0, every=1, wrap=True):
    """Frames of PATH (extended XYZ, or a LAMMPS dump when the first line is 'ITEM: TIMESTEP'), from time skip_ps on,
    every EVERY-th one. types maps LAMMPS atom types to species (dumps only). wrap=False keeps a dump's unwrapped
    coordinates (xu yu zu, relative to the box corner), for displacements."""
    with open(path) as f:
        first = f.readline()
        f.seek(0)
        if first.startswith("ITEM:"):
            gen = _read_dump(f, types or {1: "Na", 2: "Cl"}, dt_ps)
        else:
            gen = _read_extxyz(f)
        k = 0
        for species, pos, box, t in gen:
            if t < skip_ps - 1e-9:
                continue
            if k % every == 0:
                yield Frame(species, np.mod(pos, box) if wrap else pos, box, t)
            k += 1


def pair_vectors(a, b, box, same):
    """Minimum-image separation vectors between the points a (n, 3) and b (m, 3): (n, m, 3), or for same (a is b)
    the i < j pairs only, (n (n - 1) / 2, 3)."""
    if same:
        i, j = np.triu_indices(len(a), k=1)
        d = b[j] - a[i]
    else:
        d = b[None, :, :] - a[:, None, :]
    return d - box * np.round(d / box)


def closest_pairs(path, types=None, dt_ps=0.002):
    """The smallest Na-Cl, Na-Na and Cl-Cl distances over every frame of PATH (A; inf when a pair never occurs)."""
    out = {"Na-Cl": math.inf, "Na-Na": math.inf, "Cl-Cl": math.inf}
    for fr in read_frames(path, types, dt_ps):
        for key in out:
            a, c = key.split("-")
            pa, pc = fr.pos[fr.species == a], fr.pos[fr.species == c]
            if len(pa) and len(pc) and (a != c or len(pa) > 1):
                d = pair_vectors(pa, pc, fr.box, a == c).reshape(-1, 3)
                out[key] = min(out[key], float(np.sqrt(np.einsum("ij,ij->i", d, d).min())))
    return out


GUARD_MARGIN = 0.1  # A inside the closest pair of the data: the guard never touches a training configuration


def guard_options(found):
    """in.cg-nacl's guard radii (cg_md.py --var options) just inside the closest pairs of the training data; a pair
    kind that never occurs keeps in.cg-nacl's default"""
    names = {"Na-Cl": "guard_nacl", "Na-Na": "guard_nana", "Cl-Cl": "guard_clcl"}
    out = []
    for key, r in found.items():
        if math.isfinite(r):
            out += ["--var", names[key], "%.3f" % (r - GUARD_MARGIN)]
    return out


if __name__ == "__main__":
    # ion_traj.py closest TRAJ [MIN_A]: the closest pair of each kind; exit 1 when one is closer than MIN_A
    # ion_traj.py guard TRAJ: cg_md.py options for the repulsive guard of in.cg-nacl (guard_options) on stdout, the
    # closest pairs they come from on stderr (one pass over the trajectory for both)
    if len(sys.argv) not in (3, 4) or sys.argv[1] not in ("closest", "guard"):
        sys.exit("usage: ion_traj.py closest TRAJ [MIN_A] | ion_traj.py guard TRAJ")
    found = closest_pairs(sys.argv[2])
    closest = " ".join("%s %.3f A" % kv for kv in found.items())
    if sys.argv[1] == "guard":
        print("ion_traj.py: closest ion pairs in %s: %s" % (sys.argv[2], closest), file=sys.stderr)
        print(" ".join(guard_options(found)))
        sys.exit(0)
    print(closest)
    if len(sys.argv) == 4 and min(found.values()) <= float(sys.argv[3]):
        sys.exit("ion_traj.py: %s has a pair closer than %s A" % (sys.argv[2], sys.argv[3]))
