#!/usr/bin/env python3
"""Baselines without LAMMPS: the `baseline` lines of model files (docs/model.md, "Baselines"), the LAMMPS lines
nnp-baseline --lammps derives from them, and the refusals of nnp-eval / nnp-train / nnp-baseline when no cache or
no LAMMPS is at hand. (What LAMMPS computes is tested in tests/lammps/test_baseline.py.)

    test_baseline_format.py --nnp-init nnp-init --nnp-eval nnp-eval --nnp-baseline nnp-baseline
                            --nnp-train nnp-train --workdir DIR --source REPO
"""
import argparse
import os
import shutil
import subprocess
import sys

FAILURES = []

HYPER = """species O H
l_max 1
channels 4
layers 2
radial_hidden 8
r_cut 4.0
"""

FRAME = """3
Lattice="8 0 0 0 8 0 0 0 8" Properties=species:S:1:pos:R:3:forces:R:3 energy=-10 pbc="T T T"
O 0 0 0 0 0 0
H 0.96 0 0 0 0 0
H -0.24 0.93 0 0 0 0
"""


def check(ok, what):
    print(("  ok    " if ok else "  FAIL  ") + what, flush=True)
    if not ok:
        FAILURES.append(what)
    return ok


def run(cmd, cwd, env=None):
    e = dict(os.environ)
    e["NNP_LMP"] = "/nonexistent/lmp"  # no LAMMPS here, whatever the machine has
    e.update(env or {})
    p = subprocess.run(cmd, cwd=cwd, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    return p.returncode, p.stdout


def init(o, d, name, extra):
    with open(os.path.join(d, name + ".txt"), "w") as f:
        f.write(HYPER + extra)
    return run([o.nnp_init, name + ".txt", name + ".nnp"], d)


def main():
    ap = argparse.ArgumentParser()
    for k in ("nnp-init", "nnp-eval", "nnp-baseline", "nnp-train", "workdir", "source"):
        ap.add_argument("--" + k, required=True)
    o = ap.parse_args()
    for k in ("nnp_init", "nnp_eval", "nnp_baseline", "nnp_train", "workdir", "source"):
        setattr(o, k, os.path.abspath(getattr(o, k)))
    d = o.workdir
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)

    # a model without a baseline stays format version 1 (every pair_nnp reads it)
    rc, out = init(o, d, "plain", "")
    with open(os.path.join(d, "plain.nnp")) as f:
        text = f.read()
    check(rc == 0 and text.startswith("pair_nnp-model 1\n") and "baseline" not in text,
          "a model without a baseline is written as format version 1")

    # both terms; canonical lines in the header; version 2
    rc, out = init(o, d, "both", "baseline d3 zero revpbe0 12.0 10.0\nbaseline coulomb 10 1e-6 H:0.417 O:-0.834\n")
    with open(os.path.join(d, "both.nnp")) as f:
        text = f.read()
    check(rc == 0 and text.startswith("pair_nnp-model 2\n"), "a model with a baseline is format version 2")
    check("baseline d3 zero revpbe0 12 10\n" in text and "baseline coulomb 10 1e-06 O:-0.834 H:0.417\n" in text,
          "the baseline lines are canonical (species order, shortest round-trip numbers)")
    rc, out = run([o.nnp_baseline, "--lammps", "both.nnp"], d)
    check(rc == 0 and "pair_style hybrid/overlay nnp ${nnp_options} dispersion/d3 ZERO revpbe0 12 10 coul/long 10"
          in out, "--lammps: one hybrid/overlay line; zero damping spelled `ZERO` (hybrid takes `zero` for "
          "pair_style zero)")
    check("pair_coeff * * dispersion/d3 ${elements}" in out and "kspace_style pppm 1e-06" in out and
          'if "${nnp_element} == O" then "set type ${nnp_type} charge -0.834"' in out,
          "--lammps: pair_coeff, kspace_style and per-type charges from ${elements}")
    rc, out = run([o.nnp_baseline, "--lammps", "plain.nnp"], d)
    check(rc == 0 and "pair_style nnp ${nnp_options}\npair_coeff * * ${model} ${elements}" in out,
          "--lammps: a model without a baseline gets plain pair_style nnp lines")

    # the screened Coulomb baseline (issue 17): `dielectric EPS` last on the coulomb line, written only when not 1,
    # standing for LAMMPS's `dielectric EPS` command, placed before the charge lines
    rc, out = init(o, d, "screened", "baseline coulomb 12 1e-5 H:0.5 O:-1 dielectric 78.0\n")
    text = open(os.path.join(d, "screened.nnp")).read() if rc == 0 else ""
    check("baseline coulomb 12 1e-05 O:-1 H:0.5 dielectric 78\n" in text,
          "a dielectric is kept in the canonical coulomb line: " + out.strip()[-200:])
    rc, out = run([o.nnp_baseline, "--lammps", "screened.nnp"], d)
    check(rc == 0 and "kspace_style pppm 1e-05\ndielectric 78\nvariable nnp_element" in out,
          "--lammps: `dielectric 78` after kspace_style, before the charge loop")
    rc, out = init(o, d, "eps1", "baseline coulomb 12 1e-5 H:0.5 O:-1 dielectric 1\n")
    text = open(os.path.join(d, "eps1.nnp")).read() if rc == 0 else ""
    check("baseline coulomb 12 1e-05 O:-1 H:0.5\n" in text, "dielectric 1 is the unscreened line (caches unchanged)")

    # a model file read back and written again (nnp-train's initial_model path is elsewhere): the header survives
    # nnp-eval reading it; refusals name the command
    with open(os.path.join(d, "frame.extxyz"), "w") as f:
        f.write(FRAME)
    rc, out = run([o.nnp_eval, "both.nnp", "frame.extxyz"], d)
    check(rc != 0 and "no baseline cache" in out and "nnp-baseline both.nnp frame.extxyz" in out,
          "nnp-eval without cache nor LAMMPS refuses and names the command")
    rc, out = run([o.nnp_eval, "plain.nnp", "frame.extxyz"], d)
    check(rc == 0, "nnp-eval of a model without a baseline needs no LAMMPS")
    rc, out = run([o.nnp_baseline, "both.nnp", "frame.extxyz"], d)
    check(rc != 0 and "cannot run LAMMPS" in out, "nnp-baseline without LAMMPS says so")
    rc, out = run([o.nnp_baseline, "plain.nnp", "frame.extxyz"], d)
    check(rc != 0 and "declares no baseline" in out, "nnp-baseline on a model without a baseline says so")
    with open(os.path.join(d, "train.cfg"), "w") as f:
        f.write(HYPER + "train frame.extxyz\nvalidation_fraction 0\nepochs 0\n"
                "baseline coulomb 10 1e-6 O:-0.834 H:0.417\nbaseline_cache caches\n")
    rc, out = run([o.nnp_train, "train.cfg"], d)
    check(rc != 0 and "nnp-baseline train.cfg" in out and "caches/frame.extxyz.baseline-" in out,
          "nnp-train without the cache refuses, naming the cache (in baseline_cache) and the command")

    # malformed baseline lines: each refused with a message naming the problem
    bad = {"baseline d3 zero revpbe0 12\n": "needs 4 values",
           "baseline d3 none revpbe0 12 10\n": "damping 'none'",
           "baseline d3 bj revpbe0 -1 10\n": "cutoffs",
           "baseline d3 bj rev\"pbe0 12 10\n": "not a plain name",
           "baseline d3 bj revpbe0 12 10\nbaseline d3 bj revpbe0 12 10\n": "declared twice",
           "baseline coulomb 10 1e-6 O:-0.834\n": "one El:charge per species",
           "baseline coulomb 10 1e-6 O:-0.834 O:0.417\n": "given twice",
           "baseline coulomb 10 1e-6 O:-0.834 Na:0.417\n": "not a species",
           "baseline coulomb 10 2 O:-0.834 H:0.417\n": "accuracy",
           "baseline coulomb 10 1e-6 O:x H:0.417\n": "charge 'x'",
           "baseline lj 1 2\n": "unknown baseline term 'lj'",
           "baseline coulomb 10 1e-6 O:-0.834 H:0.417 dielectric 0.5\n": "dielectric '0.5'",
           "baseline coulomb 10 1e-6 O:-0.834 H:0.417 dielectric\n": "one El:charge per species",
           "baseline coulomb 10 1e-6 O:-0.834 dielectric 78\n": "one El:charge per species"}
    for line, want in bad.items():
        rc, out = init(o, d, "bad", line)
        check(rc != 0 and want in out, "nnp-init refuses %r: %s" % (line.strip(), out.strip()[-120:]))

    # the model reader: a damaged baseline line (checksum recomputed) is refused with its line number
    with open(os.path.join(d, "both.nnp")) as f:
        text = f.read()
    body = text[:text.rindex("checksum ")].replace("baseline d3 zero", "baseline d3 fancy")
    h = 0xcbf29ce484222325
    for b in body.encode():
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    with open(os.path.join(d, "damaged.nnp"), "w") as f:
        f.write(body + "checksum %016x\n" % h)
    rc, out = run([o.nnp_eval, "damaged.nnp", "frame.extxyz"], d)
    check(rc != 0 and "line 16: baseline d3: damping 'fancy'" in out, "the reader names the line of a bad baseline")

    # every shipped potential has its LAMMPS include file, as nnp-baseline --lammps writes it today
    pot = os.path.join(o.source, "potentials")
    for name in sorted(f[:-4] for f in os.listdir(pot) if f.endswith(".nnp")):
        rc, out = run([o.nnp_baseline, "--lammps", "potentials/%s.nnp" % name], o.source)
        path = os.path.join(pot, name + ".lammps")
        shipped = open(path).read() if os.path.exists(path) else None
        check(rc == 0 and out == shipped, "potentials/%s.lammps is what nnp-baseline --lammps writes" % name)

    print("%d check(s) failed" % len(FAILURES) if FAILURES else "all checks passed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
