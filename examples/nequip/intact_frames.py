#!/usr/bin/python3
"""The frames of an extended-XYZ water data set in which every H is within R_OH of an O (intact molecules).

usage: intact_frames.py IN.extxyz OUT.extxyz [--r-oh 1.3]

The shared water set (../shared/data) includes ~600 stretched or dissociated frames (data README); a model trained for
only ten minutes learns the liquid better from the intact ones. Frames are copied verbatim.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "reference"))
import nnp_ref as ref  # noqa: E402


def intact(frame, r_oh):
    sym = np.asarray(frame["arrays"]["species"])
    pos = np.asarray(frame["arrays"]["pos"], dtype=float)
    inv = np.linalg.inv(frame["cell"])
    d = pos[sym == "H"][:, None, :] - pos[sym == "O"][None, :, :]
    f = d @ inv
    d = (f - np.round(f)) @ frame["cell"]          # minimum image (cells here are > 2 r_oh wide)
    return bool(np.all(np.min(np.linalg.norm(d, axis=2), axis=1) < r_oh))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--r-oh", type=float, default=1.3)
    a = ap.parse_args()
    frames = ref.read_extxyz(a.input)
    with open(a.input) as f:
        lines = f.read().splitlines()
    keep, at, n_keep = [], 0, 0
    for fr in frames:
        n = int(lines[at])
        if intact(fr, a.r_oh):
            keep += lines[at:at + n + 2]
            n_keep += 1
        at += n + 2
    with open(a.output, "w") as f:
        f.write("\n".join(keep) + "\n")
    print("%s: %d of %d frames with every H within %.2f A of an O" % (a.output, n_keep, len(frames), a.r_oh))
    return 0


if __name__ == "__main__":
    sys.exit(main())
