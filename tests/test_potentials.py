#!/usr/bin/python3
"""The shipped potentials (potentials/*.md model cards and the .nnp files they describe).

    test_potentials.py --pnnp-eval NNP_EVAL --potentials DIR [--lmp LMP --plugin PLUGIN --mpirun MPIRUN] --workdir W

Every model card carries a fenced block tagged `check`:

    model    NAME.nnp                the potential, beside the card
    config   NAME.check.xyz          a configuration shipped beside the card (extended XYZ, one frame)
    energy_eV  E                     the model's energy of it (exact radial functions)
    force_rms_eV_per_A  R            RMS of all its force components
    force  I  FX FY FZ               forces on a few atoms (eV/A), as many lines as wanted

(written by potentials/evaluate.py with 10 decimals). Without --lmp: the model loads and pnnp-eval reproduces the
recorded energy to 1e-9 relative, the force RMS to 1e-7 relative and the listed forces to 1e-8 eV/A (for RMS forces
below 1 eV/A; 10x the relative 1e-9 of the RMS above): float64 round-off between compilers and machines and the
10-decimal record, nothing looser. With --lmp: pair_style nnp (exact radial functions)
reproduces them too, on 1 and 2 ranks, and a 1 ps NVE run at 300 K from the check configuration (default radial
tables, 0.5 fs steps, 2 ranks) conserves the total energy: no drift beyond 0.05 meV/atom over the run (measured:
0.01) and a total-energy fluctuation below 3% of the potential energy's (velocity Verlet at 0.5 fs gives 1-1.6% for
these flexible-water potentials, and the ratio varies from trajectory to trajectory, i.e. from CPU to CPU; forces
that are not the gradient of the energy give drift and a ratio near 100%).
"""
import argparse
import math
import os
import random
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lammps"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "pair_nnp", "tools"))
import test_pair_nnp as lt  # noqa: E402  (shared helpers: check, run, lammps, thermo rows, dumps, predictions)
import xyz2data  # noqa: E402

REL = 1e-9


def parse_card(path):
    text = open(path).read()
    m = re.search(r"```check\n(.*?)```", text, re.S)
    if not m:
        return None
    card = {"forces": {}, "card": path, "dir": os.path.dirname(path)}
    for line in m.group(1).splitlines():
        t = line.split()
        if not t:
            continue
        if t[0] == "config":
            card["config"] = os.path.join(card["dir"], t[1])
        elif t[0] == "model":
            card["model"] = os.path.join(card["dir"], t[1])
        elif t[0] == "energy_eV":
            card["energy"] = float(t[1])
        elif t[0] == "force_rms_eV_per_A":
            card["force_rms"] = float(t[1])
        elif t[0] == "force":
            card["forces"][int(t[1])] = [float(x) for x in t[2:5]]
        else:
            raise ValueError("%s: unknown line in the check block: %s" % (path, line))
    for k in ("model", "config", "energy", "force_rms"):
        if k not in card:
            raise ValueError("%s: the check block has no %s line" % (path, k))
    return card


def model_species(path):
    for line in open(path):
        if line.startswith("species"):
            return line.split()[1:]
    raise ValueError("%s: no species line" % path)


def compare(name, got, card):
    lt.check(abs(got["energy"] - card["energy"]) <= REL * abs(card["energy"]),
             "%s: energy %.12f eV, recorded %.12f" % (name, got["energy"], card["energy"]))
    f = got["forces"]
    rms = math.sqrt(sum(c * c for row in f for c in row) / (3 * len(f)))
    lt.check(abs(rms - card["force_rms"]) <= 1e-7 * card["force_rms"],
             "%s: force RMS %.10f eV/A, recorded %.10f" % (name, rms, card["force_rms"]))
    worst = max(abs(f[i][k] - v[k]) for i, v in card["forces"].items() for k in range(3))
    lt.check(worst <= REL * max(1.0, card["force_rms"]) * 10,
             "%s: recorded forces on atoms %s reproduced (max diff %.2e eV/A)" % (name, sorted(card["forces"]), worst))


def check_core(card, wd):
    pred = os.path.join(wd, "pred.xyz")
    rc, out = lt.run([OPT.pnnp_eval, card["model"], card["config"], "--predictions", pred], wd)
    if not lt.check(rc == 0, "%s: pnnp-eval loads the model and evaluates %s" % (card["name"], card["config"])):
        print(out[-2000:])
        return
    compare(card["name"] + " pnnp-eval", lt.read_extxyz_predictions(pred), card)


def write_data(card, path):
    """The check configuration as a LAMMPS data file; returns the model's species (type order) and the atom count."""
    species = model_species(card["model"])
    sym, pos, cell = xyz2data.read_frame(card["config"])
    xyz2data.write_data(path, sym, pos, cell, species, "check configuration of %s" % card["name"])
    return species, len(sym)


HEAD = """units metal
atom_style atomic
boundary p p p
atom_modify map array sort 0 0
read_data check.data
plugin load {plugin}
pair_style nnp {style}
pair_coeff * * {model} {elements}
neighbor 1.0 bin
"""


def check_lammps(card, wd):
    species, n_atoms = write_data(card, os.path.join(wd, "check.data"))
    head = dict(plugin=OPT.plugin, model=card["model"], elements=" ".join(species))
    for np in (1, 2):
        s = HEAD.format(style="radial_step 0", **head) + """compute pea all pe/atom
dump d all custom 1 dump.out id fx fy fz c_pea
dump_modify d sort id format float %.17g
thermo_style custom step pe
thermo_modify format float %.17g
run 0
"""
        rc, out = lt.lammps(wd, s, np=np)
        if not lt.check(rc == 0, "%s: LAMMPS loads the potential (%d rank(s))" % (card["name"], np)):
            print(out[-2000:])
            return
        dump = lt.read_dump(os.path.join(wd, "dump.out"))
        got = {"energy": lt.thermo_rows(out)[-1]["PotEng"],
               "forces": [[a, b, c] for a, b, c in zip(dump["fx"], dump["fy"], dump["fz"])]}
        compare("%s LAMMPS %d rank(s)" % (card["name"], np), got, card)

    nsteps = 2000
    s = HEAD.format(style="", **head) + """velocity all create 300.0 {seed} mom yes rot yes dist gaussian
timestep 0.0005
fix 1 all nve
thermo_style custom step temp pe ke etotal
thermo_modify format float %.17g
thermo 20
run {n}
""".format(seed=random.Random(card["name"]).randrange(1, 1 << 30), n=nsteps)
    rc, out = lt.lammps(wd, s, np=2, timeout=900)
    if not lt.check(rc == 0, "%s: NVE run of %d steps" % (card["name"], nsteps)):
        print(out[-2000:])
        return
    rows = lt.thermo_rows(out)
    e = [r["TotEng"] for r in rows]
    pe = [r["PotEng"] for r in rows]
    n = len(e)
    mean = sum(e) / n
    tm = (n - 1) / 2
    slope = sum((i - tm) * (x - mean) for i, x in enumerate(e)) / sum((i - tm) ** 2 for i in range(n))
    drift_mev_atom = 1e3 * slope * (n - 1) / n_atoms
    sd_e = math.sqrt(sum((x - mean) ** 2 for x in e) / n)
    mpe = sum(pe) / n
    sd_pe = math.sqrt(sum((x - mpe) ** 2 for x in pe) / n)
    t_end = rows[-1]["Temp"]
    print("    NVE %s: %d steps, T end %.1f K, total energy drift %.4f meV/atom, sd %.4g eV against PE sd %.4g eV"
          % (card["name"], nsteps, t_end, drift_mev_atom, sd_e, sd_pe))
    lt.check(100 < t_end < 1000, "%s: NVE temperature stays physical (%.1f K)" % (card["name"], t_end))
    lt.check(abs(drift_mev_atom) < 0.05, "%s: NVE drift over 1 ps %.4f meV/atom < 0.05" % (card["name"], drift_mev_atom))
    lt.check(sd_e < 0.03 * sd_pe, "%s: NVE total-energy fluctuation %.3g eV < 3%% of the PE's %.3g eV"
             % (card["name"], sd_e, sd_pe))


def main():
    global OPT
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pnnp-eval", required=True)
    ap.add_argument("--potentials", required=True)
    ap.add_argument("--lmp")
    ap.add_argument("--plugin")
    ap.add_argument("--mpirun", default="mpirun")
    ap.add_argument("--workdir", default="potentials-tests")
    OPT = ap.parse_args()
    OPT.always_mpirun = False
    for k in ("pnnp_eval", "potentials", "workdir", "lmp", "plugin"):
        if getattr(OPT, k):
            setattr(OPT, k, os.path.abspath(getattr(OPT, k)))
    lt.OPT = OPT
    cards = [c for c in (parse_card(os.path.join(OPT.potentials, f))
                         for f in sorted(os.listdir(OPT.potentials)) if f.endswith(".md")) if c]
    lt.check(len(cards) >= 2, "%d model cards with a check block in %s (water and NaCl(aq))" % (len(cards), OPT.potentials))
    for card in cards:
        card["name"] = os.path.basename(card["model"])
        wd = os.path.join(OPT.workdir, card["name"])
        shutil.rmtree(wd, ignore_errors=True)
        os.makedirs(wd)
        print("== %s" % card["name"], flush=True)
        try:
            check_core(card, wd)
            if OPT.lmp:
                check_lammps(card, wd)
        except Exception as e:  # an unparsable card or output is a failure, not a crash of the driver
            lt.check(False, "%s: %s: %s" % (card["name"], type(e).__name__, e))
    if lt.FAILURES:
        print("%d check(s) failed" % len(lt.FAILURES))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
