/* extxyz: a streaming reader and a writer for extended-XYZ files (the format of ASE, QUIP and most data sets).
 *
 * A frame is
 *   line 1  the number of atoms N
 *   line 2  key=value pairs; values may be quoted ("..." or '...' or {...}) and then contain spaces; a bare key
 *           is a boolean (value T)
 *   N lines one atom each, columns as declared by Properties=name:T:n:name:T:n:... (T in S R I L; default
 *           species:S:1:pos:R:3)
 *
 * What the reader takes from a frame:
 *   species   the `species` column (element symbol), else the `Z` column (atomic number, 1..86)
 *   positions the `pos` column (R:3), required
 *   forces    the `forces` column (R:3), else the `force` column; optional
 *   energy    the header key `energy`, else `REF_energy`, else `free_energy`; optional
 *   cell      `Lattice="ax ay az bx by bz cx cy cz"` (rows are the lattice vectors a, b, c); optional
 *   pbc       `pbc="T T T"`; default T T T when a Lattice is given, F F F otherwise; periodic without a Lattice
 *             is an error
 * Key names are matched without regard to case. Other keys and columns are checked for well-formedness (a column
 * of type R must hold numbers) and otherwise ignored. Blank lines between frames are skipped.
 *
 * Frames are numbered from 0 and lines from 1; every error message reads "FILE: frame F, line L: what".
 * Nothing is kept in global state; a reader is used by one thread at a time.
 */
#ifndef NNP_EXTXYZ_H
#define NNP_EXTXYZ_H

#include "nnp.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define XYZ_MAX_Z     86 /* the element table runs from H (1) to Rn (86) */
#define XYZ_MAX_ATOMS 100000000
/* Columns of an atom line, all properties together: real files have tens (descriptor vectors a few thousand); the
 * bound keeps the per-column tables small and the count far from int overflow. */
#define XYZ_MAX_COLUMNS 100000

typedef struct {
  int n_atoms;
  char (*symbols)[8]; /* [n_atoms] element symbols, normalised ("fe" -> "Fe") */
  double *positions;  /* [n_atoms][3] Angstrom */
  int has_forces;
  double *forces; /* [n_atoms][3] eV/Angstrom; valid when has_forces */
  int has_energy;
  double energy; /* eV; valid when has_energy */
  int has_cell;
  double cell[3][3]; /* rows are the lattice vectors; the identity when !has_cell */
  int pbc[3];
  long index;   /* frame number in the file, from 0 */
  long line;    /* line of the atom-count line, from 1 */
  int capacity; /* atoms the arrays can hold (internal) */
} xyz_frame;

typedef struct xyz_reader xyz_reader;

/* An empty frame; xyz_reader_next fills and grows it, so one frame can be reused for a whole file. */
void xyz_frame_init(xyz_frame *frame);
void xyz_frame_free(xyz_frame *frame);

/* Open a file for reading ("-" reads standard input). Returns NNP_OK, or an error with a message in err. */
nnp_status xyz_reader_open(const char *path, xyz_reader **out, nnp_error *err);
/* Read from an open stream; `name` is used in messages. The stream is not closed by xyz_reader_close. */
nnp_status xyz_reader_open_stream(FILE *stream, const char *name, xyz_reader **out, nnp_error *err);
/* The next frame: NNP_OK with *got = 1 when one was read, NNP_OK with *got = 0 at the end of the file, or an error
 * (NNP_ERR_FORMAT, NNP_ERR_IO, NNP_ERR_NOMEM) with a message; a file without any frame is an error ("empty file").
 * After an error the reader should not be used again. */
nnp_status xyz_reader_next(xyz_reader *reader, xyz_frame *frame, int *got, nnp_error *err);
void xyz_reader_close(xyz_reader *reader);

/* Atomic number of an element symbol (matched without regard to case), or 0 when unknown. */
int xyz_element_z(const char *symbol);
/* Symbol of an atomic number in 1..XYZ_MAX_Z, or NULL. */
const char *xyz_element_symbol(int z);

/* What xyz_write_frame writes beyond species and positions. Members left NULL are not written. */
typedef struct {
  const double *forces;      /* [n_atoms][3] -> column forces:R:3 */
  const double *atom_energy; /* [n_atoms] -> column energies:R:1 */
  const double *energy;      /* -> header energy= */
  const double *virial;      /* [6] xx yy zz xy xz yz -> header virial="xx xy xz yx yy yz zx zy zz" */
} xyz_write_data;

/* Write one frame: symbols, positions, Lattice (when has_cell) and pbc from `frame`, the rest from `data`
 * (NULL: take forces and energy from the frame where it has them). Numbers are written with %.17g, so they
 * read back exactly. Returns NNP_OK, or an error with a message in err. */
nnp_status xyz_write_frame(FILE *out, const xyz_frame *frame, const xyz_write_data *data, nnp_error *err);

#ifdef __cplusplus
}
#endif
#endif
