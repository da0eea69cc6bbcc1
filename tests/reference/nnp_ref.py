#!/usr/bin/python3
"""Independent float64 reference implementation of the pair_nnp model (docs/model.md).

Written from docs/model.md only (not from the C sources) so that tests can check the C library against it.
Needs only numpy (Debian python3-numpy); run it with /usr/bin/python3.

Usage:
    /usr/bin/python3 tests/reference/nnp_ref.py MODEL.nnp DATA.extxyz --out OUT.json
    /usr/bin/python3 tests/reference/nnp_ref.py --selftest

Derivatives are taken by complex-step differentiation (F = -Im E(x + i h e_k) / h, h = 1e-30), so every operation
on edge vectors below is complex-analytic: no abs(), norm() or conj(); r = sqrt(x^2 + y^2 + z^2) on complex
numbers; Re/Im (x + i y)^m by the binomial expansion.  The neighbour set (r < r_c) is decided on real parts only.

Readings of docs/model.md taken here (where the text leaves a choice):
 * Edges are found by an explicit image search: every pair (i, j) and every lattice translation n along the
   periodic directions with 0 < |x_j + n.cell - x_i| < r_c(s_i, s_j) is one edge i <- j; so an atom can be its own
   neighbour through an image and a pair can appear once per image.  Cell rows are the lattice vectors a, b, c.
 * Residual: degrees present in h^(t) but not written by layer t (the last layer writes only l = 0) are dropped.
 * The self-connection uses h^(t) (not the up-projected x), as written.
 * Virial: W = -sum_e r_e (outer) g_e.  Obtained as -dE/d(eps) for a symmetric strain eps applied to cell and
   positions (x -> (1 + eps) x), i.e. the symmetric part of W, which equals W for a rotation-invariant E.
 * The checksum is 16 hex digits; written in lower case, read in either case.  It covers all bytes up to and
   including the newline that ends the line before `checksum`.
 * Header: blank lines are ignored; an unknown key is an error; `units` must be `metal`; the version must be 1 or 2.
   `meta` lines keep their text verbatim (key + free text).  pair_cutoff lines are symmetric (A B == B A).
 * Parameter values may be spread over any number of lines; the writer puts one innermost row per line.
 * random_model: std 1/sqrt(last dimension) for every array except the embedding (std 1).
"""
import argparse
import json
import math
import re
import sys

import numpy as np

MAGIC = "pair_nnp-model"
VERSION = 2            # newest format version read and written (version 1: tensor family only, no `interaction`)
INT_KEYS = ("l_max", "channels", "layers", "radial_basis", "envelope_p", "readout_hidden")
FLOAT_KEYS = ("r_cut", "r_min", "avg_num_neighbors")
REQUIRED_KEYS = ("species", "units", "r_cut", "r_min") + INT_KEYS + (
    "radial_hidden", "avg_num_neighbors", "energy_shift", "energy_scale")
HEADER_ORDER = ("species", "units", "r_cut", "pair_cutoff", "r_min") + INT_KEYS + (
    "radial_hidden", "avg_num_neighbors", "energy_shift", "energy_scale")
# version 2: the interaction family and, for the product family, its two integers (after the version-1 keys)
PRODUCT_KEYS = ("correlation", "message_l_max")
# version 2: the options an imported NequIP model needs (docs/model.md, "Model options"); absent = the defaults
OPTION_DEFAULTS = {"paths": "even", "gate_activation": "sigmoid", "readout_activation": "silu"}
OPTION_CHOICES = {"paths": ("even", "all"), "gate_activation": ("sigmoid", "silu"),
                  "readout_activation": ("silu", "none")}
OPTION_KEYS = ("paths", "gate_activation", "residual", "readout_activation", "radial_frequencies")
INTERACTIONS = ("tensor", "product")
MAX_CORRELATION = 4


# ------------------------------------------------------------------------------------------------------------------
# Small helpers

def fnv1a64(data):
    """64-bit FNV-1a hash of a bytes object."""
    h = 0xCBF29CE484222325
    for byte in data:
        h ^= byte
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def fmt(x):
    """%.17g: float64 round-trips exactly."""
    return "%.17g" % x


def silu(x):
    with np.errstate(over="ignore"):
        return x / (1.0 + np.exp(-x))


def sigmoid(x):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


# ------------------------------------------------------------------------------------------------------------------
# Hyperparameters and architecture

def parse_header(lines, what="model header"):
    """Parse `key values...` lines into (hyper, meta).  Raises ValueError naming the problem."""
    hyper = {"pair_cutoff": []}
    meta = []
    for raw in lines:
        words = raw.split()
        if not words:
            continue
        key, vals = words[0], words[1:]
        try:
            if key == "meta":
                meta.append(raw.strip()[len("meta"):].strip())
            elif key == "pair_cutoff":
                if len(vals) != 3:
                    raise ValueError("needs `A B r`")
                hyper["pair_cutoff"].append((vals[0], vals[1], float(vals[2])))
            elif key == "baseline":
                # long-range terms LAMMPS adds (docs/model.md, "Baselines"): kept verbatim, not evaluated here
                if not vals:
                    raise ValueError("needs a term")
                hyper.setdefault("baseline", []).append(" ".join(vals))
            elif key in hyper:
                raise ValueError("repeated key")
            elif key == "species":
                hyper[key] = list(vals)
            elif key == "units":
                if vals != ["metal"]:
                    raise ValueError("only `metal` is supported")
                hyper[key] = "metal"
            elif key in INT_KEYS or key in PRODUCT_KEYS:
                if len(vals) != 1:
                    raise ValueError("needs one integer")
                hyper[key] = int(vals[0])
            elif key in OPTION_CHOICES:
                if len(vals) != 1 or vals[0] not in OPTION_CHOICES[key]:
                    raise ValueError("needs one of %s" % ", ".join("`%s`" % v for v in OPTION_CHOICES[key]))
                hyper[key] = vals[0]
            elif key == "residual":
                if not vals or any(v not in ("0", "1") for v in vals):
                    raise ValueError("needs one 0 or 1 per layer")
                hyper[key] = [int(v) for v in vals]
            elif key == "radial_frequencies":
                hyper[key] = [float(v) for v in vals]
            elif key == "interaction":
                if len(vals) != 1 or vals[0] not in INTERACTIONS:
                    raise ValueError("needs `tensor` or `product`")
                hyper[key] = vals[0]
            elif key in FLOAT_KEYS:
                if len(vals) != 1:
                    raise ValueError("needs one number")
                hyper[key] = float(vals[0])
            elif key == "radial_hidden":
                hyper[key] = [int(v) for v in vals]
            elif key in ("energy_shift", "energy_scale"):
                hyper[key] = [float(v) for v in vals]
            else:
                raise ValueError("unknown key")
        except ValueError as exc:
            raise ValueError("%s: key `%s`: %s" % (what, key, exc)) from None
    check_hyper(hyper, what)
    return hyper, meta


def check_hyper(hyper, what="hyperparameters"):
    for key in REQUIRED_KEYS:
        if key not in hyper:
            raise ValueError("%s: missing key `%s`" % (what, key))
    S = len(hyper["species"])
    if S < 1 or len(set(hyper["species"])) != S:
        raise ValueError("%s: bad species list" % what)
    for key in ("energy_shift", "energy_scale"):
        if len(hyper[key]) != S:
            raise ValueError("%s: `%s` needs %d numbers" % (what, key, S))
    for key in INT_KEYS:
        if hyper[key] < (0 if key == "l_max" else 1):
            raise ValueError("%s: `%s` out of range" % (what, key))
    if not hyper["radial_hidden"] or min(hyper["radial_hidden"]) < 1:
        raise ValueError("%s: `radial_hidden` needs K >= 1 positive integers" % what)
    for a, b, r in hyper.get("pair_cutoff", []):
        if a not in hyper["species"] or b not in hyper["species"]:
            raise ValueError("%s: pair_cutoff names an unknown species" % what)
        if not 0 < r <= hyper["r_cut"]:
            raise ValueError("%s: pair_cutoff %s %s out of range" % (what, a, b))
    numbers = [hyper[k] for k in FLOAT_KEYS] + hyper["energy_shift"] + hyper["energy_scale"]
    if not all(math.isfinite(v) for v in numbers):
        raise ValueError("%s: non-finite number" % what)
    if "residual" in hyper and len(hyper["residual"]) != hyper["layers"]:
        raise ValueError("%s: `residual` needs %d flags (one per layer)" % (what, hyper["layers"]))
    if "radial_frequencies" in hyper:
        w = hyper["radial_frequencies"]
        if len(w) != hyper["radial_basis"] or not all(math.isfinite(v) and v > 0.0 for v in w):
            raise ValueError("%s: `radial_frequencies` needs %d positive numbers" % (what, hyper["radial_basis"]))
    if interaction(hyper) == "product" and any(k in hyper for k in OPTION_KEYS):
        raise ValueError("%s: key `%s` needs `interaction tensor`"
                         % (what, next(k for k in OPTION_KEYS if k in hyper)))
    if interaction(hyper) == "product":
        for key in PRODUCT_KEYS:
            if key not in hyper:
                raise ValueError("%s: missing key `%s` (required by `interaction product`)" % (what, key))
        if not 1 <= hyper["correlation"] <= MAX_CORRELATION:
            raise ValueError("%s: `correlation` must be 1..%d" % (what, MAX_CORRELATION))
        if not 0 <= hyper["message_l_max"] <= min(hyper["l_max"], 2):
            raise ValueError("%s: `message_l_max` must be 0..min(l_max, 2)" % what)
    else:
        for key in PRODUCT_KEYS:
            if key in hyper:
                raise ValueError("%s: key `%s` needs `interaction product`" % (what, key))


def interaction(hyper):
    """The interaction family: `tensor` (docs/model.md, "Layers") unless the header says `product`."""
    return hyper.get("interaction", "tensor")


def file_version(hyper):
    """Writers use the oldest format that can hold the model: 1 for a tensor-family model without a baseline, else 2."""
    plain = interaction(hyper) == "tensor" and not hyper.get("baseline")
    return 1 if plain and not any(k in hyper for k in OPTION_KEYS) else 2


def option(hyper, key):
    """A model option (docs/model.md, "Model options"): the header's value or the default."""
    if key == "residual":
        return hyper.get(key, [1] * hyper["layers"])
    if key == "radial_frequencies":
        return hyper.get(key, [math.pi * n for n in range(1, hyper["radial_basis"] + 1)])
    return hyper.get(key, OPTION_DEFAULTS[key])


def format_header(hyper, meta=()):
    out = []
    for key in HEADER_ORDER:
        if key == "pair_cutoff":
            out += ["pair_cutoff %s %s %s" % (a, b, fmt(r)) for a, b, r in hyper.get("pair_cutoff", [])]
        elif key == "species":
            out.append("species " + " ".join(hyper["species"]))
        elif key == "units":
            out.append("units metal")
        elif key in INT_KEYS:
            out.append("%s %d" % (key, hyper[key]))
        elif key == "radial_hidden":
            out.append("radial_hidden " + " ".join(str(v) for v in hyper[key]))
        elif key in ("energy_shift", "energy_scale"):
            out.append(key + " " + " ".join(fmt(v) for v in hyper[key]))
        else:
            out.append("%s %s" % (key, fmt(hyper[key])))
    if interaction(hyper) == "product":
        out.append("interaction product")
        out += ["%s %d" % (key, hyper[key]) for key in PRODUCT_KEYS]
    for key in OPTION_KEYS:
        if key in hyper:
            v = hyper[key]
            out.append("%s %s" % (key, v if isinstance(v, str) else " ".join(
                str(x) if key == "residual" else fmt(x) for x in v)))
    out += ["baseline " + b for b in hyper.get("baseline", [])]
    out += ["meta " + m for m in meta]
    return out


def cutoff_matrix(hyper):
    """r_c(a, b) as an S x S matrix: r_cut unless a pair_cutoff line says otherwise (symmetric)."""
    sp = hyper["species"]
    rc = np.full((len(sp), len(sp)), float(hyper["r_cut"]))
    for a, b, r in hyper.get("pair_cutoff", []):
        rc[sp.index(a), sp.index(b)] = rc[sp.index(b), sp.index(a)] = r
    return rc


def layer_degrees(hyper, t):
    """(Lin_t, Lout_t): degrees read and written by layer t (the message degree for the product family)."""
    L, T = hyper["l_max"], hyper["layers"]
    if interaction(hyper) == "product":
        L = hyper["message_l_max"]
    return (0 if t == 0 else L), (L if t < T - 1 else 0)


def conv_l3_max(hyper, t):
    """Largest l3 of the convolution paths of layer t: Lout_t (tensor family), l_max (product family: A)."""
    return hyper["l_max"] if interaction(hyper) == "product" else layer_degrees(hyper, t)[1]


def layer_paths(L, lin, lout, odd=False):
    """Valid paths (l1, l2, l3), ordered by l3, then l1, then l2: the even ones, and with odd=True (`paths all`)
    also those with l1 + l2 + l3 odd."""
    return [(l1, l2, l3) for l3 in range(lout + 1) for l1 in range(lin + 1) for l2 in range(L + 1)
            if abs(l1 - l2) <= l3 <= l1 + l2 and (odd or (l1 + l2 + l3) % 2 == 0)]


def model_paths(hyper, t):
    lin = layer_degrees(hyper, t)[0]
    return layer_paths(hyper["l_max"], lin, conv_l3_max(hyper, t), option(hyper, "paths") == "all")


def param_shapes(hyper):
    """[(name, shape)] in file order."""
    S, C, L, T = len(hyper["species"]), hyper["channels"], hyper["l_max"], hyper["layers"]
    H = [hyper["radial_basis"]] + list(hyper["radial_hidden"])
    shapes = [("embedding", (S, C))]
    product = interaction(hyper) == "product"
    for t in range(T):
        lin, lout = layer_degrees(hyper, t)
        P = model_paths(hyper, t)
        cout = lambda l: C + C * lout if l == 0 else C
        n_l = lambda l: sum(1 for p in P if p[2] == l)
        shapes += [("layer%d.up%d" % (t, l), (C, C)) for l in range(lin + 1)]
        shapes += [("layer%d.radial%d" % (t, k), (H[k], H[k - 1])) for k in range(1, len(H))]
        shapes += [("layer%d.radial_out" % t, (len(P) * C, H[-1]))]
        if product:
            nu = hyper["correlation"]
            shapes += [("layer%d.mix%d" % (t, l), (C, n_l(l) * C)) for l in range(L + 1)]
            shapes += [("layer%d.product%d" % (t, l), (S, len(product_basis(L, l, nu)), C))
                       for l in range(lout + 1)]
        shapes += [("layer%d.down%d" % (t, l), (cout(l), (C if product else n_l(l) * C))) for l in range(lout + 1)]
        shapes += [("layer%d.self%d" % (t, l), (S, cout(l), C)) for l in range(min(lin, lout) + 1)]
    shapes += [("readout.hidden", (hyper["readout_hidden"], C)), ("readout.out", (hyper["readout_hidden"],))]
    return shapes


# ------------------------------------------------------------------------------------------------------------------
# Model files

class Model:
    def __init__(self, hyper, params, meta=()):
        check_hyper(hyper)
        self.hyper, self.params, self.meta = hyper, params, list(meta)
        for name, shape in param_shapes(hyper):
            if name not in params:
                raise ValueError("model: missing parameter `%s`" % name)
            if tuple(params[name].shape) != shape:
                raise ValueError("model: parameter `%s` has shape %s, expected %s"
                                 % (name, params[name].shape, shape))
        self.rc = cutoff_matrix(hyper)


def read_model(path):
    with open(path, "rb") as f:
        data = f.read()
    return parse_model(data, path)


def parse_model(data, name="model"):
    """Parse format version 1 from bytes; raises ValueError naming the problem."""
    # magic and checksum are checked on the bytes, so that damage is reported as such (not as bad UTF-8)
    first = data.split(b"\n", 1)[0].decode("utf-8", errors="replace").split()
    if len(first) != 2 or first[0] != MAGIC:
        raise ValueError("%s: not a pair_nnp model file (wrong magic)" % name)
    if not first[1].isdigit():
        raise ValueError("%s: bad format version `%s`" % (name, first[1]))
    if int(first[1]) > VERSION:
        raise ValueError("%s: format version %s is newer than %d" % (name, first[1], VERSION))
    if int(first[1]) < 1:
        raise ValueError("%s: unsupported format version %s" % (name, first[1]))
    version = int(first[1])
    # checksum line: the last non-empty line
    pos = data.rfind(b"\nchecksum ")
    tail = data[pos + 1:].decode("utf-8", errors="replace").split() if pos >= 0 else []
    if pos < 0 or len(tail) != 2:
        raise ValueError("%s: truncated file (no checksum line at the end)" % name)
    if not re.fullmatch(r"[0-9a-fA-F]{16}", tail[1]):
        raise ValueError("%s: malformed checksum `%s`" % (name, tail[1]))
    if int(tail[1], 16) != fnv1a64(data[:pos + 1]):
        raise ValueError("%s: checksum mismatch (file %s, contents %016x)" % (name, tail[1], fnv1a64(data[:pos + 1])))
    body = data[:pos + 1].decode("utf-8").split("\n")[1:]
    first_param = next((k for k, ln in enumerate(body) if ln.split()[:1] == ["param"]), len(body))
    keys = [ln.split()[0] for ln in body[:first_param] if ln.split()]
    new_keys = [k for k in ("interaction", "baseline") + PRODUCT_KEYS + OPTION_KEYS if k in keys]
    if version == 1 and new_keys:
        raise ValueError("%s: key `%s` needs format version 2" % (name, new_keys[0]))
    hyper, meta = parse_header(body[:first_param], name + " header")
    # group the remaining lines into blocks: a `param NAME dims...` line and the value lines after it
    blocks = []
    for ln in body[first_param:]:
        words = ln.split()
        if words[:1] == ["param"]:
            blocks.append((words[1:], []))
        elif words:
            blocks[-1][1].extend(words)
    expected = param_shapes(hyper)
    params = {}
    for k, (pname, shape) in enumerate(expected):
        if k >= len(blocks):
            raise ValueError("%s: truncated file (parameter `%s` missing)" % (name, pname))
        head, vals = blocks[k]
        if not head or head[0] != pname:
            raise ValueError("%s: expected parameter `%s`, found `%s`" % (name, pname, " ".join(head[:1])))
        if head[1:] != [str(d) for d in shape]:
            raise ValueError("%s: parameter `%s` has dims %s, expected %s"
                             % (name, pname, " ".join(head[1:]), " ".join(str(d) for d in shape)))
        if len(vals) != int(np.prod(shape)):
            raise ValueError("%s: parameter `%s` has %d values, expected %d"
                             % (name, pname, len(vals), int(np.prod(shape))))
        try:
            arr = np.array([float(v) for v in vals], dtype=np.float64).reshape(shape)
        except ValueError:
            raise ValueError("%s: parameter `%s` holds a value that is not a number" % (name, pname)) from None
        if not np.all(np.isfinite(arr)):
            raise ValueError("%s: parameter `%s` holds a non-finite value" % (name, pname))
        params[pname] = arr
    if len(blocks) > len(expected):
        raise ValueError("%s: unexpected parameter `%s`" % (name, " ".join(blocks[len(expected)][0][:1])))
    return Model(hyper, params, meta)


def write_model(path, hyper, params, meta=()):
    lines = ["%s %d" % (MAGIC, file_version(hyper))] + format_header(hyper, meta)
    for name, shape in param_shapes(hyper):
        arr = np.asarray(params[name], dtype=np.float64).reshape(shape)
        lines.append("param %s %s" % (name, " ".join(str(d) for d in shape)))
        rows = arr.reshape(-1, shape[-1])
        lines += [" ".join(fmt(v) for v in row) for row in rows]
    data = ("\n".join(lines) + "\n").encode()
    data += b"checksum %016x\n" % fnv1a64(data)
    with open(path, "wb") as f:
        f.write(data)


def random_params(hyper, seed):
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in param_shapes(hyper):
        std = 1.0 if name == "embedding" else 1.0 / math.sqrt(shape[-1])
        params[name] = rng.normal(0.0, std, size=shape)
    return params


def random_model(hyper, seed):
    return Model(hyper, random_params(hyper, seed), ["generator nnp_ref.random_model seed %d" % seed])


# ------------------------------------------------------------------------------------------------------------------
# Real spherical harmonics and Gaunt tensors

def legendre_derivative_coeffs(l, m):
    """Coefficients c_q of Pi_l^m(z) = sum_q c_q z^q (explicit sum formula of docs/model.md)."""
    c = np.zeros(l + 1)
    for k in range((l - m) // 2 + 1):
        c[l - 2 * k - m] += ((-1) ** k * math.comb(l, k) * math.comb(2 * l - 2 * k, l)
                             * math.factorial(l - 2 * k) / math.factorial(l - 2 * k - m)) / 2.0 ** l
    return c


def real_sph_harm(L, u):
    """Y_lm(u) for l = 0..L at index l*l + m + l; u (..., 3), any dtype (complex-analytic: polynomials only).

    u must be a unit vector (r_vec / r computed with a complex-analytic r)."""
    x, y, z = u[..., 0], u[..., 1], u[..., 2]
    xp = [np.ones_like(x)]
    yp = [np.ones_like(y)]
    zp = [np.ones_like(z)]
    for _ in range(L):
        xp.append(xp[-1] * x)
        yp.append(yp[-1] * y)
        zp.append(zp[-1] * z)
    # A_m = Re (x + i y)^m, B_m = Im (x + i y)^m by the binomial theorem: (i y)^k = i^k y^k
    A, B = [], []
    for m in range(L + 1):
        a = np.zeros_like(x)
        b = np.zeros_like(x)
        for k in range(m + 1):
            term = math.comb(m, k) * xp[m - k] * yp[k]
            if k % 4 == 0:
                a = a + term
            elif k % 4 == 1:
                b = b + term
            elif k % 4 == 2:
                a = a - term
            else:
                b = b - term
        A.append(a)
        B.append(b)
    out = []
    for l in range(L + 1):
        block = [None] * (2 * l + 1)
        for m in range(l + 1):
            c = legendre_derivative_coeffs(l, m)
            pi = sum(c[q] * zp[q] for q in range(l - m + 1) if c[q] != 0.0)
            if m == 0:
                block[l] = math.sqrt(2 * l + 1) * pi
            else:
                norm = math.sqrt(2 * (2 * l + 1) * math.factorial(l - m) / math.factorial(l + m))
                block[l + m] = norm * pi * A[m]
                block[l - m] = norm * pi * B[m]
        out += block
    return np.stack(out, axis=-1)


def sphere_quadrature(degree):
    """Points and weights (summing to 1, i.e. (1/4pi) dOmega) exact for polynomials of the given degree."""
    nz = degree // 2 + 2
    nphi = degree + 2
    z, wz = np.polynomial.legendre.leggauss(nz)
    phi = 2.0 * math.pi * np.arange(nphi) / nphi
    s = np.sqrt(1.0 - z ** 2)
    pts = np.stack([np.outer(s, np.cos(phi)), np.outer(s, np.sin(phi)), np.outer(z, np.ones(nphi))], -1)
    w = np.outer(wz, np.full(nphi, 1.0 / nphi)) / 2.0
    return pts.reshape(-1, 3), w.reshape(-1)


_GAUNT_CACHE = {}


def gaunt(l1, l2, l3):
    """G[m1, m2, m3] = sqrt(2 l3 + 1) g / ||g||_F with g = (1/4pi) int Y_l1 Y_l2 Y_l3 dOmega."""
    key = (l1, l2, l3)
    if key not in _GAUNT_CACHE:
        L = max(key)
        pts, w = sphere_quadrature(l1 + l2 + l3)
        Y = real_sph_harm(L, pts)
        blk = lambda l: Y[:, l * l:(l + 1) * (l + 1)]
        g = np.einsum("q,qa,qb,qc->abc", w, blk(l1), blk(l2), blk(l3))
        _GAUNT_CACHE[key] = math.sqrt(2 * l3 + 1) * g / np.sqrt(np.sum(g * g))
    return _GAUNT_CACHE[key]


_ODD_CACHE = {}


def sph_harm_gradient(L, u):
    """dY_lm(r / |r|)/dr at the unit vectors u (..., 3) -> (..., (L+1)^2, 3), by complex step (Y is a polynomial of
    u and r / |r| is complex-analytic, so this is exact to rounding)."""
    h = 1e-30
    out = []
    for k in range(3):
        r = u.astype(complex)
        r[..., k] += 1j * h
        n = np.sqrt(r[..., 0] ** 2 + r[..., 1] ** 2 + r[..., 2] ** 2)
        out.append(np.imag(real_sph_harm(L, r / n[..., None])) / h)
    return np.stack(out, axis=-1)


def odd_coupling(l1, l2, l3):
    """Path with l1 + l2 + l3 odd: G = sqrt(2 l3 + 1) g / ||g||_F with
    g = (1/4pi) int Y_l1m1 u . (grad Y_l2m2 x grad Y_l3m3) dOmega (docs/model.md, "Coupling coefficients")."""
    key = (l1, l2, l3)
    if key not in _ODD_CACHE:
        L = max(key)
        pts, w = sphere_quadrature(l1 + l2 + l3 + 3)
        Y = real_sph_harm(L, pts)
        dY = sph_harm_gradient(L, pts)
        blk = lambda l: slice(l * l, (l + 1) * (l + 1))
        cross = np.cross(dY[:, blk(l2), None, :], dY[:, None, blk(l3), :])           # (q, m2, m3, 3)
        g = np.einsum("q,qa,qbcx,qx->abc", w, Y[:, blk(l1)], cross, pts)
        _ODD_CACHE[key] = math.sqrt(2 * l3 + 1) * g / np.sqrt(np.sum(g * g))
    return _ODD_CACHE[key]


def coupling(l1, l2, l3):
    return gaunt(l1, l2, l3) if (l1 + l2 + l3) % 2 == 0 else odd_coupling(l1, l2, l3)


# ------------------------------------------------------------------------------------------------------------------
# Product basis (docs/model.md, "Product basis: coupling coefficients")

RANK_TOL = 1e-6      # a candidate is kept when its residual exceeds RANK_TOL times its norm
ENTRY_TOL = 1e-12    # monomial coefficients below this are zero in exact arithmetic and dropped


def even_path(l1, l2, l3):
    return abs(l1 - l2) <= l3 <= l1 + l2 and (l1 + l2 + l3) % 2 == 0


def product_candidates(l_max, L, nu):
    """[(lam, order, ks)] for correlation order nu and output degree L, in the doc's order: degree multisets lam
    (non-decreasing tuples) lexicographically, then their distinct orderings lexicographically, then the
    intermediate degrees (k_2..k_{nu-1}), each <= l_max, lexicographically."""
    import itertools
    out = []
    for lam in itertools.combinations_with_replacement(range(l_max + 1), nu):
        if (sum(lam) + L) % 2:
            continue
        for order in sorted(set(itertools.permutations(lam))):
            if nu == 1:
                if order[0] == L:
                    out.append((lam, order, ()))
                continue
            # k_1 = l_1, k_nu = L; (k_{xi-1}, l_xi, k_xi) an even path for xi = 2..nu
            chains = [((), order[0])]
            for xi in range(1, nu - 1):
                chains = [(ks + (k,), k) for ks, prev in chains for k in range(l_max + 1)
                          if even_path(prev, order[xi], k)]
            out += [(lam, order, ks) for ks, prev in chains if even_path(prev, order[-1], L)]
    return out


def chain_tensor(order, ks, L):
    """T[m_1, ..., m_nu, M]: sequential Gaunt coupling ((A^l1 A^l2)_k2 A^l3)_k3 ... -> L (dense)."""
    if len(order) == 1:
        return np.eye(2 * L + 1)
    degs = (order[0],) + tuple(ks) + (L,)
    T = gaunt(order[0], order[1], degs[1])
    for xi in range(2, len(order)):
        T = np.tensordot(T, gaunt(degs[xi - 1], order[xi], degs[xi]), axes=([T.ndim - 1], [0]))
    return T


def monomial_coefficients(order, T):
    """{alpha: c[M]}: the coefficients of B[M] = sum_m T[m.., M] prod_xi A[l_xi^2 + m_xi] on the monomials
    prod A[alpha_xi], alpha a non-decreasing tuple of flat indices into A (index l*l + m + l)."""
    import itertools
    out = {}
    for ms in itertools.product(*[range(2 * l + 1) for l in order]):
        alpha = tuple(sorted(l * l + m for l, m in zip(order, ms)))
        out[alpha] = out.get(alpha, 0.0) + T[ms]
    return out


_PRODUCT_CACHE = {}
_RANK_REJECTED = {}   # largest relative residual of a rejected candidate, per basis (for the self-test)


def product_basis(l_max, L, nu_max):
    """The kept products of output degree L for correlation orders 1..nu_max: a list of dicts with nu, order, ks,
    entries [(M, alpha, value)] sorted by M, then alpha; and residual (relative, of the rank test)."""
    key = (l_max, L, nu_max)
    if key not in _PRODUCT_CACHE:
        kept = []
        for nu in range(1, nu_max + 1):
            basis, last_lam = [], None
            for lam, order, ks in product_candidates(l_max, L, nu):
                if lam != last_lam:      # products of different degree multisets share no monomial
                    basis, last_lam = [], lam
                coef = monomial_coefficients(order, chain_tensor(order, ks, L))
                v = np.concatenate([coef[a] for a in sorted(coef)])
                r = v.copy()
                for b in basis:          # modified Gram-Schmidt against the kept ones of this multiset
                    r -= (b @ r) * b
                rel = np.sqrt(r @ r) / np.sqrt(v @ v)
                if rel <= RANK_TOL:
                    _RANK_REJECTED[key] = max(_RANK_REJECTED.get(key, 0.0), rel)
                    continue
                basis.append(r / np.sqrt(r @ r))
                entries = [(M, a, coef[a][M]) for M in range(2 * L + 1) for a in sorted(coef)
                           if abs(coef[a][M]) >= ENTRY_TOL]
                kept.append({"nu": nu, "order": order, "ks": ks, "L": L, "entries": entries, "residual": rel})
        _PRODUCT_CACHE[key] = kept
    return _PRODUCT_CACHE[key]


def product_features(products, A):
    """B_q[..., M, c] = sum over entries value * prod_xi A[..., alpha_xi, c] for each product q.

    A (..., (l_max+1)^2, C) holds every degree of the atomic basis at its flat index; returns a list of arrays
    (..., 2L+1, C)."""
    out = []
    for q in products:
        nrow = 2 * q["L"] + 1
        M = np.array([e[0] for e in q["entries"]])
        alpha = np.array([e[1] for e in q["entries"]]).reshape(len(q["entries"]), q["nu"])
        val = np.array([e[2] for e in q["entries"]])
        prod = A[..., alpha[:, 0], :]
        for xi in range(1, q["nu"]):
            prod = prod * A[..., alpha[:, xi], :]                 # (..., n_entries, C)
        scatter = np.zeros((nrow, len(val)))
        scatter[M, np.arange(len(val))] = val
        out.append(scatter @ prod)
    return out


# ------------------------------------------------------------------------------------------------------------------
# Geometry: neighbour list over periodic images

def neighbour_list(species, positions, cell, pbc, rc):
    """Edges (i <- j, shift n) with 0 < |x_j + n.cell - x_i| < rc[s_i, s_j]; decided on real parts.

    Returns i (E,), j (E,), shifts (E, 3) integer lattice translations."""
    pos = np.real(np.asarray(positions))
    cell = np.real(np.asarray(cell, dtype=complex)) if cell is not None else np.zeros((3, 3))
    N = len(pos)
    rcmax = float(np.max(rc))
    ranges = []
    if any(pbc):
        vol = abs(np.linalg.det(cell))
        if vol < 1e-12:
            raise ValueError("periodic system with a singular cell")
        frac = pos @ np.linalg.inv(cell)
    for a in range(3):
        if not pbc[a]:
            ranges.append(range(0, 1))
            continue
        b, c = cell[(a + 1) % 3], cell[(a + 2) % 3]
        spacing = vol / np.sqrt(np.sum(np.cross(b, c) ** 2))
        span = frac[:, a].max() - frac[:, a].min()
        n = int(math.ceil(span + rcmax / spacing)) + 1
        ranges.append(range(-n, n + 1))
    sp = np.asarray(species)
    rc_pair = rc[sp[:, None], sp[None, :]]
    ii, jj = np.meshgrid(np.arange(N), np.arange(N), indexing="ij")
    I, J, SH = [], [], []
    for n0 in ranges[0]:
        for n1 in ranges[1]:
            for n2 in ranges[2]:
                shift = np.array([n0, n1, n2], dtype=float)
                d = pos[None, :, :] + shift @ cell - pos[:, None, :]
                r2 = np.sum(d * d, axis=-1)
                ok = (r2 < rc_pair * rc_pair) & (r2 > 0.0)
                if n0 == n1 == n2 == 0:
                    ok &= ii != jj
                I.append(ii[ok])
                J.append(jj[ok])
                SH.append(np.tile([n0, n1, n2], (int(ok.sum()), 1)))
    return np.concatenate(I), np.concatenate(J), np.concatenate(SH).reshape(-1, 3).astype(float)


def edge_vectors(positions, cell, i, j, shifts):
    """r_vec = x_j + n.cell - x_i (complex-analytic in positions and cell)."""
    positions = np.asarray(positions)
    d = positions[j] - positions[i]
    if cell is not None:
        d = d + shifts @ np.asarray(cell)
    return d


# ------------------------------------------------------------------------------------------------------------------
# The model

def evaluate_edges(model, species, i, j, rvec):
    """Per-atom energies (B, N) for a batch of edge-vector sets rvec (B, E, 3) sharing one graph (i, j).

    Every atom is treated as local; images carry their owner's features (j indexes owners)."""
    hp, P = model.hyper, model.params
    C, L, T = hp["channels"], hp["l_max"], hp["layers"]
    p_env, nu = hp["envelope_p"], hp["avg_num_neighbors"]
    species = np.asarray(species)
    N, B, E = len(species), rvec.shape[0], rvec.shape[1]
    dtype = np.result_type(rvec.dtype, np.float64)

    # edge geometry
    r = np.sqrt(rvec[..., 0] ** 2 + rvec[..., 1] ** 2 + rvec[..., 2] ** 2)           # (B, E)
    u = rvec / r[..., None]
    Y = real_sph_harm(L, u)                                                            # (B, E, (L+1)^2)
    c = model.rc[species[i], species[j]]                                               # (E,)
    x = r / c
    fenv = (1.0 - (p_env + 1) * (p_env + 2) / 2.0 * x ** p_env + p_env * (p_env + 2) * x ** (p_env + 1)
            - p_env * (p_env + 1) / 2.0 * x ** (p_env + 2))
    freq = np.asarray(option(hp, "radial_frequencies"))
    basis = (np.sqrt(2.0 / c)[:, None] * np.sin(freq * r[..., None] / c[:, None]) / r[..., None]
             * fenv[..., None])                                                        # (B, E, N_b)
    # scatter matrix: sum over edges into the receiving atom i
    M = np.zeros((N, E))
    M[i, np.arange(E)] = 1.0

    h = {0: np.broadcast_to(P["embedding"][species][None, :, None, :], (B, N, 1, C)).astype(dtype)}
    product = interaction(hp) == "product"
    for t in range(T):
        lin, lout = layer_degrees(hp, t)
        paths = model_paths(hp, t)
        pre = "layer%d." % t
        # 1. up-projection
        xf = {l: h[l] @ P[pre + "up%d" % l].T for l in range(lin + 1)}
        # radial MLP
        z = basis
        for k in range(1, len(hp["radial_hidden"]) + 1):
            z = silu(z @ P[pre + "radial%d" % k].T)
        R = (z @ P[pre + "radial_out"].T).reshape(B, E, len(paths), C)
        # 2. convolution, one path at a time
        # (matmul rather than einsum: same sums, much faster for the batched small matrices)
        a = []
        xj = {l: xf[l][:, j] for l in xf}                                              # (B, E, 2l+1, C)
        for p, (l1, l2, l3) in enumerate(paths):
            G = coupling(l1, l2, l3)                                                   # (m1, m2, m3)
            Gq = G.transpose(1, 2, 0).reshape(2 * l2 + 1, -1)                          # (m2, m3*m1)
            YG = (Y[..., l2 * l2:(l2 + 1) ** 2] @ Gq).reshape(B, E, 2 * l3 + 1, 2 * l1 + 1)
            msg = (YG @ xj[l1]) * R[:, :, p, None, :]                                  # (B, E, m3, C)
            agg = M @ msg.reshape(B, E, (2 * l3 + 1) * C)   # explicit size: E may be 0
            a.append(agg.reshape(B, N, 2 * l3 + 1, C) / math.sqrt(nu))
        if product:
            # product family: atomic basis A (channel mixing of each degree's paths), products, per-species weights
            A = np.concatenate([np.concatenate([a[p] for p, path in enumerate(paths) if path[2] == l], axis=-1)
                                @ P[pre + "mix%d" % l].T for l in range(L + 1)], axis=-2)   # (B, N, (L+1)^2, C)
            msg = {}
            for l3 in range(lout + 1):
                Bq = product_features(product_basis(L, l3, hp["correlation"]), A)
                W = P[pre + "product%d" % l3][species]                                # (N, n_q, C)
                msg[l3] = sum(W[None, :, q, None, :] * Bq[q] for q in range(len(Bq)))
        else:
            msg = {l3: np.concatenate([a[p] for p, path in enumerate(paths) if path[2] == l3], axis=-1)
                   for l3 in range(lout + 1)}
        # 3. down-projection + self-connection
        y = {}
        for l3 in range(lout + 1):
            y[l3] = msg[l3] @ P[pre + "down%d" % l3].T
            if l3 <= lin:   # K[s_i] per atom: (B, N, m, C) @ (1, N, C, C_out)
                y[l3] = y[l3] + h[l3] @ P[pre + "self%d" % l3][species].transpose(0, 2, 1)[None]
        # 4. gate
        gate = sigmoid if option(hp, "gate_activation") == "sigmoid" else silu
        o = {0: silu(y[0][..., :C])}
        for l in range(1, lout + 1):
            o[l] = gate(y[0][..., C + (l - 1) * C:C + l * C]) * y[l]
        # 5. residual (degrees only in h^(t) are dropped; none in a layer whose `residual` flag is 0)
        res = option(hp, "residual")[t]
        h = {l: (h[l] + o[l]) if (res and l in h) else o[l] for l in o}

    hid = h[0][:, :, 0, :] @ P["readout.hidden"].T                                     # (B, N, C_r)
    if option(hp, "readout_activation") == "silu":
        hid = silu(hid)
    mu = np.asarray(hp["energy_shift"])[species]
    sigma = np.asarray(hp["energy_scale"])[species]
    return mu + sigma * (hid @ P["readout.out"])


def energy(model, species, positions, cell=None, pbc=(False, False, False)):
    """(E, per-atom energies).  Positions/cell may be complex (complex step); the graph uses real parts."""
    species = np.asarray(species)
    i, j, sh = neighbour_list(species, positions, cell, pbc, model.rc)
    rvec = edge_vectors(positions, cell if any(pbc) else None, i, j, sh)
    ea = evaluate_edges(model, species, i, j, rvec[None])[0]
    return np.sum(ea), ea


VOIGT = ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))


def compute(model, species, positions, cell=None, pbc=(False, False, False), h=1e-30, max_batch=None):
    """Energy, per-atom energies, forces (complex step on every coordinate) and virial (complex step on a
    symmetric strain of cell and positions).  Returns a dict of numpy arrays."""
    species = np.asarray(species)
    positions = np.asarray(positions, dtype=float)
    N = len(species)
    i, j, sh = neighbour_list(species, positions, cell, pbc, model.rc)
    r0 = edge_vectors(positions, cell if any(pbc) else None, i, j, sh).astype(complex)   # (E, 3)
    E = len(i)
    # perturbation 0: none; 1..3N: x_k,alpha += i h; then 6 symmetric strains eps (r -> (1 + eps) r)
    pert = np.zeros((1 + 3 * N + 6, E, 3), dtype=complex)
    for k in range(N):
        for al in range(3):
            pert[1 + 3 * k + al, :, al] += 1j * h * ((j == k).astype(float) - (i == k).astype(float))
    for v, (a, b) in enumerate(VOIGT):
        eps = np.zeros((3, 3), dtype=complex)
        eps[a, b] += 1j * h if a == b else 0.5j * h
        eps[b, a] += 0.0 if a == b else 0.5j * h
        pert[1 + 3 * N + v] = r0 @ eps.T
    rvec = r0[None] + pert
    if max_batch is None:   # keep the largest intermediate around 2e7 complex numbers
        max_batch = max(1, int(2e7 // max(1, E * model.hyper["channels"] * (2 * model.hyper["l_max"] + 1) ** 2)))
    ea = np.concatenate([evaluate_edges(model, species, i, j, rvec[s:s + max_batch])
                         for s in range(0, len(rvec), max_batch)])
    etot = np.sum(ea, axis=1)
    grad = np.imag(etot) / h
    return {"energy": float(np.real(etot[0])),
            "atom_energies": np.real(ea[0]),
            "forces": -grad[1:1 + 3 * N].reshape(N, 3),
            "virial": -grad[1 + 3 * N:],
            "n_edges": E}


# ------------------------------------------------------------------------------------------------------------------
# Extended XYZ

def parse_kv(line):
    """key=value pairs of an extxyz comment line (values may be "quoted")."""
    out = {}
    for m in re.finditer(r'(\w+)\s*=\s*("([^"]*)"|\S+)', line):
        out[m.group(1)] = m.group(3) if m.group(3) is not None else m.group(2)
    return out


def read_extxyz(path):
    """Frames as dicts: info (header keys, lower-cased), arrays {name: array}, cell (3x3 or None), pbc."""
    frames = []
    with open(path) as f:
        lines = f.read().split("\n")
    k = 0
    while k < len(lines):
        if not lines[k].strip():
            k += 1
            continue
        n = int(lines[k])
        info = {key.lower(): val for key, val in parse_kv(lines[k + 1]).items()}
        rows = [lines[k + 2 + a].split() for a in range(n)]
        k += 2 + n
        props = info.get("properties", "species:S:1:pos:R:3").split(":")
        arrays, col = {}, 0
        for q in range(0, len(props), 3):
            name, typ, cnt = props[q], props[q + 1], int(props[q + 2])
            vals = [row[col:col + cnt] for row in rows]
            col += cnt
            if typ in ("R", "I"):
                arr = np.array(vals, dtype=float if typ == "R" else int)
            else:
                arr = np.array(vals, dtype=object)
            arrays[name] = arr[:, 0] if cnt == 1 else arr
        cell = None
        if "lattice" in info:
            cell = np.array(info["lattice"].split(), dtype=float).reshape(3, 3)
        default = "T T T" if cell is not None else "F F F"
        pbc = tuple(w.upper() in ("T", "TRUE", "1") for w in info.get("pbc", default).split())
        frames.append({"info": info, "arrays": arrays, "cell": cell, "pbc": pbc})
    return frames


def write_extxyz(path, frames):
    """frames: dicts with symbols, positions, cell (or None), pbc, and optional extra info (str -> str)."""
    with open(path, "w") as f:
        for fr in frames:
            f.write("%d\n" % len(fr["symbols"]))
            head = []
            if fr.get("cell") is not None:
                head.append('Lattice="%s"' % " ".join(fmt(v) for v in np.ravel(fr["cell"])))
            head.append("Properties=species:S:1:pos:R:3")
            head.append('pbc="%s"' % " ".join("T" if p else "F" for p in fr["pbc"]))
            f.write(" ".join(head) + "\n")
            for s, x in zip(fr["symbols"], fr["positions"]):
                f.write("%s %s %s %s\n" % (s, fmt(x[0]), fmt(x[1]), fmt(x[2])))


def frame_species(model, frame):
    sp = model.hyper["species"]
    try:
        return np.array([sp.index(s) for s in frame["arrays"]["species"]])
    except ValueError as exc:
        raise ValueError("structure holds a species the model does not know: %s" % exc) from None


def compute_frame(model, frame):
    pos = frame["arrays"]["pos"]
    cell = frame["cell"]
    if cell is None and any(frame["pbc"]):
        raise ValueError("periodic frame without a Lattice")
    res = compute(model, frame_species(model, frame), pos, cell, frame["pbc"])
    return {"energy": res["energy"], "atom_energies": res["atom_energies"].tolist(),
            "forces": res["forces"].tolist(), "virial": res["virial"].tolist()}


# ------------------------------------------------------------------------------------------------------------------
# Self-tests

def random_rotation(rng, reflect):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return -q if reflect else q


def random_structure(rng, n, cell, pbc, min_sep=0.8, box=None):
    """Random positions with a minimum separation (over periodic images)."""
    pos = []
    rc = np.array([[min_sep]])
    while len(pos) < n:
        if cell is not None and any(pbc):
            f = rng.random(3)
            x = f @ cell
        else:
            x = rng.random(3) * box
        trial = np.array(pos + [x])
        i, _, _ = neighbour_list(np.zeros(len(trial), int), trial, cell, pbc, rc)
        if len(i) == 0:
            pos.append(x)
    return np.array(pos)


def selftest_hypers():
    base = dict(units="metal", r_min=0.5, radial_basis=6, envelope_p=6, readout_hidden=5, avg_num_neighbors=7.0)
    return [
        dict(base, species=["Si"], r_cut=3.5, pair_cutoff=[], l_max=1, channels=4, layers=1,
             radial_hidden=[6], energy_shift=[-1.25], energy_scale=[0.8]),
        dict(base, species=["H", "O"], r_cut=3.8, pair_cutoff=[("H", "H", 2.6), ("H", "O", 3.1)], l_max=2,
             channels=4, layers=2, radial_hidden=[6, 5], energy_shift=[-0.5, -2.0], energy_scale=[0.7, 1.3]),
        dict(base, species=["C", "H", "N"], r_cut=3.4, pair_cutoff=[("C", "N", 2.9), ("H", "H", 2.2)], l_max=3,
             channels=3, layers=3, radial_hidden=[5], energy_shift=[-1.0, -0.3, -2.2],
             energy_scale=[1.1, 0.6, 0.9]),
    ]


def selftest_product_hypers():
    """Product-family models: invariant (L = 0) and vector messages, correlation 1..4, 1-3 species, 1-3 layers."""
    base = dict(units="metal", r_min=0.5, radial_basis=6, envelope_p=6, readout_hidden=5, avg_num_neighbors=7.0,
                interaction="product")
    return [
        dict(base, species=["O"], r_cut=3.6, pair_cutoff=[], l_max=3, channels=3, layers=2, radial_hidden=[6],
             energy_shift=[-2.0], energy_scale=[0.9], correlation=3, message_l_max=0),
        dict(base, species=["H", "O"], r_cut=3.8, pair_cutoff=[("H", "H", 2.6)], l_max=2, channels=3, layers=2,
             radial_hidden=[6, 5], energy_shift=[-0.5, -2.0], energy_scale=[0.7, 1.3], correlation=2,
             message_l_max=1),
        dict(base, species=["C", "H", "N"], r_cut=3.4, pair_cutoff=[("C", "N", 2.9)], l_max=2, channels=2,
             layers=1, radial_hidden=[5], energy_shift=[-1.0, -0.3, -2.2], energy_scale=[1.1, 0.6, 0.9],
             correlation=4, message_l_max=0),
        dict(base, species=["H", "O"], r_cut=3.5, pair_cutoff=[], l_max=2, channels=2, layers=3, radial_hidden=[5],
             energy_shift=[-0.5, -2.0], energy_scale=[0.7, 1.3], correlation=1, message_l_max=2),
    ]


class Checker:
    def __init__(self):
        self.failed = 0

    def check(self, name, err, tol):
        ok = bool(err <= tol)
        self.failed += not ok
        print("  %-58s %.2e (tol %.0e)  %s" % (name, err, tol, "ok" if ok else "FAIL"))


def selftest_harmonics(chk, rng):
    u = rng.normal(size=(50, 3))
    u /= np.sqrt(np.sum(u * u, axis=1))[:, None]
    Y = real_sph_harm(3, u)
    chk.check("Y_1 = sqrt(3) (y, z, x)", np.max(np.abs(Y[:, 1:4] - math.sqrt(3) * u[:, [1, 2, 0]])), 1e-14)
    for l in range(4):
        chk.check("sum_m Y_%dm^2 = 2l+1" % l,
                  np.max(np.abs(np.sum(Y[:, l * l:(l + 1) ** 2] ** 2, 1) - (2 * l + 1))), 1e-12)
    pts, w = sphere_quadrature(8)
    Yq = real_sph_harm(4, pts)
    chk.check("(1/4pi) int Y_lm Y_l'm' = delta (l <= 4)",
              np.max(np.abs(np.einsum("q,qa,qb->ab", w, Yq, Yq) - np.eye(25))), 1e-13)
    # complex-analytic: Y of a complex-perturbed u gives the directional derivative
    du = rng.normal(size=3)
    h = 1e-30
    d_cs = np.imag(real_sph_harm(3, (u[0] + 1j * h * du)[None])[0]) / h
    e = 1e-6
    d_fd = (real_sph_harm(3, (u[0] + e * du)[None])[0] - real_sph_harm(3, (u[0] - e * du)[None])[0]) / (2 * e)
    chk.check("complex step through Y vs central difference", np.max(np.abs(d_cs - d_fd)), 1e-7)


def wigner_d(l, R, rng):
    """D^l(R) with Y_l(R u) = D Y_l(u), fitted by least squares on random points."""
    u = rng.normal(size=(60, 3))
    u /= np.sqrt(np.sum(u * u, axis=1))[:, None]
    blk = slice(l * l, (l + 1) ** 2)
    Y0 = real_sph_harm(l, u)[:, blk]
    Y1 = real_sph_harm(l, u @ R.T)[:, blk]
    Dt, res, _, _ = np.linalg.lstsq(Y0, Y1, rcond=None)
    return Dt.T, np.max(np.abs(Y0 @ Dt - Y1))


def selftest_gaunt(chk, rng):
    L = 3
    for reflect in (False, True):
        R = random_rotation(rng, reflect)
        D = {}
        fit = orth = 0.0
        for l in range(L + 1):
            D[l], res = wigner_d(l, R, rng)
            fit = max(fit, res)
            orth = max(orth, np.max(np.abs(D[l] @ D[l].T - np.eye(2 * l + 1))))
        chk.check("Y_l(R u) = D^l(R) Y_l(u), D orthogonal (reflect=%s)" % reflect, max(fit, orth), 1e-12)
        worst = 0.0
        for (l1, l2, l3) in layer_paths(L, L, L):
            G = gaunt(l1, l2, l3)
            GR = np.einsum("ai,bj,ck,ijk->abc", D[l1], D[l2], D[l3], G)
            worst = max(worst, np.max(np.abs(GR - G)))
        chk.check("Gaunt D1 D2 D3 G = G, all even paths l <= 3 (reflect=%s)" % reflect, worst, 1e-12)
    worst = max(abs(np.sqrt(np.sum(gaunt(*p) ** 2)) - math.sqrt(2 * p[2] + 1)) for p in layer_paths(3, 3, 3))
    chk.check("||G||_F = sqrt(2 l3 + 1)", worst, 1e-13)
    # 0 x l -> l is the identity (up to the normalisation sqrt(2l+1)/sqrt(2l+1))
    chk.check("G(0, l, l) = delta", max(np.max(np.abs(gaunt(0, l, l)[0] - np.eye(2 * l + 1))) for l in range(4)),
              1e-13)


def selftest_odd_coupling(chk, rng):
    """Odd paths (`paths all`): rotation-equivariant, sign-flipping under reflections, norm sqrt(2 l3 + 1), and
    antisymmetric in (m2, m3) when l2 = l3 (a cross product)."""
    L = 3
    odd = [p for p in layer_paths(L, L, L, odd=True) if sum(p) % 2]
    for reflect in (False, True):
        R = random_rotation(rng, reflect)
        D = {l: wigner_d(l, R, rng)[0] for l in range(L + 1)}
        worst = 0.0
        for (l1, l2, l3) in odd:
            G = odd_coupling(l1, l2, l3)
            GR = np.einsum("ai,bj,ck,ijk->abc", D[l1], D[l2], D[l3], G)
            worst = max(worst, np.max(np.abs(GR - (-G if reflect else G))))
        chk.check("odd paths l <= 3: D1 D2 D3 G = %sG (reflect=%s)" % ("-" if reflect else "", reflect), worst, 1e-12)
    chk.check("odd paths: ||G||_F = sqrt(2 l3 + 1)",
              max(abs(np.sqrt(np.sum(odd_coupling(*p) ** 2)) - math.sqrt(2 * p[2] + 1)) for p in odd), 1e-13)
    chk.check("odd paths (1, l, l): antisymmetric in (m2, m3)",
              max(np.max(np.abs(odd_coupling(1, l, l) + odd_coupling(1, l, l).transpose(0, 2, 1)))
                  for l in range(1, L + 1)), 1e-13)
    # (1, 1, 1) is the cross product: G[a, b, c] = sqrt(3)/sqrt(6) * epsilon in the (y, z, x) order of Y_1
    eps = np.zeros((3, 3, 3))
    for a, b, c in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
        eps[a, b, c], eps[a, c, b] = 1.0, -1.0
    chk.check("G(1, 1, 1) = epsilon / sqrt(2)", np.max(np.abs(odd_coupling(1, 1, 1) - eps / math.sqrt(2))), 1e-13)


def selftest_option_hypers():
    """Models with the options of imported NequIP models (docs/model.md, "Model options")."""
    base = dict(units="metal", r_min=0.5, radial_basis=5, envelope_p=6, readout_hidden=4, avg_num_neighbors=7.0)
    return [
        dict(base, species=["H", "O"], r_cut=3.6, pair_cutoff=[], l_max=2, channels=3, layers=3,
             radial_hidden=[5], energy_shift=[-0.5, -2.0], energy_scale=[0.7, 1.3], paths="all",
             gate_activation="silu", residual=[0, 1, 1], readout_activation="none",
             radial_frequencies=[2.9, 6.5, 9.1, 12.9, 15.3]),
        dict(base, species=["O"], r_cut=3.4, pair_cutoff=[], l_max=3, channels=2, layers=2, radial_hidden=[4],
             energy_shift=[-1.0], energy_scale=[0.9], paths="all", residual=[1, 0]),
    ]


def equivariant_dimension(lam, L):
    """Multiplicity of degree L in the symmetric products of A^l1 ... A^lnu (degree multiset lam), counted on the
    complex weights: #(monomials of total weight L) - #(total weight L + 1).  With sum(lam) + L even every SO(3)
    map is also an O(3) map of the right parity."""
    import itertools
    weights = {}
    for ms in itertools.product(*[range(-l, l + 1) for l in lam]):
        weights[tuple(sorted(zip(lam, ms)))] = sum(ms)
    w = list(weights.values())
    return w.count(L) - w.count(L + 1)


def selftest_product_basis(chk, rng):
    """The product basis: complete, free of redundancy, equivariant, and its sparse entries equal the chain tensors."""
    import itertools
    worst_count = 0
    min_kept, max_rej = 1.0, 0.0
    for l_max, nu_max in ((1, 4), (2, 4), (3, 3)):
        for L in range(min(l_max, 2) + 1):
            pb = product_basis(l_max, L, nu_max)
            min_kept = min(min_kept, min(q["residual"] for q in pb))
            max_rej = max(max_rej, _RANK_REJECTED.get((l_max, L, nu_max), 0.0))
            for nu in range(1, nu_max + 1):
                for lam in itertools.combinations_with_replacement(range(l_max + 1), nu):
                    if (sum(lam) + L) % 2 == 0:
                        kept = sum(1 for q in pb if q["nu"] == nu and tuple(sorted(q["order"])) == lam)
                        worst_count = max(worst_count, abs(kept - equivariant_dimension(lam, L)))
    chk.check("products per degree multiset = dim of equivariant maps", worst_count, 0)
    chk.check("rank test: kept residuals >= 1e-2 (relative)", 0.0 if min_kept >= 1e-2 else 1.0, 0.0)
    chk.check("rank test: rejected residuals (relative)", max_rej, 1e-12)
    # B(D A) = D^L B(A) for rotations and reflections, on random atomic bases with 2 channels
    l_max, nu_max = 3, 3
    for reflect in (False, True):
        R = random_rotation(rng, reflect)
        D = [wigner_d(l, R, rng)[0] for l in range(l_max + 1)]
        Dfull = np.zeros(((l_max + 1) ** 2, (l_max + 1) ** 2))
        for l in range(l_max + 1):
            Dfull[l * l:(l + 1) ** 2, l * l:(l + 1) ** 2] = D[l]
        A = rng.normal(size=((l_max + 1) ** 2, 2))
        worst = 0.0
        for L in range(3):
            pb = product_basis(l_max, L, nu_max)
            for b0, b1 in zip(product_features(pb, A), product_features(pb, Dfull @ A)):
                worst = max(worst, np.max(np.abs(D[L] @ b0 - b1)) / max(np.max(np.abs(b0)), 1.0))
        chk.check("B(D A) = D^L B(A), l_max 3, nu <= 3, L <= 2 (reflect=%s)" % reflect, worst, 1e-12)
    # the sparse monomial entries evaluate the (unsymmetrised) chain tensor contracted with copies of A
    A = rng.normal(size=((l_max + 1) ** 2, 1))
    worst = 0.0
    for L in range(3):
        pb = product_basis(l_max, L, nu_max)
        for q, b in zip(pb, product_features(pb, A)):
            T = chain_tensor(q["order"], q["ks"], L)
            for l in q["order"]:
                T = np.tensordot(A[l * l:(l + 1) ** 2, 0], T, axes=([0], [0]))
            worst = max(worst, np.max(np.abs(T - b[:, 0])))
    chk.check("sparse entries == dense chain tensor contraction", worst, 1e-12)
    # nu = 1: B = A^L; nu = 2, order (l1, l2): B = G(l1, l2, L) contracted with A^l1 A^l2
    q1 = [q for q in product_basis(2, 1, 2) if q["nu"] == 1]
    chk.check("nu = 1: one product, the identity on A^L",
              0.0 if len(q1) == 1 and q1[0]["entries"] == [(M, (1 + M,), 1.0) for M in range(3)] else 1.0, 0.0)
    q2 = [q for q in product_basis(3, 2, 2) if q["nu"] == 2 and q["order"] == (1, 3)][0]
    b = product_features([q2], A)[0][:, 0]
    chk.check("nu = 2: (1, 3) -> 2 is the Gaunt coupling G(1,3,2)",
              np.max(np.abs(b - np.einsum("abc,a,b->c", gaunt(1, 3, 2), A[1:4, 0], A[9:16, 0]))), 1e-13)


def selftest_product_reduces(chk, rng):
    """Correlation 1 with message_l_max = l_max is the tensor family with down = D diag(w) W_mix (w the same for
    every species)."""
    for hyper in (selftest_hypers()[0], selftest_hypers()[1]):
        prod = dict(hyper, interaction="product", correlation=1, message_l_max=hyper["l_max"])
        pm = random_model(prod, 31)
        params = dict(pm.params)
        for name in list(params):
            if ".product" in name:    # one weight vector for all species
                params[name] = np.broadcast_to(params[name][:1], params[name].shape).copy()
        pm = Model(prod, params)
        tens = {k: v for k, v in params.items() if ".mix" not in k and ".product" not in k}
        for t in range(hyper["layers"]):
            # paths are ordered by l3 first, so the tensor family's (l3 <= Lout_t) are a prefix of the product's
            # (l3 <= l_max); with correlation 1 the others only feed unused A^l
            n_paths = len(layer_paths(hyper["l_max"], *layer_degrees(hyper, t)))
            tens["layer%d.radial_out" % t] = params["layer%d.radial_out" % t][:n_paths * hyper["channels"]]
            for l in range(layer_degrees(hyper, t)[1] + 1):
                w = params["layer%d.product%d" % (t, l)][0, 0]           # (C,)
                tens["layer%d.down%d" % (t, l)] = params["layer%d.down%d" % (t, l)] @ (
                    w[:, None] * params["layer%d.mix%d" % (t, l)])
        tm = Model(hyper, tens)
        n = 7
        sp = rng.integers(0, len(hyper["species"]), size=n)
        pos = random_structure(rng, n, None, (False,) * 3, box=3.5)
        e_p, ea_p = energy(pm, sp, pos)
        e_t, ea_t = energy(tm, sp, pos)
        chk.check("correlation 1 == tensor family, %d species, %d layers" % (len(hyper["species"]), hyper["layers"]),
                  np.max(np.abs(ea_p - ea_t)) / max(abs(e_t), 1.0), 1e-13)


def selftest_version_rules(chk, data):
    """Format version 2: the new keys are errors in version 1 files; without `interaction` the family is `tensor`."""
    v1 = b"pair_nnp-model 1" + data[data.index(b"\n"):]
    no_inter = b"\n".join(ln for ln in data.split(b"\n") if not ln.startswith(b"interaction"))
    no_corr = b"\n".join(ln for ln in data.split(b"\n") if not ln.startswith(b"correlation"))
    bad = {"needs format version 2": resign(v1), "needs `interaction product`": resign(no_inter),
           "missing key `correlation`": resign(no_corr)}
    for word, blob in bad.items():
        try:
            parse_model(blob)
            msg = "(accepted)"
        except ValueError as exc:
            msg = str(exc)
        chk.check("reader rejects: %s" % word, 0.0 if word in msg else 1.0, 0.0)


def resign(data):
    """Recompute the checksum of a (modified) model file."""
    body = data[:data.rfind(b"\nchecksum ") + 1]
    return body + b"checksum %016x\n" % fnv1a64(body)


def selftest_reader_errors(chk, data):
    """The reader rejects each kind of damage with a message naming it."""
    lines = data.split(b"\n")
    first_param = next(k for k, ln in enumerate(lines) if ln.startswith(b"param "))
    value_line = first_param + 1
    bad = {
        "wrong magic": resign(b"pair_nnq-model 1" + data[data.index(b"\n"):]),
        "newer": resign(b"pair_nnp-model %d" % (VERSION + 1) + data[data.index(b"\n"):]),
        "missing key `r_min`": resign(b"\n".join(ln for ln in lines if not ln.startswith(b"r_min"))),
        "dims": resign(b"\n".join(lines[:first_param] + [lines[first_param] + b" 1"] + lines[first_param + 1:])),
        "non-finite": resign(b"\n".join(lines[:value_line] + [b"nan " + lines[value_line].split(b" ", 1)[1]]
                                         + lines[value_line + 1:])),
        "truncated": data[:len(data) // 2],
        "checksum mismatch": data[:len(data) // 2] + bytes([data[len(data) // 2] ^ 1]) + data[len(data) // 2 + 1:],
    }
    for word, blob in bad.items():
        try:
            parse_model(blob)
            msg = "(accepted)"
        except ValueError as exc:
            msg = str(exc)
        chk.check("reader rejects: %s" % word, 0.0 if word in msg else 1.0, 0.0)
    chk.check("reader accepts the re-signed original", 0.0 if parse_model(resign(data)) else 1.0, 0.0)


def selftest_model(chk, rng, hyper, seed, tmpdir):
    import os
    model = random_model(hyper, seed)
    # file round trip
    path = os.path.join(tmpdir, "selftest_%d.nnp" % seed)
    write_model(path, hyper, model.params, model.meta)
    back = read_model(path)
    chk.check("write/read round trip (params exact)",
              max(np.max(np.abs(back.params[k] - model.params[k])) for k in model.params), 0.0)
    with open(path, "rb") as f:
        data = bytearray(f.read())
    selftest_reader_errors(chk, bytes(data))
    chk.check("file version %d written" % file_version(hyper),
              0.0 if data.startswith(b"%s %d\n" % (MAGIC.encode(), file_version(hyper))) else 1.0, 0.0)
    if interaction(hyper) == "product":
        selftest_version_rules(chk, bytes(data))
    else:   # the same tensor-family model as version 2 with `interaction tensor`: accepted, same parameters
        head, rest = bytes(data).split(b"\n", 1)
        v2 = parse_model(resign(b"pair_nnp-model 2\ninteraction tensor\n" + rest))
        same = ({k: v for k, v in v2.hyper.items() if k != "interaction"} == back.hyper
                and interaction(v2.hyper) == "tensor"
                and all(np.array_equal(v2.params[k], back.params[k]) for k in back.params))
        chk.check("version 2 with `interaction tensor` == version 1", 0.0 if same else 1.0, 0.0)
    model = back
    S = len(hyper["species"])
    cases = [
        ("open", 9, None, (False, False, False)),
        ("triclinic small", 4, np.array([[2.4, 0.0, 0.0], [0.5, 2.3, 0.0], [-0.3, 0.4, 2.5]]), (True, True, True)),
        ("slab T T F", 7, np.array([[4.2, 0.0, 0.0], [1.0, 3.9, 0.0], [0.0, 0.0, 6.0]]), (True, True, False)),
    ]
    for name, n, cell, pbc in cases:
        sp = rng.integers(0, S, size=n)
        pos = random_structure(rng, n, cell, pbc, box=4.0)
        res = compute(model, sp, pos, cell, pbc)
        e0, ea = energy(model, sp, pos, cell, pbc)
        if name.startswith("triclinic"):   # the small cell must exercise self-images and repeated pairs
            i, j, _ = neighbour_list(sp, pos, cell, pbc, model.rc)
            pairs = list(zip(i.tolist(), j.tolist()))
            chk.check("%s: has self-image edges and repeated pairs" % name,
                      0.0 if np.any(i == j) and len(set(pairs)) < len(pairs) else 1.0, 0.0)
        scale = max(abs(e0), 1.0)
        chk.check("%s: energy() == compute() energy (%d edges)" % (name, res["n_edges"]),
                  abs(e0 - res["energy"]) / scale, 1e-13)
        chk.check("%s: sum of atom energies = E" % name, abs(np.sum(res["atom_energies"]) - e0) / scale, 1e-13)
        # forces: complex step vs central differences (full rebuild of the graph each time)
        fd = np.zeros((n, 3))
        eps = 1e-5
        for k in range(n):
            for a in range(3):
                p1, p2 = pos.copy(), pos.copy()
                p1[k, a] += eps
                p2[k, a] -= eps
                fd[k, a] = -(energy(model, sp, p1, cell, pbc)[0] - energy(model, sp, p2, cell, pbc)[0]) / (2 * eps)
        fs = max(np.max(np.abs(res["forces"])), 1e-3)
        chk.check("%s: forces vs central differences" % name, np.max(np.abs(fd - res["forces"])) / fs, 1e-6)
        # the literal complex step through energy() for one coordinate
        pc = pos.astype(complex)
        pc[0, 1] += 1e-30j
        f01 = -np.imag(energy(model, sp, pc, cell, pbc)[0]) / 1e-30
        chk.check("%s: complex step through energy() == batched" % name, abs(f01 - res["forces"][0, 1]) / fs, 1e-12)
        # virial: strain finite differences, and W = sum over atoms x F for an open system
        fdv = np.zeros(6)
        for v, (a, b) in enumerate(VOIGT):
            E2 = []
            for sgn in (1, -1):
                eps_m = np.zeros((3, 3))
                eps_m[a, b] += sgn * eps / (1 if a == b else 2)
                eps_m[b, a] += 0 if a == b else sgn * eps / 2
                F = np.eye(3) + eps_m
                E2.append(energy(model, sp, pos @ F.T, None if cell is None else cell @ F.T, pbc)[0])
            fdv[v] = -(E2[0] - E2[1]) / (2 * eps)
        vs = max(np.max(np.abs(res["virial"])), 1e-3)
        chk.check("%s: virial vs strain central differences" % name, np.max(np.abs(fdv - res["virial"])) / vs, 1e-6)
        if cell is None:
            W = np.einsum("ka,kb->ab", pos, res["forces"])
            W6 = np.array([0.5 * (W[a, b] + W[b, a]) for a, b in VOIGT])
            chk.check("%s: virial = sum_k x_k (outer) F_k" % name, np.max(np.abs(W6 - res["virial"])) / vs, 1e-12)
        # invariance: rotation/reflection, translation, permutation
        # (`paths all`: odd paths make the model rotation- but not reflection-invariant)
        for reflect in (False,) if option(hyper, "paths") == "all" else (False, True):
            R = random_rotation(rng, reflect)
            t = rng.normal(size=3) * 3.0
            perm = rng.permutation(n)
            pos2 = (pos @ R.T + t)[perm]
            cell2 = None if cell is None else cell @ R.T
            e2, ea2 = energy(model, sp[perm], pos2, cell2, pbc)
            chk.check("%s: invariance (rot%s+transl+perm) E, E_i" % (name, "+refl" if reflect else ""),
                      max(abs(e2 - e0), np.max(np.abs(ea2 - ea[perm]))) / scale, 1e-12)
        if cell is not None:   # periodic: a lattice translation of one atom changes nothing
            pos3 = pos.copy()
            pos3[0] += cell[0] if pbc[0] else 0.0
            chk.check("%s: lattice translation of one atom" % name,
                      abs(energy(model, sp, pos3, cell, pbc)[0] - e0) / scale, 1e-12)


def selftest_cutoff(chk, hyper, seed):
    """Two atoms across r_c: E and F continuous (the envelope vanishes with two derivatives)."""
    model = random_model(hyper, seed)
    sp = np.array([0, len(hyper["species"]) - 1])
    rc = model.rc[sp[0], sp[1]]
    res = [compute(model, sp, np.array([[0.0, 0.0, 0.0], [0.0, 0.0, rc + d]])) for d in (-1e-4, 1e-4)]
    chk.check("E continuous across r_c (jump / d^3)", abs(res[0]["energy"] - res[1]["energy"]) / 1e-12, 1e2)
    chk.check("F continuous across r_c (jump / d^2)", np.max(np.abs(res[0]["forces"])) / 1e-8, 1e2)


def selftest_by_hand(chk, rng):
    """A one-layer model (only the path 0 x 0 -> 0) written out with plain loops, against evaluate_edges."""
    hyper = dict(selftest_hypers()[1], layers=1, radial_hidden=[5, 4])
    model = random_model(hyper, 7)
    P, C = model.params, hyper["channels"]
    sp = np.array([0, 1, 1, 0, 1])
    pos = random_structure(rng, 5, None, (False,) * 3, box=3.0)
    p = hyper["envelope_p"]
    e_hand = []
    for i in range(5):
        h0 = P["embedding"][sp[i]]
        a = np.zeros(C)
        for j in range(5):
            d = pos[j] - pos[i]
            r, c = math.sqrt(d @ d), model.rc[sp[i], sp[j]]
            if j == i or r >= c:
                continue
            x = r / c
            env = 1 - (p + 1) * (p + 2) / 2 * x ** p + p * (p + 2) * x ** (p + 1) - p * (p + 1) / 2 * x ** (p + 2)
            z = np.array([math.sqrt(2 / c) * math.sin(n * math.pi * r / c) / r * env
                          for n in range(1, hyper["radial_basis"] + 1)])
            for k in (1, 2):
                z = silu(P["layer0.radial%d" % k] @ z)
            a += (P["layer0.radial_out"] @ z) * (P["layer0.up0"] @ P["embedding"][sp[j]])   # G = 1, Y_00 = 1
        y = P["layer0.down0"] @ (a / math.sqrt(hyper["avg_num_neighbors"])) + P["layer0.self0"][sp[i]] @ h0
        h1 = h0 + silu(y)
        e_hand.append(hyper["energy_shift"][sp[i]]
                      + hyper["energy_scale"][sp[i]] * P["readout.out"] @ silu(P["readout.hidden"] @ h1))
    chk.check("one-layer model by hand == energy()", np.max(np.abs(np.array(e_hand) - energy(model, sp, pos)[1])),
              1e-13)


def selftest():
    import tempfile
    import time
    rng = np.random.default_rng(12345)
    chk = Checker()
    t0 = time.time()
    print("spherical harmonics")
    selftest_harmonics(chk, rng)
    print("Gaunt tensors")
    selftest_gaunt(chk, rng)
    print("a one-layer model by hand")
    selftest_by_hand(chk, rng)
    with tempfile.TemporaryDirectory() as tmp:
        for k, hyper in enumerate(selftest_hypers()):
            print("model: l_max %d, %d species, %d layers" % (hyper["l_max"], len(hyper["species"]),
                                                               hyper["layers"]))
            selftest_model(chk, rng, hyper, 100 + k, tmp)
            selftest_cutoff(chk, hyper, 200 + k)
        # the product family (its own random stream: the tensor family's checks above stay as they were)
        prng = np.random.default_rng(54321)
        print("product basis")
        selftest_product_basis(chk, prng)
        print("product family: correlation 1 reduces to the tensor family")
        selftest_product_reduces(chk, prng)
        for k, hyper in enumerate(selftest_product_hypers()):
            print("product model: l_max %d, messages l <= %d, correlation %d, %d species, %d layers"
                  % (hyper["l_max"], hyper["message_l_max"], hyper["correlation"], len(hyper["species"]),
                     hyper["layers"]))
            selftest_model(chk, prng, hyper, 300 + k, tmp)
            selftest_cutoff(chk, hyper, 400 + k)
        # model options (their own random stream: the checks above stay as they were)
        orng = np.random.default_rng(777)
        print("odd coupling tensors")
        selftest_odd_coupling(chk, orng)
        for k, hyper in enumerate(selftest_option_hypers()):
            print("model with options: l_max %d, %d layers, %s" % (hyper["l_max"], hyper["layers"],
                                                                 ", ".join(key for key in OPTION_KEYS if key in hyper)))
            selftest_model(chk, orng, hyper, 500 + k, tmp)
            selftest_cutoff(chk, hyper, 600 + k)
    print("selftest: %d failed (%.1f s)" % (chk.failed, time.time() - t0))
    return 1 if chk.failed else 0


# ------------------------------------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", nargs="?")
    ap.add_argument("data", nargs="?")
    ap.add_argument("--out", help="JSON output (default: stdout)")
    ap.add_argument("--selftest", action="store_true")
    args = ap.parse_args(argv)
    if args.selftest:
        return selftest()
    if not args.model or not args.data:
        ap.error("MODEL and DATA are required (or --selftest)")
    model = read_model(args.model)
    out = [compute_frame(model, fr) for fr in read_extxyz(args.data)]
    text = json.dumps(out, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
