#!/usr/bin/python3
"""Compares molecular-dynamics runs of NaCl(aq) (SPC/E + Joung-Cheatham ions, pair_style nnp, ...): Na-O, Cl-O,
Cl-H and Na-Cl radial distribution functions, first-shell coordination numbers (the running coordination number
n(r) = 4 pi rho_B int_0^r g(s) s^2 ds at the first minimum of g after the first peak), the contact-ion-pair and
solvent-separated Na-Cl peaks, ion self-diffusion where msd.dat exists, and the cost per atom-step.

Each run is a directory written by in.nacl-spce-jc / in.nacl-nnp: log.lammps, traj.dump (`dump custom ... id type
x y z`, types 1 O, 2 H, 3 Na, 4 Cl) and optionally msd.dat (time/ps, MSD of O, Na, Cl / A^2).

usage: analyse_nacl.py [--out nacl-compare.png] [--json summary.json] [--ranks 2] LABEL=RUNDIR [LABEL=RUNDIR ...]

Literature (printed and drawn as bands): first-shell distances and hydration numbers from X-ray and neutron
diffraction scatter with method and concentration; the review of H. Ohtaki and T. Radnai, Chem. Rev. 93, 1157
(1993) collects them: Na-O about 2.35-2.50 A with hydration numbers mostly 5-6 (reported 4-8); Cl-O about
3.1-3.3 A with hydration numbers mostly about 6 (reported 4-8, simulations of chloride 6-8). The bands drawn are
the project's validation targets (../../../shared/DESIGN.md): Na about 5-6, Cl about 6-7.
With 9 ion pairs the Na-Cl function is noisy: its contact-ion-pair fraction needs long runs (>= 1 ns classical).
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "water"))
from analyse_md import (cost_figures, first_minimum, first_peak, msd_multi_origin, rdf, read_dump, read_msd, run_main,  # noqa: E402
                        thermo_table)

TYPES = {"O": 1, "H": 2, "Na": 3, "Cl": 4}
PAIRS = [("Na", "O", 0.02), ("Cl", "O", 0.02), ("Cl", "H", 0.02), ("Na", "Cl", 0.1)]
LIT = {  # (distance range / A, coordination range), see the docstring
    "Na-O": ((2.35, 2.50), (5.0, 6.0)),
    "Cl-O": ((3.10, 3.30), (6.0, 7.0)),
}
REF = "H. Ohtaki and T. Radnai, Chem. Rev. 93, 1157 (1993)"


def analyse_run(label, d, ranks):
    res = {"label": label, "dir": d}
    th = thermo_table(os.path.join(d, "log.lammps"))
    res["T_mean"] = float(th["Temp"].mean())
    if "Density" in th:
        res["density_mean"] = float(th["Density"].mean())
    frames, steps = read_dump(os.path.join(d, "traj.dump"), with_steps=True)
    res["frames"] = len(frames)
    r_max = min(10.0, 0.5 * min(fr[0].min() for fr in frames))
    res["rdf"], res["shell"] = {}, {}
    for a, b, dr in PAIRS:
        name = "%s-%s" % (a, b)
        r, g, n = rdf(frames, TYPES[a], TYPES[b], r_max, dr)
        res["rdf"][name] = (r, g, n)
        lo = {"Na-O": 2.0, "Cl-O": 2.6, "Cl-H": 1.6, "Na-Cl": 2.4}[name]
        hi = {"Na-O": 3.0, "Cl-O": 3.8, "Cl-H": 2.8, "Na-Cl": 3.5}[name]
        rp, gp = first_peak(r, g, lo, hi)
        rmin = first_minimum(r, g, rp, smooth=5 if dr < 0.05 else 3)
        cn = float(np.interp(rmin, r + 0.5 * (r[1] - r[0]), n))  # n is cumulative up to each bin's upper edge
        res["shell"][name] = {"peak_r": float(rp), "peak_g": float(gp), "min_r": float(rmin), "n": cn}
    # Na-Cl: contact ion pairs (CIP, first peak, about 2.8 A) and solvent-separated pairs (SSIP, about 5 A)
    r, g, n = res["rdf"]["Na-Cl"]
    sh = res["shell"]["Na-Cl"]
    if sh["peak_g"] > 0:
        res["NaCl_SSIP"] = tuple(map(float, first_peak(r, g, 4.2, 6.0)))
    msd_path = os.path.join(d, "msd.dat")
    if os.path.exists(msd_path):
        rows = read_msd(msd_path)
        t = rows[:, 1] - rows[0, 1]
        res["msd_length_ps"] = float(t[-1])
        with open(os.path.join(d, "traj.dump")) as f:
            unwrapped = any(line.startswith("ITEM: ATOMS") and " xu" in line for line in (next(f) for _ in range(9)))
        if unwrapped and len(frames) > 2:  # all time origins, from the dump (lags 20-50% of the run)
            dt_frame = (steps[1] - steps[0]) * (rows[-1, 1] - rows[0, 1]) / max(1.0, rows[-1, 0] - rows[0, 0])
            res["D"] = {s: float(msd_multi_origin(frames, TYPES[s], dt_frame)[5]) for s in ("O", "Na", "Cl")}
        else:  # LAMMPS compute msd, one time origin, fit over 20-100% of the run
            sel = t >= 0.2 * t[-1]
            res["D"] = {s: float(np.polyfit(t[sel], rows[sel, 2 + k], 1)[0] / 6.0 * 1e-8)
                        for k, s in enumerate(["O", "Na", "Cl"]) if rows.shape[1] > 2 + k}
    res.update(cost_figures(d, ranks))
    return res


def report(runs):
    for x in runs:
        print("\n== %s: %d frames, T = %.1f K%s" % (x["label"], x["frames"], x["T_mean"],
                                                 ", density %.4f g/cm^3" % x["density_mean"]
                                                 if "density_mean" in x else ""))
        print("%-7s %10s %8s %10s %8s   %s" % ("pair", "peak r/A", "g(peak)", "1st min/A", "n(min)", "literature"))
        for name, s in x["shell"].items():
            lit = LIT.get(name)
            print("%-7s %10.3f %8.2f %10.2f %8.2f   %s" % (
                name, s["peak_r"], s["peak_g"], s["min_r"], s["n"],
                "r %.2f-%.2f A, n %.0f-%.0f" % (*lit[0], *lit[1]) if lit else
                ("n = contact-ion-pair count per Na" if name == "Na-Cl" else "")))
        if "NaCl_SSIP" in x:
            print("Na-Cl solvent-separated peak: r = %.2f A, g = %.2f (contact peak r = %.2f A, g = %.2f)" %
                  (*x["NaCl_SSIP"], x["shell"]["Na-Cl"]["peak_r"], x["shell"]["Na-Cl"]["peak_g"]))
        if "D" in x:
            print("self-diffusion over %.1f ps (periodic box, no finite-size correction): " % x["msd_length_ps"]
                  + ", ".join("D(%s) = %.2g m^2/s" % kv for kv in x["D"].items()))
        if "cost_us_per_atom_step" in x:
            print("cost %.2f us per atom-step wall on %d rank(s) = %.1f us per atom-step per core (%d steps, "
                  "%d atoms)" % (x["cost_us_per_atom_step"], x["procs"], x["cost_us_per_atom_step_core"],
                                 x["steps"], x["atoms"]))
    print("\nLiterature: Na-O 2.35-2.50 A, n about 5-6; Cl-O 3.1-3.3 A, n about 6-7 (diffraction, reviewed by %s; "
          "the reported hydration numbers scatter between 4 and 8)." % REF)


def figure(runs, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    colours = ["C0", "C3", "C2", "C1"]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5))
    for ax, name in zip(axes.ravel(), [p[0] + "-" + p[1] for p in PAIRS]):
        ax2 = ax.twinx()
        for x, c in zip(runs, colours):
            r, g, n = x["rdf"][name]
            s = x["shell"][name]
            ax.plot(r, g, color=c, label="%s: n(%.2f A) = %.2f" % (x["label"], s["min_r"], s["n"]))
            ax2.plot(r, n, color=c, ls="--", lw=0.8)
            ax.axvline(s["min_r"], color=c, ls=":", lw=0.8)
        if name in LIT:
            ax.axvspan(*LIT[name][0], color="grey", alpha=0.25, label="first-shell distance, diffraction")
            ax2.axhspan(*LIT[name][1], color="gold", alpha=0.25)
        ax.axhline(1.0, color="grey", lw=0.5)
        ax.set_xlabel("r / A")
        ax.set_ylabel("g(r), %s" % name)
        ax2.set_ylabel("n(r) (dashed)")
        ax2.set_ylim(0, {"Na-O": 12, "Cl-O": 16, "Cl-H": 12, "Na-Cl": 2}[name])
        ax.set_xlim({"Na-Cl": 2.0}.get(name, 1.0), r[-1])
        ax.legend(fontsize=8, loc="upper right")
    ax = axes[1, 1]
    names = ["Na-O", "Cl-O"]
    w = 0.8 / max(1, len(runs))
    for k, (x, c) in enumerate(zip(runs, colours)):
        ax.bar(np.arange(2) + (k - (len(runs) - 1) / 2) * w, [x["shell"][nm]["n"] for nm in names], w, color=c,
               label=x["label"])
    for i, nm in enumerate(names):
        ax.fill_between([i - 0.45, i + 0.45], *LIT[nm][1], color="gold", alpha=0.4,
                        label="literature range" if i == 0 else None)
    ax.set_xticks(range(2))
    ax.set_xticklabels(["Na+ (Na-O)", "Cl- (Cl-O)"])
    ax.set_ylabel("first-shell coordination number")
    ax.legend(fontsize=8)
    axes[1, 2].axis("off")
    axes[1, 2].text(0.0, 0.95, "Literature (bands): first-shell distance\nand hydration number from diffraction,\n"
                    "reviewed by Ohtaki and Radnai,\nChem. Rev. 93, 1157 (1993):\n"
                    "Na-O 2.35-2.50 A, n ~ 5-6\nCl-O 3.1-3.3 A, n ~ 6-7\n\n"
                    + "\n".join("%s: %.1f ps, %d frames" % (x["label"], x.get("msd_length_ps", 0), x["frames"])
                                for x in runs), va="top", fontsize=9)
    fig.suptitle("NaCl(aq), 512 H2O + 9 NaCl (0.98 mol/kg), 300 K", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print("wrote", out)


if __name__ == "__main__":
    run_main(__doc__, analyse_run, report, figure, "nacl-compare.png",
             lambda x: {k: v for k, v in x.items() if k != "rdf"})
