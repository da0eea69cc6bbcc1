#!/usr/bin/python3
"""The figures of a shipped potential's model card: errors on the held-out validation frames (overall, per species,
and on the near-equilibrium frames only), on all frames, and the `check` block (energy and forces of the check
configuration, read back by tests/test_potentials.py).

    potentials/evaluate.py NAME [--build build]      (NAME.cfg, NAME.nnp, NAME.check.xyz in potentials/)
    potentials/evaluate.py NAME --dir training/NAME [--lmp LMP]   (a candidate in training: no check block unless
                                                                  DIR has NAME.check.xyz)

Writes NAME.eval.json and prints the Markdown rows and the check block; --stamp CITATION also records the
per-species validation errors, the data citation and the card's name in the model file (meta lines). The validation frames are those pnnp-train
held out (pnnp-train NAME.cfg --list-validation). "Near-equilibrium" excludes frames with an H more than 1.3 A from
every O (stretched or dissociated water; ../shared/data/README.md).
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "reference"))
import nnp_ref  # noqa: E402  (the project's Python reader of extended XYZ and of the model file's checksum)


def frames(path):
    with open(path) as f:
        while True:
            line = f.readline()
            if not line.strip():
                return
            n = int(line)
            yield line + "".join(f.readline() for _ in range(n + 1))


def dissociated(text):
    lines = text.splitlines()
    L = np.array([float(x) for x in re.search(r'Lattice="([^"]*)"', lines[1]).group(1).split()]).reshape(3, 3)
    sym = [l.split()[0] for l in lines[2:]]
    pos = np.array([[float(x) for x in l.split()[1:4]] for l in lines[2:]])
    O, H = pos[[s == "O" for s in sym]], pos[[s == "H" for s in sym]]
    d = H[:, None, :] - O[None, :, :]
    f = d @ np.linalg.inv(L)
    d = (f - np.round(f)) @ L
    return np.sqrt((d * d).sum(-1)).min(1).max() > 1.3


def nnp_eval(o, model, xyz):
    # a model with a baseline needs it for these new files: LAMMPS computes it once, cached next to them
    lmp = ["--lmp", o.lmp] if o.lmp else []
    p = subprocess.run([os.path.join(o.build, "pair_nnp", "pnnp-eval"), model, xyz, "--json"] + lmp, check=True,
                       stdout=subprocess.PIPE, text=True)
    return json.loads(p.stdout)


def check_block(o, name, model):
    pred = os.path.join(o.work, name + ".check.pred.xyz")
    subprocess.run([os.path.join(o.build, "pair_nnp", "pnnp-eval"), model, os.path.join(o.dir, name + ".check.xyz"),
                    "--predictions", pred], check=True, stdout=subprocess.DEVNULL)
    frame = nnp_ref.read_extxyz(pred)[0]
    energy, forces = float(frame["info"]["energy"]), frame["arrays"]["forces"]
    n = len(forces)
    rms = math.sqrt(float((forces * forces).mean()))
    out = ["```check", "model %s.nnp" % name, "config %s.check.xyz" % name, "energy_eV %.10f" % energy,
           "force_rms_eV_per_A %.10f" % rms]
    for i in (0, 1, 2, n - 1):
        out.append("force %d %.10f %.10f %.10f" % (i, *forces[i]))
    out.append("```")
    return "\n".join(out)


def stamp(model, entries):
    """Add (or replace) `meta KEY VALUE` lines in a model file and rewrite its checksum (docs/model.md); the
    parameters are not touched."""
    lines = open(model, "rb").read().decode().split("\n")
    keys = {k for k, _ in entries}
    lines = [l for l in lines if not (l.startswith("meta ") and l.split()[1] in keys) and not l.startswith("checksum ")
             and l != ""]
    first_param = next(k for k, l in enumerate(lines) if l.startswith("param "))
    lines[first_param:first_param] = ["meta %s %s" % kv for kv in entries]
    data = ("\n".join(lines) + "\n").encode()
    with open(model, "wb") as f:
        f.write(data + b"checksum %016x\n" % nnp_ref.fnv1a64(data))


def row(label, r):
    per = ", ".join("%s %.1f" % (s, v["force_rmse_meV_per_A"]) for s, v in r["per_species"].items())
    return "| %s | %d | %.2f | %.1f (%s) | %.1f |" % (label, r["n_frames"], r["energy_rmse_meV_per_atom"],
                                                  r["force_rmse_meV_per_A"], per, r["force_mae_meV_per_A"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name")
    ap.add_argument("--build", default=os.path.join(os.path.dirname(HERE), "build"))
    ap.add_argument("--work", default="/tmp/pair_nnp-evaluate")
    ap.add_argument("--dir", default=HERE, help="where NAME.cfg and NAME.nnp are (default: potentials/)")
    ap.add_argument("--lmp", help="LAMMPS for the baseline of a model that declares one (pnnp-eval --lmp)")
    ap.add_argument("--stamp", metavar="CITATION", help="also write the errors, the card's name and this data "
                    "citation into the model file as meta lines")
    o = ap.parse_args()
    os.makedirs(o.work, exist_ok=True)
    o.dir = os.path.abspath(o.dir)
    model, cfg = os.path.join(o.dir, o.name + ".nnp"), os.path.join(o.dir, o.name + ".cfg")
    p = subprocess.run([os.path.join(o.build, "pair_nnp", "pnnp-train"), cfg, "--list-validation"], check=True,
                       stdout=subprocess.PIPE, text=True, cwd=o.dir)
    held = {}
    for line in p.stdout.splitlines():
        f, k = line.rsplit(" ", 1)
        held.setdefault(os.path.normpath(os.path.join(o.dir, f)), set()).add(int(k))
    sets = {"validation": [], "validation_near_equilibrium": [], "all": []}
    for path, keep in held.items():
        for k, text in enumerate(frames(path)):
            sets["all"].append(text)
            if k in keep:
                sets["validation"].append(text)
                if not dissociated(text):
                    sets["validation_near_equilibrium"].append(text)
    res = {}
    for key, texts in sets.items():
        xyz = os.path.join(o.work, "%s.%s.xyz" % (o.name, key))
        with open(xyz, "w") as f:
            f.write("".join(texts))
        res[key] = nnp_eval(o, model, xyz)
    with open(os.path.join(o.dir, o.name + ".eval.json"), "w") as f:
        json.dump({k: {x: v[x] for x in ("n_frames", "energy_rmse_meV_per_atom", "energy_mae_meV_per_atom",
                                         "force_rmse_meV_per_A", "force_mae_meV_per_A", "per_species")}
                   for k, v in res.items()}, f, indent=1)
    if o.stamp:
        v, ve = res["validation"], res["validation_near_equilibrium"]
        per = " ".join("%s %.1f" % (k, x["force_rmse_meV_per_A"]) for k, x in v["per_species"].items())
        stamp(model, [("model_card", "potentials/%s.md (how it was trained, validated, and its limits)" % o.name),
                      ("data_reference", o.stamp),
                      ("validation_force_rmse_meV_per_A_per_species", per),
                      ("validation_near_equilibrium", "%d frames: force RMSE %.1f meV/A, energy RMSE %.2f meV/atom"
                       % (ve["n_frames"], ve["force_rmse_meV_per_A"], ve["energy_rmse_meV_per_atom"]))])
    print("| frames | n | energy RMSE (meV/atom) | force RMSE (meV/A), per species | force MAE (meV/A) |")
    print("|---|---|---|---|---|")
    print(row("validation (held out)", res["validation"]))
    print(row("validation, near-equilibrium only", res["validation_near_equilibrium"]))
    print(row("all frames (training + validation)", res["all"]))
    if os.path.exists(os.path.join(o.dir, o.name + ".check.xyz")):
        print()
        print(check_block(o, o.name, model))
    return 0


if __name__ == "__main__":
    sys.exit(main())
