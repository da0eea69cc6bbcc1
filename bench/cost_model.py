#!/usr/bin/python3
"""FLOP model of one energy + force evaluation (MD: forward and adjoint, no parameter gradients) per atom-step, for
the tensor and the product interaction family (docs/model.md), as tabulated in docs/performance.md.

    /usr/bin/python3 bench/cost_model.py                       # the models of docs/performance.md
    /usr/bin/python3 bench/cost_model.py --family product --l-max 3 --channels 64 --layers 2 --correlation 3 \\
        --message-l-max 0 --r-cut 5 6

Counts a fused multiply-add as 2 FLOP. Per edge and layer (general kernels, docs/performance.md): tensor product
forward (2E + 2M) C, adjoint (7E + 4M) C, radial tables 8 + 14 FLOP per tabulated value (|P| C values). Per atom:
the dense products (up, down, self; the product family's mix X) forward and adjoint, the product basis at (n + 1)
FLOP per entry of order n forward and 2, 4, 10, 16 (n = 1..4) in the adjoint plus 2 per product and channel each way.
Neighbours: liquid water, 0.1003 atoms/A^3 (52.4 within 5 A).
"""
import argparse
import math
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
import nnp_ref as ref  # noqa: E402

DENSITY = 0.1003          # atoms per A^3, liquid water at 300 K
ADJ_PER_ENTRY = {1: 2, 2: 4, 3: 10, 4: 16}


def gaunt_entries(path):
    return sum(1 for v in ref.gaunt(*path).ravel() if abs(v) > 1e-12)


def costs(hyper):
    """(per-edge FLOP, per-atom FLOP) for the hyperparameters (docs/model.md symbols)."""
    C, L, T = hyper["channels"], hyper["l_max"], hyper["layers"]
    product = ref.interaction(hyper) == "product"
    edge = atom = 0.0
    for t in range(T):
        lin, lout = ref.layer_degrees(hyper, t)
        P = ref.layer_paths(L, lin, ref.conv_l3_max(hyper, t))
        E = sum(gaunt_entries(p) for p in P)
        M = sum(2 * p[2] + 1 for p in P)
        edge += (2 * E + 2 * M) * C + (7 * E + 4 * M) * C + len(P) * C * 22
        n_l = lambda l: sum(1 for p in P if p[2] == l)
        c_out = lambda l: C + C * lout if l == 0 else C
        dense = sum((2 * l + 1) * 2 * C * C for l in range(lin + 1))                           # up
        dense += sum((2 * l + 1) * 2 * C * c_out(l) for l in range(min(lin, lout) + 1))        # self
        if product:
            dense += sum((2 * l + 1) * 2 * C * n_l(l) * C for l in range(L + 1))               # mix X
            dense += sum((2 * J + 1) * 2 * c_out(J) * C for J in range(lout + 1))              # down D
            for J in range(lout + 1):
                pb = ref.product_basis(L, J, hyper["correlation"])
                fwd = sum(len(q["entries"]) * (q["nu"] + 1) for q in pb) + 2 * len(pb) * (2 * J + 1)
                adj = sum(len(q["entries"]) * ADJ_PER_ENTRY[q["nu"]] for q in pb) + 2 * len(pb) * (2 * J + 1)
                atom += (fwd + adj) * C
        else:
            dense += sum((2 * l + 1) * 2 * c_out(l) * n_l(l) * C for l in range(lout + 1))     # down
        atom += 2 * dense                                                                     # forward + adjoint
    atom += 2 * 2 * 2 * hyper["readout_hidden"] * C
    return edge, atom


def describe(hyper):
    if ref.interaction(hyper) == "product":
        return "product L%d/%dch/%dL corr %d msg %d" % (hyper["l_max"], hyper["channels"], hyper["layers"],
                                                      hyper["correlation"], hyper["message_l_max"])
    return "tensor  L%d/%dch/%dL" % (hyper["l_max"], hyper["channels"], hyper["layers"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--family", choices=("tensor", "product"))
    ap.add_argument("--l-max", type=int)
    ap.add_argument("--channels", type=int)
    ap.add_argument("--layers", type=int)
    ap.add_argument("--correlation", type=int, default=3)
    ap.add_argument("--message-l-max", type=int, default=0)
    ap.add_argument("--readout-hidden", type=int, default=16)
    ap.add_argument("--r-cut", type=float, nargs="+", default=[5.0, 6.0])
    args = ap.parse_args()
    if args.family:
        h = dict(l_max=args.l_max, channels=args.channels, layers=args.layers, readout_hidden=args.readout_hidden)
        if args.family == "product":
            h.update(interaction="product", correlation=args.correlation, message_l_max=args.message_l_max)
        models = [h]
    else:
        models = [dict(l_max=2, channels=16, layers=3, readout_hidden=16),
                  dict(l_max=1, channels=16, layers=2, readout_hidden=16)]
        for L, C, corr in ((3, 64, 3), (3, 64, 4), (3, 32, 3), (2, 64, 3), (2, 32, 3)):
            models.append(dict(l_max=L, channels=C, layers=2, readout_hidden=16, interaction="product",
                               correlation=corr, message_l_max=0))
    print("%-36s %12s %14s %s" % ("model", "edge kFLOP", "atom MFLOP",
                                  "  ".join("edges@%gA  total@%gA" % (r, r) for r in args.r_cut)))
    for h in models:
        edge, atom = costs(h)
        cols = []
        for r in args.r_cut:
            n_nb = DENSITY * 4.0 / 3.0 * math.pi * r ** 3
            cols.append("%8.2f  %10.2f" % (edge * n_nb / 1e6, edge * n_nb / 1e6 + atom / 1e6))
        print("%-36s %12.1f %14.2f %s" % (describe(h), edge / 1e3, atom / 1e6, "  ".join(cols)))
    within = ["%.1f within %g A" % (DENSITY * 4 / 3 * math.pi * r ** 3, r) for r in args.r_cut]
    print("(MFLOP per atom-step; neighbours %s)" % ", ".join(within))
    return 0


if __name__ == "__main__":
    sys.exit(main())
