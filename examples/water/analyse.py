#!/usr/bin/python3
"""Summarises the water example: thermodynamics from log.lammps, the O-O radial distribution function from rdf.dat,
and the cost per atom-step. Writes rdf.png next to the inputs.

usage: analyse.py log.lammps rdf.dat RANKS
"""
import sys

import numpy as np

from analyse_md import cost, thermo_table  # the dynamics is the log's last run

# Experimental O-O first peak of liquid water at 298 K (X-ray diffraction: L. B. Skinner et al.,
# J. Chem. Phys. 138, 074506 (2013)): position 2.80 A, height 2.57.
EXP_OO_PEAK = (2.80, 2.57)
# Intramolecular O-H 0.97 A and H-H 1.55 A: neutron diffraction, A. K. Soper, ISRN Phys. Chem. 2013, 279463 (2013).


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
    th = thermo_table(log)
    print("\n%8s %9s %9s %14s %14s %10s" % ("step", "time/ps", "T/K", "PE/eV", "Etot/eV", "rho/g cm-3"))
    for row in zip(th["Step"], th["Time"], th["Temp"], th["PotEng"], th["TotEng"], th["Density"]):
        print("%8d %9.3f %9.1f %14.4f %14.4f %10.4f" % row)
    temp = th["Temp"]
    print("\nmean temperature over the second half: %.1f K" % temp[len(temp) // 2:].mean())
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
