#!/usr/bin/python3
"""nnp-import-nequip: convert a NequIP 0.6.x model into a pair_nnp model file (docs/nequip.md).

Usage:
    nnp_import_nequip.py TRAIN_DIR -o model.nnp          # config.yaml + best_model.pth (a training run)
    nnp_import_nequip.py DEPLOYED.pth -o model.nnp       # `nequip-deploy build` output (config in its metadata)

Needs torch, e3nn and nequip (what NequIP users have); --python-path adds directories holding their sources, and
--pretend-torch-version sets torch.__version__ before nequip is imported (nequip refuses Debian's "1.13.0a0").

The map (docs/nequip.md): e3nn's real spherical harmonics are those of docs/model.md in another orthonormal basis
(Y_e3nn = Q_l Y_nnp, Q_l fitted on points and checked orthogonal); every linear map of NequIP (embedding, linear_1,
linear_2, self-connection, readout linears) acts on channels only, so it is read off by probing the module with unit
inputs; each tensor-product path, rotated into this basis, is a multiple s_p of the coupling tensor of docs/model.md
(checked), and s_p, e3nn's path weights, the Bessel prefactor ratio and the normalize2mom constants of the SiLU
activations are absorbed into the weights. What cannot be represented is refused with an error naming the option.
"""
import argparse
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def import_reference():
    """nnp_ref.py (the numpy implementation of docs/model.md): installed next to this script, or in the source tree."""
    for d in (HERE, os.path.join(HERE, "..", "..", "tests", "reference")):
        if os.path.isfile(os.path.join(d, "nnp_ref.py")):
            sys.path.insert(0, d)
            import nnp_ref
            return nnp_ref
    raise ImportError("nnp_ref.py not found next to %s or in tests/reference" % __file__)


ref = import_reference()


class Unsupported(Exception):
    """A NequIP option this model cannot represent."""


def load_nequip(python_path=(), pretend_torch_version=None):
    for p in reversed(python_path):
        sys.path.insert(0, p)
    import torch
    if pretend_torch_version:
        torch.__version__ = pretend_torch_version
    import warnings
    warnings.filterwarnings("ignore", module="nequip")
    import nequip  # noqa: F401  (fails here, with nequip's own message, when nequip is missing)
    return torch


def use_default_dtype(config):
    """torch's default dtype as the run's `default_dtype` says, as nequip-train and nequip-deploy set it before they
    build the model (model_from_config refuses a model_dtype above the default: float64 models need float64)."""
    import torch
    from nequip.utils import dtype_from_name
    if "default_dtype" in config:
        torch.set_default_dtype(dtype_from_name(config["default_dtype"]))


def load_training_dir(path):
    """As nequip's Trainer.load_model_from_training_session (without importing the trainer's dependencies)."""
    import torch
    from nequip.model import model_from_config
    from nequip.utils import Config
    for f in ("config.yaml", "best_model.pth"):
        if not os.path.isfile(os.path.join(path, f)):
            raise FileNotFoundError("%s: no %s (expected a NequIP training run directory)" % (path, f))
    config = Config.from_file(os.path.join(path, "config.yaml"))
    use_default_dtype(config)
    model = model_from_config(config=config, initialize=False)
    model.load_state_dict(torch.load(os.path.join(path, "best_model.pth"), map_location="cpu"))
    return model, config


def load_deployed(path):
    """Rebuilds the eager model from the config in the TorchScript file's metadata and loads its weights."""
    import torch
    import yaml
    from nequip.model import model_from_config
    from nequip.scripts.deploy import _ALL_METADATA_KEYS, CONFIG_KEY
    from nequip.utils import Config
    meta = {k: "" for k in _ALL_METADATA_KEYS}
    try:
        scripted = torch.jit.load(path, map_location="cpu", _extra_files=meta)
    except RuntimeError as exc:
        raise ValueError("%s: not a TorchScript file (%s)" % (path, str(exc).splitlines()[0])) from None
    text = meta[CONFIG_KEY].decode() if isinstance(meta[CONFIG_KEY], bytes) else meta[CONFIG_KEY]
    if not text:
        raise ValueError("%s: no `config` in the metadata (not a nequip-deploy model?)" % path)
    config = Config.from_dict(yaml.safe_load(text))
    use_default_dtype(config)
    model = model_from_config(config, initialize=False, deploy=True)
    state = scripted.state_dict()
    if not state:
        raise ValueError("%s: the TorchScript model holds no weights (frozen?); import the training directory" % path)
    model.load_state_dict(state, strict=True)
    return model, config


# ------------------------------------------------------------------------------------------------------------------
# Layout helpers (e3nn: each (mul, l) block is mul x (2l+1), channel-major)

def channel_offsets(irreps, l):
    """Offsets of the first m-component of every channel of degree l, in order."""
    out, off = [], 0
    for mul, ir in irreps:
        if ir.l == l:
            out += [off + c * ir.dim for c in range(mul)]
        off += mul * ir.dim
    return out


def probe(fn, dim_in, torch):
    """Matrix M (out x in) of a linear map fn on e3nn-layout vectors."""
    with torch.no_grad():
        return fn(torch.eye(dim_in, dtype=torch.float64)).numpy().T


def channel_block(M, irreps_in, irreps_out, l):
    """The channel matrix W[d, c] of an equivariant linear map between the degree-l channels (W (x) identity on m)."""
    return M[np.ix_(channel_offsets(irreps_out, l), channel_offsets(irreps_in, l))]


def basis_change(L, torch):
    """Q_l with Y_e3nn(u) = Q_l Y_nnp(u) (orthogonal); e3nn with normalize=True, normalization='component'."""
    from e3nn import o3
    rng = np.random.default_rng(7)
    u = rng.normal(size=(8 * (2 * L + 1) ** 2, 3))
    u /= np.sqrt(np.sum(u * u, axis=1))[:, None]
    Yn = ref.real_sph_harm(L, u)
    Q = {}
    for l in range(L + 1):
        Ye = o3.spherical_harmonics(l, torch.tensor(u), normalize=True, normalization="component").numpy()
        X = np.linalg.lstsq(Yn[:, l * l:(l + 1) ** 2], Ye, rcond=None)[0]
        Q[l] = X.T
        # both sets are orthonormal bases of the degree-l harmonics: Q is exact and orthogonal (rounding only)
        if np.max(np.abs(Yn[:, l * l:(l + 1) ** 2] @ X - Ye)) > 1e-12 or np.max(np.abs(X @ X.T - np.eye(2 * l + 1))) > 1e-12:
            raise Unsupported("e3nn's degree-%d spherical harmonics are not an orthonormal change of basis" % l)
    return Q


def activation_constant(act, what, torch):
    """c with act(x) = c SiLU(x) (e3nn's normalize2mom(silu)); refuses any other activation."""
    x = torch.tensor([1.0, -0.7, 2.3], dtype=torch.float64)
    with torch.no_grad():
        ratio = (act(x) / torch.nn.functional.silu(x)).numpy()
    if not np.allclose(ratio, ratio[0], rtol=1e-12, atol=0.0):
        raise Unsupported("%s: only SiLU (normalize2mom-scaled) is supported" % what)
    return float(ratio[0])


# ------------------------------------------------------------------------------------------------------------------
# The conversion

def module_sequence(model):
    """(RescaleOutput or None, the SequentialGraphNetwork) of a default NequIP energy model."""
    from nequip.nn import GraphModuleMixin, RescaleOutput, SequentialGraphNetwork
    from nequip.nn import GradientOutput, StressOutput
    rescale, m = None, model
    while not isinstance(m, SequentialGraphNetwork):
        if isinstance(m, RescaleOutput):
            if rescale is not None:
                raise Unsupported("model_builders: two RescaleOutput wrappers")
            rescale = m
            m = m.model
        elif isinstance(m, (GradientOutput, StressOutput)):   # forces (and stress) by autograd: no parameters
            m = m.func
        elif hasattr(m, "model") and isinstance(m.model, GraphModuleMixin):   # GraphModel (nequip 0.6.2)
            m = m.model
        else:
            raise Unsupported("model_builders: a `%s` wrapper is not supported" % type(m).__name__)
    return rescale, m


def convert(model, config, r_min):
    import torch
    from e3nn import o3
    from e3nn.nn import Gate
    from nequip.nn import AtomwiseLinear, AtomwiseReduce, ConvNetLayer, InteractionBlock, PerSpeciesScaleShift
    from nequip.nn.cutoffs import PolynomialCutoff
    from nequip.nn.embedding import OneHotAtomEncoding, RadialBasisEdgeEncoding, SphericalHarmonicEdgeAttrs
    from nequip.nn.radial_basis import BesselBasis

    model = model.double().eval()
    rescale, seq = module_sequence(model)
    names = list(seq._modules.keys())
    mods = seq._modules
    # the default EnergyModel layout, in order
    T = sum(1 for n in names if n.startswith("layer") and n.endswith("_convnet"))
    expected = (["one_hot", "spharm_edges", "radial_basis", "chemical_embedding"]
                + ["layer%d_convnet" % t for t in range(T)] + ["conv_to_output_hidden", "output_hidden_to_scalar"])
    tail = [n for n in names[len(expected):]]
    if names[:len(expected)] != expected or tail not in (["total_energy_sum"],
                                                         ["per_species_rescale", "total_energy_sum"]):
        raise Unsupported("model_builders: module sequence %s is not NequIP's default EnergyModel" % names)
    if T < 1:
        raise Unsupported("num_layers: at least 1 convolution layer is needed")
    kinds = {"one_hot": OneHotAtomEncoding, "spharm_edges": SphericalHarmonicEdgeAttrs,
             "radial_basis": RadialBasisEdgeEncoding, "chemical_embedding": AtomwiseLinear,
             "conv_to_output_hidden": AtomwiseLinear, "output_hidden_to_scalar": AtomwiseLinear,
             "per_species_rescale": PerSpeciesScaleShift, "total_energy_sum": AtomwiseReduce}
    for n in names:
        want = ConvNetLayer if n.endswith("_convnet") else kinds[n]
        if type(mods[n]) is not want:
            raise Unsupported("module `%s` is a %s, not NequIP's %s" % (n, type(mods[n]).__name__, want.__name__))
    if mods["total_energy_sum"].reduce != "sum":
        raise Unsupported("total_energy_sum: reduce `%s` (only `sum`)" % mods["total_energy_sum"].reduce)

    # species and edge harmonics
    S = mods["one_hot"].num_types
    type_names = list(config.get("type_names") or config.get("chemical_symbols") or [])
    if len(type_names) != S:
        raise Unsupported("type_names: %d names for %d types" % (len(type_names), S))
    sh = mods["spharm_edges"].sh
    sh_irreps = o3.Irreps(sh.irreps_out)
    L = sh_irreps.lmax
    if any(ir.p != 1 for _, ir in sh_irreps):
        raise Unsupported("parity: true (odd irreps %s) is not supported; train with `parity: false`" % str(sh_irreps))
    if [(mul, ir.l) for mul, ir in sh_irreps] != [(1, l) for l in range(L + 1)]:
        raise Unsupported("irreps_edge_sh: %s is not 0e+1e+...+%de" % (str(sh_irreps), L))
    if not sh.normalize or sh.normalization != "component":
        raise Unsupported("edge_sh_normalization: `%s` (only `component`, normalised vectors)" % sh.normalization)

    # radial basis and cutoff
    rb = mods["radial_basis"]
    if type(rb.basis) is not BesselBasis:
        raise Unsupported("edge_eng_basis: `%s` (only BesselBasis)" % type(rb.basis).__name__)
    if type(rb.cutoff) is not PolynomialCutoff:
        raise Unsupported("edge_eng_cutoff: `%s` (only PolynomialCutoff)" % type(rb.cutoff).__name__)
    r_max = float(rb.basis.r_max)
    p_env = float(rb.cutoff.p)
    if abs(float(rb.cutoff._factor) * r_max - 1.0) > 1e-12:
        raise Unsupported("PolynomialCutoff r_max differs from BesselBasis r_max")
    if p_env != round(p_env) or p_env < 1:
        raise Unsupported("PolynomialCutoff_p: %g (only positive integers)" % p_env)
    freq = rb.basis.bessel_weights.detach().double().numpy().copy()
    if not np.all(freq > 0.0):
        raise Unsupported("BesselBasis: a frequency <= 0 (%s)" % freq)
    if abs(float(rb.basis.prefactor) - 2.0 / r_max) > 1e-12 * (2.0 / r_max):
        raise Unsupported("BesselBasis: prefactor %g is not 2/r_max" % float(rb.basis.prefactor))

    # features
    emb = mods["chemical_embedding"].linear
    C = emb.irreps_out.num_irreps
    if [(mul, ir.l, ir.p) for mul, ir in emb.irreps_out] != [(C, 0, 1)]:
        raise Unsupported("chemical_embedding_irreps_out: %s (only Cx0e)" % str(emb.irreps_out))
    hidden_expect = [(C, l, 1) for l in range(L + 1)]
    Q = basis_change(L, torch)

    # a first pass over the layers: constants that must agree between layers
    layers = [mods["layer%d_convnet" % t] for t in range(T)]
    c_s = c_g = None
    nu = None
    residual = []
    for t, ly in enumerate(layers):
        what = "layer%d_convnet" % t
        if not isinstance(ly.equivariant_nonlin, Gate):
            raise Unsupported("%s: nonlinearity_type `norm` (only `gate`)" % what)
        if type(ly.conv) is not InteractionBlock:
            raise Unsupported("%s: convolution `%s` (only InteractionBlock)" % (what, type(ly.conv).__name__))
        hid = o3.Irreps(ly.equivariant_nonlin.irreps_out)
        if [(mul, ir.l, ir.p) for mul, ir in hid] != hidden_expect:
            raise Unsupported("feature_irreps_hidden: %s (only %dx0e+...+%dx%de)" % (str(hid), C, C, L))
        gate = ly.equivariant_nonlin
        cs = activation_constant(gate.act_scalars.acts[0], "nonlinearity_scalars (e)", torch)
        if any(activation_constant(a, "nonlinearity_scalars (e)", torch) != cs for a in gate.act_scalars.acts):
            raise Unsupported("nonlinearity_scalars: differ between irreps")
        if L > 0:
            cg = activation_constant(gate.act_gates.acts[0], "nonlinearity_gates (e)", torch)
            # the gated product itself must be the plain product gate * feature (no extra factor)
            probe_gate(gate, C, L, cs, cg, torch)
        else:
            cg = None
        if c_s is None:
            c_s, c_g = cs, cg
        elif cs != c_s or cg != c_g:
            raise Unsupported("nonlinearities differ between layers")
        ann = ly.conv.avg_num_neighbors
        ann = 1.0 if ann is None else float(ann)
        if nu is not None and ann != nu:
            raise Unsupported("avg_num_neighbors differs between layers")
        nu = ann
        residual.append(1 if ly.resnet else 0)
    if residual[0] and L > 0:
        raise Unsupported("resnet in layer 0 with l_max > 0")   # NequIP never does this (irreps differ)
    k = c_s   # every feature is stored divided by the scalar activation's constant (docs/nequip.md)

    params = {}
    one_hot = torch.eye(S, dtype=torch.float64)
    with torch.no_grad():
        E = emb(one_hot).numpy()                                   # (S, C), the one-hot rows through the linear
    params["embedding"] = E / k

    radial_hidden = None
    for t, ly in enumerate(layers):
        conv = ly.conv
        irr_in = o3.Irreps(conv.linear_1.irreps_in)
        lin = irr_in.lmax
        lout = L if t < T - 1 else 0
        pre = "layer%d." % t
        M1 = probe(conv.linear_1, irr_in.dim, torch)
        for l in range(lin + 1):
            params[pre + "up%d" % l] = k * channel_block(M1, irr_in, irr_in, l)
        # radial MLP (e3nn FullyConnectedNet: x @ W / sqrt(h_in var_in), act, * sqrt(var_out); last: no act)
        fcl = [conv.fc._modules[n] for n in conv.fc._modules]
        widths = [int(f.h_out) for f in fcl[:-1]]
        if radial_hidden is None:
            radial_hidden = widths
        elif widths != radial_hidden:
            raise Unsupported("invariant_neurons/invariant_layers differ between layers")
        if not widths:
            raise Unsupported("invariant_layers: 0 (the radial MLP needs a hidden layer here)")
        a_prev = math.sqrt(2.0 / r_max)   # NequIP's Bessel prefactor 2/r_max against sqrt(2/r_c) here
        for kk, f in enumerate(fcl[:-1]):
            W = f.weight.detach().double().numpy()
            params[pre + "radial%d" % (kk + 1)] = (a_prev * W / math.sqrt(f.h_in * f.var_in)).T
            a_prev = math.sqrt(f.var_out) * activation_constant(f.act, "the radial MLP activation "
                                                                "(nonlinearity_scalars e)", torch)
        f = fcl[-1]
        if f.act is not None:
            raise Unsupported("radial MLP: an activation on the output layer")
        Wout = (a_prev * f.weight.detach().double().numpy() / math.sqrt(f.h_in * f.var_in / f.var_out)).T
        # tensor product paths
        tp = conv.tp
        ours = ref.layer_paths(L, lin, lout, odd=True)
        by_path = {}
        woff = 0
        for ins in tp.instructions:
            l1, l2, l3 = tp.irreps_in1[ins.i_in1].ir.l, tp.irreps_in2[ins.i_in2].ir.l, tp.irreps_out[ins.i_out].ir.l
            if ins.connection_mode != "uvu" or not ins.has_weight:
                raise Unsupported("%s: tensor-product instruction mode `%s`" % (pre, ins.connection_mode))
            by_path[(l1, l2, l3)] = (ins, woff)
            woff += int(np.prod(ins.path_shape))
        if sorted(p for p in by_path if p[2] <= lout) != sorted(ours):
            raise Unsupported("layer %d: tensor-product paths %s differ from %s" % (t, sorted(by_path), ours))
        mid = o3.Irreps(conv.linear_2.irreps_in)
        # position of each path within its l3 block of linear_2's input (the sorted irreps_mid)
        rank = {}
        for l3 in range(lout + 1):
            outs = sorted((ins.i_out, p) for p, (ins, _) in by_path.items() if p[2] == l3)
            for kk, (_, p) in enumerate(outs):
                rank[p] = kk
        R = np.zeros((len(ours) * C, Wout.shape[1]))
        for pi, p in enumerate(ours):
            ins, off = by_path[p]
            s = path_scale(tp, ins, p, Q, torch)
            R[pi * C:(pi + 1) * C] = s * Wout[off:off + C]
        params[pre + "radial_out"] = R
        # linear_2 (down) and the self-connection, per output degree
        irr_out = o3.Irreps(conv.linear_2.irreps_out)
        M2 = probe(conv.linear_2, mid.dim, torch)
        if conv.sc is not None:
            with torch.no_grad():
                Ms = [conv.sc(torch.eye(irr_in.dim, dtype=torch.float64),
                              one_hot[s].expand(irr_in.dim, S)).numpy().T for s in range(S)]
        for l3 in range(lout + 1):
            n_out = C + C * lout if l3 == 0 else C
            rows = channel_offsets(irr_out, l3)[:n_out]
            paths3 = [p for p in ours if p[2] == l3]
            mid_off = channel_offsets(mid, l3)
            cols = [mid_off[rank[p] * C + c] for p in paths3 for c in range(C)]
            scale = 1.0 if l3 == 0 else c_g / c_s
            params[pre + "down%d" % l3] = scale * M2[np.ix_(rows, cols)]
            if l3 <= lin:
                if conv.sc is None:
                    params[pre + "self%d" % l3] = np.zeros((S, n_out, C))
                else:
                    incols = channel_offsets(irr_in, l3)
                    params[pre + "self%d" % l3] = np.stack([scale * k * Ms[s][np.ix_(rows, incols)]
                                                            for s in range(S)])
    # readout: two linears on the scalars
    h1 = mods["conv_to_output_hidden"].linear
    h2 = mods["output_hidden_to_scalar"].linear
    irr_h = o3.Irreps(h1.irreps_out)
    if any(ir.l != 0 or ir.p != 1 for _, ir in irr_h) or o3.Irreps(h2.irreps_out) != o3.Irreps("1x0e"):
        raise Unsupported("conv_to_output_hidden_irreps_out: %s (only even scalars)" % str(irr_h))
    Cr = irr_h.num_irreps
    Mh = probe(h1, o3.Irreps(h1.irreps_in).dim, torch)
    params["readout.hidden"] = k * channel_block(Mh, o3.Irreps(h1.irreps_in), irr_h, 0)
    params["readout.out"] = probe(h2, Cr, torch)[0]
    # per-species scale/shift, then the global scale (a global shift of the total energy has no per-atom form)
    scales, shifts = np.ones(S), np.zeros(S)
    if "per_species_rescale" in names:
        ps = mods["per_species_rescale"]
        if ps.has_scales:
            scales = ps.scales.detach().double().numpy() * np.ones(S)
        if ps.has_shifts:
            shifts = ps.shifts.detach().double().numpy() * np.ones(S)
    g = 1.0
    if rescale is not None:
        if rescale.has_shift:
            raise Unsupported("global_rescale_shift: a shift of the total energy is not supported")
        if rescale.has_scale:
            g = float(rescale.scale_by)
    hyper = dict(species=type_names, units="metal", r_cut=r_max, pair_cutoff=[], r_min=r_min, l_max=L, channels=C,
                 layers=T, radial_basis=len(freq), envelope_p=int(p_env), readout_hidden=Cr,
                 radial_hidden=radial_hidden, avg_num_neighbors=nu,
                 energy_shift=list(g * shifts), energy_scale=list(g * scales))
    if L > 0 and T > 1:
        hyper["paths"] = "all"
    if L > 0 and T > 1:
        hyper["gate_activation"] = "silu"
    hyper["residual"] = residual
    hyper["readout_activation"] = "none"
    hyper["radial_frequencies"] = [float(v) for v in freq]
    return ref.Model(hyper, params)


def probe_gate(gate, C, L, cs, cg, torch):
    """Checks that NequIP's gate is out^0 = cs SiLU(scalars), out^l = cg SiLU(gate_l) * feature_l."""
    rng = np.random.default_rng(3)
    from e3nn import o3
    irr = o3.Irreps(gate.irreps_in)
    x = rng.normal(size=(2, irr.dim))
    with torch.no_grad():
        y = gate(torch.tensor(x)).numpy()
    silu = lambda v: v / (1.0 + np.exp(-v))
    s0 = channel_offsets(irr, 0)
    o0 = channel_offsets(o3.Irreps(gate.irreps_out), 0)
    err = np.max(np.abs(y[:, o0] - cs * silu(x[:, s0[:C]])))
    for l in range(1, L + 1):
        fi, fo = channel_offsets(irr, l), channel_offsets(o3.Irreps(gate.irreps_out), l)
        gates = x[:, s0[C * l:C * (l + 1)]]
        for m in range(2 * l + 1):
            err = max(err, np.max(np.abs(y[:, [o + m for o in fo]]
                                         - cg * silu(gates) * x[:, [i + m for i in fi]])))
    if err > 1e-12 * max(1.0, np.max(np.abs(y))):
        raise Unsupported("the gate is not scalars -> SiLU, gated -> SiLU(gate) * feature (error %.1e)" % err)


def path_scale(tp, ins, p, Q, torch):
    """s_p with (e3nn coupling of this instruction, incl. its path weight, in this basis) = s_p G_p."""
    l1, l2, l3 = p
    n1, n2, n3 = 2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1
    d1, d2 = tp.irreps_in1.dim, tp.irreps_in2.dim
    off1 = sum(mul * ir.dim for mul, ir in tp.irreps_in1[:ins.i_in1])
    off2 = sum(mul * ir.dim for mul, ir in tp.irreps_in2[:ins.i_in2])
    off3 = sum(mul * ir.dim for mul, ir in tp.irreps_out[:ins.i_out])
    woff = 0
    for other in tp.instructions:
        if other is ins:
            break
        woff += int(np.prod(other.path_shape))
    B = n1 * n2
    x1 = torch.zeros(B, d1, dtype=torch.float64)
    x2 = torch.zeros(B, d2, dtype=torch.float64)
    w = torch.zeros(B, tp.weight_numel, dtype=torch.float64)
    for a in range(n1):
        for b in range(n2):
            x1[a * n2 + b, off1 + a] = 1.0          # channel 0
            x2[a * n2 + b, off2 + b] = 1.0
    w[:, woff] = 1.0                                # this path's weight of channel 0
    with torch.no_grad():
        out = tp(x1, x2, w).numpy()
    T = out[:, off3:off3 + n3].reshape(n1, n2, n3)
    Tn = np.einsum("ijk,ia,jb,kc->abc", T, Q[l1], Q[l2], Q[l3])
    G = ref.coupling(l1, l2, l3)
    s = float(np.sum(Tn * G) / np.sum(G * G))
    if np.max(np.abs(Tn - s * G)) > 1e-12 * np.max(np.abs(Tn)):
        raise Unsupported("tensor-product path %s is not a multiple of docs/model.md's coupling" % (p,))
    return s


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("source", help="NequIP training directory (config.yaml + best_model.pth) or deployed .pth")
    ap.add_argument("-o", "--output", required=True, help="pair_nnp model file to write")
    ap.add_argument("--r-min", type=float, default=0.5,
                    help="smallest interatomic distance the model accepts, Angstrom (default 0.5)")
    ap.add_argument("--python-path", action="append", default=[],
                    help="directory to put on sys.path before importing nequip (repeatable)")
    ap.add_argument("--pretend-torch-version", help="set torch.__version__ before importing nequip")
    args = ap.parse_args(argv)
    try:
        load_nequip(args.python_path, args.pretend_torch_version)
        if os.path.isdir(args.source):
            model, config = load_training_dir(args.source)
        else:
            model, config = load_deployed(args.source)
        out = convert(model, config, args.r_min)
    except Unsupported as exc:
        print("nnp-import-nequip: %s: unsupported: %s" % (args.source, exc), file=sys.stderr)
        return 2
    except (OSError, ValueError, ImportError) as exc:
        print("nnp-import-nequip: %s: %s" % (args.source, exc), file=sys.stderr)
        return 1
    import nequip
    meta = ["source nnp-import-nequip from %s (nequip %s)" % (os.path.abspath(args.source), nequip.__version__)]
    ref.write_model(args.output, out.hyper, out.params, meta)
    print("nnp-import-nequip: wrote %s (l_max %d, %d channels, %d layers, species %s)"
          % (args.output, out.hyper["l_max"], out.hyper["channels"], out.hyper["layers"],
             " ".join(out.hyper["species"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
