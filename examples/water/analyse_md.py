#!/usr/bin/python3
"""Compares molecular-dynamics runs of liquid water (pair_style nnp, SPC/E, ...) with each other and with experiment:
O-O, O-H and H-H radial distribution functions, density, self-diffusion coefficient of O and cost per atom-step.

Each run is a directory written by in.water-npt / in.spce-npt (or any input with the same outputs):
  log.lammps   thermo output; the last thermo table (the production run) gives temperature and density
  traj.dump    `dump custom ... id type xu yu zu` (types 1 O, 2 H; unwrapped, or x y z): radial distribution
               functions, computed here with numpy (minimum image, per-frame box, so NPT is fine; intramolecular pairs
               included, as in the total distribution functions measured by diffraction), and, from unwrapped
               coordinates, the O mean-squared displacement averaged over all time origins (the D reported)
  msd.dat      `fix ave/time` of `variable tps equal step*dt` (ps) and `compute msd` of the oxygens (A^2): one time
               origin, a cross-check (noisy: +-25% on D from 5-10 ps windows)
Self-diffusion: D = slope / 6 of the multi-origin MSD (centre-of-mass drift of the O removed) fitted over lags from
  20% to 50% of the trajectory length (1-2.5 ps for 5 ps; 20-50 ps for 100 ps).

usage: analyse_md.py [--out water-compare.png] [--json summary.json] [--ranks 2] LABEL=RUNDIR [LABEL=RUNDIR ...]
   e.g. analyse_md.py NNP=run-nnp SPC/E=run-spce
Experimental references (printed and drawn):
  O-O first peak 2.80 A, height 2.57: X-ray diffraction at 298 K, L. B. Skinner et al., J. Chem. Phys. 138, 074506
    (2013). Intramolecular O-H 0.97 A, H-H 1.55 A: A. K. Soper, ISRN Phys. Chem. 2013, 279463 (2013).
  Density 0.997 g/cm^3 at 298 K, 1 bar (0.9965 at 300 K).
  Self-diffusion 2.30e-9 m^2/s at 298 K: M. Holz, S. R. Heil, A. Sacco, Phys. Chem. Chem. Phys. 2, 4740 (2000).
Finite-size note: D from a periodic box is smaller than the infinite-system value by about
  xi k_B T / (6 pi eta L), xi = 2.837297 (I.-C. Yeh and G. Hummer, J. Phys. Chem. B 108, 15873 (2004)); printed with
  the experimental viscosity of water at 300 K, 0.85 mPa s (the model's own viscosity is the right one to use).
"""
import argparse
import json
import os
import re
import sys

import numpy as np

EXP_OO_PEAK = (2.80, 2.57)            # Skinner et al. 2013
EXP_INTRA = {"O-H": 0.97, "H-H": 1.55}  # Soper 2013
EXP_DENSITY = 0.997                  # g/cm^3, 298 K
EXP_D = 2.30e-9                      # m^2/s, 298 K, Holz, Heil, Sacco 2000
ETA_300K = 0.85e-3                   # Pa s, water at 300 K (for the finite-size estimate only)
KB = 1.380649e-23
XI = 2.837297


# ---------------------------------------------------------------------------------------------------------------
# readers (also used by examples/nacl/analyse_nacl.py)

def read_dump(path, with_steps=False):
    """Frames of a `dump custom ... id type x y z` (or xu yu zu, unwrapped) file, orthogonal box: list of
    (lengths[3], types, positions), atoms sorted by id; with_steps: also the list of timesteps."""
    frames, steps = [], []
    with open(path) as f:
        lines = f.read().splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("ITEM: TIMESTEP"):
            n = int(lines[i + 3])
            bounds = np.array([[float(x) for x in lines[i + 5 + k].split()[:2]] for k in range(3)])
            cols = lines[i + 8].split()[2:]
            data = np.array(" ".join(lines[i + 9:i + 9 + n]).split(), dtype=float).reshape(n, len(cols))
            c = {name: k for k, name in enumerate(cols)}
            xyz = [c[k] for k in ("xu", "yu", "zu")] if "xu" in c else [c[k] for k in ("x", "y", "z")]
            data = data[np.argsort(data[:, c["id"]])]
            frames.append((bounds[:, 1] - bounds[:, 0], data[:, c["type"]].astype(int), data[:, xyz]))
            steps.append(int(lines[i + 1]))
            i += 9 + n
        else:
            i += 1
    return (frames, steps) if with_steps else frames


def msd_multi_origin(frames, atom_type, dt_frame, window=(0.2, 0.5)):
    """MSD of one atom type from unwrapped frames, averaged over all time origins, with the group's centre-of-mass
    drift removed. Returns lag times (ps), msd (A^2), fit window (t0, t1), slope (A^2/ps), intercept, D (m^2/s)."""
    pos = np.array([p[t == atom_type] for _, t, p in frames])
    pos -= pos.mean(axis=1, keepdims=True)
    nf = len(pos)
    msd = np.zeros(nf)
    for k in range(1, nf):
        d = pos[k:] - pos[:-k]
        msd[k] = (d * d).sum(-1).mean()
    t = np.arange(nf) * dt_frame
    t0, t1 = window[0] * t[-1], window[1] * t[-1]
    sel = (t >= t0) & (t <= t1)
    if sel.sum() < 2:
        return t, msd, (t0, t1), np.nan, np.nan, np.nan
    slope, intercept = np.polyfit(t[sel], msd[sel], 1)
    return t, msd, (t0, t1), slope, intercept, slope / 6.0 * 1e-8


def thermo_tables(log):
    """Every thermo table of a LAMMPS log, in order, each as {column: array}."""
    tables, header, rows = [], None, []
    for line in open(log):
        words = line.split()
        if words[:1] == ["Step"]:
            header, rows = words, []
        elif header and words[:1] == ["Loop"]:
            tables.append((header, np.array(rows)))
            header = None
        elif header and len(words) == len(header):
            try:
                rows.append([float(w) for w in words])
            except ValueError:
                pass
    if header and rows:  # a run still going (or killed): use what is there
        tables.append((header, np.array(rows)))
    return [{k: t[:, i] for i, k in enumerate(header)} for header, t in tables]


def thermo_table(log):
    """The last thermo table of a LAMMPS log (the production run), as {column: array}."""
    tables = thermo_tables(log)
    if not tables:
        raise SystemExit("no thermo table in %s" % log)
    return tables[-1]


def cost(log, run=-1):
    """(seconds, procs, steps, atoms) of a run of the log: by default the last (the production run)."""
    m = list(re.finditer(r"Loop time of ([\d.eE+-]+) on (\d+) procs for (\d+) steps with (\d+) atoms",
                         open(log).read()))
    if not m:
        return None
    m = m[run]
    return float(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4))


def rdf(frames, type_a, type_b, r_max, dr=0.02):
    """g(r) between atom types type_a and type_b (all pairs, intramolecular included), averaged over frames; also
    the running coordination number n(r) = number of b within r of an a. Returns r (bin centres), g, n."""
    edges = np.arange(0.0, r_max + 1e-9, dr)
    hist = np.zeros(len(edges) - 1)
    norm = 0.0
    rho_b_mean = 0.0
    for lengths, types, pos in frames:
        a = pos[types == type_a]
        b = pos[types == type_b]
        vol = np.prod(lengths)
        d = a[:, None, :] - b[None, :, :]
        d -= lengths * np.round(d / lengths)
        r = np.sqrt((d * d).sum(-1))
        if type_a == type_b:
            r = r[np.triu_indices(len(a), k=1)]
            h = 2.0 * np.histogram(r, bins=edges)[0]
            rho_b = (len(b) - 1) / vol
        else:
            h = np.histogram(r.ravel(), bins=edges)[0]
            rho_b = len(b) / vol
        hist += h / len(a)
        norm += rho_b
        rho_b_mean += rho_b
    nf = len(frames)
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    g = hist / (norm * shell)
    n = np.cumsum(hist) / nf
    return 0.5 * (edges[1:] + edges[:-1]), g, n


def first_peak(r, g, r_from=0.0, r_to=None):
    """Position and height of the highest point of g in [r_from, r_to], refined by a parabola through 3 bins."""
    k0 = np.searchsorted(r, r_from)
    k1 = len(r) if r_to is None else np.searchsorted(r, r_to)
    k = k0 + int(np.argmax(g[k0:k1]))
    if 0 < k < len(g) - 1:
        y0, y1, y2 = g[k - 1], g[k], g[k + 1]
        den = y0 - 2 * y1 + y2
        if den < 0:
            x = 0.5 * (y0 - y2) / den
            return r[k] + x * (r[1] - r[0]), y1 - 0.25 * (y0 - y2) * x
    return r[k], g[k]


def first_minimum(r, g, r_peak, smooth=5):
    """The first minimum of (lightly smoothed) g after r_peak."""
    gs = np.convolve(g, np.ones(smooth) / smooth, mode="same")
    k = np.searchsorted(r, r_peak) + 1
    while k < len(gs) - 1 and not (gs[k] <= gs[k - 1] and gs[k] <= gs[k + 1]):
        k += 1
    return r[k]


def read_msd(path):
    """Rows of msd.dat: timestep, time / ps, MSD columns / A^2."""
    return np.array([[float(x) for x in line.split()] for line in open(path)
                     if line.strip() and not line.startswith("#")])


def msd_fit(path, start_fraction=0.2):
    """Self-diffusion from the single-origin oxygen MSD of LAMMPS (msd.dat): slope of a straight line over the
    window [start_fraction * t_end, t_end], D = slope / 6.
    Returns t, msd, (t0, t1), slope (A^2/ps), intercept, D (m^2/s)."""
    rows = read_msd(path)
    t, msd = rows[:, 1] - rows[0, 1], rows[:, 2]
    t1 = t[-1]
    t0 = start_fraction * t1
    sel = t >= t0
    slope, intercept = np.polyfit(t[sel], msd[sel], 1)
    return t, msd, (t0, t1), slope, intercept, slope / 6.0 * 1e-8  # 1 A^2/ps = 1e-8 m^2/s


# ---------------------------------------------------------------------------------------------------------------

def analyse_run(label, d, ranks):
    res = {"label": label, "dir": d}
    th = thermo_table(os.path.join(d, "log.lammps"))
    res["T_mean"] = float(th["Temp"].mean())
    if "Density" in th:
        rho = th["Density"]
        res["density_mean"] = float(rho.mean())
        res["density_std"] = float(rho.std())
        res["density_first_last"] = [float(rho[0]), float(rho[-1])]
        res["density_series"] = (th["Step"] - th["Step"][0]).tolist(), rho.tolist()
    frames, steps = read_dump(os.path.join(d, "traj.dump"), with_steps=True)
    res["frames"] = len(frames)
    lmin = min(fr[0].min() for fr in frames)
    res["box_mean"] = float(np.mean([np.prod(fr[0]) ** (1 / 3) for fr in frames]))
    r_max = min(8.0, 0.5 * lmin)
    res["rdf"] = {}
    for name, ta, tb in (("O-O", 1, 1), ("O-H", 1, 2), ("H-H", 2, 2)):
        r, g, _ = rdf(frames, ta, tb, r_max)
        res["rdf"][name] = (r, g)
    r, g = res["rdf"]["O-O"]
    res["OO_peak"] = first_peak(r, g, 2.0)
    res["OO_min"] = first_minimum(r, g, res["OO_peak"][0])
    # intermolecular (hydrogen-bond) O-H peak, beyond the covalent one; intramolecular peaks
    r, g = res["rdf"]["O-H"]
    res["OH_intra"] = first_peak(r, g, 0.8, 1.3)
    res["OH_hbond"] = first_peak(r, g, 1.4, 2.4)
    r, g = res["rdf"]["H-H"]
    res["HH_intra"] = first_peak(r, g, 1.2, 1.9)
    msd_path = os.path.join(d, "msd.dat")
    if os.path.exists(msd_path):
        t, msd, window, slope, icpt, D = msd_fit(msd_path)
        res["D_single_origin"] = D
        res["msd_length_ps"] = float(t[-1])
        rows = read_msd(msd_path)  # its clock gives ps per step, hence the time between dump frames
        ps_per_step = (rows[-1, 1] - rows[0, 1]) / max(1.0, rows[-1, 0] - rows[0, 0])
        with open(os.path.join(d, "traj.dump")) as f:
            unwrapped = any(line.startswith("ITEM: ATOMS") and " xu" in line for line in (next(f) for _ in range(9)))
        if unwrapped and len(frames) > 2 and ps_per_step > 0:
            t, msd, window, slope, icpt, D = msd_multi_origin(frames, 1, (steps[1] - steps[0]) * ps_per_step)
        res["msd"] = (t, msd, window, slope, icpt)
        res["D"] = D
        L = res["box_mean"] * 1e-10
        res["D_fs_correction"] = XI * KB * res["T_mean"] / (6 * np.pi * ETA_300K * L)
    res.update(cost_figures(d, ranks))
    return res


def report(runs):
    print("\n%-12s %7s %6s %14s %13s %13s %8s %8s %10s %10s %9s" %
          ("run", "frames", "T/K", "rho/g cm-3", "O-O peak/A", "g(peak)", "OH(HB)", "1st min",
           "D/1e-9", "D+YH/1e-9", "us/at-st"))
    for x in runs:
        print("%-12s %7d %6.1f %7.4f+-%.4f %13.3f %13.2f %8.2f %8.2f %10s %10s %9s" % (
            x["label"], x["frames"], x["T_mean"], x.get("density_mean", np.nan), x.get("density_std", np.nan),
            x["OO_peak"][0], x["OO_peak"][1], x["OH_hbond"][0], x["OO_min"],
            "%.2f" % (x["D"] * 1e9) if "D" in x else "-",
            "%.2f" % ((x["D"] + x["D_fs_correction"]) * 1e9) if "D" in x else "-",
            "%.1f" % x["cost_us_per_atom_step_core"] if "cost_us_per_atom_step_core" in x else "-"))
    print("%-12s %7s %6s %7.4f         %13.3f %13.2f %8s %8s %10.2f %10s" %
          ("experiment", "", "298", EXP_DENSITY, EXP_OO_PEAK[0], EXP_OO_PEAK[1], "~1.85", "", EXP_D * 1e9, ""))
    for x in runs:
        print("%s: intramolecular O-H %.3f A, H-H %.3f A (experiment %.2f, %.2f); box %.3f A" %
              (x["label"], x["OH_intra"][0], x["HH_intra"][0], EXP_INTRA["O-H"], EXP_INTRA["H-H"], x["box_mean"]))
        if "D" in x:
            print("%s: D from the O MSD (all time origins) over %.2f ps, fit to lags %.2f-%.2f ps: %.3g m^2/s "
                  "(LAMMPS single-origin msd.dat: %.3g); Yeh-Hummer finite-size correction with eta = 0.85 mPa s, "
                  "L = %.2f A: +%.2g m^2/s%s" %
                  (x["label"], x["msd_length_ps"], *x["msd"][2], x["D"], x["D_single_origin"], x["box_mean"],
                   x["D_fs_correction"], "  (run shorter than 10 ps: D is rough)" if x["msd_length_ps"] < 10 else ""))
        if "density_first_last" in x:
            print("%s: density first/last of the production run %.4f / %.4f g/cm^3" %
                  (x["label"], *x["density_first_last"]))
        if "cost_us_per_atom_step" in x:
            print("%s: cost %.2f us per atom-step wall on %d rank(s) = %.1f us per atom-step per core (%d steps, "
                  "%d atoms)" % (x["label"], x["cost_us_per_atom_step"], x["procs"], x["cost_us_per_atom_step_core"],
                                 x["steps"], x["atoms"]))
    print("References: O-O peak, Skinner et al., J. Chem. Phys. 138, 074506 (2013); density 0.997 g/cm^3 (298 K); "
          "D = 2.30e-9 m^2/s, Holz, Heil, Sacco, PCCP 2, 4740 (2000); intramolecular distances, Soper, "
          "ISRN Phys. Chem. 2013, 279463.")


def figure(runs, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5))
    colours = ["C0", "C3", "C2", "C1", "C4"]
    for k, name in enumerate(("O-O", "O-H", "H-H")):
        ax = axes[0, k]
        for x, c in zip(runs, colours):
            r, g = x["rdf"][name]
            ax.plot(r, g, color=c, label=x["label"])
        if name == "O-O":
            ax.plot(*EXP_OO_PEAK, "k*", ms=10, label="experiment, first peak\n(Skinner et al. 2013)")
            ax.set_ylim(0, 3.6)
            ax.set_xlim(2.0, r[-1])
        else:
            ax.axvline(EXP_INTRA[name], color="k", ls=":", lw=1, label="intramolecular, exp. (Soper 2013)")
            ax.set_ylim(0, 3.0)
            ax.set_xlim(0.5, r[-1])
        ax.axhline(1.0, color="grey", lw=0.5)
        ax.set_xlabel("r / A")
        ax.set_ylabel("g(r), %s" % name)
        ax.legend(fontsize=8)
    ax = axes[1, 0]
    for x, c in zip(runs, colours):
        if "density_series" in x:
            steps, rho = x["density_series"]
            tt = np.linspace(0, x.get("msd_length_ps", 1.0), len(rho)) if "msd" in x else np.arange(len(rho))
            ax.plot(tt, rho, color=c, label="%s: %.3f" % (x["label"], x["density_mean"]))
    ax.axhline(EXP_DENSITY, color="k", ls="--", label="experiment: 0.997")
    ax.set_xlabel("t / ps (production)")
    ax.set_ylabel("density / g cm$^{-3}$ (NPT, 1 bar)")
    ax.legend(fontsize=8)
    ax = axes[1, 1]
    tmax = 0.0
    for x, c in zip(runs, colours):
        if "msd" in x:
            t, msd, (t0, t1), slope, icpt = x["msd"]
            keep = t <= 0.6 * t[-1]  # long lags have few time origins
            t, msd = t[keep], msd[keep]
            ax.plot(t, msd, color=c, label=x["label"])
            ax.plot([t0, t1], [slope * t0 + icpt, slope * t1 + icpt], color=c, ls="--", lw=1)
            tmax = max(tmax, t[-1])
    if tmax:
        tt = np.array([0, tmax])
        ax.plot(tt, 6 * EXP_D * 1e8 * tt, "k:", label="6 D t, experiment")
    ax.set_xlabel("lag t / ps (all time origins; fit dashed)")
    ax.set_ylabel("MSD of O / A$^2$")
    ax.legend(fontsize=8)
    ax = axes[1, 2]
    names = [x["label"] for x in runs if "D" in x] + ["experiment"]
    vals = [x["D"] * 1e9 for x in runs if "D" in x] + [EXP_D * 1e9]
    corr = [x["D_fs_correction"] * 1e9 for x in runs if "D" in x] + [0.0]
    cols = [c for x, c in zip(runs, colours) if "D" in x] + ["k"]
    ax.bar(names, vals, color=cols, alpha=0.8, label="periodic box")
    ax.bar(names, corr, bottom=vals, color=cols, alpha=0.3, label="+ finite-size estimate")
    ax.set_ylabel("D(O) / 10$^{-9}$ m$^2$ s$^{-1}$")
    ax.legend(fontsize=8)
    fig.suptitle("Liquid water, 300 K: " + ", ".join(
        "%s (%.1f ps)" % (x["label"], x.get("msd_length_ps", 0)) for x in runs)
        + "; experiment: Skinner 2013, Holz 2000", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print("wrote", out)


def cost_figures(d, ranks):
    """Cost per atom-step of the run in directory d, from the last LAMMPS loop of its log."""
    c = cost(os.path.join(d, "log.lammps"))
    if not c:
        return {}
    seconds, procs, steps, atoms = c
    us = 1e6 * seconds / (steps * atoms)
    return {"cost_us_per_atom_step": us, "cost_us_per_atom_step_core": us * (ranks or procs), "steps": steps,
            "atoms": atoms, "procs": procs}


def run_main(description, analyse, report_runs, draw, default_out, json_row):
    """The command line both analysis scripts share: LABEL=RUNDIR arguments, a report, a JSON file, a figure."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="LABEL=RUNDIR")
    ap.add_argument("--out", default=default_out)
    ap.add_argument("--json", help="write the numbers to this file")
    ap.add_argument("--ranks", type=int, default=0, help="cores used (default: MPI ranks from the log)")
    a = ap.parse_args()
    runs = []
    for spec in a.runs:
        label, _, d = spec.partition("=")
        if not d:
            label, d = os.path.basename(os.path.normpath(spec)), spec
        runs.append(analyse(label, d, a.ranks))
    report_runs(runs)
    if a.json:
        with open(a.json, "w") as f:
            json.dump([json_row(x) for x in runs], f, indent=1)
        print("wrote", a.json)
    try:
        draw(runs, a.out)
    except ImportError:
        print("matplotlib not available: no figure", file=sys.stderr)


JSON_KEYS = ("label", "dir", "frames", "T_mean", "density_mean", "density_std", "OO_peak", "OO_min", "OH_intra",
             "OH_hbond", "HH_intra", "D", "D_single_origin", "D_fs_correction", "msd_length_ps", "box_mean",
             "cost_us_per_atom_step", "cost_us_per_atom_step_core", "steps", "atoms", "procs")


def json_row(x):
    return {k: (list(map(float, x[k])) if isinstance(x[k], tuple) else x[k]) for k in JSON_KEYS if k in x}


if __name__ == "__main__":
    run_main(__doc__, analyse_run, report, figure, "water-compare.png", json_row)
