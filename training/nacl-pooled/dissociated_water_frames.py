#!/usr/bin/python3
"""Prints an `exclude` line for every frame of the shared water set with an H more than 1.3 A from every O
(stretched or dissociated molecules, ~525 of 1394; ../shared/data/README.md). The pooled NaCl(aq) run keeps only
intact water: those frames exist to pin the liquid's energy-volume curve, and the high-energy ones would take the
model's capacity (the first pooled attempt, with them: NaCl validation force error 21.9 -> 43.1 meV/A in one epoch).

    /usr/bin/python3 dissociated_water_frames.py >> nacl-pooled.cfg     (already done; the lines are in the file)
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "nequip"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "reference"))
import intact_frames  # noqa: E402
import nnp_ref  # noqa: E402

NAME = "../../../shared/data/water_revPBE0-D3.extxyz"
frames = nnp_ref.read_extxyz(os.path.join(HERE, NAME))
bad = [k for k, fr in enumerate(frames) if not intact_frames.intact(fr, 1.3)]
for k in bad:
    print("exclude %s %d" % (NAME, k))
print("%d of %d water frames excluded" % (len(bad), len(frames)), file=sys.stderr)
