#!/usr/bin/python3
"""Summarises the water example: thermodynamics from log.lammps, the O-O radial distribution function from rdf.dat,
and the cost per atom-step. Writes rdf.png next to the inputs.

usage: analyse.py log.lammps rdf.dat RANKS
"""
import re
import sys

import numpy as np

# Experimental O-O first peak of liquid water at 298 K (X-ray diffraction: L. B. Skinner et al.,
# J. Chem. Phys. 138, 074506 (2013)): position 2.80 A, height 2.57.
EXP_OO_PEAK = (2.80, 2.57)
# Intramolecular O-H 0.97 A and H-H 1.55 A: neutron diffraction, A. K. Soper, ISRN Phys. Chem. 2013, 279463 (2013).


def thermo_table(log):
    rows, header = [], None
    for line in open(log):
        words = line.split()
        if words[:2] == ["Step", "Time"]:  # the dynamics' thermo table (the minimisation prints another one)
            header, rows = words, []
        elif header and words and words[0] == "Loop":
            break
        elif header and len(words) == len(header):
            try:
                rows.append([float(w) for w in words])
            except ValueError:
                pass
    return header, np.array(rows)


def cost(log):
    # the last loop is the dynamics (the first is the minimisation)
    m = list(re.finditer(r"Loop time of ([\d.eE+-]+) on (\d+) procs for (\d+) steps with (\d+) atoms",
                         open(log).read()))[-1]
    seconds, procs, steps, atoms = float(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4))
    return seconds, procs, steps, atoms


def last_rdf(path):
    blocks, cur = [], None
    for line in open(path):
        if line.startswith("#"):
            continue
        w = line.split()
        if len(w) == 2:
            cur = []
            blocks.append(cur)
        elif cur is not None:
            cur.append([float(x) for x in w])
    return np.array(blocks[-1])


def main():
    log, rdf_path, ranks = sys.argv[1], sys.argv[2], int(sys.argv[3])
    header, t = thermo_table(log)
    col = {k: i for i, k in enumerate(header)}
    print("\n%8s %9s %9s %14s %14s %10s" % ("step", "time/ps", "T/K", "PE/eV", "Etot/eV", "rho/g cm-3"))
    for r in t:
        print("%8d %9.3f %9.1f %14.4f %14.4f %10.4f" % (r[col["Step"]], r[col["Time"]], r[col["Temp"]],
                                                        r[col["PotEng"]], r[col["TotEng"]], r[col["Density"]]))
    half = t[len(t) // 2:]
    print("\nmean temperature over the second half: %.1f K" % half[:, col["Temp"]].mean())
    rdf = last_rdf(rdf_path)
    # columns: bin, r, then g and coordination for the pairs O-O, O-H, H-H (the order of compute rdf in in.water)
    r, g_oo, g_oh, g_hh = rdf[:, 1], rdf[:, 2], rdf[:, 4], rdf[:, 6]
    k = int(np.argmax(g_oo))
    print("O-O first peak: r = %.2f A, g = %.2f   (experiment: r = %.2f A, g = %.2f)" % (r[k], g_oo[k], *EXP_OO_PEAK))
    print("O-H covalent peak: %.2f A; H-H intramolecular peak: %.2f A   (experiment: 0.97 A, 1.55 A)"
          % (r[np.argmax(g_oh)], r[np.argmax(g_hh)]))
    seconds, procs, steps, atoms = cost(log)
    us = 1e6 * seconds / (steps * atoms)
    print("cost: %.1f us per atom-step wall on %d rank(s) = %.1f us per atom-step per core  (%.2f steps/s)"
          % (us, procs, us * ranks, steps / seconds))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot(r, g_oo, label="O-O")
        ax.plot(r, g_hh, label="H-H")
        ax.plot(r, g_oh, label="O-H")
        ax.set_ylim(0, 5)
        ax.plot(*EXP_OO_PEAK, "k*", label="O-O peak, experiment")
        ax.set_xlabel("r / A")
        ax.set_ylabel("g(r)")
        ax.legend()
        fig.tight_layout()
        fig.savefig("rdf.png", dpi=120)
        print("wrote rdf.png")
    except ImportError:
        pass


if __name__ == "__main__":
    main()
