"""ASE calculator for pair_nnp models: ctypes over the shared library libpair_nnp.so, no compiled extension.

    from pair_nnp_ase import NNPCalculator
    atoms.calc = NNPCalculator("potentials/water-revpbe0d3.nnp")

Properties: energy (eV), free_energy (= energy), forces (eV/A), stress (eV/A^3, periodic cells only), energies
(per atom, eV). The library is found from the `library` argument, else $PAIR_NNP_LIBRARY, else the build tree next
to this package (build/pair_nnp/libpair_nnp.so), else the system's library path.

Threads: `threads` OpenMP threads per evaluation (0: the OpenMP default). The core calls BLAS from those threads;
for speed, OpenBLAS should then run single-threaded (OPENBLAS_NUM_THREADS=1 before Python starts, or
`blas_single_threaded=True`, which sets it for the whole process, numpy included). See nnp.h, "Threads".
"""
import ctypes
import ctypes.util
import os

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

__all__ = ["NNPCalculator", "NNPError", "load_library"]

NNP_MAX_SPECIES = 32  # nnp.h: the layout of nnp_hyper's leading fields below depends on it


class NNPError(RuntimeError):
    """A failure the library reported: its status name and message."""


# The layouts below mirror nnp.h's structs as of this ABI version (nnp.h, "ABI"); a library with another one is
# refused rather than misread.
ABI_VERSION = 2


def check_abi(lib, path="libpair_nnp.so"):
    """Raises NNPError unless the library's nnp_abi_version() is the ABI_VERSION these ctypes layouts follow."""
    fn = getattr(lib, "nnp_abi_version", None)
    got = None
    if fn is not None:
        fn.restype, fn.argtypes = ctypes.c_int, []
        got = fn()
    if got != ABI_VERSION:
        raise NNPError("%s has ABI version %s, but pair_nnp_ase was written for version %d: use the calculator that "
                       "came with that library" % (path, "unknown (older than 2)" if got is None else got,
                                                   ABI_VERSION))


class _Error(ctypes.Structure):
    _fields_ = [("message", ctypes.c_char * 512)]


class _Graph(ctypes.Structure):  # nnp_graph
    _fields_ = [("n_local", ctypes.c_int), ("n_total", ctypes.c_int), ("species", ctypes.c_void_p),
                ("positions", ctypes.c_void_p), ("neigh_offset", ctypes.c_void_p),  # const int64_t *
                ("neigh_index", ctypes.c_void_p),
                ("exchange", ctypes.c_void_p), ("exchange_ctx", ctypes.c_void_p)]


class _Result(ctypes.Structure):  # nnp_result
    _fields_ = [("energy", ctypes.c_double), ("virial", ctypes.c_double * 6), ("atom_energy", ctypes.c_void_p),
                ("forces", ctypes.c_void_p), ("atom_virial", ctypes.c_void_p)]


class _HyperHead(ctypes.Structure):  # the leading fields of nnp_hyper
    _fields_ = [("n_species", ctypes.c_int), ("species", (ctypes.c_char * 8) * NNP_MAX_SPECIES),
                ("r_cut", ctypes.c_double)]


def _default_library_path():
    env = os.environ.get("PAIR_NNP_LIBRARY")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    built = os.path.join(here, "..", "..", "build", "pair_nnp", "libpair_nnp.so")
    if os.path.exists(built):
        return built
    found = ctypes.util.find_library("pair_nnp")
    if not found:
        raise NNPError("cannot find libpair_nnp.so: build pair_nnp, then set PAIR_NNP_LIBRARY or pass library=")
    return found


_libraries = {}


def load_library(path=None):
    """The shared library with the argument and result types of the functions the calculator calls (cached)."""
    path = path or _default_library_path()
    if path in _libraries:
        return _libraries[path]
    lib = ctypes.CDLL(path)
    check_abi(lib, path)
    P, I, D, E = ctypes.c_void_p, ctypes.c_int, ctypes.c_double, ctypes.POINTER(_Error)
    sig = {
        "nnp_version": (ctypes.c_char_p, []),
        "nnp_status_string": (ctypes.c_char_p, [I]),
        "nnp_model_read": (I, [ctypes.c_char_p, ctypes.POINTER(P), E]),
        "nnp_model_free": (None, [P]),
        "nnp_model_hyper": (ctypes.POINTER(_HyperHead), [P]),
        "nnp_model_species_index": (I, [P, ctypes.c_char_p]),
        "nnp_cell_graph_build": (I, [I, P, P, P, P, D, ctypes.POINTER(P), E]),
        "nnp_cell_graph_free": (None, [P]),
        "nnp_cell_graph_view": (ctypes.POINTER(_Graph), [P]),
        "nnp_cell_graph_fold": (None, [P, P, I]),
        "nnp_workspace_create": (I, [P, I, ctypes.POINTER(P), E]),
        "nnp_workspace_free": (None, [P]),
        "nnp_workspace_tabulate_radial": (I, [P, D, E]),
        "nnp_workspace_memory": (ctypes.c_size_t, [P]),
        "nnp_compute": (I, [P, P, ctypes.POINTER(_Graph), ctypes.POINTER(_Result), E]),
    }
    for name, (restype, argtypes) in sig.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    _libraries[path] = lib
    return lib


def _ptr(a):
    return a.ctypes.data_as(ctypes.c_void_p)


class NNPCalculator(Calculator):
    """Energy, forces, stress and per-atom energies of a pair_nnp model (docs/model.md)."""

    implemented_properties = ["energy", "free_energy", "forces", "stress", "energies"]

    def __init__(self, model, library=None, threads=0, radial_step=0.0, blas_single_threaded=False, **kwargs):
        Calculator.__init__(self, **kwargs)
        self._lib = load_library(library)
        self._model = ctypes.c_void_p()
        self._ws = ctypes.c_void_p()
        if blas_single_threaded:
            setter = getattr(self._lib, "openblas_set_num_threads", None)
            if setter is None:  # not exported by the library: look in the process (OpenBLAS is loaded with it)
                setter = getattr(ctypes.CDLL(None), "openblas_set_num_threads", None)
            if setter is not None:
                setter.argtypes = [ctypes.c_int]
                setter(1)
        err = _Error()
        self._check(self._lib.nnp_model_read(os.fsencode(model), ctypes.byref(self._model), ctypes.byref(err)),
                    "reading " + str(model), err)
        self.cutoff = self._lib.nnp_model_hyper(self._model).contents.r_cut
        err = _Error()
        self._check(self._lib.nnp_workspace_create(self._model, int(threads), ctypes.byref(self._ws),
                                                   ctypes.byref(err)), "workspace", err)
        if radial_step:
            err = _Error()
            self._check(self._lib.nnp_workspace_tabulate_radial(self._ws, float(radial_step), ctypes.byref(err)),
                        "radial tables", err)

    def _check(self, status, what, err):
        if status:
            name = self._lib.nnp_status_string(status).decode()
            raise NNPError("pair_nnp: %s: %s: %s" % (what, name, err.message.decode(errors="replace")))

    def species_indices(self, symbols):
        idx = np.array([self._lib.nnp_model_species_index(self._model, s.encode()) for s in symbols], dtype=np.intc)
        unknown = sorted({s for s, k in zip(symbols, idx) if k < 0})
        if unknown:
            raise NNPError("pair_nnp: the model does not know the element(s) %s" % " ".join(unknown))
        return idx

    def memory(self):
        """Bytes the evaluation workspace holds (nnp_workspace_memory)."""
        return int(self._lib.nnp_workspace_memory(self._ws))

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        Calculator.calculate(self, atoms, properties, system_changes)
        atoms = self.atoms
        n = len(atoms)
        species = self.species_indices(atoms.get_chemical_symbols())
        pos = np.ascontiguousarray(atoms.get_positions(), dtype=np.float64)
        pbc = np.ascontiguousarray(atoms.get_pbc(), dtype=np.intc)
        cell = np.ascontiguousarray(atoms.get_cell()[:], dtype=np.float64)
        graph = ctypes.c_void_p()
        err = _Error()
        self._check(self._lib.nnp_cell_graph_build(n, _ptr(species), _ptr(pos), _ptr(cell), _ptr(pbc), self.cutoff,
                                                   ctypes.byref(graph), ctypes.byref(err)), "graph", err)
        try:
            view = self._lib.nnp_cell_graph_view(graph)
            n_total = view.contents.n_total
            forces = np.zeros((max(n_total, 1), 3))
            atom_energy = np.zeros(max(n, 1))
            res = _Result(0.0, (ctypes.c_double * 6)(), _ptr(atom_energy), _ptr(forces), None)
            err = _Error()
            self._check(self._lib.nnp_compute(self._model, self._ws, view, ctypes.byref(res), ctypes.byref(err)),
                        "evaluation", err)
            self._lib.nnp_cell_graph_fold(graph, _ptr(forces), 3)
        finally:
            self._lib.nnp_cell_graph_free(graph)
        energy = float(res.energy)
        self.results["energy"] = energy
        self.results["free_energy"] = energy
        self.results["forces"] = forces[:n].copy()
        self.results["energies"] = atom_energy[:n].copy()
        w = np.array(res.virial)  # xx yy zz xy xz yz, -sum r (x) dE/dr (eV)
        self.virial = w
        if atoms.pbc.all():
            # stress = (1/V) dE/d(strain) = -W/V, in ASE's Voigt order xx yy zz yz xz xy
            self.results["stress"] = -np.array([w[0], w[1], w[2], w[5], w[4], w[3]]) / atoms.get_volume()

    def __del__(self):
        lib = getattr(self, "_lib", None)
        if lib is None:
            return
        if self._ws:
            lib.nnp_workspace_free(self._ws)
            self._ws = ctypes.c_void_p()
        if self._model:
            lib.nnp_model_free(self._model)
            self._model = ctypes.c_void_p()

