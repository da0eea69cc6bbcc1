# Langevin MD of liquid water with the shipped potential through ASE. Run from the repository root after building:
#   PYTHONPATH=python python3 examples/ase_md.py
import os
from ase import units
from ase.io import read
from ase.md.langevin import Langevin
from pair_nnp_ase import NNPCalculator

atoms = read("potentials/water-revpbe0d3.check.xyz", index=0)  # 64 H2O, periodic
atoms.calc = NNPCalculator("potentials/water-revpbe0d3.nnp", threads=2)
md = Langevin(atoms, 0.5 * units.fs, temperature_K=300, friction=0.01)
md.attach(lambda: print(f"E = {atoms.get_potential_energy():.4f} eV  T = {atoms.get_temperature():.0f} K"), interval=10)
md.run(int(os.environ.get("NNP_EXAMPLE_STEPS", 100)))
