#!/usr/bin/env python3
"""Every OpenMP parallel region of the core names its thread count (num_threads): the library never sets OpenMP's
defaults (nnp.h, "Threads"), so a region without the clause would run with the caller's default team, not the
workspace's thread count. Prints the offending lines; exit 1 if any.

    test_omp_regions.py pair_nnp/src
"""
import glob
import os
import re
import sys


def main():
    bad = []
    for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.c"))):
        with open(path) as f:
            lines = f.read().split("\n")
        k = 0
        while k < len(lines):
            line = lines[k]
            text = line
            while text.rstrip().endswith("\\") and k + 1 < len(lines):  # continued pragma
                k += 1
                text = text.rstrip()[:-1] + " " + lines[k]
            if re.match(r"\s*#\s*pragma\s+omp\s+parallel\b", text) and "num_threads(" not in text:
                bad.append("%s:%d: %s" % (os.path.basename(path), k + 1, text.strip()))
            k += 1
    for b in bad:
        print("FAIL parallel region without num_threads:", b)
    print("%d passed, %d failed" % (0 if bad else 1, len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
