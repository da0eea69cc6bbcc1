#!/usr/bin/env python3
"""Generates the tensor-product kernels of every layer type up to l_max GEN_L_MAX (tensor_product.c includes the
output). Run by CMake at build time into the build directory; the output is never edited or committed.

A layer's path list depends only on (l_max, l_in, l_out) (docs/model.md, "Layers"), and each path's coupling tensor
has a sparsity pattern fixed by (l1, l2, l3). Knowing both at compile time, a kernel unrolls every nonzero entry of
every path into straight-line code inside one loop over channels: no entry table, no index arithmetic, the
intermediate products stay in registers, and nothing is written but the outputs. The coefficient values are read
from the model (nnp_model.cg, built by coupling.c) so that one source of truth defines them; the pattern is checked
against the model's entries when the model is built (nnp_tp_bind), and any layer that does not match runs the
generic kernels.

Pure Python (no numpy): the Gaunt integrals for the pattern use the same exact quadrature as coupling.c.

usage: tp_codegen.py OUT.h [GEN_L_MAX]
"""
import math
import sys


def gauss_legendre(n):
    nodes, weights = [], []
    for i in range(n):
        z = math.cos(math.pi * (i + 0.75) / (n + 0.5))
        for _ in range(100):
            p0, p1 = 1.0, z
            for k in range(2, n + 1):
                p0, p1 = p1, ((2 * k - 1) * z * p1 - (k - 1) * p0) / k
            dp = n * (z * p1 - p0) / (z * z - 1.0)
            dz = p1 / dp
            z -= dz
            if abs(dz) < 1e-16:
                break
        nodes.append(z)
        weights.append(2.0 / ((1.0 - z * z) * dp * dp))
    return nodes, weights


def legendre_derivative(l, m, z):
    """d^m P_l / dz^m at z (docs/model.md)"""
    s = 0.0
    for k in range((l - m) // 2 + 1):
        s += ((-1) ** k * math.comb(l, k) * math.comb(2 * l - 2 * k, l) * math.factorial(l - 2 * k) /
              math.factorial(l - 2 * k - m) * z ** (l - 2 * k - m))
    return s / 2 ** l


def real_sph(L, u):
    """component-normalised real harmonics, index l*l + m + l"""
    x, y, z = u
    Y = [0.0] * ((L + 1) ** 2)
    for l in range(L + 1):
        Y[l * l + l] = math.sqrt(2 * l + 1) * legendre_derivative(l, 0, z)
        for m in range(1, l + 1):
            c = complex(x, y) ** m
            n = math.sqrt(2 * (2 * l + 1) * math.factorial(l - m) / math.factorial(l + m)) * legendre_derivative(l, m, z)
            Y[l * l + l + m] = n * c.real
            Y[l * l + l - m] = n * c.imag
    return Y


def quadrature(L):
    lsum = 3 * L
    nz, nphi = lsum // 2 + 2, lsum + 2
    zs, wz = gauss_legendre(nz)
    pts = []
    for i in range(nz):
        for k in range(nphi):
            phi = 2 * math.pi * k / nphi
            s = math.sqrt(1 - zs[i] ** 2)
            pts.append((wz[i] * (2 * math.pi / nphi) / (4 * math.pi), real_sph(L, (s * math.cos(phi), s * math.sin(phi), zs[i]))))
    return pts


def gaunt_pattern(q, l1, l2, l3):
    """nonzero (m1, m2, m3) of the path's tensor, sorted by m3, m1, m2 as coupling.c stores them"""
    n1, n2, n3 = 2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1
    g = {}
    for a in range(n1):
        for b in range(n2):
            for c in range(n3):
                g[(a, b, c)] = sum(w * Y[l1 * l1 + a] * Y[l2 * l2 + b] * Y[l3 * l3 + c] for w, Y in q)
    norm = math.sqrt(sum(v * v for v in g.values()))
    scale = math.sqrt(n3) / norm
    keep = [k for k, v in g.items() if abs(v * scale) >= 1e-12]
    return sorted(keep, key=lambda k: (k[2], k[0], k[1]))


def layer_paths(L, lin, lout):
    paths = []
    for l3 in range(lout + 1):
        for l1 in range(lin + 1):
            for l2 in range(L + 1):
                if abs(l1 - l2) <= l3 <= l1 + l2 and (l1 + l2 + l3) % 2 == 0:
                    paths.append((l1, l2, l3))
    return paths


class Layer:
    def __init__(self, L, lin, lout, q):
        self.L, self.lin, self.lout = L, lin, lout
        self.paths = layer_paths(L, lin, lout)
        self.pattern = [gaunt_pattern(q, *p) for p in self.paths]
        count = [sum(1 for p in self.paths if p[2] == l3) for l3 in range(lout + 1)]
        first = [sum(count[:l3]) for l3 in range(lout + 1)]
        off = [sum((2 * l + 1) * count[l] for l in range(l3)) for l3 in range(lout + 1)]
        # per path: message block offset and row stride, in units of C
        self.block = [off[p[2]] + (k - first[p[2]]) for k, p in enumerate(self.paths)]
        self.stride = [count[p[2]] for p in self.paths]


def emit_forward(out, k, ly, T):
    out.append(f"static inline __attribute__((always_inline)) void gen_fwd_{k}_{T[0]}(const nnp_cg_entry *cg, "
               f"const nnp_path *paths, const {T} *x, const double *Y, const {T} *R, {T} *msg, const int C) {{")
    for p, ((l1, l2, l3), pat) in enumerate(zip(ly.paths, ly.pattern)):
        out.append(f"  {{ /* path {p}: ({l1},{l2},{l3}), {len(pat)} entries */")
        out.append(f"    const nnp_cg_entry *g = cg + paths[{p}].cg_begin;")
        for e, (m1, m2, m3) in enumerate(pat):
            out.append(f"    const {T} k{e} = ({T})(g[{e}].value * Y[{l2 * l2 + m2}]);")
        out.append(f"    const {T} *restrict xp = x + {l1 * l1} * C, *restrict w = R + {p} * C;")
        out.append(f"    {T} *restrict o = msg + {ly.block[p]} * C;")
        out.append("#pragma omp simd")
        out.append("    for (int c = 0; c < C; ++c) {")
        for m1 in sorted({e[0] for e in pat}):
            out.append(f"      const {T} x{m1} = xp[{m1} * C + c];")
        out.append(f"      const {T} wc = w[c];")
        for m3 in range(2 * l3 + 1):
            terms = " + ".join(f"k{e} * x{m1}" for e, (m1, m2, mm) in enumerate(pat) if mm == m3)
            out.append(f"      o[{m3 * ly.stride[p]} * C + c] += wc * ({terms});")
        out.append("    }")
        out.append("  }")
    out.append("}")


def emit_adjoint(out, k, ly, T):
    out.append(f"static inline __attribute__((always_inline)) void gen_adj_{k}_{T[0]}(const nnp_cg_entry *cg, "
               f"const nnp_path *paths, const {T} *x, const double *Y, const {T} *R, const {T} *dmsg, "
               f"const {T} *dmsg_rev, {T} *dx, {T} *dR, double *dYv, const int C, const int paired) {{")
    out.append(f"  for (int q = 0; q < {(ly.L + 1) ** 2}; ++q) dYv[q] = 0.0;")
    for p, ((l1, l2, l3), pat) in enumerate(zip(ly.paths, ly.pattern)):
        odd = l2 % 2 == 1
        m2s = sorted({e[1] for e in pat})
        m1s = sorted({e[0] for e in pat})
        out.append(f"  {{ /* path {p}: ({l1},{l2},{l3}), {len(pat)} entries */")
        out.append(f"    const nnp_cg_entry *g = cg + paths[{p}].cg_begin;")
        for e, (m1, m2, m3) in enumerate(pat):
            out.append(f"    const {T} g{e} = ({T})g[{e}].value, k{e} = ({T})(g[{e}].value * Y[{l2 * l2 + m2}]);")
            # the paired feature adjoint uses Y(-u) = (-1)^l2 Y(u)
            out.append(f"    const {T} kd{e} = paired ? {'-' if odd else ''}k{e} : k{e};")
        out.append(f"    const {T} *restrict xp = x + {l1 * l1} * C, *restrict w = R + {p} * C;")
        out.append(f"    const {T} *restrict d = dmsg + {ly.block[p]} * C;")
        out.append(f"    const {T} *restrict dr = paired ? dmsg_rev + {ly.block[p]} * C : d;")
        out.append(f"    {T} *restrict dxp = dx + {l1 * l1} * C, *restrict dw = dR + {p} * C;")
        acc = ", ".join(f"a{m2}" for m2 in m2s)
        out.append(f"    {T} {', '.join(f'a{m2} = 0' for m2 in m2s)};")
        out.append(f"#pragma omp simd reduction(+ : {acc})")
        out.append("    for (int c = 0; c < C; ++c) {")
        for m1 in m1s:
            out.append(f"      const {T} x{m1} = xp[{m1} * C + c];")
        out.append(f"      const {T} wc = w[c];")
        dwterms = []
        for m3 in range(2 * l3 + 1):
            terms = " + ".join(f"k{e} * x{m1}" for e, (m1, m2, mm) in enumerate(pat) if mm == m3)
            out.append(f"      const {T} d{m3} = d[{m3 * ly.stride[p]} * C + c], u{m3} = wc * d{m3};")
            out.append(f"      const {T} s{m3} = paired ? wc * dr[{m3 * ly.stride[p]} * C + c] : u{m3};")
            dwterms.append(f"d{m3} * ({terms})")
        out.append(f"      dw[c] = {' + '.join(dwterms)};")
        for m1 in m1s:
            terms = " + ".join(f"kd{e} * s{m3}" for e, (mm, m2, m3) in enumerate(pat) if mm == m1)
            out.append(f"      dxp[{m1} * C + c] += {terms};")
        for m2 in m2s:
            terms = " + ".join(f"g{e} * (u{m3} * x{m1})" for e, (m1, mm, m3) in enumerate(pat) if mm == m2)
            out.append(f"      a{m2} += {terms};")
        out.append("    }")
        for m2 in m2s:
            out.append(f"    dYv[{l2 * l2 + m2}] += (double)a{m2};")
        out.append("  }")
    out.append("}")


def emit_tangent_path_head(out, p, path, pat, has_xd):
    """What the trainer's two kernels share per path: its coupling coefficients times Y and Yd, and the pointers to
    x, xd (only where the layer has one), R and Rt."""
    l1, l2, l3 = path
    out.append(f"  {{ /* path {p}: ({l1},{l2},{l3}), {len(pat)} entries */")
    out.append(f"    const nnp_cg_entry *g = cg + paths[{p}].cg_begin;")
    for e, (m1, m2, m3) in enumerate(pat):
        out.append(f"    const double k{e} = g[{e}].value * Y[{l2 * l2 + m2}], "
                   f"kd{e} = g[{e}].value * Yd[{l2 * l2 + m2}];")
    out.append(f"    const double *restrict xp = x + {l1 * l1} * C, *restrict w = R + {p} * C, "
               f"*restrict wt = Rt + {p} * C;")
    if has_xd:
        out.append(f"    const double *restrict xdp = xd + {l1 * l1} * C;")


def emit_tangent_channel_loads(out, pat, has_xd):
    """Inside the channel loop: x (and xd) of every m1 the path reads, R and Rt of the channel."""
    for m1 in sorted({e[0] for e in pat}):
        xd = f", xd{m1} = xdp[{m1} * C + c]" if has_xd else ""
        out.append(f"      const double x{m1} = xp[{m1} * C + c]{xd};")
    out.append("      const double wc = w[c], wtc = wt[c];")


def tangent_sums(pat, m3, has_xd):
    """t[m3] = sum G Y x and td[m3] = sum G (Y xd + Yd x) over the path's entries of row m3, as C expressions."""
    ent = [(e, m1) for e, (m1, m2, mm) in enumerate(pat) if mm == m3]
    return (" + ".join(f"k{e} * x{m1}" for e, m1 in ent),
            " + ".join((f"k{e} * xd{m1} + " if has_xd else "") + f"kd{e} * x{m1}" for e, m1 in ent))


def layer_has_xd(ly):
    """Whether the trainer's tangent of the layer's input features is non-zero: only layer 0 takes l_in = 0 (the
    species embedding, which does not move with the atoms; docs/model.md), so the kernels of the l_in = 0 layer
    types are generated without xd and the others with it (train_passes.c uses them only in that case)."""
    return ly.lin > 0


def emit_tangent(out, k, ly):
    """The trainer's tangent of one edge (train_passes.c, tangent_edge): msgd += R td + Rt t, t = sum G Y x,
    td = sum G (Y xd + Yd x) (without xd for l_in = 0: layer_has_xd). float64 only: training runs in float64."""
    has_xd = layer_has_xd(ly)
    out.append(f"static inline __attribute__((always_inline)) void gen_tan_{k}(const nnp_cg_entry *cg, "
               "const nnp_path *paths, const double *x, const double *xd, const double *Y, const double *Yd, "
               "const double *R, const double *Rt, double *msgd, const int C) {")
    for p, (path, pat) in enumerate(zip(ly.paths, ly.pattern)):
        emit_tangent_path_head(out, p, path, pat, has_xd)
        out.append(f"    double *restrict o = msgd + {ly.block[p]} * C;")
        out.append("#pragma omp simd")
        out.append("    for (int c = 0; c < C; ++c) {")
        emit_tangent_channel_loads(out, pat, has_xd)
        for m3 in range(2 * path[2] + 1):
            t, td = tangent_sums(pat, m3, has_xd)
            out.append(f"      o[{m3 * ly.stride[p]} * C + c] += wc * ({td}) + wtc * ({t});")
        out.append("    }")
        out.append("  }")
    out.append("}")


def emit_reverse(out, k, ly):
    """The trainer's reverse of one edge's primal and tangent products (train_passes.c, reverse_edge): with A, B the
    receiver's adjoints of msg and msgd, uA = R A + Rt B, uB = R B: ax[m1] += k uA + kd uB, bx[m1] += k uB,
    gR = sum_m3 A t + B td, bR = sum_m3 B t. float64 only."""
    out.append(f"static inline __attribute__((always_inline)) void gen_rev_{k}(const nnp_cg_entry *cg, "
               "const nnp_path *paths, const double *x, const double *xd, const double *Y, const double *Yd, "
               "const double *R, const double *Rt, const double *A, const double *B, double *ax, double *bx, "
               "double *gR, double *bR, const int C) {")
    has_xd = layer_has_xd(ly)
    for p, (path, pat) in enumerate(zip(ly.paths, ly.pattern)):
        l1, l3 = path[0], path[2]
        m1s = sorted({e[0] for e in pat})
        emit_tangent_path_head(out, p, path, pat, has_xd)
        out.append(f"    const double *restrict a = A + {ly.block[p]} * C, *restrict b = B + {ly.block[p]} * C;")
        out.append(f"    double *restrict axp = ax + {l1 * l1} * C, *restrict bxp = bx + {l1 * l1} * C;")
        out.append(f"    double *restrict gr = gR + {p} * C, *restrict br = bR + {p} * C;")
        out.append("#pragma omp simd")
        out.append("    for (int c = 0; c < C; ++c) {")
        emit_tangent_channel_loads(out, pat, has_xd)
        gterms, bterms = [], []
        for m3 in range(2 * l3 + 1):
            t, td = tangent_sums(pat, m3, has_xd)
            out.append(f"      const double a{m3} = a[{m3 * ly.stride[p]} * C + c], b{m3} = b[{m3 * ly.stride[p]} * C + c];")
            out.append(f"      const double ua{m3} = wc * a{m3} + wtc * b{m3}, ub{m3} = wc * b{m3};")
            out.append(f"      const double t{m3} = {t}, td{m3} = {td};")
            gterms.append(f"a{m3} * t{m3} + b{m3} * td{m3}")
            bterms.append(f"b{m3} * t{m3}")
        out.append(f"      gr[c] = {' + '.join(gterms)};")
        out.append(f"      br[c] = {' + '.join(bterms)};")
        for m1 in m1s:
            ent = [(e, m3) for e, (mm, m2, m3) in enumerate(pat) if mm == m1]
            out.append(f"      axp[{m1} * C + c] += {' + '.join(f'k{e} * ua{m3} + kd{e} * ub{m3}' for e, m3 in ent)};")
            out.append(f"      bxp[{m1} * C + c] += {' + '.join(f'k{e} * ub{m3}' for e, m3 in ent)};")
        out.append("    }")
        out.append("  }")
    out.append("}")


def main():
    path = sys.argv[1]
    gen_l_max = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    layers = []
    for L in range(1, gen_l_max + 1):
        q = quadrature(L)
        for lin in (0, L):
            for lout in (0, L):
                layers.append(Layer(L, lin, lout, q))
    out = ["/* Generated by pair_nnp/src/tp_codegen.py at build time: do not edit. */",
           f"#define GEN_N_LAYERS {len(layers)}", ""]
    out.append("/* what each generated layer assumes: l_max, l_in, l_out, paths, and per path its entries' (m1, m2, m3) */")
    out.append("static const int gen_layer_shape[GEN_N_LAYERS][4] = {" +
               ", ".join(f"{{{ly.L}, {ly.lin}, {ly.lout}, {len(ly.paths)}}}" for ly in layers) + "};")
    for k, ly in enumerate(layers):
        ent = [str(len(ly.paths))]
        for (l1, l2, l3), pat in zip(ly.paths, ly.pattern):
            ent += [str(l1), str(l2), str(l3), str(len(pat))] + [f"{a}, {b}, {c}" for a, b, c in pat]
        out.append(f"static const int gen_layer_{k}_pattern[] = {{{', '.join(ent)}}};")
    out.append("static const int *const gen_layer_pattern[GEN_N_LAYERS] = {" +
               ", ".join(f"gen_layer_{k}_pattern" for k in range(len(layers))) + "};")
    out.append("")
    for T in ("double", "float"):
        for k, ly in enumerate(layers):
            emit_forward(out, k, ly, T)
            emit_adjoint(out, k, ly, T)
        out.append("")
        t = T[0]
        out.append(f"static inline __attribute__((always_inline)) void gen_forward_{t}(int id, const nnp_cg_entry *cg, "
                   f"const nnp_path *paths, const {T} *x, const double *Y, const {T} *R, {T} *msg, const int C) {{")
        out.append("  switch (id) {")
        for k in range(len(layers)):
            out.append(f"  case {k}: gen_fwd_{k}_{t}(cg, paths, x, Y, R, msg, C); break;")
        out.append("  default: break;\n  }\n}")
        out.append(f"static inline __attribute__((always_inline)) void gen_adjoint_{t}(int id, const nnp_cg_entry *cg, "
                   f"const nnp_path *paths, const {T} *x, const double *Y, const {T} *R, const {T} *dmsg, "
                   f"const {T} *dmsg_rev, {T} *dx, {T} *dR, double *dYv, const int C, const int paired) {{")
        out.append("  switch (id) {")
        for k in range(len(layers)):
            out.append(f"  case {k}: gen_adj_{k}_{t}(cg, paths, x, Y, R, dmsg, dmsg_rev, dx, dR, dYv, C, paired); "
                       "break;")
        out.append("  default: break;\n  }\n}")
    for k, ly in enumerate(layers):
        emit_tangent(out, k, ly)
        emit_reverse(out, k, ly)
    out.append("static inline __attribute__((always_inline)) void gen_tangent_d(int id, const nnp_cg_entry *cg, "
               "const nnp_path *paths, const double *x, const double *xd, const double *Y, const double *Yd, "
               "const double *R, const double *Rt, double *msgd, const int C) {")
    out.append("  switch (id) {")
    for k in range(len(layers)):
        out.append(f"  case {k}: gen_tan_{k}(cg, paths, x, xd, Y, Yd, R, Rt, msgd, C); break;")
    out.append("  default: break;\n  }\n}")
    out.append("static inline __attribute__((always_inline)) void gen_reverse_d(int id, const nnp_cg_entry *cg, "
               "const nnp_path *paths, const double *x, const double *xd, const double *Y, const double *Yd, "
               "const double *R, const double *Rt, const double *A, const double *B, double *ax, double *bx, "
               "double *gR, double *bR, const int C) {")
    out.append("  switch (id) {")
    for k in range(len(layers)):
        out.append(f"  case {k}: gen_rev_{k}(cg, paths, x, xd, Y, Yd, R, Rt, A, B, ax, bx, gR, bR, C); "
                   "break;")
    out.append("  default: break;\n  }\n}")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
