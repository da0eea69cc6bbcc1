#!/usr/bin/python3
"""Runs NequIP 0.6.2's own trainer (nequip-train) from source directories, on Debian's python3-torch.

Usage:
    OMP_NUM_THREADS=1 nice -n 10 /usr/bin/python3 examples/nequip/nequip_train.py \
        --third-party ../shared/third_party examples/nequip/water_l1.yaml [nequip-train options]

The same as `nequip-train CONFIG` in a NequIP installation; two things differ only because NequIP is not installed
here: the sources are put on sys.path, and torch.__version__ is set to 1.13.1 before nequip is imported (nequip
0.6.2 refuses Debian's "1.13.0a0"; the API is the same). One thread (torch.set_num_threads(1)): the machine is shared.
nequip's trainer imports torch_ema at load time, which has no Debian package: a stand-in module is registered whose
ExponentialMovingAverage refuses to be built, so the config must say `use_ema: false` (the trainer only builds one
when use_ema is true). NEQUIP_NUM_TASKS defaults to 1: nequip's data-set workers would re-import nequip without the
version setting (and one core is what we use).
"""
import os
import sys

THIRD_PARTY = ("nequip-0.6.2", "e3nn-0.5.1", "pytorch_runstats-0.2.0", "opt_einsum_fx-0.1.4", "opt_einsum-3.3.0")


def main(argv):
    third_party = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "third_party")
    if len(argv) >= 2 and argv[0] == "--third-party":
        third_party, argv = argv[1], argv[2:]
    for d in reversed(THIRD_PARTY):
        sys.path.insert(0, os.path.join(third_party, d))
    os.environ.setdefault("NEQUIP_NUM_TASKS", "1")
    import types
    torch_ema = types.ModuleType("torch_ema")

    class ExponentialMovingAverage:   # noqa: D401  (a stand-in: see the docstring)
        def __init__(self, *args, **kwargs):
            raise RuntimeError("torch_ema is not installed here: set use_ema: false in the NequIP config")

    torch_ema.ExponentialMovingAverage = ExponentialMovingAverage
    sys.modules.setdefault("torch_ema", torch_ema)
    import torch
    torch.__version__ = "1.13.1"
    torch.set_num_threads(1)
    from nequip.scripts import train
    train.main(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
