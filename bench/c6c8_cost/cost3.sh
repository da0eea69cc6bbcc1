#!/bin/bash
LMP=~/.cache/pair_nnp/lammps-trixie/build/lmp
for rep in 1 2; do
  for c in spce born6 born8; do
    $LMP -in in.$c -log log3.$c.$rep -screen none -nocite
    echo "$rep $c $(grep 'Loop time' log3.$c.$rep) | $(grep 'Pair  ' log3.$c.$rep | head -1)"
  done
done
