#!/usr/bin/python3
"""Summary of an examples/stability run: NVT temperature and potential energy (mean, sd, first and last tenth),
NVE total-energy drift (least-squares slope, meV/atom/ps) and fluctuation, and the cost per atom-step.

usage: analyse.py log.lammps [--json OUT.json]
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "water"))
from analyse_md import cost, thermo_tables  # noqa: E402


def slope(x, y):
    """Least-squares slope of y against x (centred, so large energies lose no digits)."""
    dx, dy = x - x.mean(), y - y.mean()
    return float((dx * dy).sum() / (dx * dx).sum())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("log")
    ap.add_argument("--json")
    o = ap.parse_args()
    tables = thermo_tables(o.log)
    if len(tables) < 2 or cost(o.log, 1) is None:
        raise SystemExit("analyse.py: %s: expected a finished NVT and NVE run" % o.log)
    nvt, nve = tables[:2]
    t_loop, procs, steps, natoms = cost(o.log, 0)
    temps, pes = nvt["Temp"][1:], nvt["PotEng"][1:]
    tenth = max(1, len(pes) // 10)
    ts, es = nve["v_tps"], nve["TotEng"]
    res = {
        "atoms": natoms, "nvt_ps": float(nvt["v_tps"][-1] - nvt["v_tps"][0]), "nve_ps": float(ts[-1] - ts[0]),
        "nvt_temperature_K": [float(temps.mean()), float(temps.std())],
        "nvt_pe_eV_per_atom_first_last_tenth": [float(pes[:tenth].mean()) / natoms,
                                                float(pes[-tenth:].mean()) / natoms],
        "nve_drift_meV_per_atom_per_ps": 1e3 * slope(ts, es) / natoms,
        "nve_total_energy_sd_meV_per_atom": 1e3 * float(es.std()) / natoms,
        "nve_potential_energy_sd_meV_per_atom": 1e3 * float(nve["PotEng"].std()) / natoms,
        "us_per_atom_step": 1e6 * t_loop / (steps * natoms), "procs": procs,
    }
    print("%d atoms: NVT %.1f ps, T = %.1f +- %.1f K; PE %.5f -> %.5f eV/atom (first/last tenth)" % (
        natoms, res["nvt_ps"], *res["nvt_temperature_K"], *res["nvt_pe_eV_per_atom_first_last_tenth"]))
    print("NVE %.1f ps: total-energy drift %.4f meV/atom/ps, fluctuation %.4f meV/atom (PE fluctuates %.3f)" % (
        res["nve_ps"], res["nve_drift_meV_per_atom_per_ps"], res["nve_total_energy_sd_meV_per_atom"],
        res["nve_potential_energy_sd_meV_per_atom"]))
    print("cost: %.1f us/atom-step on %d rank(s)" % (res["us_per_atom_step"], procs))
    if o.json:
        with open(o.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
