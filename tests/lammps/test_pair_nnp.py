#!/usr/bin/env python3
"""Tests of `pair_style nnp` that drive the real LAMMPS binary with `plugin load` (standard library only).

    test_pair_nnp.py --lmp LMP --plugin pair_nnp.so --pnnp-init pnnp-init --pnnp-eval pnnp-eval \
                     [--mpirun mpirun] [--workdir DIR] CASE [CASE ...]

Cases:
  eval       energy, forces, per-atom energies and virial equal pnnp-eval's on an orthorhombic cell
  triclinic  the same on a triclinic cell
  parallel   1, 2, 4 MPI ranks x 1, 2 OpenMP threads agree to 1e-10 (small cell whose ghosts are periodic images of
             the same rank; a decomposition with empty subdomains, one of them without ghosts either)
  errors     unknown element, missing/damaged/truncated model, newton off, unmapped type, wrong pair_coeff args,
             unsupported units: each ends the run with a clear LAMMPS error
  pressure   the virial against central differences of the energy under box deformation (all six components)
  nve        energy conservation over 3000 steps of NVE on 2 ranks
  hybrid     hybrid/overlay nnp coul/long + pppm adds up; a type mapped to NULL is left out of nnp
  units      units real = units metal x 23.060549 (kcal/mol per eV)
  options    a model with model options (SiLU gates, residual flags, linear readout, radial frequencies) on 1 and
             2 ranks equals pnnp-eval
  product    product-family models (invariant and vector messages): equal pnnp-eval's on 1 rank, and 1, 2, 4 ranks
             agree to 1e-10 (the exchange carries only the message degrees)
  relist     atoms moved during a run (neighbour lists rebuilt, atoms migrating between 2 ranks, and a second run
             after atoms are deleted): the last step's energy and forces equal pnnp-eval's for those positions
Exit status 0 when every case passes.
"""
import argparse
import math
import os
import random
import re
import shutil
import subprocess
import sys

EV_TO_KCAL = 23.060549
NKTV2P = {"metal": 1.6021765e6, "real": 68568.415}
MASS = {"O": 15.9994, "H": 1.008, "Na": 22.98977, "Cl": 35.453, "X": 10.0}

HYPER = """species O H
r_cut 4.0
r_min 0.5
l_max 1
channels 8
layers 3
radial_basis 8
radial_hidden 16
readout_hidden 16
envelope_p 6
avg_num_neighbors 20
energy_shift -2.0 -1.0
energy_scale 0.5 0.3
"""

OPT = None
FAILURES = []


def check(ok, what):
    print(("  ok    " if ok else "  FAIL  ") + what, flush=True)
    if not ok:
        FAILURES.append(what)
    return ok


# ---------------------------------------------------------------------------------------------------------------------
# configurations


class Config:
    """Atoms in a LAMMPS-style cell: a = (lx,0,0), b = (xy,ly,0), c = (xz,yz,lz); origin 0."""

    def __init__(self, lx, ly, lz, xy=0.0, xz=0.0, yz=0.0, triclinic=None):
        self.cell = [[lx, 0.0, 0.0], [xy, ly, 0.0], [xz, yz, lz]]
        self.lx, self.ly, self.lz, self.xy, self.xz, self.yz = lx, ly, lz, xy, xz, yz
        self.triclinic = (xy != 0.0 or xz != 0.0 or yz != 0.0) if triclinic is None else triclinic
        self.symbols = []
        self.pos = []
        self.charges = []

    def frac_to_cart(self, f):
        c = self.cell
        return [f[0] * c[0][k] + f[1] * c[1][k] + f[2] * c[2][k] for k in range(3)]

    def min_dist(self, p):
        """Smallest periodic distance from p to any atom (images within one cell)."""
        best = 1e30
        c = self.cell
        for q in self.pos:
            d0 = [p[k] - q[k] for k in range(3)]
            for i in (-1, 0, 1):
                for j in (-1, 0, 1):
                    for k in (-1, 0, 1):
                        d = [d0[m] + i * c[0][m] + j * c[1][m] + k * c[2][m] for m in range(3)]
                        r = math.sqrt(d[0] ** 2 + d[1] ** 2 + d[2] ** 2)
                        if r < best:
                            best = r
        return best

    def fill(self, n, symbols, rng, dmin=1.0, region=None):
        """n random atoms with species drawn in turn from `symbols`, at least dmin apart; region limits the
        fractional coordinates: ((f0lo, f0hi), (f1lo, f1hi), (f2lo, f2hi))."""
        region = region or ((0, 1), (0, 1), (0, 1))
        tries = 0
        while len(self.pos) < n:
            tries += 1
            if tries > 200000:
                raise RuntimeError("cannot place atoms")
            f = [region[k][0] + (region[k][1] - region[k][0]) * rng.random() for k in range(3)]
            p = self.frac_to_cart(f)
            if self.min_dist(p) < dmin:
                continue
            self.pos.append(p)
            self.symbols.append(symbols[len(self.symbols) % len(symbols)])
        return self

    def volume(self):
        return self.lx * self.ly * self.lz

    def write_data(self, path, type_of, atom_style="atomic"):
        types = sorted(set(type_of.values()))
        ntypes = max(types)
        inv = {t: s for s, t in type_of.items()}
        with open(path, "w") as f:
            f.write("pair_nnp test configuration\n\n%d atoms\n%d atom types\n\n" % (len(self.pos), ntypes))
            f.write("0 %.17g xlo xhi\n0 %.17g ylo yhi\n0 %.17g zlo zhi\n" % (self.lx, self.ly, self.lz))
            if self.triclinic:
                f.write("%.17g %.17g %.17g xy xz yz\n" % (self.xy, self.xz, self.yz))
            f.write("\nMasses\n\n")
            for t in range(1, ntypes + 1):
                f.write("%d %.6f\n" % (t, MASS.get(inv.get(t, "X"), 10.0)))
            f.write("\nAtoms # %s\n\n" % atom_style)
            for i, (s, p) in enumerate(zip(self.symbols, self.pos)):
                if atom_style == "charge":
                    q = self.charges[i] if self.charges else 0.0
                    f.write("%d %d %.17g %.17g %.17g %.17g\n" % (i + 1, type_of[s], q, p[0], p[1], p[2]))
                else:
                    f.write("%d %d %.17g %.17g %.17g\n" % (i + 1, type_of[s], p[0], p[1], p[2]))

    def write_extxyz(self, path, keep=None):
        idx = [i for i in range(len(self.pos)) if keep is None or keep(self.symbols[i])]
        with open(path, "w") as f:
            f.write("%d\n" % len(idx))
            f.write('Lattice="%s" Properties=species:S:1:pos:R:3 pbc="T T T"\n'
                    % " ".join("%.17g" % x for row in self.cell for x in row))
            for i in idx:
                f.write("%s %.17g %.17g %.17g\n" % (self.symbols[i], *self.pos[i]))
        return idx


# ---------------------------------------------------------------------------------------------------------------------
# tools


def run(cmd, cwd, env=None, timeout=600):
    e = dict(os.environ)
    e.setdefault("OMP_NUM_THREADS", "1")
    if env:
        e.update(env)
    try:
        p = subprocess.run(cmd, cwd=cwd, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                           universal_newlines=True)
    except subprocess.TimeoutExpired as x:
        out = x.stdout.decode(errors="replace") if isinstance(x.stdout, bytes) else (x.stdout or "")
        return -1, out + "\n*** timed out after %d s (a deadlock in the feature exchange?)\n" % timeout
    return p.returncode, p.stdout


def casedir(name):
    d = os.path.join(OPT.workdir, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def make_model(d, name="model.nnp", hyper=HYPER, seed=7):
    hp = os.path.join(d, name + ".hyper")
    with open(hp, "w") as f:
        f.write(hyper)
    rc, out = run([OPT.pnnp_init, hp, os.path.join(d, name), "--seed", str(seed)], d)
    if rc != 0:
        raise RuntimeError("pnnp-init failed:\n" + out)
    return os.path.join(d, name)


def nnp_eval(d, model, xyz, extra=()):
    pred = os.path.join(d, "pred.extxyz")
    rc, out = run([OPT.pnnp_eval, model, xyz, "--predictions", pred] + list(extra), d)
    if rc != 0:
        raise RuntimeError("pnnp-eval failed:\n" + out)
    return read_extxyz_predictions(pred)


def read_extxyz_predictions(path):
    with open(path) as f:
        lines = f.read().splitlines()
    n = int(lines[0])
    head = lines[1]
    kv = dict((m.group(1).lower(), m.group(2) if m.group(2) is not None else m.group(3))
              for m in re.finditer(r'(\w+)=(?:"([^"]*)"|(\S+))', head))
    props = kv["properties"].split(":")
    cols, c = {}, 0
    for i in range(0, len(props), 3):
        w = int(props[i + 2])
        cols[props[i].lower()] = (c, w)
        c += w
    rows = [lines[2 + i].split() for i in range(n)]

    def col(name):
        s, w = cols[name]
        return [[float(r[s + k]) for k in range(w)] for r in rows]

    v9 = [float(x) for x in kv["virial"].split()]
    return {"energy": float(kv["energy"]), "forces": col("forces"),
            "energies": [x[0] for x in col("energies")] if "energies" in cols else None,
            "virial": [v9[0], v9[4], v9[8], v9[1], v9[2], v9[5]]}


LMP_HEAD = """units {units}
atom_style {atom_style}
boundary p p p
{processors}
read_data {data}
plugin load {plugin}
"""

# Exact radial functions, so results can be compared with pnnp-eval to round-off; case_tables covers the default.
LMP_NNP = """pair_style nnp radial_step 0
pair_coeff * * {model} {elements}
"""

LMP_TAIL = """neighbor 1.0 bin
compute pea all pe/atom
compute sa all stress/atom NULL virial
compute vir all pressure NULL virial
thermo_style custom step pe vol c_vir[1] c_vir[2] c_vir[3] c_vir[4] c_vir[5] c_vir[6]
thermo_modify format float %.17g
dump d all custom 1 dump.out id type fx fy fz c_pea c_sa[1] c_sa[2] c_sa[3] c_sa[4] c_sa[5] c_sa[6]
dump_modify d sort id format float %.17g
run 0
"""


def lammps(d, script, np=1, threads=1, name="in.lmp", timeout=300, extra_env=None):
    with open(os.path.join(d, name), "w") as f:
        f.write(script)
    cmd = [OPT.lmp, "-in", name, "-log", name + ".log", "-echo", "none"]
    if np > 1 or OPT.always_mpirun:
        cmd = [OPT.mpirun, "--oversubscribe", "--allow-run-as-root", "-np", str(np)] + cmd
    env = {"OMP_NUM_THREADS": str(threads)}
    if extra_env:
        env.update(extra_env)
    return run(cmd, d, env=env, timeout=timeout)


def thermo_rows(out):
    """All thermo rows as dicts, keyed by the header's column names."""
    rows, header = [], None
    for line in out.splitlines():
        t = line.split()
        if t and t[0] == "Step":
            header = t
            continue
        if header and t:
            try:
                vals = [float(x) for x in t]
            except ValueError:
                header = None if line.startswith("Loop time") else header
                continue
            if len(vals) == len(header):
                rows.append(dict(zip(header, vals)))
    return rows


def read_dump(path):
    with open(path) as f:
        lines = f.read().splitlines()
    i = lines.index("ITEM: NUMBER OF ATOMS")
    n = int(lines[i + 1])
    j = [k for k, l in enumerate(lines) if l.startswith("ITEM: ATOMS")][0]
    names = lines[j].split()[2:]
    data = {k: [] for k in names}
    for l in lines[j + 1:j + 1 + n]:
        for k, v in zip(names, l.split()):
            data[k].append(float(v))
    return data


def lmp_result(d, out, units="metal"):
    rows = thermo_rows(out)
    if not rows:
        return None
    r = rows[-1]
    dump = read_dump(os.path.join(d, "dump.out"))
    vol = r["Volume"]
    press = [r["c_vir[%d]" % k] for k in range(1, 7)]
    return {"energy": r["PotEng"], "press": press,
            "virial": [p * vol / NKTV2P[units] for p in press],
            "forces": [[a, b, c] for a, b, c in zip(dump["fx"], dump["fy"], dump["fz"])],
            "energies": dump["c_pea"],
            "svirial": [[dump["c_sa[%d]" % k][i] for k in range(1, 7)] for i in range(len(dump["c_pea"]))]}


def maxabs(a):
    m = 0.0
    for x in a:
        if isinstance(x, list):
            m = max(m, maxabs(x))
        else:
            m = max(m, abs(x))
    return m


def maxdiff(a, b):
    m = 0.0
    for x, y in zip(a, b):
        if isinstance(x, list):
            m = max(m, maxdiff(x, y))
        else:
            m = max(m, abs(x - y))
    return m


def close(a, b, rel, what, scale=None):
    if isinstance(a, list):
        if len(a) != len(b):
            return check(False, "%s: lengths %d vs %d" % (what, len(a), len(b)))
        s = scale if scale is not None else max(maxabs(a), maxabs(b), 1e-300)
        dev = maxdiff(a, b) / s
    else:
        s = scale if scale is not None else max(abs(a), abs(b), 1e-300)
        dev = abs(a - b) / s
    return check(dev <= rel, "%s: relative deviation %.3g (tolerance %.1g)" % (what, dev, rel))


def nnp_input(d, cfg, model, elements="O H", units="metal", processors="", extra="", atom_style="atomic",
              pair=None, type_of=None):
    type_of = type_of or {"O": 1, "H": 2}
    cfg.write_data(os.path.join(d, "data.lmp"), type_of, atom_style)
    s = LMP_HEAD.format(units=units, atom_style=atom_style, processors=processors, data="data.lmp",
                        plugin=OPT.plugin)
    s += pair if pair is not None else LMP_NNP.format(model=model, elements=elements)
    return s + extra + LMP_TAIL


def water_config(rng, lx, ly, lz, xy=0.0, xz=0.0, yz=0.0, n=None, region=None, triclinic=None):
    cfg = Config(lx, ly, lz, xy, xz, yz, triclinic=triclinic)
    if n is None:
        n = int(0.08 * lx * ly * lz) // 3 * 3
    return cfg.fill(n, ["O", "H", "H"], rng, dmin=1.0, region=region)


# ---------------------------------------------------------------------------------------------------------------------
# cases


def compare_with_eval(name, cfg):
    d = casedir(name)
    model = make_model(d)
    cfg.write_extxyz(os.path.join(d, "conf.extxyz"))
    ref = nnp_eval(d, model, os.path.join(d, "conf.extxyz"))
    rc, out = lammps(d, nnp_input(d, cfg, model))
    if not check(rc == 0, "%s: lmp run (%d atoms%s)" % (name, len(cfg.pos), ", triclinic" if cfg.triclinic else "")):
        print(out[-3000:])
        return
    r = lmp_result(d, out)
    close(r["energy"], ref["energy"], 1e-10, name + ": energy vs pnnp-eval (%.10g eV)" % ref["energy"])
    close(r["forces"], ref["forces"], 1e-10, name + ": forces vs pnnp-eval")
    if ref["energies"] is not None:
        close(r["energies"], ref["energies"], 1e-10, name + ": per-atom energies vs pnnp-eval")
    close(r["virial"], ref["virial"], 1e-9, name + ": virial vs pnnp-eval")
    # The per-atom virial sums to the global one (compute stress/atom = -virial per atom, in pressure*volume).
    ssum = [-sum(a[k] for a in r["svirial"]) / NKTV2P["metal"] for k in range(6)]
    close(ssum, ref["virial"], 1e-9, name + ": sum of per-atom virials vs virial")
    check(maxabs(r["forces"]) > 1e-3, name + ": forces are not trivially zero (max %.3g eV/A)" % maxabs(r["forces"]))


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def options_model(d):
    """pnnp-init's model (3 layers) with the model options that keep its parameter shapes (docs/model.md, "Model
    options": SiLU gates, no residual in layer 0, a linear readout, radial frequencies), as format 2, re-signed."""
    model = make_model(d, seed=13)
    with open(model, "rb") as f:
        data = f.read()
    body = data[:data.rindex(b"checksum ")]
    head, rest = body.split(b"\nparam ", 1)
    nb = int(re.search(rb"\nradial_basis (\d+)", head).group(1))
    freqs = " ".join("%.3f" % (3.0 * (n + 1) + 0.2 * n * n) for n in range(nb)).encode()
    head = head.replace(b"pair_nnp-model 1\n", b"pair_nnp-model 2\n", 1)
    head += (b"\ngate_activation silu\nresidual 0 1 1\nreadout_activation none\nradial_frequencies " + freqs)
    body = head + b"\nparam " + rest
    with open(model, "wb") as f:
        f.write(body + b"checksum %016x\n" % fnv1a64(body))
    return model


def case_options():
    """A model with options (an imported NequIP model's, docs/nequip.md) on 1 and 2 ranks equals pnnp-eval."""
    d = casedir("options")
    model = options_model(d)
    cfg = water_config(random.Random(9), 9.0, 9.5, 10.0, xy=1.0, xz=-0.5, yz=0.7)
    cfg.write_extxyz(os.path.join(d, "conf.extxyz"))
    ref = nnp_eval(d, model, os.path.join(d, "conf.extxyz"))
    for np, proc in ((1, ""), (2, "processors 2 1 1")):
        rc, out = lammps(d, nnp_input(d, cfg, model, processors=proc), np=np, timeout=120)
        label = "options: %d rank(s)" % np
        if not check(rc == 0, label + ": lmp run"):
            print(out[-3000:])
            continue
        r = lmp_result(d, out)
        close(r["energy"], ref["energy"], 1e-10, label + ": energy vs pnnp-eval (%.10g eV)" % ref["energy"])
        close(r["forces"], ref["forces"], 1e-10, label + ": forces vs pnnp-eval")
        close(r["virial"], ref["virial"], 1e-9, label + ": virial vs pnnp-eval")


def case_eval():
    compare_with_eval("eval", water_config(random.Random(1), 9.0, 10.0, 11.0))


def case_tables():
    """The default pair_style (radial tables, 0.01 A knots) equals pnnp-eval with the same tables to round-off and the
    exact evaluation to within 1e-6 eV/A."""
    d = casedir("tables")
    model = make_model(d)
    cfg = water_config(random.Random(5), 9.0, 10.0, 11.0)
    cfg.write_extxyz(os.path.join(d, "conf.extxyz"))
    tab = nnp_eval(d, model, os.path.join(d, "conf.extxyz"), ["--radial-step", "0.01"])
    exact = nnp_eval(d, model, os.path.join(d, "conf.extxyz"))
    pair = "pair_style nnp\npair_coeff * * %s O H\n" % model
    rc, out = lammps(d, nnp_input(d, cfg, model, pair=pair))
    if not check(rc == 0, "tables: lmp run with the default pair_style"):
        print(out[-3000:])
        return
    r = lmp_result(d, out)
    close(r["energy"], tab["energy"], 1e-10, "tables: energy vs pnnp-eval --radial-step 0.01")
    close(r["forces"], tab["forces"], 1e-10, "tables: forces vs pnnp-eval --radial-step 0.01")
    err = maxdiff(r["forces"], exact["forces"])
    check(err < 1e-6, "tables: forces within 1e-6 eV/A of the exact radial MLP (max error %.2e eV/A)" % err)
    check(re.search(r"radial functions from tables with knots 0.01 A apart; estimated table error [0-9.e+-]+ of", out)
          is not None, "tables: the log reports the step and the tables' estimated error")

    # A re-issued `pair_style nnp radial_step X` applies to the loaded model (LAMMPS calls settings() on the existing
    # instance): exact first, then 0.03 A tables, which must give pnnp-eval --radial-step 0.03 to round-off.
    coarse = nnp_eval(d, model, os.path.join(d, "conf.extxyz"), ["--radial-step", "0.03"])
    pair = "pair_style nnp radial_step 0\npair_coeff * * %s O H\n" % model
    script = nnp_input(d, cfg, model, pair=pair) + "pair_style nnp radial_step 0.03\nrun 0\n"
    rc, out = lammps(d, script, name="in.restep.lmp")
    rows = thermo_rows(out)
    if check(rc == 0 and len(rows) >= 2, "tables: pair_style nnp re-issued with another radial_step"):
        # the 0.03 A tables move the energy by ~4e-7 eV here, over ten times the 1e-10 relative agreement of two
        # evaluations with the same tables, so a run that kept the old (exact) step cannot pass the check below
        check(abs(coarse["energy"] - exact["energy"]) > 10 * 1e-10 * abs(exact["energy"]),
              "tables: 0.03 A tables change the energy measurably (%.3g eV)" % (coarse["energy"] - exact["energy"]))
        close(rows[0]["PotEng"], exact["energy"], 1e-10, "tables: first run exact")
        close(rows[-1]["PotEng"], coarse["energy"], 1e-10, "tables: after `pair_style nnp radial_step 0.03` the run "
              "uses 0.03 A tables")

    # Absurd steps are refused with the step the error bound allows, not run with garbage energies.
    pair = "pair_style nnp radial_step 4.5\npair_coeff * * %s O H\n" % model
    expect_error(d, "radial_step 4.5", nnp_input(d, cfg, model, pair=pair), r"radial table step 4.5 A is too coarse")
    # float32 convolutions: within the round-off bound derived in tests/test_core.c (test_single_precision):
    # 20 chained sums of <= 50 terms at u = 2^-24, relative to the largest force
    pair = "pair_style nnp precision single\npair_coeff * * %s O H\n" % model
    rc, out = lammps(d, nnp_input(d, cfg, model, pair=pair), name="in.single")
    if not check(rc == 0, "tables: lmp run with precision single"):
        print(out[-3000:])
        return
    rs = lmp_result(d, out)
    bound = 20 * 50 * 2.0 ** -24 * maxabs(tab["forces"])
    err = maxdiff(rs["forces"], tab["forces"])
    check(0 < err < bound, "precision single: forces within %.2e eV/A of float64 (max error %.2e eV/A)" % (bound, err))


def case_triclinic():
    compare_with_eval("triclinic", water_config(random.Random(2), 9.0, 9.5, 10.0, xy=2.0, xz=-1.5, yz=1.0))


def case_parallel():
    setups = [
        # a cell smaller than 2 r_cut: ghosts are images of the same atoms, several per atom, on one rank or more
        ("small", water_config(random.Random(3), 5.5, 5.8, 6.0, xy=0.7, xz=0.3, yz=-0.4), [
            (1, 1, ""), (1, 2, ""), (2, 1, "processors 2 1 1"), (4, 1, "processors 2 2 1"),
            (4, 1, "processors 1 1 4"), (2, 2, "processors 1 2 1")]),
        # atoms only in x < 6 of a 24 A box: with 4 ranks along x, rank 1 has ghosts but no atoms and rank 2 has
        # neither atoms nor ghosts
        ("empty", water_config(random.Random(4), 24.0, 8.0, 8.0, n=36, region=((0.0, 0.25), (0, 1), (0, 1))), [
            (1, 1, ""), (2, 1, "processors 2 1 1"), (4, 1, "processors 4 1 1"), (4, 2, "processors 4 1 1")]),
        # non-periodic: on 2 ranks, rank 0 has atoms but no ghosts while rank 1 holds ghosts of rank 0's atoms, so
        # rank 0 must still take part in every exchange
        ("open", water_config(random.Random(6), 24.0, 8.0, 8.0, n=45, region=((0.3, 0.5), (0.05, 0.95), (0.05, 0.95))),
         [(1, 1, "boundary f f f"), (2, 1, "boundary f f f\nprocessors 2 1 1"),
          (4, 1, "boundary f f f\nprocessors 4 1 1")]),
        # a larger cell, default decompositions
        ("bulk", water_config(random.Random(5), 12.0, 11.0, 10.0), [
            (1, 1, ""), (1, 2, ""), (2, 1, ""), (4, 1, ""), (2, 2, ""), (3, 1, "comm_style tiled"),
            (4, 1, ("comm_style tiled", "balance 1.0 rcb"))]),
    ]
    for name, cfg, runs in setups:
        d = casedir("parallel-" + name)
        model = make_model(d)
        base = None
        for np, nt, proc in runs:
            pre, post = proc if isinstance(proc, tuple) else (proc, "")
            rc, out = lammps(d, nnp_input(d, cfg, model, processors=pre, extra=post + "\n"), np=np, threads=nt,
                             timeout=60)
            setup = "; ".join(x for x in (pre + "\n" + post).splitlines() if x)
            label = "parallel-%s: %d rank(s) x %d thread(s) %s" % (name, np, nt, setup)
            if not check(rc == 0, label + ": lmp run"):
                print(out[-3000:])
                continue
            r = lmp_result(d, out)
            if base is None:
                base = r
                continue
            close(r["energy"], base["energy"], 1e-10, label + ": energy")
            close(r["forces"], base["forces"], 1e-10, label + ": forces")
            close(r["press"], base["press"], 1e-10, label + ": virial")
            close(r["energies"], base["energies"], 1e-10, label + ": per-atom energies")
            close(r["svirial"], base["svirial"], 1e-10, label + ": per-atom virials")
        if name == "empty" or name == "small":
            cfg.write_extxyz(os.path.join(d, "conf.extxyz"))
            ref = nnp_eval(d, model, os.path.join(d, "conf.extxyz"))
            if base:
                close(base["energy"], ref["energy"], 1e-10, "parallel-%s: energy vs pnnp-eval" % name)
                close(base["forces"], ref["forces"], 1e-10, "parallel-%s: forces vs pnnp-eval" % name)


def expect_error(d, label, script, pattern, np=1):
    rc, out = lammps(d, script, np=np, name="in.%s.lmp" % re.sub(r"\W+", "_", label))
    crashed = re.search(r"Segmentation|signal \d+|core dumped|Aborted", out) is not None
    m = re.search(r"ERROR.*", out)
    msg = m.group(0) if m else "(no ERROR line)"
    ok = rc != 0 and m is not None and re.search(pattern, out) is not None and not crashed
    check(ok, "errors: %s -> %s" % (label, msg.strip()[:200]))
    if not ok:
        print(out[-2000:])


def case_errors():
    d = casedir("errors")
    model = make_model(d)
    cfg = water_config(random.Random(6), 8.0, 8.0, 8.0)
    with open(model) as f:
        text = f.read()
    damaged = os.path.join(d, "damaged.nnp")
    lines = text.splitlines(True)
    k = [i for i, l in enumerate(lines) if l.startswith("param ")][1] + 1
    lines[k] = re.sub(r"\d", "7", lines[k], count=3)
    with open(damaged, "w") as f:
        f.write("".join(lines))
    truncated = os.path.join(d, "truncated.nnp")
    with open(truncated, "w") as f:
        f.write(text[: len(text) // 2])
    future = os.path.join(d, "future.nnp")
    with open(future, "w") as f:
        f.write(text.replace("pair_nnp-model 1", "pair_nnp-model 99", 1))

    def inp(elements="O H", model_path=model, extra_head="", units="metal", types=None):
        s = nnp_input(d, cfg, model_path, elements=elements, units=units, type_of=types)
        return s.replace("read_data", extra_head + "read_data")

    expect_error(d, "unknown element", inp("O Xx"), r"element Xx \(atom type 2\) is not a species")
    expect_error(d, "missing model file", inp(model_path=os.path.join(d, "nonexistent.nnp")),
                 r"cannot read model file .*nonexistent.nnp: No such file")
    expect_error(d, "missing model file, 2 ranks", inp(model_path=os.path.join(d, "nonexistent.nnp")),
                 r"cannot read model file", np=2)
    expect_error(d, "damaged model file", inp(model_path=damaged), r"cannot use model file .*damaged.nnp")
    expect_error(d, "truncated model file", inp(model_path=truncated), r"cannot use model file .*truncated.nnp")
    expect_error(d, "future-version model file", inp(model_path=future), r"cannot use model file .*future.nnp")
    expect_error(d, "newton off", inp(extra_head="newton off\n"), r"requires newton pair on")
    close = Config(8.0, 8.0, 8.0)
    close.symbols, close.pos = list(cfg.symbols), [list(p) for p in cfg.pos]
    close.pos[1] = [close.pos[0][0] + 0.2, close.pos[0][1], close.pos[0][2]]
    expect_error(d, "atoms closer than the model's r_min",
                 nnp_input(d, close, model), r"evaluation failed .*0\.2000 Angstrom apart.*\(r_min\)")
    expect_error(d, "atoms closer than the model's r_min, 2 ranks",
                 nnp_input(d, close, model), r"0\.2000 Angstrom apart", np=2)
    expect_error(d, "too few elements", inp("O"), r"one element symbol \(or NULL\) for each of the 2 atom types")
    expect_error(d, "too many elements", inp("O H H"), r"for each of the 2 atom types, got 3")
    expect_error(d, "type mapped to NULL outside hybrid", inp("O NULL"), r"atom type 2 is mapped to NULL")
    expect_error(d, "units lj", inp(units="lj"), r"supports units metal and real")
    expect_error(d, "pair_style with a stray argument", inp().replace("pair_style nnp radial_step 0", "pair_style nnp 5.0"),
                 r"pair_style nnp takes the optional keywords")
    expect_error(d, "pair_style with a bad precision",
                 inp().replace("pair_style nnp radial_step 0", "pair_style nnp precision half"), r"bad precision half")
    expect_error(d, "precision single without tables",
                 inp().replace("pair_style nnp radial_step 0", "pair_style nnp radial_step 0 precision single"),
                 r"precision single needs radial tables")
    expect_error(d, "pair_style with an unknown keyword", inp().replace("pair_style nnp radial_step 0", "pair_style nnp tables 5.0"),
                 r"radial_step A.*not tables")
    # Not an error: a relative model path is also looked up in $LAMMPS_POTENTIALS.
    os.makedirs(os.path.join(d, "pots"))
    shutil.copy(model, os.path.join(d, "pots", "in-potentials-dir.nnp"))
    rc, out = lammps(d, inp(model_path="in-potentials-dir.nnp"), name="in.potdir.lmp",
                     extra_env={"LAMMPS_POTENTIALS": os.path.join(d, "pots")})
    check(rc == 0 and "Loop time" in out, "errors: a relative model path is found through LAMMPS_POTENTIALS")


def case_pressure():
    d = casedir("pressure")
    model = make_model(d)
    cfg = water_config(random.Random(7), 9.0, 9.5, 10.0, triclinic=True)
    cfg.write_data(os.path.join(d, "data.lmp"), {"O": 1, "H": 2})
    h = 1e-5
    dims = {"xx": ("x", cfg.lx), "yy": ("y", cfg.ly), "zz": ("z", cfg.lz), "xy": ("xy", cfg.ly),
            "xz": ("xz", cfg.lz), "yz": ("yz", cfg.lz)}
    s = LMP_HEAD.format(units="metal", atom_style="atomic", processors="", data="data.lmp", plugin=OPT.plugin)
    s += LMP_NNP.format(model=model, elements="O H")
    s += "neighbor 1.0 bin\ncompute vir all pressure NULL virial\n"
    s += "thermo_style custom step pe vol c_vir[1] c_vir[2] c_vir[3] c_vir[4] c_vir[5] c_vir[6]\n"
    s += "thermo_modify format float %.17g\nrun 0\n"
    # Affine strain e_ab (x_a += e x_b) of the cell and atoms; dE/de_ab = -W_ab.
    for comp, (dim, length) in dims.items():
        for sign in (+1, -1):
            if comp in ("xx", "yy", "zz"):
                s += "change_box all %s scale %.17g remap units box\nrun 0\n" % (dim, 1 + sign * h)
                s += "change_box all %s scale %.17g remap units box\n" % (dim, 1 / (1 + sign * h))
            else:
                s += "change_box all %s delta %.17g remap units box\nrun 0\n" % (dim, sign * h * length)
                s += "change_box all %s delta %.17g remap units box\n" % (dim, -sign * h * length)
    rc, out = lammps(d, s, np=2)
    if not check(rc == 0, "pressure: lmp run"):
        print(out[-3000:])
        return
    rows = [r for r in thermo_rows(out)]
    if not check(len(rows) == 13, "pressure: 13 energy evaluations (got %d)" % len(rows)):
        return
    r0 = rows[0]
    w = [r0["c_vir[%d]" % k] * r0["Volume"] / NKTV2P["metal"] for k in range(1, 7)]
    fd = []
    for i, comp in enumerate(dims):
        ep, em = rows[1 + 2 * i]["PotEng"], rows[2 + 2 * i]["PotEng"]
        fd.append(-(ep - em) / (2 * h))
    for i, comp in enumerate(dims):
        close(w[i], fd[i], 1e-6, "pressure: W_%s = %.8g eV vs -dE/de_%s = %.8g eV" % (comp, w[i], comp, fd[i]),
              scale=max(maxabs(w), 1e-3))


def case_nve():
    # A random model has no short-range repulsion (it may well be attractive), so a smooth soft-core repulsion
    # (pair_style soft, A = 3 eV within 1.2 A) is overlaid to keep atoms apart for the whole run; the nnp part of the
    # potential energy is checked to change by far more than the total energy does.
    d = casedir("nve")
    model = make_model(d, hyper=HYPER.replace("r_min 0.5", "r_min 0.3"), seed=11)
    cfg = Config(11.0, 11.0, 11.0).fill(90, ["O", "H", "H"], random.Random(8), dmin=1.4)
    cfg.write_data(os.path.join(d, "data.lmp"), {"O": 1, "H": 2})
    nsteps = 3000
    s = LMP_HEAD.format(units="metal", atom_style="atomic", processors="", data="data.lmp", plugin=OPT.plugin)
    s += """pair_style hybrid/overlay nnp radial_step 0 soft 1.2
pair_coeff * * nnp {model} O H
pair_coeff * * soft 3.0
mass * 16.0
neighbor 1.0 bin
neigh_modify every 1 delay 0 check yes
compute pn all pair nnp
velocity all create 100.0 4928459 mom yes rot yes dist gaussian
timestep 0.0005
fix 1 all nve
thermo_style custom step temp pe ke etotal c_pn
thermo_modify format float %.17g
thermo 50
run {n}
""".format(model=model, n=nsteps)
    rc, out = lammps(d, s, np=2, timeout=900)
    if not check(rc == 0, "nve: lmp run of %d steps on 2 ranks (%d atoms)" % (nsteps, len(cfg.pos))):
        print(out[-3000:])
        return
    rows = thermo_rows(out)
    if not check(len(rows) == nsteps // 50 + 1, "nve: thermo rows"):
        return
    e = [r["TotEng"] for r in rows]
    ke = sum(r["KinEng"] for r in rows) / len(rows)
    dev = max(abs(x - e[0]) for x in e)
    pe_span = max(r["c_pn"] for r in rows) - min(r["c_pn"] for r in rows)
    print("    mean KE %.6g eV, nnp energy span %.6g eV, max |E - E0| %.3g eV" % (ke, pe_span, dev))
    check(pe_span > 10 * dev, "nve: the nnp energy moves (%.3g eV) far more than the total energy (%.3g eV)"
          % (pe_span, dev))
    check(dev < 1e-3 * ke, "nve: max |E(t) - E(0)| = %.3g eV < 1e-3 x mean KE (%.3g eV)" % (dev, ke))
    # drift: slope of a least-squares line through E(t) over the run
    n = len(e)
    tm = (n - 1) / 2
    slope = sum((i - tm) * (x - sum(e) / n) for i, x in enumerate(e)) / sum((i - tm) ** 2 for i in range(n))
    check(abs(slope * (n - 1)) < 5e-4 * ke, "nve: drift over the run %.3g eV < 5e-4 x mean KE" % (slope * (n - 1)))


def case_hybrid():
    d = casedir("hybrid")
    model = make_model(d)
    rng = random.Random(9)
    cfg = water_config(rng, 10.0, 10.5, 11.0)
    cfg.charges = [-0.8476 if s == "O" else 0.4238 for s in cfg.symbols]
    tail = "kspace_style pppm 1.0e-6\n"
    runs = {
        "hybrid": "pair_style hybrid/overlay nnp radial_step 0 coul/long 6.0\npair_coeff * * nnp %s O H\n"
                  "pair_coeff * * coul/long\n" % model,
        "nnp": LMP_NNP.format(model=model, elements="O H"),
        "coul": "pair_style coul/long 6.0\npair_coeff * *\n",
    }
    res = {}
    for name, pair in runs.items():
        extra = tail if name != "nnp" else ""
        rc, out = lammps(d, nnp_input(d, cfg, model, atom_style="charge", pair=pair, extra=extra), np=2,
                         name="in.%s.lmp" % name)
        if not check(rc == 0, "hybrid: %s run" % name):
            print(out[-3000:])
            return
        res[name] = lmp_result(d, out)
    h, n, c = res["hybrid"], res["nnp"], res["coul"]
    close(h["energy"], n["energy"] + c["energy"], 1e-10, "hybrid: E(nnp + coul/long/pppm) = E(nnp) + E(coul/pppm)",
          scale=abs(n["energy"]) + abs(c["energy"]))
    fsum = [[a + b for a, b in zip(x, y)] for x, y in zip(n["forces"], c["forces"])]
    close(h["forces"], fsum, 1e-8, "hybrid: forces add up")

    # A third type mapped to NULL: nnp ignores those atoms; lj/cut (epsilon 0) keeps them in the run.
    cfg3 = water_config(random.Random(10), 10.0, 10.5, 11.0)
    for i in range(0, len(cfg3.symbols), 7):
        cfg3.symbols[i] = "Na"
    pair = ("pair_style hybrid/overlay nnp radial_step 0 lj/cut 3.0\npair_coeff * * nnp %s O H NULL\n"
            "pair_coeff * * lj/cut 0.0 1.0\n" % model)
    extra = "compute pnnp all pair nnp\nthermo_style custom step pe vol c_pnnp\n"
    s = nnp_input(d, cfg3, model, pair=pair, type_of={"O": 1, "H": 2, "Na": 3})
    s = s.replace("thermo_style custom step pe vol c_vir[1] c_vir[2] c_vir[3] c_vir[4] c_vir[5] c_vir[6]",
                  "thermo_style custom step pe vol c_pnnp c_vir[1] c_vir[2] c_vir[3] c_vir[4] c_vir[5] c_vir[6]")
    s = s.replace("neighbor 1.0 bin", "neighbor 1.0 bin\ncompute pnnp all pair nnp")
    for np in (1, 2):
        rc, out = lammps(d, s, np=np, name="in.null.lmp")
        if not check(rc == 0, "hybrid: nnp with a NULL type under hybrid/overlay, %d rank(s)" % np):
            print(out[-3000:])
            return
        r = lmp_result(d, out)
        rows = thermo_rows(out)
        idx = cfg3.write_extxyz(os.path.join(d, "sub.extxyz"), keep=lambda s: s != "Na")
        ref = nnp_eval(d, model, os.path.join(d, "sub.extxyz"))
        close(rows[-1]["c_pnnp"], ref["energy"], 1e-10, "hybrid: nnp energy with type 3 NULL = pnnp-eval without it")
        close([r["forces"][i] for i in idx], ref["forces"], 1e-10, "hybrid: forces on mapped atoms = pnnp-eval")
        na = [i for i in range(len(cfg3.symbols)) if cfg3.symbols[i] == "Na"]
        check(maxabs([r["forces"][i] for i in na]) == 0.0, "hybrid: no force on NULL-type atoms")


def case_units():
    d = casedir("units")
    model = make_model(d)
    cfg = water_config(random.Random(12), 9.0, 9.5, 10.0, xy=1.0)
    res = {}
    for units in ("metal", "real"):
        rc, out = lammps(d, nnp_input(d, cfg, model, units=units), np=2, name="in.%s.lmp" % units)
        if not check(rc == 0, "units: %s run" % units):
            print(out[-3000:])
            return
        res[units] = lmp_result(d, out, units)
    m, r = res["metal"], res["real"]
    close(r["energy"], EV_TO_KCAL * m["energy"], 1e-12, "units: E(real) = 23.060549 E(metal)")
    close(r["forces"], [[EV_TO_KCAL * x for x in f] for f in m["forces"]], 1e-12, "units: forces")
    close(r["virial"], [EV_TO_KCAL * x for x in m["virial"]], 1e-9, "units: virial")
    close(r["energies"], [EV_TO_KCAL * x for x in m["energies"]], 1e-12, "units: per-atom energies")


def case_relist():
    """pair_style nnp copies LAMMPS's neighbour lists only when LAMMPS rebuilds them (Neighbor::ncalls). fix move
    drives every atom with its own constant velocity, so lists are rebuilt during the run and atoms change rank;
    a stale copy would pair the wrong atoms. A second run after delete_atoms checks the copy is renewed at init."""
    d = casedir("relist")
    model = make_model(d)
    cfg = water_config(random.Random(13), 9.0, 10.0, 11.0)
    cfg.write_data(os.path.join(d, "data.lmp"), {"O": 1, "H": 2})
    s = LMP_HEAD.format(units="metal", atom_style="atomic", processors="", data="data.lmp", plugin=OPT.plugin)
    s += LMP_NNP.format(model=model, elements="O H")
    s += """neighbor 0.1 bin
neigh_modify every 1 delay 0 check yes
variable vx atom 0.5*sin(1.7*id)
variable vy atom 0.5*cos(2.3*id)
variable vz atom 0.5*sin(0.9*id+1)
fix move all move variable NULL NULL NULL v_vx v_vy v_vz
timestep 0.001
thermo_style custom step pe
thermo_modify format float %.17g
thermo 300
dump d all custom 300 dump.*.out id type x y z fx fy fz
dump_modify d sort id format float %.17g
run 300
undump d
group gone id 1 2 3
delete_atoms group gone compress no
dump e all custom 1 dump.after.out id type x y z fx fy fz
dump_modify e sort id format float %.17g
run 0
"""
    rc, out = lammps(d, s, np=2)
    if not check(rc == 0, "relist: lmp run with moving atoms on 2 ranks"):
        print(out[-3000:])
        return
    builds = [int(m) for m in re.findall(r"Neighbor list builds = (\d+)", out)]
    check(builds and builds[0] >= 3, "relist: the lists were rebuilt during the run (%s builds)" % builds[:1])
    rows = thermo_rows(out)
    final = [r for r in rows if r["Step"] == 300]  # the moving run's last row, then the second run's (also step 300)
    if not check(len(final) == 2, "relist: thermo rows at the end of the moving run and of the second run"):
        return
    for label, dump, energy, n_deleted in (("step 300", "dump.300.out", final[0]["PotEng"], 0),
                                           ("after delete_atoms", "dump.after.out", final[1]["PotEng"], 3)):
        data = read_dump(os.path.join(d, dump))
        moved = Config(cfg.lx, cfg.ly, cfg.lz)
        moved.pos = [[x, y, z] for x, y, z in zip(data["x"], data["y"], data["z"])]
        moved.symbols = ["O" if t == 1 else "H" for t in data["type"]]
        if not check(len(moved.pos) == len(cfg.pos) - n_deleted, "relist: %s atom count" % label):
            continue
        moved.write_extxyz(os.path.join(d, "moved.extxyz"))
        ref = nnp_eval(d, model, os.path.join(d, "moved.extxyz"))
        close(energy, ref["energy"], 1e-10, "relist: %s energy vs pnnp-eval" % label)
        forces = [[a, b, c] for a, b, c in zip(data["fx"], data["fy"], data["fz"])]
        close(forces, ref["forces"], 1e-10, "relist: %s forces vs pnnp-eval" % label)


def case_product():
    """Product-family models (docs/model.md, "The product family") through LAMMPS: against pnnp-eval, and rank counts."""
    hypers = [
        ("c3m0", HYPER.replace("l_max 1", "l_max 3").replace("layers 3", "layers 2")
         + "interaction product\ncorrelation 3\nmessage_l_max 0\n"),
        ("c2m1", HYPER + "interaction product\ncorrelation 2\nmessage_l_max 1\n"),
    ]
    for tag, hyper in hypers:
        for name, cfg, runs in (
                ("small", water_config(random.Random(3), 5.5, 5.8, 6.0, xy=0.7, xz=0.3, yz=-0.4),
                 [(1, 1, ""), (2, 1, "processors 2 1 1"), (4, 1, "processors 2 2 1"), (2, 2, "processors 1 2 1")]),
                ("bulk", water_config(random.Random(5), 12.0, 11.0, 10.0), [(1, 1, ""), (2, 1, ""), (4, 1, "")])):
            d = casedir("product-%s-%s" % (tag, name))
            model = make_model(d, hyper=hyper)
            cfg.write_extxyz(os.path.join(d, "conf.extxyz"))
            ref = nnp_eval(d, model, os.path.join(d, "conf.extxyz"))
            base = None
            for np, nt, proc in runs:
                rc, out = lammps(d, nnp_input(d, cfg, model, processors=proc), np=np, threads=nt, timeout=120)
                label = "product-%s-%s: %d rank(s) x %d thread(s) %s" % (tag, name, np, nt, proc)
                if not check(rc == 0, label + ": lmp run"):
                    print(out[-3000:])
                    continue
                r = lmp_result(d, out)
                if base is None:
                    base = r
                    close(r["energy"], ref["energy"], 1e-10, label + ": energy vs pnnp-eval (%.10g eV)" % ref["energy"])
                    close(r["forces"], ref["forces"], 1e-10, label + ": forces vs pnnp-eval")
                    close(r["virial"], ref["virial"], 1e-9, label + ": virial vs pnnp-eval")
                    check(maxabs(r["forces"]) > 1e-3, label + ": forces not trivially zero")
                    continue
                close(r["energy"], base["energy"], 1e-10, label + ": energy")
                close(r["forces"], base["forces"], 1e-10, label + ": forces")
                close(r["press"], base["press"], 1e-10, label + ": virial")
                close(r["energies"], base["energies"], 1e-10, label + ": per-atom energies")


CASES = {"options": case_options, "eval": case_eval, "tables": case_tables, "triclinic": case_triclinic, "parallel": case_parallel, "errors": case_errors,
         "pressure": case_pressure, "nve": case_nve, "hybrid": case_hybrid, "units": case_units,
         "relist": case_relist, "product": case_product}


def main():
    global OPT
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lmp", required=True)
    ap.add_argument("--plugin", required=True)
    ap.add_argument("--pnnp-init", required=True)
    ap.add_argument("--pnnp-eval", required=True)
    ap.add_argument("--mpirun", default="mpirun")
    ap.add_argument("--workdir", default="lammps-tests")
    ap.add_argument("--always-mpirun", action="store_true", help="start 1-rank runs with mpirun as well")
    ap.add_argument("cases", nargs="+", choices=sorted(CASES) + ["all"])
    OPT = ap.parse_args()
    for k in ("lmp", "plugin", "pnnp_init", "pnnp_eval", "workdir"):
        setattr(OPT, k, os.path.abspath(getattr(OPT, k)))
    cases = sorted(CASES) if "all" in OPT.cases else OPT.cases
    for c in cases:
        print("== %s" % c, flush=True)
        try:
            CASES[c]()
        except Exception as e:  # a broken tool or an unparsable output is a failure, not a crash of the driver
            check(False, "%s: %s: %s" % (c, type(e).__name__, e))
    if FAILURES:
        print("%d check(s) failed" % len(FAILURES))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
