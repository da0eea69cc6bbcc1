#!/usr/bin/python3
"""Analyses the all-atom NaCl(aq) runs of examples/cg-nacl (driver.py): per run directory the mean temperature,
density and box of the NVT production, the cost per simulated nanosecond, and the Na+ and Cl- self-diffusion
coefficients (for the Langevin friction of the coarse-grained model).

Diffusion: the mean-squared displacement of the unwrapped ion positions in ions.dump, averaged over all ions of a
species and all time origins, fitted by a straight line MSD = 6 D t + c over lags from 20% to 50% of the analysed
length (at least 2 frames apart); the error is the standard error of that estimate from its spread over 8 groups of
ions (diffusion_and_error). The whole-system momentum is reset every 500 steps (fix momentum), so no
centre-of-mass drift needs removing. A periodic box slows diffusion through its hydrodynamic images:
D_inf = D_PBC + xi k_B T / (6 pi eta L), xi = 2.837297 (I.-C. Yeh and G. Hummer, J. Phys. Chem. B 108, 15873
(2004)). Printed with the viscosity of pure SPC/E water, 0.729 mPa s at 298 K (M. A. Gonzalez and J. L. F.
Abascal, J. Chem. Phys. 132, 096101 (2010)); salt raises the viscosity (about 10% per mol/kg in experiment), so
at high concentration this overestimates the correction. The coarse-grained Langevin model has no hydrodynamics,
so D_inf (not D_PBC) is the number its friction should reproduce.

Cost: from the `Loop time of T on P procs for N steps` lines of log.npt / log.nvt and the `X% CPU use` after each:
CPU time = T P X/100 (what the run consumed, independent of how busy the machine was) and wall time T, both per
simulated ns (500000 steps of 2 fs).

usage: analyse_aa.py RUN_DIR [RUN_DIR ...] [--skip-ps 0] [--json OUT.json]
"""
import argparse
import json
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_extxyz import DT_FS, read_frames  # noqa: E402
from driver import thermo_rows  # noqa: E402

KB = 1.380649e-23
XI = 2.837297
ETA_SPCE = 0.729e-3  # Pa s, SPC/E at 298 K (Gonzalez and Abascal 2010)
STEPS_PER_NS = int(1e6 / DT_FS)
# below this NVT length the 20-50% lags are a few ps or less: ballistic motion and cage rattling, not diffusion
# (the MSD of an ion becomes linear after about 1-2 ps; 100 ps gives lags of 20-50 ps)
MIN_D_PS = 100.0


def msd_all_origins(x, max_lag):
    """x: (frames, atoms, 3) unwrapped positions. MSD (A^2) for lags 0..max_lag (frames), all time origins."""
    out = np.zeros(max_lag + 1)
    for lag in range(1, max_lag + 1):
        d = x[lag:] - x[:-lag]
        out[lag] = np.mean(np.sum(d * d, axis=-1))
    return out


def uniform_grid(frames):
    """The frames on the coarsest spacing found in the dump: a run whose dump interval was shortened on a resume (the
    long runs went from 1 ps to 0.2 ps frames) keeps every frame at a multiple of the old spacing, so that the
    multi-origin MSD sees evenly spaced frames."""
    if len(frames) < 3:
        return frames
    steps = np.array([fr[0] for fr in frames])
    spacing = int(np.max(np.diff(steps)))
    return [fr for fr in frames if (fr[0] - steps[0]) % spacing == 0]


def diffusion(x, dt_ps):
    """D (m^2/s) from an MSD fit over lags 20-50% of the trajectory (at least lags 1..2)."""
    n = len(x)
    hi = max(2, int(0.5 * (n - 1)))
    lo = max(1, min(hi - 1, int(round(0.2 * (n - 1)))))
    msd = msd_all_origins(x, hi)
    lags = np.arange(lo, hi + 1)
    slope = np.polyfit(lags * dt_ps, msd[lo:hi + 1], 1)[0]  # A^2/ps
    return slope / 6.0 * 1e-8  # A^2/ps -> m^2/s


def diffusion_and_error(x, dt_ps, groups=8):
    """D of all particles of x (frames, particles, 3) and its standard error from the spread of the same estimator
    over `groups` disjoint groups of particles. (Time blocks, fitted each relative to its own length, have about the
    variance of the whole run's estimate each, so their spread / sqrt(blocks) understated the error about twofold:
    a random walk with D = 1e-9 m^2/s came out 4.4 such errors off.)"""
    d = diffusion(x, dt_ps)
    k = min(groups, x.shape[1])
    if k < 2:
        return d, float("nan")
    per = [diffusion(g, dt_ps) for g in np.array_split(x, k, axis=1)]
    return d, float(np.std(per, ddof=1) / np.sqrt(k))


def cost(log):
    """(steps, wall s, CPU s) summed over the MD runs of a log (the tables with a Time column: not the
    minimiser's)."""
    steps = wall = cpu = 0.0
    if not os.path.exists(log):
        return 0, 0.0, 0.0
    md, pending = False, None
    with open(log) as f:
        for line in f:
            w = line.split()
            if w[:1] == ["Step"]:
                md = "Time" in w
            m = re.match(r"Loop time of ([\d.eE+-]+) on (\d+) procs for (\d+) steps", line)
            if m and md:
                pending = (float(m.group(1)), int(m.group(2)), int(m.group(3)))
            m = re.match(r"([\d.]+)% CPU use", line)
            if m and pending:
                t, p, n = pending
                steps += n
                wall += t
                cpu += t * p * float(m.group(1)) / 100.0
                pending = None
    return int(steps), wall, cpu


def analyse(d, skip_ps):
    res = {"dir": d}
    params = json.load(open(os.path.join(d, "params.json")))
    res.update(params)
    n_atoms = 3 * params["waters"] + 2 * params["pairs"]
    res["atoms"] = n_atoms
    th = thermo_rows(os.path.join(d, "log.nvt")) if os.path.exists(os.path.join(d, "log.nvt")) else {}
    if th:
        t_ps = th["Step"] * DT_FS / 1000.0  # the Time column restarts with each invocation
        sel = t_ps >= skip_ps
        res["T_mean"] = float(th["Temp"][sel].mean())
        res["density_mean"] = float(th["Density"][sel].mean())
        res["box_A"] = float(th["Volume"][-1] ** (1 / 3))
        res["nvt_ps"] = float(t_ps[-1])
    for stage in ("npt", "nvt"):
        steps, wall, cpu = cost(os.path.join(d, "log." + stage))
        if steps:
            res["cost_" + stage] = {"steps": steps, "wall_h_per_ns": wall / steps * STEPS_PER_NS / 3600.0,
                                    "cpu_h_per_ns": cpu / steps * STEPS_PER_NS / 3600.0,
                                    "cpu_us_per_atom_step": cpu / steps / n_atoms * 1e6}
    dump = os.path.join(d, "ions.dump")
    if not os.path.exists(dump) and os.path.exists(dump + ".xz"):
        dump += ".xz"
    if os.path.exists(dump):
        frames = uniform_grid([fr for fr in read_frames(dump) if fr[0] * DT_FS / 1000.0 >= skip_ps])
        res["frames"] = len(frames)
        if len(frames) >= 8:
            dt_ps = (frames[1][0] - frames[0][0]) * DT_FS / 1000.0
            types = frames[0][4]
            x = np.array([fr[5] for fr in frames])
            length = float(np.mean([fr[2][0] for fr in frames]))
            res["D_ps_range"] = [frames[0][0] * DT_FS / 1000.0, frames[-1][0] * DT_FS / 1000.0]
            res["D"] = {}
            for name, t in (("Na", 3), ("Cl", 4)):
                xs = x[:, types == t]
                d_pbc, err = diffusion_and_error(xs, dt_ps)
                corr = XI * KB * res.get("T_mean", 300.0) / (6 * np.pi * ETA_SPCE * length * 1e-10)
                res["D"][name] = {"pbc": d_pbc, "err": err, "yeh_hummer": d_pbc + corr}
    return res


def report(r):
    print("== %s: %d H2O + %d NaCl (%.3f mol/kg), %d atoms" % (r["dir"], r["waters"], r["pairs"], r["molality"],
                                                               r["atoms"]))
    if "T_mean" in r:
        print("   NVT %.1f ps: T = %.1f K, density %.4f g/cm^3, box %.3f A" % (r["nvt_ps"], r["T_mean"],
                                                                          r["density_mean"], r["box_A"]))
    for stage in ("npt", "nvt"):
        c = r.get("cost_" + stage)
        if c:
            print("   cost (%s, %d steps): %.2f CPU-h per ns (%.2f us CPU per atom-step); wall %.2f h per ns on "
                  "this (shared) machine" % (stage, c["steps"], c["cpu_h_per_ns"], c["cpu_us_per_atom_step"],
                                             c["wall_h_per_ns"]))
    if "D" in r:
        for name, v in r["D"].items():
            print("   D(%s) = %.3g +- %.2g m^2/s (periodic box, %.0f-%.0f ps); Yeh-Hummer corrected %.3g%s" % (
                name, v["pbc"], v["err"], *r["D_ps_range"], v["yeh_hummer"],
                "  [UNRELIABLE: under %.0f ps of NVT; the fitted lags must be >> 1 ps]" % MIN_D_PS
                if r["D_ps_range"][1] - r["D_ps_range"][0] < MIN_D_PS else ""))
    elif "frames" in r:
        print("   %d ion frames: too few for diffusion" % r["frames"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", nargs="+")
    ap.add_argument("--skip-ps", type=float, default=0.0)
    ap.add_argument("--json")
    a = ap.parse_args()
    out = [analyse(d, a.skip_ps) for d in a.dirs]
    for r in out:
        report(r)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
