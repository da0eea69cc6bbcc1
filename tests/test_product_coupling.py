#!/usr/bin/python3
"""The C builder of the product coupling coefficients against the independent reference (tests/reference/nnp_ref.py).

    /usr/bin/python3 tests/test_product_coupling.py --dump PATH/test_product_coupling

For each (l_max, J, correlation) below, `test_product_coupling dump L J N` prints the C list Q(L, J, N); it must hold
the same products (order n, factor degrees in coupling order, intermediate degrees) in the same order, the same
entries (product, M, alpha) in the same order, and values within 1e-12.  Tolerance: both sides compute the Gaunt
tensors by quadrature exact in exact arithmetic (float64 error ~1e-16 per element) and a chain sums at most 7^3
products of elements <= 1.5, so implementations of the same definition differ by ~1e-14; any wrong coefficient
differs by far more (nonzero coefficients are >= 2.2e-3, docs/model.md).
"""
import argparse
import os
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference"))
import nnp_ref as ref  # noqa: E402

TOL = 1e-12
CASES = [(L, J, N) for L in (0, 1, 2, 3) for J in range(min(L, 2) + 1) for N in ((1, 2, 3, 4) if L <= 2 else (3,))]
CASES += [(3, 0, 4)]   # the largest of the doc's table needed by a MACE-water-like model with correlation 4


def parse_dump(text):
    products, entries = [], []
    for line in text.split("\n"):
        w = line.split()
        if not w:
            continue
        if w[0] == "product":
            n = int(w[3])
            k = w.index("inter")
            products.append((n, tuple(int(x) for x in w[5:k]), tuple(int(x) for x in w[k + 1:])))
        elif w[0] == "entry":
            q, M = int(w[1]), int(w[2])
            entries.append((q, M, tuple(int(x) for x in w[3:-1]), float(w[-1])))
    return products, entries


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dump", required=True, help="the test_product_coupling program")
    args = ap.parse_args()
    failed = 0
    for L, J, N in CASES:
        out = subprocess.run([args.dump, "dump", str(L), str(J), str(N)], stdout=subprocess.PIPE, text=True,
                             timeout=120)
        if out.returncode != 0:
            print("l_max %d J %d N %d: dump exited with %d" % (L, J, N, out.returncode))
            failed += 1
            continue
        c_products, c_entries = parse_dump(out.stdout)
        pb = ref.product_basis(L, J, N)
        r_products = [(q["nu"], tuple(q["order"]), tuple(q["ks"])) for q in pb]
        r_entries = [(k, M, tuple(a), v) for k, q in enumerate(pb) for M, a, v in q["entries"]]
        why = ""
        if c_products != r_products:
            why = "product lists differ (C %d, reference %d products)" % (len(c_products), len(r_products))
        elif [e[:3] for e in c_entries] != [e[:3] for e in r_entries]:
            why = "entry lists differ (C %d, reference %d entries)" % (len(c_entries), len(r_entries))
        dev = max((abs(c[3] - r[3]) for c, r in zip(c_entries, r_entries)), default=0.0)
        if not why and not dev <= TOL:
            why = "values differ by %.2e" % dev
        print("l_max %d J %d correlation %d: %3d products, %5d entries, max |dv| %.1e  %s"
              % (L, J, N, len(c_products), len(c_entries), dev, why or "ok"))
        failed += bool(why)
    print("%d passed, %d failed" % (len(CASES) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
