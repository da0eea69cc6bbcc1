#!/usr/bin/env bash
# Packs what a later session (possibly on a new machine) needs from the long runs, for committing: per run directory
# the newest text checkpoint as ckpt.STAGE.STEP.data.xz (older packed ones removed) and ions.dump.xz, and per
# concentration the converted frames runs/cg-nacl-mM.extxyz.xz (all NVT frames; SKIP_PS default 0, the trainer's
# configuration chooses). Safe while the runs go on: the checkpoint is packed before the dump, so the packed dump
# reaches at least the packed checkpoint's step (driver.py cuts the frames after it on resume). Also the CG
# nucleation runs (runs/cg*/nucleation-*: newest ckpt.STEP.data.xz and cg.dump.xz; cg_md.py unpacks them).
# usage: examples/cg-nacl/snapshot.sh [RUN_DIR (default examples/cg-nacl/runs)]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
run=${1:-$here/runs}
pack_checkpoint() {  # DIR NEWEST: NEWEST (a text checkpoint of DIR, or empty) packed, DIR's older packed ones removed
  local d=$1 newest=$2 old
  if [ -n "$newest" ] && [ ! -f "$newest.xz" ]; then
    xz -T1 -6 -c "$newest" > "$newest.xz.tmp" && mv "$newest.xz.tmp" "$newest.xz"
    for old in "$d"/ckpt.*.data.xz; do [ "$old" = "$newest.xz" ] || rm -f "$old"; done
    echo "$(basename "$d"): $(basename "$newest").xz $(du -h "$newest.xz" | cut -f1)"
  fi
}
for d in "$run"/m*/; do
  d=${d%/}
  newest=$(ls -1v "$d"/ckpt.nvt.*.data 2>/dev/null | tail -n 1 || true)
  [ -n "$newest" ] || newest=$(ls -1v "$d"/ckpt.npt.*.data 2>/dev/null | tail -n 1 || true)
  pack_checkpoint "$d" "$newest"
  if [ -s "$d/ions.dump" ]; then
    xz -T1 -6 -c "$d/ions.dump" > "$d/ions.dump.xz.tmp" && mv "$d/ions.dump.xz.tmp" "$d/ions.dump.xz"
    m=$(basename "$d")
    /usr/bin/python3 "$here/convert_extxyz.py" "$d/ions.dump" "$run/cg-nacl-$m.extxyz.xz" --skip-ps "${SKIP_PS:-0}"
  fi
done
# the CG nucleation runs (cg_md.py; long and resumable): newest text checkpoint and the dump, packed the same way
for d in "$run"/cg*/nucleation-*/; do
  [ -d "$d" ] || continue
  d=${d%/}
  pack_checkpoint "$d" "$(ls -1v "$d"/ckpt.*.data 2>/dev/null | tail -n 1 || true)"
  if [ -s "$d/cg.dump" ]; then
    xz -T1 -6 -c "$d/cg.dump" > "$d/cg.dump.xz.tmp" && mv "$d/cg.dump.xz.tmp" "$d/cg.dump.xz"
  fi
done
