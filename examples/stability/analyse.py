#!/usr/bin/python3
"""Summary of an examples/stability run: NVT temperature and potential energy (mean, sd, first and last tenth),
NVE total-energy drift (least-squares slope, meV/atom/ps) and fluctuation, and the cost per atom-step.

usage: analyse.py log.lammps [--json OUT.json]
"""
import argparse
import json
import re
import statistics


def runs(path):
    """Thermo blocks of the log: list of (header, rows, loop line)."""
    out, header, rows = [], None, []
    for line in open(path):
        t = line.split()
        if t[:2] == ["Step", "v_tps"]:
            header, rows = t, []
        elif header and line.startswith("Loop time"):
            out.append((header, rows, line))
            header = None
        elif header and t:
            try:
                rows.append(dict(zip(header, (float(x) for x in t))))
            except ValueError:
                pass
    return out


def slope(xs, ys):
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("log")
    ap.add_argument("--json")
    o = ap.parse_args()
    text = open(o.log).read()
    natoms = int(re.search(r"^\s*(\d+) atoms\s*$", text, re.M).group(1))
    blocks = runs(o.log)
    if len(blocks) < 2:
        raise SystemExit("analyse.py: %s: expected an NVT and an NVE run" % o.log)
    (_, nvt, loop_nvt), (_, nve, loop_nve) = blocks[:2]
    m = re.match(r"Loop time of ([0-9.eE+-]+) on (\d+) procs for (\d+) steps with (\d+) atoms", loop_nvt)
    t_loop, procs, steps = float(m.group(1)), int(m.group(2)), int(m.group(3))
    temps, pes = [r["Temp"] for r in nvt[1:]], [r["PotEng"] for r in nvt[1:]]
    tenth = max(1, len(pes) // 10)
    ts = [r["v_tps"] for r in nve]
    es = [r["TotEng"] for r in nve]
    res = {
        "atoms": natoms, "nvt_ps": nvt[-1]["v_tps"] - nvt[0]["v_tps"], "nve_ps": ts[-1] - ts[0],
        "nvt_temperature_K": [statistics.fmean(temps), statistics.pstdev(temps)],
        "nvt_pe_eV_per_atom_first_last_tenth": [statistics.fmean(pes[:tenth]) / natoms,
                                                statistics.fmean(pes[-tenth:]) / natoms],
        "nve_drift_meV_per_atom_per_ps": 1e3 * slope(ts, es) / natoms,
        "nve_total_energy_sd_meV_per_atom": 1e3 * statistics.pstdev(es) / natoms,
        "nve_potential_energy_sd_meV_per_atom": 1e3 * statistics.pstdev([r["PotEng"] for r in nve]) / natoms,
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
