#!/usr/bin/env python3
"""Baselines without LAMMPS: the `baseline` lines of model files (docs/model.md, "Baselines"), the LAMMPS lines
pnnp-baseline --lammps derives from them, and the refusals of pnnp-eval / pnnp-train / pnnp-baseline when no cache or
no LAMMPS is at hand. (What LAMMPS computes is tested in tests/lammps/test_baseline.py.)

    test_baseline_format.py --pnnp-init pnnp-init --pnnp-eval pnnp-eval --pnnp-baseline pnnp-baseline
                            --pnnp-train pnnp-train --workdir DIR --source REPO
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
    return run([o.pnnp_init, name + ".txt", name + ".nnp"], d)


def c6c8_formula(r, r0, r1, c6, c8):
    """The table's part (1 - S(r)) (C6/r^6 + C8/r^8) and -dE/dr, S the quintic switch (docs/model.md), written
    independently of baseline.c (expanded polynomial, powers by **)."""
    if r >= r1:
        return 0.0, 0.0, 0.0
    w = r1 - r0
    x = max((r - r0) / w, 0.0)
    keep = (1 - x) ** 3 * (1 + 3 * x + 6 * x ** 2)  # 1 - (10 x^3 - 15 x^4 + 6 x^5), factorised: no cancellation
    dS = 30 * x ** 2 * (1 - x) ** 2 / w  # factorised (the expanded form cancels near x = 1)
    e = keep * (c6 * r ** -6 + c8 * r ** -8)
    f1, f2 = dS * (c6 * r ** -6 + c8 * r ** -8), keep * (6 * c6 * r ** -7 + 8 * c8 * r ** -9)
    return e, f1 + f2, abs(f1) + abs(f2)


def check_c6c8_table(path, line):
    """Every point of every section of the table pnnp-baseline wrote equals the formula. Both evaluate the same float64
    expression in a different order: a few ulps per point of the point's |E|, and of |dS/dr disp| + |(1-S) disp'|
    for F (F is their difference, and cancels where it changes sign), with a floor of 1e-12 eV, eV/A where the
    switch makes them vanish. 1e-12 relative holds with a margin of ~1000; a wrong exponent, coefficient, switch or
    pair is >= 1e-3 of it."""
    t = line.split()
    r0, r1, rc = float(t[3]), float(t[4]), float(t[5])
    coef = {}
    for tok in t[6:]:
        ab, c6, c8 = tok.split(":")
        a, b = ab.split("-")
        coef[a + "_" + b] = coef[b + "_" + a] = (float(c6), float(c8))
    with open(path) as f:
        text = f.read()
    check(line in text, "c6c8 table: its header holds the line")
    blocks = {}
    lines = [x for x in text.splitlines() if x.strip() and not x.startswith("#")]
    i = 0
    while i < len(lines):
        key, spec = lines[i].split(), lines[i + 1].split()
        n, lo, hi = int(spec[1]), float(spec[3]), float(spec[4])
        blocks[key[0]] = (lo, hi, [[float(v) for v in x.split()] for x in lines[i + 2:i + 2 + n]])
        i += 2 + n
    check(sorted(blocks) == sorted(coef), "c6c8 table: one section per ordered species pair (%s)" % sorted(blocks))
    for key, (lo, hi, rows) in sorted(blocks.items()):
        c6, c8 = coef[key]
        want = [c6c8_formula(row[1], r0, r1, c6, c8) for row in rows]
        de = max(abs(row[2] - w[0]) / max(abs(w[0]), 1e-12) for row, w in zip(rows, want))
        df = max(abs(row[3] - w[1]) / max(w[2], 1e-12) for row, w in zip(rows, want))
        grid = max(abs(row[1] - (lo + (hi - lo) * k / (len(rows) - 1))) for k, row in enumerate(rows))
        check(len(rows) == 5000 and lo == 0.05 and hi == r1 and grid < 1e-12 and de < 1e-12 and df < 1e-12,
              "c6c8 table %s: %d points on [%g, %g] (the R grid), energies and forces = formula (relative %.2g, %.2g)"
              % (key, len(rows), lo, hi, de, df))


def main():
    ap = argparse.ArgumentParser()
    for k in ("pnnp-init", "pnnp-eval", "pnnp-baseline", "pnnp-train", "workdir", "source"):
        ap.add_argument("--" + k, required=True)
    o = ap.parse_args()
    for k in ("pnnp_init", "pnnp_eval", "pnnp_baseline", "pnnp_train", "workdir", "source"):
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
    rc, out = run([o.pnnp_baseline, "--lammps", "both.nnp"], d)
    check(rc == 0 and "pair_style hybrid/overlay nnp ${nnp_options} dispersion/d3 ZERO revpbe0 12 10 coul/long 10"
          in out, "--lammps: one hybrid/overlay line; zero damping spelled `ZERO` (hybrid takes `zero` for "
          "pair_style zero)")
    check("pair_coeff * * dispersion/d3 ${elements}" in out and "kspace_style pppm 1e-06" in out and
          'if "${nnp_element} == O" then "set type ${nnp_type} charge -0.834"' in out,
          "--lammps: pair_coeff, kspace_style and per-type charges from ${elements}")
    rc, out = run([o.pnnp_baseline, "--lammps", "plain.nnp"], d)
    check(rc == 0 and "pair_style nnp ${nnp_options}\npair_coeff * * ${model} ${elements}" in out,
          "--lammps: a model without a baseline gets plain pair_style nnp lines")

    # the screened Coulomb baseline (issue 17): `dielectric EPS` last on the coulomb line, written only when not 1,
    # standing for LAMMPS's `dielectric EPS` command, placed before the charge lines
    rc, out = init(o, d, "screened", "baseline coulomb 12 1e-5 H:0.5 O:-1 dielectric 78.0\n")
    text = open(os.path.join(d, "screened.nnp")).read() if rc == 0 else ""
    check("baseline coulomb 12 1e-05 O:-1 H:0.5 dielectric 78\n" in text,
          "a dielectric is kept in the canonical coulomb line: " + out.strip()[-200:])
    rc, out = run([o.pnnp_baseline, "--lammps", "screened.nnp"], d)
    check(rc == 0 and "kspace_style pppm 1e-05\ndielectric 78\nvariable nnp_element" in out,
          "--lammps: `dielectric 78` after kspace_style, before the charge loop")
    rc, out = init(o, d, "eps1", "baseline coulomb 12 1e-5 H:0.5 O:-1 dielectric 1\n")
    text = open(os.path.join(d, "eps1.nnp")).read() if rc == 0 else ""
    check("baseline coulomb 12 1e-05 O:-1 H:0.5\n" in text, "dielectric 1 is the unscreened line (caches unchanged)")

    # a model file read back and written again (pnnp-train's initial_model path is elsewhere): the header survives
    # pnnp-eval reading it; refusals name the command
    with open(os.path.join(d, "frame.extxyz"), "w") as f:
        f.write(FRAME)
    rc, out = run([o.pnnp_eval, "both.nnp", "frame.extxyz"], d)
    check(rc != 0 and "no baseline cache" in out and "pnnp-baseline both.nnp frame.extxyz" in out,
          "pnnp-eval without cache nor LAMMPS refuses and names the command")
    rc, out = run([o.pnnp_eval, "plain.nnp", "frame.extxyz"], d)
    check(rc == 0, "pnnp-eval of a model without a baseline needs no LAMMPS")
    rc, out = run([o.pnnp_baseline, "both.nnp", "frame.extxyz"], d)
    check(rc != 0 and "cannot run LAMMPS" in out, "pnnp-baseline without LAMMPS says so")
    rc, out = run([o.pnnp_baseline, "plain.nnp", "frame.extxyz"], d)
    check(rc != 0 and "declares no baseline" in out, "pnnp-baseline on a model without a baseline says so")
    with open(os.path.join(d, "train.cfg"), "w") as f:
        f.write(HYPER + "train frame.extxyz\nvalidation_fraction 0\nepochs 0\n"
                "baseline coulomb 10 1e-6 O:-0.834 H:0.417\nbaseline_cache caches\n")
    rc, out = run([o.pnnp_train, "train.cfg"], d)
    check(rc != 0 and "pnnp-baseline train.cfg" in out and "caches/frame.extxyz.baseline-" in out,
          "pnnp-train without the cache refuses, naming the cache (in baseline_cache) and the command")

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
           "baseline coulomb 10 1e-6 O:-0.834 dielectric 78\n": "one El:charge per species",
           "baseline c6c8 2 3 5 12 O-O:6:30 O-H:3:11 H-H:2:5\n": "form version '2'",
           "baseline c6c8 1 3 5 12 O-O:6:30 O-H:3:11\n": "one A-B:C6:C8 per species pair (3)",
           "baseline c6c8 1 5 3 12 O-O:6:30 O-H:3:11 H-H:2:5\n": "1 <= R_ZERO < R_FULL <= CUTOFF",
           "baseline c6c8 1 3 5 4 O-O:6:30 O-H:3:11 H-H:2:5\n": "1 <= R_ZERO < R_FULL <= CUTOFF",
           "baseline c6c8 1 0.5 5 12 O-O:6:30 O-H:3:11 H-H:2:5\n": "1 <= R_ZERO < R_FULL <= CUTOFF",
           "baseline c6c8 1 3 5 12 O-O:6:30 O-H:3:11 H-H:2\n": "is not A-B:C6:C8",
           "baseline c6c8 1 3 5 12 O-O:6:30 O-H:3:11 H-Na:2:5\n": "'Na' is not a species",
           "baseline c6c8 1 3 5 12 O-O:6:30 H-O:3:11 O-H:2:5\n": "pair O-H is given twice",
           "baseline c6c8 1 3 5 12 O-O:6:30 O-H:3:x H-H:2:5\n": "coefficients '3:x' of O-H",
           "baseline c6c8 1 3 5 12 O-O:6:30 O-H:3:11 H-H:2:5\nbaseline c6c8 1 3 5 12 O-O:6:30 O-H:3:11 H-H:2:5\n":
               "c6c8 is declared twice"}
    for line, want in bad.items():
        rc, out = init(o, d, "bad", line)
        check(rc != 0 and want in out, "pnnp-init refuses %r: %s" % (line.strip(), out.strip()[-120:]))

    # c6c8: canonical line, LAMMPS lines, and the table file against an independent evaluation of the formula
    c6c8 = "baseline c6c8 1 3.0 5 12.0 H-H:1.8:4.85 O-O:6.45:28.87 H-O:3.21:11.12\n"
    rc, out = init(o, d, "c6c8", c6c8)
    with open(os.path.join(d, "c6c8.nnp")) as f:
        text = f.read()
    line = "baseline c6c8 1 3 5 12 O-O:6.45:28.87 O-H:3.21:11.12 H-H:1.8:4.85"
    check(rc == 0 and line + "\n" in text, "c6c8: the line is canonical (species-order pairs, shortest numbers)")
    rc, out = run([o.pnnp_baseline, "--lammps", "c6c8.nnp"], d)
    tables = [f for f in os.listdir(d) if f.startswith("c6c8.nnp.c6c8-") and f.endswith(".table")]
    check(rc == 0 and "pair_style hybrid/overlay nnp ${nnp_options} born 12 table spline 5000\n" in out and
          'if "${nnp_ti} <= ${nnp_tj} && ${nnp_ei}_${nnp_ej} == H_O" then "pair_coeff ${nnp_ti} ${nnp_tj} born 0 1 0 '
          '3.21 -11.12" "pair_coeff ${nnp_ti} ${nnp_tj} table ${nnp_c6c8_table} H_O 5"' in out and
          "pair_modify pair born tail yes\n" in out and
          "variable nnp_c6c8_table index ${model}.c6c8-" in out and len(tables) == 1 and tables[0][9:] in out,
          "--lammps: born (A = 0, tail) + table sub-styles, pair_coeff per type pair from ${elements}, the table "
          "written next to the model under the name the lines read")
    if tables:
        check_c6c8_table(os.path.join(d, tables[0]), line)

    # the model reader: a damaged baseline line (checksum recomputed) is refused with its line number
    with open(os.path.join(d, "both.nnp")) as f:
        text = f.read()
    body = text[:text.rindex("checksum ")].replace("baseline d3 zero", "baseline d3 fancy")
    h = 0xcbf29ce484222325
    for b in body.encode():
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    with open(os.path.join(d, "damaged.nnp"), "w") as f:
        f.write(body + "checksum %016x\n" % h)
    rc, out = run([o.pnnp_eval, "damaged.nnp", "frame.extxyz"], d)
    check(rc != 0 and "line 16: baseline d3: damping 'fancy'" in out, "the reader names the line of a bad baseline")

    # every shipped potential has its LAMMPS include file, as pnnp-baseline --lammps writes it today
    pot = os.path.join(o.source, "potentials")
    for name in sorted(f[:-4] for f in os.listdir(pot) if f.endswith(".nnp")):
        rc, out = run([o.pnnp_baseline, "--lammps", "potentials/%s.nnp" % name], o.source)
        path = os.path.join(pot, name + ".lammps")
        shipped = open(path).read() if os.path.exists(path) else None
        check(rc == 0 and out == shipped, "potentials/%s.lammps is what pnnp-baseline --lammps writes" % name)

    print("%d check(s) failed" % len(FAILURES) if FAILURES else "all checks passed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
