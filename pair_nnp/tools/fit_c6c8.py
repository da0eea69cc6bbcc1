#!/usr/bin/env python3
"""Fit the coefficients of a `baseline c6c8` line (docs/model.md, "Baselines") to D3's long-range part.

    fit_c6c8.py DATA.extxyz D3_LONG_CACHE D3_SHORT_CACHE --species H O [--cutoff 6] [--r-fit 5] [--d3-cutoff 12]
                [--r-zero 3] [--r-full 5] [--test-every 5] [--every K] [--force-weight 1] [--free-c8]

D3_LONG_CACHE and D3_SHORT_CACHE are pnnp-baseline caches of the same data for `baseline d3 zero revpbe0 12 10` and
`baseline d3 zero revpbe0 5 10` (LAMMPS's dispersion/d3). Their difference is the part of D3 beyond 5 A, which a 5 A
network cannot represent. Beyond R_FULL the c6c8 term is exactly -(C6_ij/r^6 + C8_ij/r^8), so its part beyond
r_fit = 5 A is linear in the coefficients: they are fitted by least squares to the difference's virials, energies
and forces on the frames not held out (every TEST_EVERY-th frame is held out and reported separately).

Why a fit rather than D3's own C6(CN) at a typical coordination number: D3's C6 varies with each atom's
coordination number, and beyond 5 A it also carries the CN-dependent C6 of every pair in its forces; the fit finds the
fixed coefficients that reproduce the long-range virial (the pressure that sets the density) of the actual frames,
using nothing but LAMMPS's D3 as reference (this project re-implements no part of D3).

Prints the baseline line, then for the held-out and all frames D3's part (pressure, energy, forces) and, per cutoff
CUT, the c6c8 term's part beyond r_fit with explicit pairs to CUT, without and with LAMMPS's homogeneous tail beyond
CUT (which the LAMMPS lines always add): means and per-frame RMS differences.
Units: eV, Angstrom; C6 in eV A^6, C8 in eV A^8.
"""
import argparse
import itertools
import math
import sys

import numpy as np

EV_PER_A3_TO_BAR = 1.602176634e6
BOHR_A = 0.52917725  # the Bohr radius LAMMPS's dispersion/d3 uses
# D3's sqrt(<r^4>/<r^2>) per element (Grimme et al., J. Chem. Phys. 132, 154104 (2010); the values LAMMPS's
# EXTRA-PAIR/d3_parameters.h holds): D3's C8_ij = 3 C6_ij r2r4_i r2r4_j (Bohr^2), scaled by the functional's s8.
R2R4 = {"H": 2.00734898, "O": 2.59361680, "Na": 6.58585536, "Cl": 3.72932356, "C": 3.10492822, "N": 2.71175247}


def read_extxyz(path):
    """Yields (symbols, positions[N,3], cell[3,3]) per frame."""
    with open(path) as f:
        while True:
            line = f.readline()
            if not line:
                return
            if not line.strip():
                continue
            n = int(line)
            head = f.readline()
            i = head.index('Lattice="') + 9
            cell = np.array([float(x) for x in head[i:head.index('"', i)].split()]).reshape(3, 3)
            sym, pos = [], np.empty((n, 3))
            for a in range(n):
                t = f.readline().split()
                sym.append(t[0])
                pos[a] = [float(x) for x in t[1:4]]
            yield sym, pos, cell


def read_cache(path):
    """pnnp-baseline cache: list of (energy, virial[6] xx yy zz xy xz yz, forces[N,3])."""
    out = []
    with open(path) as f:
        lines = f.read().splitlines()
    i = 0
    while not lines[i].startswith("frames "):
        i += 1
    nf = int(lines[i].split()[1])
    i += 1
    for _ in range(nf):
        t = lines[i].split()
        n = int(t[2])
        e, v = float(t[3]), np.array([float(x) for x in t[4:10]])
        forces = np.array([[float(x) for x in lines[i + 1 + a].split()] for a in range(n)])
        out.append((e, v, forces))
        i += 1 + n
    return out


def pair_columns(species_of, pos, cell, n_species, edges, powers=(6, 8)):
    """Per distance shell edges[s] < r < edges[s+1] and column (pair type p = (si <= sj), power n): energy [S, C],
    virial [S, C, 6] and forces [S, C, N, 3] of E = -sum 1/r^n (each unordered pair once, all periodic images)."""
    r_in, r_out, nsh = edges[0], edges[-1], len(edges) - 1
    pairs = [(a, b) for a in range(n_species) for b in range(a, n_species)]
    col = {(p, n): k for k, (p, n) in enumerate(itertools.product(range(len(pairs)), powers))}
    ptype = np.full((n_species, n_species), -1)
    for k, (a, b) in enumerate(pairs):
        ptype[a, b] = ptype[b, a] = k
    nat = len(pos)
    ncol = len(col)
    energy, virial, forces = np.zeros((nsh, ncol)), np.zeros((nsh, ncol, 6)), np.zeros((nsh, ncol, nat, 3))
    inv = np.linalg.inv(cell)
    frac = pos @ inv
    pos = (frac - np.floor(frac)) @ cell  # wrapped into the cell: frames may hold unwrapped positions (NaCl(aq) does)
    widths = 1.0 / np.linalg.norm(inv, axis=0)  # perpendicular widths of the cell
    # wrapped fractional differences s lie in (-1, 1), and |s + n| * width < r_out needs |n| <= ceil(r_out / width)
    m = [int(math.ceil(r_out / w)) for w in widths]
    pt = ptype[np.ix_(species_of, species_of)]
    parts = []
    for shift in itertools.product(*(range(-k, k + 1) for k in m)):
        t = np.array(shift) @ cell
        d = pos[None, :, :] + t - pos[:, None, :]  # d[i, j] = x_j + t - x_i
        r2 = np.einsum("ijk,ijk->ij", d, d)
        ii, jj = np.nonzero((r2 > r_in * r_in) & (r2 < r_out * r_out))
        if len(ii):
            parts.append((ii, d[ii, jj], r2[ii, jj], pt[ii, jj]))
    if not parts:
        return pairs, col, energy, virial, forces
    ii = np.concatenate([q[0] for q in parts])
    dd = np.concatenate([q[1] for q in parts])
    rr2 = np.concatenate([q[2] for q in parts])
    pp = np.concatenate([q[3] for q in parts])
    npair = len(pairs)
    sh = np.clip(np.searchsorted(np.array(edges) ** 2, rr2) - 1, 0, nsh - 1)
    pp = sh * npair + pp  # (shell, pair type)
    key = pp * nat + ii
    outer = [dd[:, 0] * dd[:, 0], dd[:, 1] * dd[:, 1], dd[:, 2] * dd[:, 2], dd[:, 0] * dd[:, 1], dd[:, 0] * dd[:, 2],
             dd[:, 1] * dd[:, 2]]
    for n in powers:
        rn = rr2 ** (-n / 2.0)
        g = n * rr2 ** (-(n + 2) / 2.0)  # force on i along d per unit coefficient (attractive)
        ks = [col[(p, n)] for p in range(npair)]
        m2 = nsh * npair
        energy[:, ks] = -0.5 * np.bincount(pp, rn, m2).reshape(nsh, npair)  # ordered pairs: each pair twice
        for c in range(6):
            virial[:, ks, c] = -0.5 * np.bincount(pp, g * outer[c], m2).reshape(nsh, npair)
        for c in range(3):
            fc = np.bincount(key, g * dd[:, c], m2 * nat).reshape(nsh, npair, nat)
            for p in range(npair):
                forces[:, ks[p], :, c] = fc[:, p, :]
    return pairs, col, energy, virial, forces


def tail_columns(species_of, cell, pairs, col, n_species, rc):
    """LAMMPS's homogeneous tail of E = -1/r^n beyond rc (pair_style born, pair_modify tail yes): energy and virial
    per column, from the species counts (g(r) = 1 beyond rc); no forces."""
    vol = abs(np.linalg.det(cell))
    count = np.bincount(species_of, minlength=n_species).astype(float)
    energy, virial = np.zeros(len(col)), np.zeros((len(col), 6))
    for p, (a, b) in enumerate(pairs):
        nn = count[a] * count[b] * (1.0 if a == b else 2.0)  # ordered species pairs
        for n in (6, 8):
            k = col[(p, n)]
            energy[k] = -2.0 * math.pi * nn / vol / ((n - 3) * rc ** (n - 3))
            virial[k, :3] = -(2.0 * math.pi / 3.0) * nn / vol * n / ((n - 3) * rc ** (n - 3))
    return energy, virial


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("d3_long")
    ap.add_argument("d3_short")
    ap.add_argument("--species", nargs="+", required=True, help="the model's species, in its order")
    ap.add_argument("--r-fit", type=float, default=5.0, help="D3_SHORT's cutoff (A)")
    ap.add_argument("--d3-cutoff", type=float, default=12.0, help="D3_LONG's cutoff (A)")
    ap.add_argument("--cutoff", type=float, default=8.0, help="the c6c8 line's cutoff (A): explicit pairs to it, "
                    "LAMMPS's homogeneous tail beyond")
    ap.add_argument("--report-cutoffs", type=float, nargs="*", default=[5, 6, 7, 8, 9, 10, 12])
    ap.add_argument("--r-zero", type=float, default=3.0)
    ap.add_argument("--r-full", type=float, default=5.0)
    ap.add_argument("--test-every", type=int, default=5)
    ap.add_argument("--frames", type=int, default=0, help="use only the first N frames (0: all)")
    ap.add_argument("--every", type=int, default=1, help="use every K-th frame only")
    ap.add_argument("--force-weight", type=float, default=1.0,
                    help="weight of the force rows relative to the virial rows (0: fit virials and energies only)")
    ap.add_argument("--s8", type=float, default=0.792, help="D3's s8 of the functional (revPBE0, zero damping: 0.792)")
    ap.add_argument("--free-c8", action="store_true",
                    help="fit C8 freely (default: C8_ij = s8 * 3 * r2r4_i * r2r4_j * C6_ij, D3's own ratio, so one "
                         "coefficient per pair is fitted: C6 and C8 apart are ill-determined beyond 5 A)")
    o = ap.parse_args()
    if o.r_full > o.r_fit:
        sys.exit("fit_c6c8: --r-full must be <= --r-fit (beyond r_fit the term must be the plain C6/C8 sum)")
    cuts = sorted(set([c for c in o.report_cutoffs if o.r_fit <= c <= o.d3_cutoff] + [o.cutoff, o.d3_cutoff]))
    edges = sorted(set([o.r_fit] + cuts))
    sp = {s: k for k, s in enumerate(o.species)}
    long_c, short_c = read_cache(o.d3_long), read_cache(o.d3_short)
    S_e, S_v, S_f, T_e, T_v, y_e, y_v, y_f, vol, nat, is_test = [], [], [], [], [], [], [], [], [], [], []
    for k, (sym, pos, cell) in enumerate(read_extxyz(o.data)):
        if o.frames and k >= o.frames:
            break
        if k % o.every:
            continue
        spc = np.array([sp[s] for s in sym])
        pairs, col, e, v, f = pair_columns(spc, pos, cell, len(o.species), edges)
        S_e.append(e)
        S_v.append(np.transpose(v, (0, 2, 1)))  # [shell, 6, col]
        S_f.append(np.transpose(f.reshape(f.shape[0], f.shape[1], -1), (0, 2, 1)))  # [shell, 3N, col]
        te, tv = zip(*[tail_columns(spc, cell, pairs, col, len(o.species), rc) for rc in cuts])
        T_e.append(np.array(te))
        T_v.append(np.transpose(np.array(tv), (0, 2, 1)))
        (el, vl, fl), (es, vs, fs) = long_c[k], short_c[k]
        y_e.append(el - es)
        y_v.append(vl - vs)
        y_f.append((fl - fs).reshape(-1))
        vol.append(abs(np.linalg.det(cell)))
        nat.append(len(pos))
        is_test.append(len(nat) % o.test_every == 0)
    nf = len(S_e)
    y_e, y_v, vol, nat, is_test = np.array(y_e), np.array(y_v), np.array(vol), np.array(nat), np.array(is_test)

    def upto(k, rc, tail):
        """Columns of frame k: explicit pairs r_fit < r < rc, plus LAMMPS's tail beyond rc when `tail`."""
        ns = edges.index(rc)
        e, v, f = S_e[k][:ns].sum(0), S_v[k][:ns].sum(0), S_f[k][:ns].sum(0)
        if tail:
            e, v = e + T_e[k][cuts.index(rc)], v + T_v[k][cuts.index(rc)]
        return e, v, f

    ncol_all = S_e[0].shape[1]
    npairs = ncol_all // 2
    # tie[c, q]: parameter q's contribution to column c (C6 of pair p is column (p, 6), C8 column (p, 8))
    if o.free_c8:
        tie = np.eye(ncol_all)
    else:
        tie = np.zeros((ncol_all, npairs))
        for p, (a, bb) in enumerate(pairs):
            ratio = o.s8 * 3.0 * R2R4[o.species[a]] * R2R4[o.species[bb]] * BOHR_A ** 2
            tie[col[(p, 6)], p] = 1.0
            tie[col[(p, 8)], p] = ratio
    # Weighted least squares over the training frames, on D3's own pair range (r_fit to its cutoff, no tail):
    # virial rows (the pressure, hence the density), energies per atom and forces, each block scaled by its target
    # RMS so that none dominates by its units or row count.
    tr = ~is_test
    rows, rhs = [], []
    sv = np.sqrt(np.mean(y_v[tr] ** 2))
    se = np.sqrt(np.mean((y_e[tr] / nat[tr]) ** 2))
    ff = np.concatenate([y_f[k] for k in range(nf) if tr[k]])
    sf = np.sqrt(np.mean(ff ** 2))
    # the force block's total weight --force-weight times the virial block's
    wf = math.sqrt(o.force_weight * 6 * tr.sum() / len(ff))
    for k in np.nonzero(tr)[0]:
        e, v, f = upto(k, o.d3_cutoff, False)
        rows += [v @ tie / sv, (e @ tie)[None] / nat[k] / se, f @ tie * wf / sf]
        rhs += [y_v[k] / sv, np.array([y_e[k] / nat[k] / se]), y_f[k] * wf / sf]
    A, b = np.vstack(rows), np.concatenate(rhs)
    q, *_ = np.linalg.lstsq(A, b, rcond=None)
    x = tie @ q  # all C6, C8
    line = "baseline c6c8 1 %s %s %s" % tuple("%.10g" % v for v in (o.r_zero, o.r_full, o.cutoff))
    for p, (a, bb) in enumerate(pairs):
        line += " %s-%s:%.6g:%.6g" % (o.species[a], o.species[bb], x[col[(p, 6)]], x[col[(p, 8)]])
    print(line)
    print("condition number of the scaled design matrix: %.3g; %d frames (%d fitted, %d held out)"
          % (np.linalg.cond(A), nf, tr.sum(), is_test.sum()))
    xr = np.array([float("%.6g" % v) for v in x])  # the coefficients as printed
    p_ref_all = np.array([y_v[k][:3].sum() / (3 * vol[k]) * EV_PER_A3_TO_BAR for k in range(nf)])
    print("reference: D3(%g) - D3(%g) (LAMMPS dispersion/d3 zero revpbe0, CN cutoff 10)" % (o.d3_cutoff, o.r_fit))
    print("c6c8 part beyond %g A: explicit pairs to CUT [+ LAMMPS's homogeneous tail beyond CUT]" % o.r_fit)
    for name, sel in (("held-out frames", is_test), ("all frames", np.ones(nf, bool))):
        idx = np.nonzero(sel)[0]
        f_ref = np.concatenate([y_f[k] for k in idx])
        e_ref = y_e[idx] / nat[idx] * 1e3
        print("%s (%d): D3 part: pressure mean %.1f bar (std %.1f), energy mean %.3f meV/atom (std %.3f), force RMS "
              "%.3f meV/A" % (name, len(idx), p_ref_all[idx].mean(), p_ref_all[idx].std(), e_ref.mean(), e_ref.std(),
                              1e3 * np.sqrt(np.mean(f_ref ** 2))))
        print("  %-14s %12s %12s %12s %12s %12s %12s" % ("CUT", "P mean", "P RMS diff", "E mean", "E RMS diff",
                                                        "F RMS", "F RMS diff"))
        for rc in cuts:
            for tail in ((False, True) if rc < o.d3_cutoff else (False, True)):
                cs = [upto(k, rc, tail) for k in idx]
                pv = np.array([(c[1] @ xr)[:3].sum() / (3 * vol[k]) * EV_PER_A3_TO_BAR for c, k in zip(cs, idx)])
                pe = np.array([c[0] @ xr for c in cs]) / nat[idx] * 1e3
                f_fit = np.concatenate([c[2] @ xr for c in cs])
                print("  %-14s %9.1f bar %9.1f bar %7.3f meV/at %7.4f meV/at %7.3f meV/A %7.3f meV/A"
                      % ("%g%s" % (rc, " + tail" if tail else ""), pv.mean(), np.sqrt(np.mean((pv - p_ref_all[idx]) ** 2)),
                         pe.mean(), np.sqrt(np.mean((pe - e_ref) ** 2)), 1e3 * np.sqrt(np.mean(f_fit ** 2)),
                         1e3 * np.sqrt(np.mean((f_fit - f_ref) ** 2))))


if __name__ == "__main__":
    main()
