/* Tests of the extended-XYZ reader and writer (pair_nnp/tools/extxyz.c).
 *
 *   test_extxyz [DATA_DIR]      DATA_DIR holds extxyz_good.xyz (default: tests/data)
 *
 * Prints one line per failed check and "N passed, M failed"; exits non-zero when a check failed.
 */
#include "extxyz.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* The reader's next frame as 1 (read), 0 (end of file) or -1 (an error, in err). */
static inline int next_frame(xyz_reader *r, xyz_frame *f, nnp_error *err) {
  int got = 0;
  return xyz_reader_next(r, f, &got, err) ? -1 : got;
}

/* A reader over the text `text`, through a temporary file. */
static xyz_reader *open_text(const char *text, FILE **fp) {
  xyz_reader *r = NULL;
  nnp_error err;
  *fp = tmpfile();
  if (!*fp) return NULL;
  fputs(text, *fp);
  rewind(*fp);
  if (xyz_reader_open_stream(*fp, "mem.xyz", &r, &err) != 0) return NULL;
  return r;
}

static int near(double a, double b) { return fabs(a - b) <= 1e-12 * (1 + fabs(b)); }

/* ---------------------------------------------------------------------------------------------------------------- */

static void check_frame0(tally *t, const xyz_frame *f) {
  CHECK(t, f->index == 0 && f->line == 1);
  CHECK(t, f->n_atoms == 4);
  CHECK(t, strcmp(f->symbols[0], "O") == 0 && strcmp(f->symbols[1], "H") == 0);
  CHECK(t, strcmp(f->symbols[3], "Cu") == 0);
  CHECK(t, f->has_cell && near(f->cell[0][0], 5.0) && near(f->cell[1][1], 6.0));
  CHECK(t, near(f->cell[2][0], 0.5) && near(f->cell[2][2], 7.0) && f->cell[0][2] == 0.0);
  CHECK(t, f->pbc[0] && f->pbc[1] && f->pbc[2]);
  CHECK(t, f->has_energy && near(f->energy, -12.25)); /* `energy` wins over `REF_energy` */
  CHECK(t, f->has_forces);
  CHECK(t, near(f->forces[0], 0.1) && near(f->forces[4], 0.0) && near(f->forces[11], -3.5));
  CHECK(t, near(f->positions[3], 0.96) && near(f->positions[7], 0.93) && near(f->positions[11], 3.5));
}

static void check_frame1(tally *t, const xyz_frame *f) {
  CHECK(t, f->index == 1 && f->line == 7);
  CHECK(t, f->n_atoms == 2);
  CHECK(t, strcmp(f->symbols[0], "O") == 0 && strcmp(f->symbols[1], "Cu") == 0);  /* from Z */
  CHECK(t, f->has_energy && near(f->energy, -3.0));                               /* free_energy */
  CHECK(t, f->has_forces && near(f->forces[2], 3.0) && near(f->forces[3], -1.0)); /* force alias */
  CHECK(t, f->pbc[0] && f->pbc[1] && !f->pbc[2]);
  CHECK(t, near(f->positions[3], 1.0) && near(f->cell[2][2], 10.0));
}

static void check_frame2(tally *t, const xyz_frame *f) {
  CHECK(t, f->index == 2 && f->line == 12); /* after a blank line */
  CHECK(t, f->n_atoms == 3);
  CHECK(t, strcmp(f->symbols[1], "Cu") == 0); /* "cu" normalised */
  CHECK(t, !f->has_cell && !f->has_energy && !f->has_forces);
  CHECK(t, !f->pbc[0] && !f->pbc[1] && !f->pbc[2]);
  CHECK(t, f->cell[0][0] == 1.0 && f->cell[1][1] == 1.0 && f->cell[0][1] == 0.0);
  CHECK(t, near(f->positions[6], -1.0));
}

static void test_good_file(tally *t, const char *dir) {
  char path[1024];
  snprintf(path, sizeof path, "%s/extxyz_good.xyz", dir);
  xyz_reader *r = NULL;
  nnp_error err;
  xyz_frame f;
  xyz_frame_init(&f);
  if (xyz_reader_open(path, &r, &err) != 0) {
    tally_check(t, 0, __FILE__, __LINE__, err.message);
    return;
  }
  void (*checks[3])(tally *, const xyz_frame *) = {check_frame0, check_frame1, check_frame2};
  for (int i = 0; i < 3; i++) {
    int rc = next_frame(r, &f, &err);
    tally_check(t, rc == 1, __FILE__, __LINE__, rc < 0 ? err.message : "frame expected");
    if (rc == 1) checks[i](t, &f);
  }
  CHECK(t, next_frame(r, &f, &err) == 0);
  xyz_reader_close(r);
  xyz_frame_free(&f);
}

static void test_missing_file(tally *t) {
  xyz_reader *r = NULL;
  nnp_error err;
  CHECK(t, xyz_reader_open("/nonexistent/dir/x.xyz", &r, &err) == NNP_ERR_IO && r == NULL);
  CHECK(t, strstr(err.message, "/nonexistent/dir/x.xyz: cannot open") == err.message);
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Errors: each text must fail, and the message must contain every one of the expected pieces.                     */

typedef struct {
  const char *name;
  const char *text;
  const char *expect[3];
} error_case;

static const error_case error_cases[] = {
    {"empty file", "", {"mem.xyz: empty file", NULL, NULL}},
    {"blank lines only", "\n  \n\n", {"empty file", NULL, NULL}},
    {"truncated atoms",
     "3\nProperties=species:S:1:pos:R:3\nH 0 0 0\nH 1 0 0\n",
     {"frame 0, line 5", "truncated", "2 of 3"}},
    {"truncated header", "2\n", {"frame 0, line 2", "truncated", NULL}},
    {"truncated second frame", "1\n\nH 0 0 0\n2\n\nH 0 0 0\n", {"frame 1, line 7", "truncated", "1 of 2"}},
    {"non-finite", "2\n\nH 0 0 0\nH nan 0 0\n", {"frame 0, line 4", "non-finite", "'nan'"}},
    {"non-finite inf force",
     "1\nProperties=species:S:1:pos:R:3:forces:R:3\nH 0 0 0 0 -inf 0\n",
     {"frame 0, line 3", "non-finite", "forces"}},
    {"non-numeric", "1\n\nH 0 x 0\n", {"frame 0, line 3", "non-numeric", "'x'"}},
    {"non-numeric unused column",
     "1\nProperties=species:S:1:pos:R:3:q:R:1\nH 0 0 0 abc\n",
     {"frame 0, line 3", "non-numeric", "column q"}},
    {"unknown element", "1\n\nH 0 0 0\n2\n\nO 0 0 0\nXx 1 1 1\n", {"frame 1, line 7", "unknown element", "'Xx'"}},
    {"Z out of range", "1\nProperties=Z:I:1:pos:R:3\n87 0 0 0\n", {"frame 0, line 3", "atomic number 87", NULL}},
    {"bad count", "abc\n\nH 0 0 0\n", {"frame 0, line 1", "number of atoms", "'abc'"}},
    {"negative count", "-2\n\n", {"frame 0, line 1", "number of atoms", NULL}},
    {"count too small", "1\n\nH 0 0 0\nH 1 0 0\n", {"frame 1, line 4", "number of atoms", "'H 1 0 0'"}},
    {"count too large",
     "3\n\nH 0 0 0\nH 1 0 0\n2\n\nH 0 0 0\nH 1 0 0\n",
     {"frame 0, line 5", "atom 2 of 3", "wrong atom count on line 1"}},
    {"too many columns", "1\n\nH 0 0 0 7\n", {"frame 0, line 3", "found 5 columns", "declare 4"}},
    {"missing pos", "1\nProperties=species:S:1:position:R:3\nH 0 0 0\n", {"frame 0, line 2", "no pos column", NULL}},
    {"no species", "1\nProperties=pos:R:3\n0 0 0\n", {"frame 0, line 2", "neither a species", NULL}},
    {"bad pos type", "1\nProperties=species:S:1:pos:R:2\nH 0 0\n", {"line 2", "pos is R:2", NULL}},
    {"bad property type", "1\nProperties=species:S:1:pos:X:3\nH 0 0 0\n", {"line 2", "type 'X'", NULL}},
    {"short properties", "1\nProperties=species:S\nH 0 0 0\n", {"line 2", "triples", NULL}},
    {"bad lattice", "1\nLattice=\"1 0 0 0 1 0 0 0\"\nH 0 0 0\n", {"frame 0, line 2", "Lattice needs 9", NULL}},
    {"non-finite lattice", "1\nLattice=\"1 0 0 0 inf 0 0 0 1\"\nH 0 0 0\n", {"line 2", "Lattice: non-finite", NULL}},
    {"non-finite energy", "1\nenergy=nan\nH 0 0 0\n", {"frame 0, line 2", "energy: non-finite", NULL}},
    {"pbc without lattice", "1\npbc=\"T T T\"\nH 0 0 0\n", {"line 2", "no Lattice", NULL}},
    {"bad pbc", "1\nLattice=\"1 0 0 0 1 0 0 0 1\" pbc=\"T X T\"\nH 0 0 0\n", {"line 2", "'X'", NULL}},
    {"unterminated quote", "1\ncomment=\"abc\nH 0 0 0\n", {"frame 0, line 2", "unterminated", "comment"}},
};

static void run_error_case(tally *t, const error_case *c) {
  FILE *fp = NULL;
  xyz_reader *r = open_text(c->text, &fp);
  xyz_frame f;
  nnp_error err;
  int rc = 0;
  if (!r) {
    tally_check(t, 0, __FILE__, __LINE__, c->name);
    if (fp) fclose(fp);
    return;
  }
  xyz_frame_init(&f);
  strcpy(err.message, "(no message)");
  while ((rc = next_frame(r, &f, &err)) == 1) continue;
  int ok = rc == -1;
  for (int k = 0; k < 3 && c->expect[k]; k++) ok = ok && strstr(err.message, c->expect[k]) != NULL;
  if (!ok) printf("  case '%s': rc %d, message: %s\n", c->name, rc, err.message);
  tally_check(t, ok, __FILE__, __LINE__, c->name);
  xyz_frame_free(&f);
  xyz_reader_close(r);
  fclose(fp);
}

/* ---------------------------------------------------------------------------------------------------------------- */

static void test_crlf_and_quotes(tally *t) {
  const char *text =
      "1\r\nLattice = {2 0 0 0 2 0 0 0 2} name=\"a \\\"quoted\\\" word\" Properties='species:S:1:pos:R:3' "
      "energy=1.5\r\nHe 0.5 0.25 0.125\r\n";
  FILE *fp = NULL;
  xyz_reader *r = open_text(text, &fp);
  xyz_frame f;
  nnp_error err;
  xyz_frame_init(&f);
  int rc = r ? next_frame(r, &f, &err) : -1;
  tally_check(t, rc == 1, __FILE__, __LINE__, rc == 1 ? "" : err.message);
  if (rc == 1) {
    CHECK(t, f.has_cell && f.cell[2][2] == 2.0 && f.pbc[0] && f.pbc[2]);
    CHECK(t, strcmp(f.symbols[0], "He") == 0 && f.positions[2] == 0.125 && f.energy == 1.5);
  }
  xyz_frame_free(&f);
  xyz_reader_close(r);
  if (fp) fclose(fp);
}

static void test_roundtrip(tally *t, const char *dir) {
  char path[1024];
  snprintf(path, sizeof path, "%s/extxyz_good.xyz", dir);
  xyz_reader *r = NULL, *back = NULL;
  nnp_error err;
  xyz_frame f, g;
  xyz_frame_init(&f);
  xyz_frame_init(&g);
  FILE *out = tmpfile();
  int n = 0, ok = 1;
  if (!out || xyz_reader_open(path, &r, &err) != 0) {
    tally_check(t, 0, __FILE__, __LINE__, "roundtrip setup");
    return;
  }
  double atom_energy[8] = {0.1, 0.2, 0.3, 1.0 / 3.0, 0, 0, 0, 0};
  double virial[6] = {1, 2, 3, 4, 5, 6};
  while (next_frame(r, &f, &err) == 1) {
    xyz_write_data d = {f.has_forces ? f.forces : NULL, atom_energy, f.has_energy ? &f.energy : NULL, virial};
    ok = ok && xyz_write_frame(out, &f, n == 1 ? NULL : &d, &err) == 0;
    n++;
  }
  rewind(out);
  ok = ok && xyz_reader_open_stream(out, "roundtrip.xyz", &back, &err) == 0;
  xyz_reader_close(r);
  r = NULL;
  ok = ok && xyz_reader_open(path, &r, &err) == 0;
  for (int i = 0; ok && i < n; i++) {
    ok = next_frame(r, &f, &err) == 1 && next_frame(back, &g, &err) == 1;
    ok = ok && f.n_atoms == g.n_atoms && f.has_cell == g.has_cell && f.has_forces == g.has_forces;
    ok = ok && f.has_energy == g.has_energy && (!f.has_energy || f.energy == g.energy);
    ok = ok && memcmp(f.pbc, g.pbc, sizeof f.pbc) == 0 && memcmp(f.cell, g.cell, sizeof f.cell) == 0;
    for (int a = 0; ok && a < f.n_atoms; a++) {
      ok = strcmp(f.symbols[a], g.symbols[a]) == 0;
      for (int k = 0; ok && k < 3; k++) ok = f.positions[3 * a + k] == g.positions[3 * a + k];
      for (int k = 0; ok && f.has_forces && k < 3; k++) ok = f.forces[3 * a + k] == g.forces[3 * a + k];
    }
  }
  if (!ok) printf("  roundtrip: %s\n", err.message);
  tally_check(t, ok && n == 3, __FILE__, __LINE__, "write then read gives the same frames");
  xyz_reader_close(r);
  xyz_reader_close(back);
  fclose(out);
  xyz_frame_free(&f);
  xyz_frame_free(&g);
}

static void test_writer_header(tally *t) {
  xyz_frame f;
  xyz_frame_init(&f);
  char sym[1][8] = {"Ar"};
  double pos[3] = {0.1, 0.2, 0.3}, forces[3] = {1, 2, 3}, e_atom = -0.5, energy = -0.5;
  double virial[6] = {1, 2, 3, 4, 5, 6}; /* xx yy zz xy xz yz */
  f.n_atoms = 1;
  f.symbols = sym;
  f.positions = pos;
  f.has_cell = 1;
  f.pbc[0] = f.pbc[1] = f.pbc[2] = 1;
  xyz_write_data d = {forces, &e_atom, &energy, virial};
  char buf[2048] = {0};
  FILE *out = tmpfile();
  nnp_error err;
  CHECK(t, out && xyz_write_frame(out, &f, &d, &err) == 0);
  if (!out) return;
  rewind(out);
  size_t n = fread(buf, 1, sizeof buf - 1, out);
  buf[n] = '\0';
  fclose(out);
  CHECK(t, strstr(buf, "Lattice=\"1 0 0 0 1 0 0 0 1\"") != NULL);
  CHECK(t, strstr(buf, "Properties=species:S:1:pos:R:3:forces:R:3:energies:R:1 ") != NULL);
  CHECK(t, strstr(buf, "energy=-0.5 ") != NULL);
  CHECK(t, strstr(buf, "virial=\"1 4 5 4 2 6 5 6 3\"") != NULL);
  CHECK(t, strstr(buf, "pbc=\"T T T\"\n") != NULL);
  CHECK(t, strstr(buf, "Ar 0.10000000000000001 0.20000000000000001 0.29999999999999999 1 2 3 -0.5\n") != NULL);
}

/* A Properties line declaring `n` columns name:R:1000 (each 1000 columns wide) before species and pos. */
static char *wide_properties(long n) {
  char *text = malloc((size_t)n * 10 + 128);
  size_t len = (size_t)sprintf(text, "1\nProperties=");
  for (long k = 0; k < n; k++) len += (size_t)sprintf(text + len, "a:R:1000:");
  sprintf(text + len, "species:S:1:pos:R:3\nH 0 0 0\n");
  return text;
}

/* The total column count is bounded: 2,147,484 columns of width 1000 overflowed an int (a crash), and 10^9 columns
 * took 1 GB for the per-column tables (issue 18). */
static void test_column_bound(tally *t) {
  const long counts[2] = {XYZ_MAX_COLUMNS / 1000 + 1, 2147484};
  for (int k = 0; k < 2; k++) {
    char *text = wide_properties(counts[k]);
    error_case c = {"too many columns in all", text, {"frame 0, line 2", "more than 100000 columns", NULL}};
    run_error_case(t, &c);
    free(text);
  }
}

/* A frame without atoms but with a forces column keeps the column through xyz_write_frame (found by fuzz_extxyz). */
static void test_empty_frame_roundtrip(tally *t) {
  FILE *fp = NULL, *out = tmpfile();
  xyz_reader *r = open_text("0\nProperties=species:S:1:pos:R:3:forces:R:3 energy=1\n", &fp), *back = NULL;
  xyz_frame f, g;
  nnp_error err;
  xyz_frame_init(&f);
  xyz_frame_init(&g);
  CHECK(t, r && out && next_frame(r, &f, &err) == 1 && f.n_atoms == 0 && f.has_forces);
  CHECK(t, out && xyz_write_frame(out, &f, NULL, &err) == 0);
  if (out) rewind(out);
  CHECK(t, out && xyz_reader_open_stream(out, "back.xyz", &back, &err) == 0 && next_frame(back, &g, &err) == 1 &&
               g.n_atoms == 0 && g.has_forces && g.has_energy && g.energy == 1.0);
  xyz_reader_close(back);
  xyz_reader_close(r);
  xyz_frame_free(&f);
  xyz_frame_free(&g);
  if (fp) fclose(fp);
  if (out) fclose(out);
}

static void test_elements(tally *t) {
  CHECK(t, xyz_element_z("H") == 1 && xyz_element_z("Rn") == 86 && xyz_element_z("fe") == 26);
  CHECK(t, xyz_element_z("Fr") == 0 && xyz_element_z("") == 0 && xyz_element_z("X") == 0);
  CHECK(t, strcmp(xyz_element_symbol(29), "Cu") == 0 && xyz_element_symbol(0) == NULL);
  CHECK(t, xyz_element_symbol(87) == NULL);
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "tests/data";
  tally t = {0, 0};
  test_elements(&t);
  test_good_file(&t, dir);
  test_missing_file(&t);
  for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) run_error_case(&t, &error_cases[i]);
  test_column_bound(&t);
  test_empty_frame_roundtrip(&t);
  test_crlf_and_quotes(&t);
  test_writer_header(&t);
  test_roundtrip(&t, dir);
  printf("%d passed, %d failed\n", t.passed, t.failed);
  return t.failed == 0 ? 0 : 1;
}
