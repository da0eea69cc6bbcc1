#!/usr/bin/python3
"""The data tools of examples/cg-nacl without LAMMPS (seconds): convert_extxyz.py on a synthetic ion dump
(wrapping, kcal/mol/A -> eV/A, species, step and time keys, --skip-ps, --every, --dummy-energy, refusal of a
wrong dump), driver.py's dump truncation used when resuming (frames at and after the checkpoint step cut, a frame
cut short by a kill dropped) and its thermo-log reader (the minimiser's table ignored, the last value of a step
repeated by a resume kept), and analyse_aa.py's choice of evenly spaced frames for the MSD when the dump interval
was shortened on a resume.

usage: test_cg_nacl_data.py --workdir DIR
"""
import argparse
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "examples", "cg-nacl")
sys.path.insert(0, EXAMPLE)
from driver import thermo_rows, truncate_dump  # noqa: E402
from analyse_aa import uniform_grid  # noqa: E402

FAILED = []
# 1 kcal/mol in eV from the SI definitions (4184 J, N_A, e), computed independently of the converter
EV_PER_KCAL_MOL = 4184.0 / 6.02214076e23 / 1.602176634e-19


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        FAILED.append(what)


def dump_frame(step, lo, hi, rows):
    lines = ["ITEM: TIMESTEP", str(step), "ITEM: NUMBER OF ATOMS", str(len(rows)), "ITEM: BOX BOUNDS pp pp pp"]
    lines += ["%.6f %.6f" % (lo, hi)] * 3
    lines.append("ITEM: ATOMS id type xu yu zu fx fy fz")
    lines += ["%d %d %.6f %.6f %.6f %.6f %.6f %.6f" % tuple(r) for r in rows]
    return "\n".join(lines) + "\n"


def read_extxyz(path):
    frames = []
    with open(path) as f:
        lines = f.read().splitlines()
    i = 0
    while i < len(lines):
        n = int(lines[i])
        head = lines[i + 1]
        atoms = [ln.split() for ln in lines[i + 2:i + 2 + n]]
        frames.append((head, [a[0] for a in atoms], np.array([[float(x) for x in a[1:]] for a in atoms])))
        i += 2 + n
    return frames


def test_convert(work):
    rng = np.random.default_rng(3)
    lo, hi = -1.5, 18.5  # a box whose lower corner is not the origin: L = 20
    length = hi - lo
    dump = os.path.join(work, "ions.dump")
    truth = []
    with open(dump, "w") as f:
        for k, step in enumerate([0, 500, 1000, 1500]):
            # ids deliberately out of order (the converter sorts by id); unwrapped positions far outside the box
            ids = np.array([3, 1, 4, 2])
            types = np.array([4, 3, 4, 3])[np.argsort(np.argsort(ids))]
            xu = rng.uniform(-3 * length, 3 * length, (4, 3))
            fk = rng.normal(0, 10.0, (4, 3))
            rows = [[i, t, *x, *fv] for i, t, x, fv in zip(ids, types, xu, fk)]
            f.write(dump_frame(step, lo, hi, rows))
            order = np.argsort(ids)
            truth.append((step, types[order], np.round(xu[order], 6), np.round(fk[order], 6)))
    out = os.path.join(work, "ions.extxyz")
    p = subprocess.run([sys.executable, os.path.join(EXAMPLE, "convert_extxyz.py"), dump, out],
                       capture_output=True, text=True)
    check(p.returncode == 0, "convert a 4-frame dump: %s" % (p.stdout + p.stderr).strip())
    frames = read_extxyz(out)
    check(len(frames) == 4, "4 frames written (%d)" % len(frames))
    for (head, species, cols), (step, types, xu, fk) in zip(frames, truth):
        check(('Lattice="%.8f 0 0 0 %.8f 0 0 0 %.8f"' % (length, length, length)) in head and 'pbc="T T T"' in head
              and "step=%d " % step in head and "time_ps=%.3f" % (step * 0.002) in head and "energy" not in head,
              "frame %d: lattice, pbc, step, time (2 fs steps), no energy" % step)
        check(species == [{3: "Na", 4: "Cl"}[t] for t in types], "frame %d: species by id" % step)
        pos, forces, unwrapped = cols[:, 0:3], cols[:, 3:6], cols[:, 6:9]
        # positions are printed with 6 decimals: wrapped = unwrapped - lo mod L to within 1e-6 A (rounding of
        # both printed values); a wrong wrap or a missing origin shift is off by >= 1.5 A
        wrapped = np.mod(xu - lo, length)
        d = np.abs(pos - wrapped)
        d = np.minimum(d, length - d)  # a coordinate at the cell face may print as 0 or L
        check(bool(np.all(pos >= 0) and np.all(pos < length) and d.max() < 2e-6),
              "frame %d: positions wrapped into [0, L) (max error %.1e A)" % (step, d.max()))
        check(bool(np.abs(unwrapped - xu).max() < 2e-6), "frame %d: unwrapped column kept" % step)
        # forces: the dump's 6 decimals are exact inputs here; output has 8 decimals -> error <= 5e-9 eV/A
        err = np.abs(forces - fk * EV_PER_KCAL_MOL).max()
        check(err < 1e-8, "frame %d: forces in eV/A (max error %.1e)" % (step, err))

    p = subprocess.run([sys.executable, os.path.join(EXAMPLE, "convert_extxyz.py"), dump, out, "--skip-ps", "1.0",
                        "--every", "2", "--dummy-energy"], capture_output=True, text=True)
    frames = read_extxyz(out)
    check(p.returncode == 0 and [int(h.split("step=")[1].split()[0]) for h, _, _ in frames] == [500, 1500]
          and all(" energy=0.0" in h for h, _, _ in frames),
          "--skip-ps 1 --every 2 --dummy-energy: steps 500 and 1500 with energy=0.0")

    p = subprocess.run([sys.executable, os.path.join(EXAMPLE, "convert_extxyz.py"), dump, out, "--skip-ps", "1.0",
                        "--until-ps", "3.0"], capture_output=True, text=True)
    check(p.returncode == 0 and [int(h.split("step=")[1].split()[0]) for h, _, _ in read_extxyz(out)] == [500, 1000],
          "--skip-ps 1 --until-ps 3: steps 500 and 1000")

    bad = os.path.join(work, "bad.dump")
    with open(bad, "w") as f:
        f.write(dump_frame(0, 0, 10, [[1, 3, 1, 1, 1, 0, 0, 0]]).replace("fx fy fz", "vx vy vz"))
    p = subprocess.run([sys.executable, os.path.join(EXAMPLE, "convert_extxyz.py"), bad, out],
                       capture_output=True, text=True)
    check(p.returncode != 0 and "dump columns" in p.stderr, "a dump without forces is refused: %s" %
          p.stderr.strip()[:120])
    water = os.path.join(work, "water.dump")
    with open(water, "w") as f:
        f.write(dump_frame(0, 0, 10, [[1, 1, 1, 1, 1, 0, 0, 0]]))
    p = subprocess.run([sys.executable, os.path.join(EXAMPLE, "convert_extxyz.py"), water, out],
                       capture_output=True, text=True)
    check(p.returncode != 0 and "not an ion" in p.stderr, "a non-ion atom type is refused")


def test_truncate(work):
    dump = os.path.join(work, "resume.dump")
    row = [[1, 3, 0.5, 0.5, 0.5, 0, 0, 0]]
    whole = "".join(dump_frame(s, 0, 10, row) for s in (0, 10, 20, 30))
    with open(dump, "w") as f:
        f.write(whole + "ITEM: TIMESTEP\n40\nITEM: NUMBER OF ATOMS\n1\nITEM: BOX BO")  # killed mid-frame
    kept = truncate_dump(dump, 20)
    text = open(dump).read()
    check(kept == 2 and text == "".join(dump_frame(s, 0, 10, row) for s in (0, 10)),
          "resume at step 20: frames 0 and 10 kept, 20, 30 and the cut-short frame removed")
    with open(dump, "w") as f:
        f.write(whole + "ITEM: TIMESTEP\n4")  # killed inside the step line
    kept = truncate_dump(dump, 1000)
    check(kept == 4 and open(dump).read() == whole, "a frame cut inside its step line is removed")
    with open(dump, "w") as f:
        f.write(whole[:-3])  # killed inside the last atom line of frame 30
    kept = truncate_dump(dump, 1000)
    check(kept == 3 and open(dump).read() == "".join(dump_frame(s, 0, 10, row) for s in (0, 10, 20)),
          "a frame cut inside an atom line is removed")
    check(truncate_dump(os.path.join(work, "absent.dump"), 5) == 0, "no dump yet: nothing to cut")


def test_thermo(work):
    log = os.path.join(work, "log.test")
    with open(log, "w") as f:
        f.write("Step Temp E_pair E_mol TotEng Press\n       0 0 1 2 3 4\n     159 0 1 2 3 4\nLoop time of 1\n"
                "Step Time Temp Press PotEng KinEng TotEng Volume Density\n"
                "0 0 300 1 2 3 4 1000 1.0\n100 200 301 1 2 3 4 1001 1.0\nLoop time of 2\n"
                "Step Time Temp Press PotEng KinEng TotEng Volume Density\n"
                "100 0 302 1 2 3 4 1002 1.0\n200 200 303 1 2 3 4 1003 1.0\n")
    th = thermo_rows(log)
    check(list(th["Step"]) == [0, 100, 200] and list(th["Temp"]) == [300, 302, 303] and "Volume" in th,
          "thermo reader: MD tables only, a repeated step keeps the later row")


def test_uniform_grid():
    # 1 ps frames (500 steps) up to step 2000, then 0.2 ps frames (100 steps): the MSD must see steps 0, 500, ...
    steps = list(range(0, 2001, 500)) + list(range(2100, 3601, 100))
    kept = [fr[0] for fr in uniform_grid([(st, None) for st in steps])]
    check(kept == list(range(0, 3501, 500)), "mixed dump spacing: the MSD frames are the 1 ps grid (%s)" % kept)
    even = [(st, None) for st in range(0, 1001, 100)]
    check(uniform_grid(even) == even, "even spacing: every frame kept")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    test_convert(a.workdir)
    test_truncate(a.workdir)
    test_thermo(a.workdir)
    test_uniform_grid()
    print("%d failed" % len(FAILED))
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
