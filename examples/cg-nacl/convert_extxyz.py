#!/usr/bin/python3
"""Converts the ion dump of the all-atom runs (in.aa-nacl: `dump custom ... id type xu yu zu fx fy fz`, real units,
types 3 Na and 4 Cl) to extended XYZ for pnnp-train's force matching of the ion-only (coarse-grained) model.

Per frame: Lattice (the orthogonal box), pbc="T T T", Properties=species:S:1:pos:R:3:forces:R:3:unwrapped:R:3, the
info keys step= and time_ps=, and no energy (the coarse-grained fit is force-only: the energy of a configuration of
the ions alone is a free energy that the data do not give). Positions are wrapped into the cell [0, L)^3 (the
lower box corner moved to the origin); `unwrapped` keeps the unwrapped positions (for diffusion, and ignored by
pnnp-train). Forces are converted from kcal/mol/A to eV/A (1 kcal/mol = 4184 J / N_A / e = 0.0433641043 eV).

The force is the instantaneous total force on the ion in the all-atom system; its average over the water
configurations at fixed ion positions is the mean force, which force matching converges to (README.md).

usage: convert_extxyz.py IONS.dump[.xz] OUT.extxyz[.xz] [--skip-ps 0] [--until-ps T] [--every 1] [--dummy-energy]
  --skip-ps T       drop frames with time < T ps (NVT equilibration after the NPT -> NVT switch)
  --until-ps T      drop frames with time >= T ps: with --skip-ps, a time block (e.g. the last 20% of the run as a
                    separate `validation` file: frames 1 ps apart are correlated, a random hold-out overestimates
                    how well the model generalises)
  --every K         keep every K-th frame after the skip
  --dummy-energy    write energy=0.0 on every frame. No longer needed: pnnp-train accepts frames without an energy
                    when the energy weight is 0 in every stage (docs/training.md, "Force matching"), and then
                    reports energy errors as n/a. Kept for older trainers (with it: energy_weight 0 and a fixed
                    energy_reference Na:0 Cl:0, so the dummy value never enters the loss or the normalisation)
Prints the frame count, the time range and the RMS force component (eV/A).
"""
import argparse
import lzma
import sys

import numpy as np

KCAL_PER_MOL_IN_EV = 4184.0 / 6.02214076e23 / 1.602176634e-19  # 0.0433641043 eV
SPECIES = {3: "Na", 4: "Cl"}
DT_FS = 2.0  # in.aa-nacl's timestep


def open_text(path, mode):
    return lzma.open(path, mode + "t") if path.endswith(".xz") else open(path, mode)


def read_frames(path):
    """Yields (step, lo[3], L[3], ids, types, unwrapped positions (n, 3) / A, forces (n, 3) / (kcal/mol/A))."""
    with open_text(path, "r") as f:
        while True:
            line = f.readline()
            if not line:
                return
            if not line.startswith("ITEM: TIMESTEP"):
                raise SystemExit("convert_extxyz.py: %s: expected 'ITEM: TIMESTEP', found %r" % (path, line[:40]))
            step = int(f.readline())
            f.readline()
            n = int(f.readline())
            box_header = f.readline()
            if "xy" in box_header:
                raise SystemExit("convert_extxyz.py: %s: triclinic boxes are not supported" % path)
            bounds = np.array([[float(x) for x in f.readline().split()[:2]] for _ in range(3)])
            cols = f.readline().split()[2:]
            want = ["id", "type", "xu", "yu", "zu", "fx", "fy", "fz"]
            if cols != want:
                raise SystemExit("convert_extxyz.py: %s: dump columns %s, expected %s" % (path, cols, want))
            rows = [f.readline() for _ in range(n)]
            try:
                data = np.array(" ".join(rows).split(), dtype=float).reshape(n, 8)
            except ValueError:
                print("convert_extxyz.py: %s: frame at step %d is cut short (a killed run); stopped there"
                      % (path, step), file=sys.stderr)
                return
            order = np.argsort(data[:, 0])
            data = data[order]
            yield (step, bounds[:, 0], bounds[:, 1] - bounds[:, 0], data[:, 0].astype(int), data[:, 1].astype(int),
                   data[:, 2:5], data[:, 5:8])


def frame_text(step, lo, length, types, unwrapped, forces_kcal, dummy_energy):
    pos = np.mod(unwrapped - lo, length)
    pos = np.where(pos >= length, pos - length, pos)  # mod can round up to exactly L
    f_ev = forces_kcal * KCAL_PER_MOL_IN_EV
    lat = "%.8f 0 0 0 %.8f 0 0 0 %.8f" % tuple(length)
    head = ('Lattice="%s" Properties=species:S:1:pos:R:3:forces:R:3:unwrapped:R:3 pbc="T T T" step=%d '
            'time_ps=%.3f' % (lat, step, step * DT_FS / 1000.0))
    if dummy_energy:
        head += " energy=0.0"
    lines = ["%d" % len(types), head]
    for t, p, fv, u in zip(types, pos, f_ev, unwrapped):
        if t not in SPECIES:
            raise SystemExit("convert_extxyz.py: atom type %d is not an ion (3 Na, 4 Cl)" % t)
        lines.append("%s %.6f %.6f %.6f %.8f %.8f %.8f %.6f %.6f %.6f" % (SPECIES[t], *p, *fv, *u))
    return "\n".join(lines) + "\n"


def convert(src, dst, skip_ps=0.0, every=1, dummy_energy=False, until_ps=float("inf")):
    kept, seen, f2, times = 0, 0, 0.0, []
    n_atoms = None
    with open_text(dst, "w") as out:
        for step, lo, length, ids, types, unwrapped, forces in read_frames(src):
            t = step * DT_FS / 1000.0
            if t < skip_ps or t >= until_ps:
                continue
            seen += 1
            if (seen - 1) % every:
                continue
            if n_atoms is not None and len(ids) != n_atoms:
                raise SystemExit("convert_extxyz.py: the ion count changes at step %d" % step)
            n_atoms = len(ids)
            out.write(frame_text(step, lo, length, types, unwrapped, forces, dummy_energy))
            kept += 1
            f2 += float(np.mean((forces * KCAL_PER_MOL_IN_EV) ** 2))
            times.append(t)
    return kept, (times[0], times[-1]) if times else (0.0, 0.0), np.sqrt(f2 / max(kept, 1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dump")
    ap.add_argument("out")
    ap.add_argument("--skip-ps", type=float, default=0.0)
    ap.add_argument("--until-ps", type=float, default=float("inf"))
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--dummy-energy", action="store_true")
    a = ap.parse_args()
    if a.every < 1:
        ap.error("--every must be >= 1")
    n, (t0, t1), frms = convert(a.dump, a.out, a.skip_ps, a.every, a.dummy_energy, a.until_ps)
    if n == 0:
        raise SystemExit("convert_extxyz.py: no frames in %s after %.1f ps" % (a.dump, a.skip_ps))
    print("%s: %d frames, %.1f-%.1f ps, RMS force component %.4f eV/A" % (a.out, n, t0, t1, frms))


if __name__ == "__main__":
    main()
