#!/usr/bin/python3
"""Runs (or continues) one coarse-grained Langevin MD run of in.cg-nacl in RUN_DIR up to STEPS, in chunks that each
end with a checkpoint, so that a nucleation run of many hours survives being killed: the same command continues
from the newest checkpoint (at most one chunk is lost), and a finished run is not touched; raising STEPS extends it.

Run directory: start.data (the ion start, make_cg_start.py), then ckpt.STEP.restart/.data (newest checkpoint: a
binary restart and a portable data file), ckpt.STEP.data.xz (a committed checkpoint, used when nothing newer
exists), cg.dump (frames appended; on resuming from step S the frames at steps >= S are cut off, LAMMPS writes step
S again), cg.dump.xz (a committed snapshot, unpacked when cg.dump is absent), log.lammps (appended), in.cg-nacl.run, run.json (the model's and force field's checksums, the seed and the
variables: a resume with different ones is refused).

usage: cg_md.py RUN_DIR --steps N --forcefield FF.lammps --model M.nnp [--chunk 10000] [--dump-every 500]
                [--seed 1] [--plugin pair_nnp.so] [--lmp PATH] [--portable] [--var NAME VALUE ...]
--var passes further in.cg-nacl variables (dt, temp, damp_na, damp_cl, nnp_keywords, ...); keep them the same
across resumes. --portable continues from the data checkpoint even when a binary restart exists.
"""
import argparse
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from driver import checkpoints, start_file, truncate_dump, unpack  # noqa: E402


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_same_run(d, a):
    """run.json records what defines the trajectory (model, force field, seed, time step and the other variables);
    continuing with anything else would splice two different runs into one trajectory"""
    now = {"model_sha256": sha256(a.model), "forcefield_sha256": sha256(a.forcefield), "seed": a.seed,
           "dump_every": a.dump_every, "vars": dict(a.var)}
    path = os.path.join(d, "run.json")
    if os.path.exists(path) and checkpoints(d):
        old = json.load(open(path))
        diff = sorted(k for k in now if old.get(k) != now[k])
        if diff:
            raise SystemExit("cg_md.py: %s was run with another %s; remove the directory (or use another) to start "
                             "a new run" % (d, ", ".join(diff)))
    else:
        with open(path + ".tmp", "w") as f:
            json.dump(now, f, indent=1)
        os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--forcefield", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--chunk", type=int, default=10000)
    ap.add_argument("--dump-every", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--plugin", default="")
    ap.add_argument("--lmp", default=os.environ.get("LMP", os.path.expanduser(
        "~/.cache/pair_nnp/lammps-bookworm/build/lmp")))
    ap.add_argument("--portable", action="store_true")
    ap.add_argument("--var", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    a = ap.parse_args()
    if a.chunk < 1 or a.steps < 1 or a.dump_every < 0 or (a.dump_every and a.chunk % a.dump_every):
        raise SystemExit("cg_md.py: need --steps >= 1, --chunk >= 1 and a multiple of --dump-every")
    d = os.path.abspath(a.dir)
    lock = open(os.path.join(d, ".lock"), "w")  # one runner per directory; the lock dies with the process
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise SystemExit("cg_md.py: another run is going on in %s" % d)
    check_same_run(d, a)
    dump = os.path.join(d, "cg.dump")
    unpack(dump)
    ckpt = checkpoints(d)
    if ckpt:
        s = max(ckpt)
        if s >= a.steps:
            truncate_dump(dump, s + 1)  # frames a killed run wrote after its last checkpoint
            print("cg_md.py: %s done (step %d >= %d)" % (d, s, a.steps))
            return 0
        kept = truncate_dump(dump, s)
        start, kind = start_file(ckpt[s], a.portable)
        fresh, step0 = 0, s
        print("cg_md.py: %s: continuing at step %d from %s, %d frames kept" % (d, s, os.path.basename(start), kept),
              flush=True)
    else:
        start, kind, fresh, step0 = os.path.join(d, "start.data"), "data", 1, 0
        if not os.path.exists(start):
            raise SystemExit("cg_md.py: no %s (make_cg_start.py) and no checkpoint" % start)
        if os.path.exists(dump):
            os.remove(dump)  # a fresh start killed before its first checkpoint
    # LAMMPS re-reads its input at every `jump SELF`: a private copy, so editing the example never changes a run
    shutil.copyfile(os.path.join(HERE, "in.cg-nacl"), os.path.join(d, "in.cg-nacl.run"))
    v = {"start": os.path.relpath(start, d), "start_kind": kind, "fresh": fresh, "step0": step0,
         "steps": a.steps, "chunk": a.chunk, "dump_every": a.dump_every, "seed": a.seed,
         "forcefield": os.path.abspath(a.forcefield), "model": os.path.abspath(a.model),
         "log_command": "log log.lammps append"}
    if a.plugin:
        v["load_plugin"] = "plugin load " + os.path.abspath(a.plugin)
    v.update(dict(a.var))
    cmd = [a.lmp, "-in", "in.cg-nacl.run", "-log", "none", "-screen", "none"]
    for k, val in v.items():
        cmd += ["-var", k, str(val)]
    r = subprocess.run(cmd, cwd=d, env=dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1")))
    if r.returncode != 0:
        raise SystemExit("cg_md.py: LAMMPS failed (exit %d); see %s/log.lammps" % (r.returncode, d))
    print("cg_md.py: %s done (step %d)" % (d, a.steps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
