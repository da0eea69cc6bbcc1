#!/usr/bin/python3
"""Writes nacl-validation.extxyz: the frames of the NaCl(aq) data that the parent run (../nacl-l2c16L2) held out,
listed in parent-validation-frames.txt (`pnnp-train ../nacl-l2c16L2/nacl-l2c16L2.cfg --list-validation`), so that
the pooled run is validated on exactly the parent's held-out frames and never trains on them (nacl-pooled.cfg
excludes them from its training file).

    cd training/nacl-pooled && /usr/bin/python3 make_validation.py
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "..", "shared", "data", "nacl_water_revPBE0-D3.extxyz")
sys.path.insert(0, os.path.join(HERE, "..", "..", "potentials"))
from evaluate import frames  # noqa: E402  (the extended-XYZ frame splitter of the model cards)


def main():
    keep = {int(x) for x in open(os.path.join(HERE, "parent-validation-frames.txt")).read().split()}
    out = [text for k, text in enumerate(frames(DATA)) if k in keep]
    if len(out) != len(keep):
        raise SystemExit("%s: %d of the %d listed frames found" % (DATA, len(out), len(keep)))
    with open(os.path.join(HERE, "nacl-validation.extxyz"), "w") as f:
        f.write("".join(out))
    print("nacl-validation.extxyz: %d frames" % len(out))


if __name__ == "__main__":
    main()
