#!/usr/bin/python3
"""Command-line behaviour of nnp-init and nnp-eval: bad input ends with a message that names the problem and a
non-zero exit; a model evaluated on its own predictions has zero error.

usage: test_tools.py --nnp-init PATH --nnp-eval PATH --data DIR --workdir DIR
"""
import argparse
import json
import os
import re
import subprocess
import sys

FAILED = []
PASSED = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    (PASSED if ok else FAILED).append(what)


def run(args):
    p = subprocess.run(args, capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def expect_error(args, pattern, what):
    rc, out = run(args)
    check(rc != 0 and re.search(pattern, out) is not None, "%s -> exit %d, %s" % (what, rc, out.strip()[:200]))


def main():
    ap = argparse.ArgumentParser()
    for k in ("--nnp-init", "--nnp-eval", "--data", "--workdir"):
        ap.add_argument(k, required=True)
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    w = lambda name: os.path.join(a.workdir, name)
    hyper, data = os.path.join(a.data, "hyper_small.txt"), os.path.join(a.data, "extxyz_good.xyz")
    model = w("tools.nnp")
    rc, out = run([a.nnp_init, hyper, model, "--seed", "3"])
    check(rc == 0, "nnp-init makes a model: " + out.strip()[:200])

    # a model evaluated on its own predictions has zero error, in the table and in --json
    rc, out = run([a.nnp_eval, model, data, "--threads", "1", "--predictions", w("pred.xyz")])
    check(rc == 0, "nnp-eval writes predictions")
    rc, out = run([a.nnp_eval, model, w("pred.xyz"), "--threads", "1", "--json"])
    res = json.loads(out) if rc == 0 else {}
    check(res.get("force_rmse_meV_per_A") == 0 and res.get("energy_rmse_meV_per_atom") == 0,
          "errors against its own predictions are zero (%s, %s)" % (res.get("force_rmse_meV_per_A"),
                                                                     res.get("energy_rmse_meV_per_atom")))
    check(set(res.get("per_species", {})) <= {"H", "O", "Cu"} and res.get("n_frames") == 3,
          "--json has per-species entries and the frame count")

    # bad input
    with open(w("unknown.xyz"), "w") as f:
        f.write('2\nLattice="6 0 0 0 6 0 0 0 6" Properties=species:S:1:pos:R:3\nO 0 0 0\nNa 1.5 0 0\n')
    expect_error([a.nnp_eval, model, w("unknown.xyz")], r"Na", "element not in the model")
    with open(w("nan.xyz"), "w") as f:
        f.write('2\nLattice="6 0 0 0 6 0 0 0 6" Properties=species:S:1:pos:R:3\nO 0 0 0\nH nan 0 0\n')
    expect_error([a.nnp_eval, model, w("nan.xyz")], r"(?i)nan|finite", "NaN position")
    with open(w("close.xyz"), "w") as f:
        f.write('2\nLattice="6 0 0 0 6 0 0 0 6" Properties=species:S:1:pos:R:3\nO 0 0 0\nH 0.1 0 0\n')
    expect_error([a.nnp_eval, model, w("close.xyz")], r"r_min", "atoms closer than the model accepts")
    expect_error([a.nnp_eval, w("missing.nnp"), data], r"missing\.nnp", "missing model file")
    text = open(model).read()
    with open(w("damaged.nnp"), "w") as f:
        f.write(text.replace("channels 4", "channels 5"))
    expect_error([a.nnp_eval, w("damaged.nnp"), data], r"checksum", "damaged model file")
    with open(w("truncated.nnp"), "w") as f:
        f.write(text[: len(text) // 2])
    expect_error([a.nnp_eval, w("truncated.nnp"), data], r"truncated|checksum", "truncated model file")
    expect_error([a.nnp_eval, model, w("missing.xyz")], r"missing\.xyz", "missing data file")
    with open(w("bad_hyper.txt"), "w") as f:
        f.write("species H O\nchanels 4\n")
    expect_error([a.nnp_init, w("bad_hyper.txt"), w("x.nnp")], r"chanels", "unknown hyperparameter key")
    with open(w("bad_hyper2.txt"), "w") as f:
        f.write("species H O\nl_max 9\n")
    expect_error([a.nnp_init, w("bad_hyper2.txt"), w("x.nnp")], r"l_max", "l_max out of range")
    print("%d passed, %d failed" % (len(PASSED), len(FAILED)))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
