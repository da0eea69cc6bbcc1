#!/usr/bin/python3
"""Smoke test of the coarse-grained NaCl(aq) workflow (examples/cg-nacl, issue 17): a tiny ion-only model
force-matched to a short all-atom trajectory (tests/data/cg-nacl-short.extxyz: the ion positions and total ion
forces of examples/cg-nacl/run.sh LENGTH=short at 2 mol/kg, frames without energies) on top of the screened Coulomb
baseline, with time-block validation, then Langevin MD of the ions alone in LAMMPS with the model's own force
field (pair_style hybrid/overlay nnp + coul/long + pppm + dielectric, examples/cg-nacl/in.cg-nacl).

    test_cg_nacl.py --lmp LMP --plugin pair_nnp.so --pnnp-train pnnp-train --pnnp-baseline pnnp-baseline --workdir DIR
                    --source REPO

Checks: pnnp-baseline caches the baseline, pnnp-train trains (energy columns empty, force RMSE finite, the split and
the baseline in the model), and LAMMPS runs 200 steps of CG Langevin dynamics to finite energies and a temperature
near the target. Seconds. What the model is worth is not tested here (far too little data and training).
"""
import argparse
import math
import os
import shutil
import subprocess
import sys

FAILURES = []

# Tiny on purpose: the test is of the plumbing. The real configuration is examples/cg-nacl/cg-train.cfg.
CONFIG = """species Na Cl
r_cut 6.0
l_max 1
channels 4
layers 1
radial_basis 4
radial_hidden 8
readout_hidden 4
train cg-nacl-short.extxyz
energy_weight 0
validation_fraction 0.2
validation_split last
validation_gap 2
baseline coulomb 8.0 1e-5 Na:1 Cl:-1 dielectric 71
batch_size 4
epochs 2
seed 1
output cg.nnp
"""


def check(ok, what):
    print(("  ok    " if ok else "  FAIL  ") + what, flush=True)
    if not ok:
        FAILURES.append(what)
    return ok


def run(cmd, cwd, env=None):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run(cmd, cwd=cwd, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                       timeout=600)
    return p.returncode, p.stdout


def thermo(out):
    """The last thermo row of a LAMMPS run as a dict."""
    head, last = None, None
    for line in out.splitlines():
        w = line.split()
        if w[:2] == ["Step", "Time"]:
            head = w
        elif head and len(w) == len(head):
            try:
                last = dict(zip(head, map(float, w)))
            except ValueError:
                head = None
    return last


def dump_steps(path):
    lines = open(path).read().splitlines()
    return [int(lines[k + 1]) for k, line in enumerate(lines) if line == "ITEM: TIMESTEP"]


def guard_energy(a, d, ex, r, wall):
    """potential energy (eV) of two Cl- r A apart in in.cg-nacl (no minimisation, no steps), with or without the
    repulsive guard"""
    with open(os.path.join(d, "two_cl.data"), "w") as f:
        f.write("two Cl\n\n2 atoms\n2 atom types\n\n0 40 xlo xhi\n0 40 ylo yhi\n0 40 zlo zhi\n\nAtoms # charge\n\n"
                "1 2 0 10 10 10\n2 2 0 %.6f 10 10\n" % (10 + r))
    cmd = [a.lmp, "-in", os.path.join(ex, "in.cg-nacl"), "-log", "none", "-echo", "none", "-var", "start",
           "two_cl.data", "-var", "fresh", "0", "-var", "forcefield", "forcefield.lammps", "-var", "model", "cg.nnp",
           "-var", "load_plugin", "plugin load " + a.plugin, "-var", "steps", "0", "-var", "dump_every", "0",
           "-var", "wall", wall]
    rc, out = run(cmd, d, env={"OMP_NUM_THREADS": "1"})
    t = thermo(out)
    return t["PotEng"] if rc == 0 and t else None


def check_guard(a, d, ex):
    """the repulsive guard is the WCA term of in.cg-nacl's comment: 4 eps [(s/r)^12 - (s/r)^6] + eps inside
    r_g = 2^(1/6) s (defaults: Cl-Cl r_g 3.84 A, eps 0.1 eV), exactly zero outside"""
    s = 3.84 / 2 ** (1 / 6)
    for r, expect in ((3.2, 4 * 0.1 * ((s / 3.2) ** 12 - (s / 3.2) ** 6) + 0.1), (4.0, 0.0)):
        on, off = guard_energy(a, d, ex, r, "yes"), guard_energy(a, d, ex, r, "no")
        check(on is not None and off is not None and abs((on - off) - expect) < 1e-6,
              "guard energy of two Cl- %.1f A apart: %s eV (expected %.6f)"
              % (r, "n/a" if on is None or off is None else "%.6f" % (on - off), expect))


def check_resumable_md(a, d, ex):
    """cg_md.py (the long CG and nucleation runs): a run killed mid-chunk continues from its newest checkpoint, from
    the binary restart or the portable data file, with every dump frame exactly once, and refuses to splice a run
    with another seed onto it"""
    md = os.path.join(d, "md")
    os.makedirs(md)
    shutil.copy(os.path.join(d, "start.data"), md)
    base = [sys.executable, os.path.join(ex, "cg_md.py"), md, "--chunk", "100", "--dump-every", "50",
            "--forcefield", "forcefield.lammps", "--model", "cg.nnp", "--plugin", a.plugin, "--lmp", a.lmp]
    rc, out = run(base + ["--steps", "200"], d)
    if not check(rc == 0 and dump_steps(os.path.join(md, "cg.dump")) == [0, 50, 100, 150, 200],
                 "cg_md.py runs 200 steps in checkpointed chunks, frames every 50: " + out.strip()[-300:]):
        return
    # a kill inside a frame the run wrote after its last checkpoint
    with open(os.path.join(md, "cg.dump"), "a") as f:
        f.write("ITEM: TIMESTEP\n250\nITEM: NUMBER OF ATOMS\n22\nITEM: BOX BOUNDS pp pp pp\n0 20.9")
    rc, out = run(base + ["--steps", "300"], d)
    ckpts = sorted(p for p in os.listdir(md) if p.startswith("ckpt."))
    check(rc == 0 and "continuing at step 200 from ckpt.200.restart" in out
          and dump_steps(os.path.join(md, "cg.dump")) == [0, 50, 100, 150, 200, 250, 300]
          and ckpts == ["ckpt.300.data", "ckpt.300.restart"],
          "continued from the binary restart: the torn frame cut, each frame once, only the newest checkpoint kept")
    rc, out = run(base + ["--steps", "400", "--portable"], d)
    check(rc == 0 and "from ckpt.300.data" in out and dump_steps(os.path.join(md, "cg.dump"))[-3:] == [300, 350, 400],
          "continued from the portable data checkpoint")
    rc, out = run(base + ["--steps", "400"], d)
    check(rc == 0 and "done (step 400 >= 400)" in out, "a finished run is not touched")
    rc, out = run(base + ["--steps", "500", "--seed", "7"], d)
    check(rc != 0 and "was run with another seed" in out, "a resume with another seed is refused: " + out.strip())


def main():
    ap = argparse.ArgumentParser()
    for k in ("lmp", "plugin", "pnnp-train", "pnnp-baseline", "workdir", "source"):
        ap.add_argument("--" + k, required=True)
    a = ap.parse_args()
    d = os.path.abspath(a.workdir)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    ex = os.path.join(a.source, "examples", "cg-nacl")
    shutil.copy(os.path.join(a.source, "tests", "data", "cg-nacl-short.extxyz"), d)
    with open(os.path.join(d, "cg.cfg"), "w") as f:
        f.write(CONFIG)
    rc, out = run([a.pnnp_baseline, "cg.cfg", "--lmp", a.lmp], d)
    if not check(rc == 0, "pnnp-baseline caches the screened Coulomb baseline: " + out.strip()[-300:]):
        return 1
    rc, out = run([a.pnnp_train, "cg.cfg", "--threads", "1"], d)
    print(out.strip()[-1500:])
    if not check(rc == 0, "pnnp-train force-matches the ions"):
        return 1
    check("energy shifts are set to 0" in out and "val E      n/a meV/atom" in out,
          "pnnp-train: no energies, shifts 0, energy errors n/a")
    rows = open(os.path.join(d, "cg.nnp.log.csv")).read().splitlines()
    last = rows[-1].split(",")
    check(len(rows) == 4 and last[8] == "" and math.isfinite(float(last[9])) and float(last[9]) > 0,
          "learning curve: 3 rows (epochs 0-2), empty energy column, finite force RMSE (%s meV/A)" % last[9])
    model = open(os.path.join(d, "cg.nnp")).read()
    check("baseline coulomb 8 1e-05 Na:1 Cl:-1 dielectric 71" in model and "validation_split last" in model,
          "the model holds the screened baseline and the time-block split")
    rc, ff = run([a.pnnp_baseline, "--lammps", "cg.nnp"], d)
    with open(os.path.join(d, "forcefield.lammps"), "w") as f:
        f.write(ff)
    check(rc == 0 and "dielectric 71\n" in ff and "coul/long 8" in ff, "pnnp-baseline --lammps writes the force field")
    # the all-atom box of the data: 11 pairs in 20.93 A
    rc, out = run([sys.executable, os.path.join(ex, "make_cg_start.py"), "11", "20.93", "3", "start.data"], d)
    check(rc == 0, "make_cg_start.py writes a random ion box")
    cmd = [a.lmp, "-in", os.path.join(ex, "in.cg-nacl"), "-log", "cg.log", "-echo", "none", "-var", "start",
           "start.data", "-var", "forcefield", "forcefield.lammps", "-var", "model", "cg.nnp", "-var", "load_plugin",
           "plugin load " + a.plugin, "-var", "steps", "200", "-var", "dump_every", "100"]
    rc, out = run(cmd, d, env={"OMP_NUM_THREADS": "1"})
    t = thermo(out)
    if not check(rc == 0 and t is not None, "LAMMPS runs CG Langevin dynamics of the ions"):
        print(out[-3000:])
        return 1
    # 22 ions: the instantaneous temperature fluctuates by sqrt(2/(3N)) = 17% around 300 K; Langevin with damp
    # 0.01-0.03 ps thermalises within 0.1 ps, the run is 0.4 ps. 150-500 K catches a run that heats or freezes.
    check(all(math.isfinite(t[k]) for k in ("PotEng", "KinEng", "TotEng", "Press")) and 150 < t["Temp"] < 500,
          "finite energies and pressure, T = %.0f K after 200 steps" % t["Temp"])
    check(os.path.exists(os.path.join(d, "cg.dump")), "the CG trajectory is dumped")
    check_guard(a, d, ex)
    check_resumable_md(a, d, ex)
    print("%d check(s) failed" % len(FAILURES) if FAILURES else "all checks passed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
