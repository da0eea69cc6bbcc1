#!/usr/bin/python3
"""The coarse-grained run of one concentration against its all-atom run: cost per simulated nanosecond and the
speed-up, and the ion self-diffusion that the Langevin friction of in.cg-nacl has to reproduce.

    analyse_cg.py AA_RUN_DIR CG_RUN_DIR [--skip-ps 0] [--dt-ps 0.002] [--json OUT.json]

AA_RUN_DIR is a driver.py run (log.nvt, ions.dump, params.json), CG_RUN_DIR an in.cg-nacl run (log.lammps, cg.dump
with unwrapped coordinates). Cost: CPU time per simulated ns from the LAMMPS timing lines of the MD runs (the
minimiser's excluded), as analyse_aa.py measures it; the speed-up is the ratio of the two. Diffusion: the same MSD
fit as analyse_aa.py. The all-atom value is corrected for the periodic box (Yeh-Hummer); the CG Langevin model has no
hydrodynamic interactions, so its D needs no correction and should match the corrected all-atom D when the friction
is right (tune damp_na, damp_cl of in.cg-nacl: D scales roughly with damp for a free ion).
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from analyse_aa import analyse, cost, diffusion_and_error  # noqa: E402
from ion_traj import read_frames  # noqa: E402


def cg_diffusion(dump, skip_ps, dt_ps):
    frames = list(read_frames(dump, {1: "Na", 2: "Cl"}, dt_ps, skip_ps, wrap=False))
    if len(frames) < 8:
        return None, 0.0
    x = np.array([fr.pos for fr in frames])
    step_ps = frames[1].time_ps - frames[0].time_ps
    out = {}
    for name in ("Na", "Cl"):
        xs = x[:, frames[0].species == name]
        d, err = diffusion_and_error(xs, step_ps)
        out[name] = {"D": d, "err": err}
    return out, frames[-1].time_ps - frames[0].time_ps


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("aa")
    ap.add_argument("cg")
    ap.add_argument("--skip-ps", type=float, default=0.0)
    ap.add_argument("--dt-ps", type=float, default=0.002)
    ap.add_argument("--json")
    a = ap.parse_args()
    try:
        aa = analyse(a.aa, a.skip_ps)
        steps, _, cpu = cost(os.path.join(a.cg, "log.lammps"))
        d_cg, span = cg_diffusion(os.path.join(a.cg, "cg.dump"), a.skip_ps, a.dt_ps)
    except (OSError, ValueError, KeyError) as e:
        print("analyse_cg.py: %s" % e, file=sys.stderr)
        return 2
    res = {"aa_dir": a.aa, "cg_dir": a.cg}
    aa_cost = aa.get("cost_nvt")
    if steps and cpu > 0:
        cg_h = cpu / steps * (1e3 / a.dt_ps) / 3600.0  # steps of dt_ps per ns
        res["cg_cpu_h_per_ns"] = cg_h
        print("CG: %.3g CPU-h per ns (%d steps)" % (cg_h, steps))
        if aa_cost:
            res["aa_cpu_h_per_ns"] = aa_cost["cpu_h_per_ns"]
            res["speedup"] = aa_cost["cpu_h_per_ns"] / cg_h
            print("all-atom: %.3g CPU-h per ns; CG speed-up per simulated ns: %.0fx" % (aa_cost["cpu_h_per_ns"],
                                                                                      res["speedup"]))
    if d_cg:
        res["cg_D"] = d_cg
        res["cg_D_span_ps"] = span
        for name, v in d_cg.items():
            ref = aa.get("D", {}).get(name)
            print("D(%s): CG %.3g +- %.2g m^2/s over %.0f ps%s" % (
                name, v["D"], v["err"], span,
                "; all-atom %.3g (Yeh-Hummer corrected), CG/all-atom %.2f" % (ref["yeh_hummer"], v["D"] /
                                                                                 ref["yeh_hummer"]) if ref else ""))
        if aa.get("D"):
            res["aa_D"] = aa["D"]
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
