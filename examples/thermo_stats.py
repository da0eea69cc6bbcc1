#!/usr/bin/python3
"""Mean, fluctuation and error bar of thermo columns of a LAMMPS log (the last thermo table: the production run).

    examples/thermo_stats.py log.lammps Density Press [--blocks 5] [--skip-ps 0] [--json out.json]

The error bar is the standard error of the mean from block averages: the run is cut into BLOCKS equal blocks
(default 5) and the error is std(block means) / sqrt(BLOCKS - 1). Blocks much longer than the correlation time of
the column (density in NPT with Pdamp 0.5 ps: a few ps; pressure in NVT: tens of fs) make the block means
independent; 20 ps in 5 blocks gives 4-ps blocks. --skip-ps drops the start of the table (more equilibration).
"""
import argparse
import json
import math
import sys


def last_thermo_table(path):
    """Column names and rows (floats) of the last thermo table in a LAMMPS log."""
    header, rows, tables = None, [], []
    with open(path) as f:
        for line in f:
            t = line.split()
            if not t or t[0].startswith("#"):  # comments: fix print's title line in appended tables
                continue
            if t[0] == "Step":
                if header is not None and rows:
                    tables.append((header, rows))
                header, rows = t, []
                continue
            if header is None:
                continue
            if len(t) == len(header):
                try:
                    row = [float(x) for x in t]
                    # a run that continues another (run N after run M, or a restart) prints its first step again
                    if not (rows and row[0] == rows[-1][0]):
                        rows.append(row)
                    continue
                except ValueError:
                    pass
            if rows:  # the table ended (Loop time ... or a warning)
                tables.append((header, rows))
                header, rows = None, []
    if header is not None and rows:
        tables.append((header, rows))
    if not tables:
        sys.exit("%s: no thermo table" % path)
    return tables[-1]


def block_stats(values, blocks):
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / n)
    size = n // blocks
    if blocks < 2 or size < 1:
        return mean, std, float("nan")
    means = [sum(values[b * size:(b + 1) * size]) / size for b in range(blocks)]
    m = sum(means) / blocks
    sem = math.sqrt(sum((x - m) ** 2 for x in means) / (blocks - 1) / blocks)
    return mean, std, sem


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("log")
    ap.add_argument("columns", nargs="+")
    ap.add_argument("--blocks", type=int, default=5)
    ap.add_argument("--skip-ps", type=float, default=0.0)
    ap.add_argument("--json")
    a = ap.parse_args()
    header, rows = last_thermo_table(a.log)
    if "Time" in header:
        t = [r[header.index("Time")] for r in rows]
        rows = [r for r, x in zip(rows, t) if x - t[0] >= a.skip_ps]
        span = rows[-1][header.index("Time")] - rows[0][header.index("Time")]
    else:
        span = float("nan")
    out = {"log": a.log, "samples": len(rows), "span_ps": span, "blocks": a.blocks}
    for c in a.columns:
        if c not in header:
            sys.exit("%s: no thermo column %s (columns: %s)" % (a.log, c, " ".join(header)))
        mean, std, sem = block_stats([r[header.index(c)] for r in rows], a.blocks)
        out[c] = {"mean": mean, "std": std, "sem": sem}
        print("%s: %s = %.6g +- %.2g (block standard error, %d blocks over %.1f ps, %d samples; fluctuation %.3g)"
              % (a.log, c, mean, sem, a.blocks, span, len(rows), std))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
