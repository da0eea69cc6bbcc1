#!/usr/bin/env python3
"""The shared library exports exactly the functions nnp.h declares (NNP_API): `nm -D --defined-only` lists them
all and nothing else (no internal nnp_ helper, no other name that could clash in a host process). And it imports
none of the C library's calls with hidden process-wide state or that change process settings (nnp.h, "Threads"):
strtok keeps its position in a static (two threads parsing models corrupted each other's tokens), setlocale and
the OpenMP/OpenBLAS thread-count setters change the whole process.

    test_exports.py libpair_nnp.so nnp.h
"""
import re
import subprocess
import sys


def main():
    lib, header = sys.argv[1], sys.argv[2]
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True, capture_output=True, text=True).stdout
    exported = {line.split()[-1] for line in out.splitlines() if line.split() and line.split()[-2] in "TtWiDBR"}
    text = open(header).read()
    declared = set(re.findall(r"^NNP_API [^;{]*?\b(nnp_\w+)\(", text, re.M))
    undecorated = set(re.findall(r"^(?:const )?[a-z_]+ \*?(nnp_\w+)\(", text, re.M))
    imported = {line.split()[-1].split("@")[0] for line in
                subprocess.run(["nm", "-D", "--undefined-only", lib], check=True, capture_output=True,
                               text=True).stdout.splitlines() if line.split()}
    forbidden = {"strtok", "setlocale", "omp_set_num_threads", "openblas_set_num_threads", "omp_set_dynamic",
                 "omp_set_max_active_levels", "omp_set_nested"}
    fails = []
    if imported & forbidden:
        fails.append("the library calls %s (process-wide state or settings)" % sorted(imported & forbidden))
    if undecorated:
        fails.append("declared in nnp.h without NNP_API (hidden in the shared library): %s" % sorted(undecorated))
    if exported - declared:
        fails.append("exported but not declared in nnp.h: %s" % sorted(exported - declared))
    if declared - exported:
        fails.append("declared in nnp.h but not exported: %s" % sorted(declared - exported))
    for f in fails:
        print("FAIL", f)
    print("%d exported symbols, %d declared; %d passed, %d failed" % (len(exported), len(declared), 4 - len(fails),
                                                                       len(fails)))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
