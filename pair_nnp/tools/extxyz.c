/* extxyz: streaming extended-XYZ reader and writer (see extxyz.h for the format and the conventions). */
#include "extxyz.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------------------------- */
/* Elements                                                                                                          */

static const char *const element_symbols[XYZ_MAX_Z + 1] = {
    "X",  "H",  "He", "Li", "Be", "B",  "C",  "N",  "O",  "F",  "Ne", "Na", "Mg", "Al", "Si", "P",  "S",  "Cl",
    "Ar", "K",  "Ca", "Sc", "Ti", "V",  "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "As", "Se", "Br",
    "Kr", "Rb", "Sr", "Y",  "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd", "In", "Sn", "Sb", "Te", "I",
    "Xe", "Cs", "Ba", "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu",
    "Hf", "Ta", "W",  "Re", "Os", "Ir", "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po", "At", "Rn"};

static int equal_nocase(const char *a, const char *b) {
  for (; *a && *b; a++, b++) {
    if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return 0;
  }
  return *a == *b;
}

int xyz_element_z(const char *symbol) {
  if (!symbol) return 0;
  for (int z = 1; z <= XYZ_MAX_Z; z++) {
    if (equal_nocase(symbol, element_symbols[z])) return z;
  }
  return 0;
}

const char *xyz_element_symbol(int z) { return (z >= 1 && z <= XYZ_MAX_Z) ? element_symbols[z] : NULL; }

/* ---------------------------------------------------------------------------------------------------------------- */
/* Frames                                                                                                            */

static void set_identity(double cell[3][3]) {
  for (int a = 0; a < 3; a++) {
    for (int b = 0; b < 3; b++) cell[a][b] = (a == b) ? 1.0 : 0.0;
  }
}

void xyz_frame_init(xyz_frame *frame) {
  memset(frame, 0, sizeof *frame);
  set_identity(frame->cell);
}

void xyz_frame_free(xyz_frame *frame) {
  if (!frame) return;
  free(frame->symbols);
  free(frame->positions);
  free(frame->forces);
  xyz_frame_init(frame);
}

static int frame_reserve(xyz_frame *frame, int n) {
  if (n <= frame->capacity) return 0;
  size_t m = (size_t)n;
  void *s = realloc(frame->symbols, m * sizeof *frame->symbols);
  if (s) frame->symbols = s;
  void *p = realloc(frame->positions, m * 3 * sizeof(double));
  if (p) frame->positions = p;
  void *f = realloc(frame->forces, m * 3 * sizeof(double));
  if (f) frame->forces = f;
  if (!s || !p || !f) return -1;
  frame->capacity = n;
  return 0;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Reader state                                                                                                      */

typedef struct {
  char name[64];
  char type; /* 'S', 'R', 'I' or 'L' */
  int count;
  int start; /* first column of the atom line */
} xyz_property;

struct xyz_reader {
  FILE *fp;
  int owns_fp;
  char *name;
  char *buf; /* the current line, without its end-of-line characters */
  size_t cap;
  long line;  /* lines read so far */
  long frame; /* index of the frame being read */
  xyz_property *props;
  int n_props, props_cap;
  char *col_type; /* type of every column of an atom line */
  char **tokens;  /* tokens of an atom line */
  int n_cols, cols_cap;
};

/* "FILE: frame F, line L: what" */
static nnp_status fail(const xyz_reader *r, nnp_error *err, long line, const char *fmt, ...) {
  if (!err) return NNP_ERR_FORMAT;
  int n = snprintf(err->message, sizeof err->message, "%s: frame %ld, line %ld: ", r->name, r->frame, line);
  if (n < 0 || (size_t)n >= sizeof err->message) return NNP_ERR_FORMAT;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->message + n, sizeof err->message - (size_t)n, fmt, ap);
  va_end(ap);
  return NNP_ERR_FORMAT;
}

static nnp_status fail_file(const char *name, nnp_error *err, nnp_status status, const char *what) {
  if (err) snprintf(err->message, sizeof err->message, "%s: %s", name, what);
  return status;
}

nnp_status xyz_reader_open_stream(FILE *stream, const char *name, xyz_reader **out, nnp_error *err) {
  if (!out || !stream || !name) return fail_file(name ? name : "(null)", err, NNP_ERR_ARGUMENT, "invalid argument");
  *out = NULL;
  xyz_reader *r = calloc(1, sizeof *r);
  size_t len = strlen(name);
  char *copy = malloc(len + 1);
  if (!r || !copy) {
    free(r);
    free(copy);
    return fail_file(name, err, NNP_ERR_NOMEM, "out of memory");
  }
  memcpy(copy, name, len + 1);
  r->fp = stream;
  r->name = copy;
  *out = r;
  return NNP_OK;
}

nnp_status xyz_reader_open(const char *path, xyz_reader **out, nnp_error *err) {
  if (!path || !out) return fail_file("(null)", err, NNP_ERR_ARGUMENT, "invalid argument");
  int use_stdin = strcmp(path, "-") == 0;
  FILE *fp = use_stdin ? stdin : fopen(path, "r");
  if (!fp) {
    char what[300];
    snprintf(what, sizeof what, "cannot open for reading: %s", strerror(errno));
    return fail_file(path, err, NNP_ERR_IO, what);
  }
  nnp_status st = xyz_reader_open_stream(fp, use_stdin ? "(stdin)" : path, out, err);
  if (st) {
    if (!use_stdin) fclose(fp);
    return st;
  }
  (*out)->owns_fp = !use_stdin;
  return NNP_OK;
}

void xyz_reader_close(xyz_reader *r) {
  if (!r) return;
  if (r->owns_fp) fclose(r->fp);
  free(r->name);
  free(r->buf);
  free(r->props);
  free(r->col_type);
  free(r->tokens);
  free(r);
}

/* One line into r->buf, end-of-line characters removed. 1: a line, 0: end of file, -1: error. */
static int read_line(xyz_reader *r, nnp_error *err) {
  size_t len = 0;
  for (;;) {
    if (r->cap - len < 2) {
      size_t cap = r->cap ? 2 * r->cap : 256;
      char *buf = realloc(r->buf, cap);
      if (!buf) return (void)fail(r, err, r->line + 1, "out of memory reading a line"), -1;
      r->buf = buf;
      r->cap = cap;
    }
    size_t room = r->cap - len;
    if (room > INT_MAX) room = INT_MAX;
    if (!fgets(r->buf + len, (int)room, r->fp)) {
      if (ferror(r->fp)) return (void)fail(r, err, r->line + 1, "read error: %s", strerror(errno)), -1;
      if (len == 0) return 0;
      break;
    }
    len += strlen(r->buf + len);
    if (len > 0 && r->buf[len - 1] == '\n') break;
  }
  while (len > 0 && (r->buf[len - 1] == '\n' || r->buf[len - 1] == '\r')) r->buf[--len] = '\0';
  r->line++;
  return 1;
}

static int is_blank(const char *s) {
  while (isspace((unsigned char)*s)) s++;
  return *s == '\0';
}

static char *skip_space(char *s) {
  while (isspace((unsigned char)*s)) s++;
  return s;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Scalars                                                                                                           */

/* A whole token as a double; 0: ok, -1: not a number, -2: not finite. */
static int parse_double(const char *s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || *skip_space(end) != '\0') return -1;
  if (!isfinite(v)) return -2;
  *out = v;
  return 0;
}

static int parse_long(const char *s, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (end == s || *skip_space(end) != '\0' || errno == ERANGE) return -1;
  *out = v;
  return 0;
}

/* T/F, True/False, 1/0 (any case); 0: ok, -1: not a logical. */
static int parse_bool(const char *s, int *out) {
  if (equal_nocase(s, "T") || equal_nocase(s, "true") || strcmp(s, "1") == 0) {
    *out = 1;
    return 0;
  }
  if (equal_nocase(s, "F") || equal_nocase(s, "false") || strcmp(s, "0") == 0) {
    *out = 0;
    return 0;
  }
  return -1;
}

/* Split s in place on whitespace into at most max tokens; returns the number found (max + 1 when there are more). */
static int split(char *s, char **tokens, int max) {
  int n = 0;
  for (;;) {
    s = skip_space(s);
    if (*s == '\0') return n;
    if (n == max) return max + 1;
    tokens[n++] = s;
    while (*s && !isspace((unsigned char)*s)) s++;
    if (*s) *s++ = '\0';
  }
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Header line                                                                                                       */

/* Next key=value pair of a header line, in place; a bare key (a boolean flag) has value NULL.
 * 1: a pair, 0: end of line, -1: unterminated quote. */
static int next_pair(char **cursor, char **key, char **value) {
  char *p = skip_space(*cursor);
  if (*p == '\0') return 0;
  *key = p;
  while (*p && *p != '=' && !isspace((unsigned char)*p)) p++;
  int has_value = (*p == '=');
  if (*p && !has_value) {
    *p++ = '\0';
    p = skip_space(p);
    has_value = (*p == '=');
  }
  if (!has_value) {
    *value = NULL;
    *cursor = p;
    return 1;
  }
  *p++ = '\0';
  p = skip_space(p);
  char open = *p;
  char close = open == '"' ? '"' : open == '\'' ? '\'' : open == '{' ? '}' : '\0';
  if (close) {
    char *w = ++p;
    *value = w;
    while (*p && *p != close) {
      if (*p == '\\' && p[1]) p++;
      *w++ = *p++;
    }
    if (*p != close) return -1;
    *w = '\0';
    *cursor = p + 1;
    return 1;
  }
  *value = p;
  while (*p && !isspace((unsigned char)*p)) p++;
  if (*p) *p++ = '\0';
  *cursor = p;
  return 1;
}

static int add_property(xyz_reader *r, const char *name, char type, int count) {
  if (r->n_props == r->props_cap) {
    int cap = r->props_cap ? 2 * r->props_cap : 8;
    xyz_property *props = realloc(r->props, (size_t)cap * sizeof *props);
    if (!props) return -1;
    r->props = props;
    r->props_cap = cap;
  }
  xyz_property *p = &r->props[r->n_props++];
  snprintf(p->name, sizeof p->name, "%s", name);
  p->type = type;
  p->count = count;
  p->start = r->n_cols;
  r->n_cols += count;
  return 0;
}

static char *next_field(char **cursor) {
  char *s = *cursor;
  if (!s) return NULL;
  char *colon = strchr(s, ':');
  if (colon) {
    *colon = '\0';
    *cursor = colon + 1;
  } else {
    *cursor = NULL;
  }
  return s;
}

static nnp_status add_property_checked(xyz_reader *r, const char *name, const char *type, const char *width,
                                       nnp_error *err) {
  long count;
  char t = (char)toupper((unsigned char)type[0]);
  if (name[0] == '\0' || strlen(name) >= sizeof r->props->name)
    return fail(r, err, r->line, "Properties: bad column name '%s'", name);
  if (type[0] == '\0' || type[1] != '\0' || !strchr("SRIL", t))
    return fail(r, err, r->line, "Properties: column %s has type '%s', expected one of S R I L", name, type);
  if (parse_long(width, &count) != 0 || count < 1 || count > 1000)
    return fail(r, err, r->line, "Properties: column %s has a bad width '%s'", name, width);
  if (count > XYZ_MAX_COLUMNS - r->n_cols)
    return fail(r, err, r->line, "Properties: more than %d columns in all (at column %s)", XYZ_MAX_COLUMNS, name);
  if (add_property(r, name, t, (int)count) != 0) return fail(r, err, r->line, "out of memory");
  return NNP_OK;
}

/* Properties=name:T:n:... into r->props and the per-column types. */
static nnp_status parse_properties(xyz_reader *r, char *spec, nnp_error *err) {
  r->n_props = 0;
  r->n_cols = 0;
  char *cursor = skip_space(spec);
  while (cursor) {
    char *name = next_field(&cursor);
    char *type = next_field(&cursor);
    char *width = next_field(&cursor);
    if (!type || !width) return fail(r, err, r->line, "Properties: expected name:type:width triples");
    if (add_property_checked(r, name, type, width, err) != 0) return NNP_ERR_FORMAT;
  }
  if (r->n_cols + 1 > r->cols_cap) {
    int cap = r->n_cols + 1;
    char *types = realloc(r->col_type, (size_t)cap);
    if (types) r->col_type = types;
    char **tokens = realloc(r->tokens, (size_t)cap * sizeof *tokens);
    if (tokens) r->tokens = tokens;
    if (!types || !tokens) return fail(r, err, r->line, "out of memory");
    r->cols_cap = cap;
  }
  for (int i = 0; i < r->n_props; i++) {
    memset(r->col_type + r->props[i].start, r->props[i].type, (size_t)r->props[i].count);
  }
  return NNP_OK;
}

static nnp_status parse_lattice(xyz_reader *r, char *value, xyz_frame *frame, nnp_error *err) {
  char *tok[9];
  int n = split(value, tok, 9);
  if (n != 9) return fail(r, err, r->line, "Lattice needs 9 numbers, found %d", n > 9 ? 10 : n);
  for (int i = 0; i < 9; i++) {
    int rc = parse_double(tok[i], &frame->cell[i / 3][i % 3]);
    if (rc == -1) return fail(r, err, r->line, "Lattice: non-numeric value '%s'", tok[i]);
    if (rc == -2) return fail(r, err, r->line, "Lattice: non-finite value '%s'", tok[i]);
  }
  frame->has_cell = 1;
  return NNP_OK;
}

static nnp_status parse_pbc(xyz_reader *r, char *value, int pbc[3], nnp_error *err) {
  char *tok[3];
  int n = split(value, tok, 3);
  if (n != 1 && n != 3) return fail(r, err, r->line, "pbc needs 3 logicals (T/F), found %d", n > 3 ? 4 : n);
  for (int i = 0; i < 3; i++) {
    if (parse_bool(tok[n == 1 ? 0 : i], &pbc[i]) != 0)
      return fail(r, err, r->line, "pbc: '%s' is not a logical (T/F)", tok[n == 1 ? 0 : i]);
  }
  return NNP_OK;
}

/* Energy keys in order of preference. */
static const char *const energy_keys[] = {"energy", "REF_energy", "free_energy"};
enum { N_ENERGY_KEYS = 3 };

static nnp_status parse_energy(xyz_reader *r, const char *key, const char *value, double *out, nnp_error *err) {
  int rc = parse_double(value, out);
  if (rc == -1) return fail(r, err, r->line, "%s: non-numeric value '%s'", key, value);
  if (rc == -2) return fail(r, err, r->line, "%s: non-finite value '%s'", key, value);
  return NNP_OK;
}

/* The comment line: Lattice, Properties, pbc and the energy. */
static nnp_status parse_header(xyz_reader *r, xyz_frame *frame, nnp_error *err) {
  char *cursor = r->buf, *key, *value;
  int have_props = 0, have_pbc = 0, energy_rank = N_ENERGY_KEYS;
  int rc;
  frame->has_cell = 0;
  frame->has_energy = 0;
  set_identity(frame->cell);
  while ((rc = next_pair(&cursor, &key, &value)) == 1) {
    if (!value) continue; /* a boolean flag, or a word of a free-text comment line */
    if (equal_nocase(key, "Lattice")) {
      if (parse_lattice(r, value, frame, err) != 0) return NNP_ERR_FORMAT;
    } else if (equal_nocase(key, "Properties")) {
      if (parse_properties(r, value, err) != 0) return NNP_ERR_FORMAT;
      have_props = 1;
    } else if (equal_nocase(key, "pbc")) {
      if (parse_pbc(r, value, frame->pbc, err) != 0) return NNP_ERR_FORMAT;
      have_pbc = 1;
    } else {
      for (int k = 0; k < energy_rank; k++) {
        if (!equal_nocase(key, energy_keys[k])) continue;
        if (parse_energy(r, key, value, &frame->energy, err) != 0) return NNP_ERR_FORMAT;
        frame->has_energy = 1;
        energy_rank = k;
        break;
      }
    }
  }
  if (rc < 0) return fail(r, err, r->line, "unterminated quoted value for key '%s'", key);
  if (!have_props) {
    char spec[] = "species:S:1:pos:R:3";
    if (parse_properties(r, spec, err) != 0) return NNP_ERR_FORMAT;
  }
  if (!have_pbc) {
    for (int a = 0; a < 3; a++) frame->pbc[a] = frame->has_cell;
  } else if (!frame->has_cell && (frame->pbc[0] || frame->pbc[1] || frame->pbc[2])) {
    return fail(r, err, r->line, "pbc is periodic but there is no Lattice");
  }
  return NNP_OK;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Atom lines                                                                                                        */

/* Which columns of the atom lines the frame's fields come from (start column, or -1). */
typedef struct {
  int species, z, pos, forces;
} xyz_columns;

static const xyz_property *find_property(const xyz_reader *r, const char *name) {
  for (int i = 0; i < r->n_props; i++) {
    if (equal_nocase(r->props[i].name, name)) return &r->props[i];
  }
  return NULL;
}

static nnp_status column_of(xyz_reader *r, const char *name, char type, int count, int *start, nnp_error *err) {
  const xyz_property *p = find_property(r, name);
  *start = -1;
  if (!p) return NNP_OK;
  if (p->type != type || p->count != count)
    return fail(r, err, r->line, "Properties: column %s is %c:%d, expected %c:%d", p->name, p->type, p->count, type,
                count);
  *start = p->start;
  return NNP_OK;
}

static nnp_status locate_columns(xyz_reader *r, xyz_columns *c, nnp_error *err) {
  if (column_of(r, "species", 'S', 1, &c->species, err) != 0) return NNP_ERR_FORMAT;
  if (column_of(r, "Z", 'I', 1, &c->z, err) != 0) return NNP_ERR_FORMAT;
  if (column_of(r, "pos", 'R', 3, &c->pos, err) != 0) return NNP_ERR_FORMAT;
  if (column_of(r, "forces", 'R', 3, &c->forces, err) != 0) return NNP_ERR_FORMAT;
  if (c->forces < 0 && column_of(r, "force", 'R', 3, &c->forces, err) != 0) return NNP_ERR_FORMAT;
  if (c->pos < 0) return fail(r, err, r->line, "Properties has no pos column (pos:R:3)");
  /* The columns read below are checked as they are read; check_types skips them. */
  const int used[4] = {c->species, c->z, c->pos, c->forces}, width[4] = {1, 1, 3, 3};
  for (int k = 0; k < 4; k++) {
    if (used[k] >= 0) memset(r->col_type + used[k], 0, (size_t)width[k]);
  }
  if (c->species < 0 && c->z < 0)
    return fail(r, err, r->line, "Properties has neither a species (species:S:1) nor a Z (Z:I:1) column");
  return NNP_OK;
}

/* Name of the property that column `col` belongs to. */
static const char *column_name(const xyz_reader *r, int col) {
  for (int i = 0; i < r->n_props; i++) {
    if (col >= r->props[i].start && col < r->props[i].start + r->props[i].count) return r->props[i].name;
  }
  return "?";
}

/* Every column parses as its declared type. */
static nnp_status check_types(xyz_reader *r, int atom, nnp_error *err) {
  for (int c = 0; c < r->n_cols; c++) {
    const char *t = r->tokens[c];
    double d;
    long l;
    int b;
    int bad = 0;
    if (r->col_type[c] == 'R') bad = parse_double(t, &d) == -1;
    if (r->col_type[c] == 'I') bad = parse_long(t, &l) != 0;
    if (r->col_type[c] == 'L') bad = parse_bool(t, &b) != 0;
    if (bad) {
      const char *what = r->col_type[c] == 'R' ? "non-numeric" : r->col_type[c] == 'I' ? "non-integer" : "non-logical";
      return fail(r, err, r->line, "atom %d: %s value '%s' in column %s", atom, what, t, column_name(r, c));
    }
  }
  return NNP_OK;
}

static nnp_status read_vec3(xyz_reader *r, int atom, int start, double *out, nnp_error *err) {
  for (int k = 0; k < 3; k++) {
    const char *t = r->tokens[start + k];
    int rc = parse_double(t, &out[k]);
    if (rc != 0)
      return fail(r, err, r->line, "atom %d: %s value '%s' in column %s", atom, rc == -1 ? "non-numeric" : "non-finite",
                  t, column_name(r, start));
  }
  return NNP_OK;
}

static nnp_status read_symbol(xyz_reader *r, xyz_frame *frame, int atom, const xyz_columns *c, nnp_error *err) {
  char *symbol = frame->symbols[atom];
  int z;
  if (c->species >= 0) {
    const char *t = r->tokens[c->species];
    if (atom > 0 && strcmp(t, frame->symbols[atom - 1]) == 0) { /* the same element as the atom before */
      memcpy(symbol, frame->symbols[atom - 1], 8);
      return NNP_OK;
    }
    z = xyz_element_z(t);
    if (z == 0) return fail(r, err, r->line, "atom %d: unknown element symbol '%s'", atom, t);
  } else {
    long v = 0;
    if (parse_long(r->tokens[c->z], &v) != 0)
      return fail(r, err, r->line, "atom %d: non-integer value '%s' in column Z", atom, r->tokens[c->z]);
    if (v < 1 || v > XYZ_MAX_Z)
      return fail(r, err, r->line, "atom %d: atomic number %ld outside 1..%d", atom, v, XYZ_MAX_Z);
    z = (int)v;
  }
  snprintf(symbol, 8, "%s", element_symbols[z]);
  return NNP_OK;
}

static int count_tokens(const char *s) {
  int n = 0;
  for (;;) {
    while (isspace((unsigned char)*s)) s++;
    if (*s == '\0') return n;
    n++;
    while (*s && !isspace((unsigned char)*s)) s++;
  }
}

static nnp_status read_atom(xyz_reader *r, xyz_frame *frame, int atom, const xyz_columns *c, nnp_error *err) {
  int n = count_tokens(r->buf);
  if (n != r->n_cols) {
    return fail(r, err, r->line,
                "atom %d of %d: found %d columns, Properties declare %d (wrong atom count on line %ld?)", atom,
                frame->n_atoms, n, r->n_cols, frame->line);
  }
  split(r->buf, r->tokens, r->n_cols);
  if (check_types(r, atom, err) != 0) return NNP_ERR_FORMAT;
  if (read_symbol(r, frame, atom, c, err) != 0) return NNP_ERR_FORMAT;
  if (read_vec3(r, atom, c->pos, frame->positions + 3 * (size_t)atom, err) != 0) return NNP_ERR_FORMAT;
  if (c->forces >= 0 && read_vec3(r, atom, c->forces, frame->forces + 3 * (size_t)atom, err) != 0)
    return NNP_ERR_FORMAT;
  return NNP_OK;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Frames                                                                                                            */

static nnp_status read_count(xyz_reader *r, xyz_frame *frame, nnp_error *err) {
  char *tok[2];
  long n;
  char copy[64];
  snprintf(copy, sizeof copy, "%s", r->buf);
  int k = split(r->buf, tok, 1);
  if (k != 1 || parse_long(tok[0], &n) != 0) {
    if (r->frame > 0)
      return fail(r, err, r->line, "expected the number of atoms, found '%s' (atom count of frame %ld too small?)",
                  copy, r->frame - 1);
    return fail(r, err, r->line, "expected the number of atoms, found '%s'", copy);
  }
  if (n < 0 || n > XYZ_MAX_ATOMS)
    return fail(r, err, r->line, "bad number of atoms %ld (allowed: 0..%d)", n, XYZ_MAX_ATOMS);
  /* room for the atoms grows as their lines arrive: a 10-byte file declaring 10^8 atoms must not take gigabytes */
  if (frame_reserve(frame, n < 4096 ? (int)n : 4096) != 0)
    return fail(r, err, r->line, "out of memory for %ld atoms", n);
  frame->n_atoms = (int)n;
  return NNP_OK;
}

nnp_status xyz_reader_next(xyz_reader *r, xyz_frame *frame, int *got, nnp_error *err) {
  if (!r || !frame || !got) return fail_file(r ? r->name : "(null)", err, NNP_ERR_ARGUMENT, "invalid argument");
  *got = 0;
  int rc;
  do {
    rc = read_line(r, err);
  } while (rc == 1 && is_blank(r->buf));
  if (rc < 0) return NNP_ERR_FORMAT;
  if (rc == 0) return r->frame == 0 ? fail_file(r->name, err, NNP_ERR_FORMAT, "empty file (no frames)") : NNP_OK;
  frame->index = r->frame;
  frame->line = r->line;
  if (read_count(r, frame, err) != 0) return NNP_ERR_FORMAT;
  rc = read_line(r, err);
  if (rc < 0) return NNP_ERR_FORMAT;
  if (rc == 0) return fail(r, err, r->line + 1, "truncated frame: end of file where the comment line belongs");
  xyz_columns cols;
  if (parse_header(r, frame, err) != 0 || locate_columns(r, &cols, err) != 0) return NNP_ERR_FORMAT;
  frame->has_forces = cols.forces >= 0;
  for (int i = 0; i < frame->n_atoms; i++) {
    rc = read_line(r, err);
    if (rc < 0) return NNP_ERR_FORMAT;
    if (rc == 0)
      return fail(r, err, r->line + 1, "truncated frame: end of file after %d of %d atom lines", i, frame->n_atoms);
    if (i == frame->capacity) {
      const int grown = frame->capacity > frame->n_atoms / 2 ? frame->n_atoms : 2 * frame->capacity;
      if (frame_reserve(frame, grown) != 0) return fail(r, err, r->line, "out of memory for %d atoms", grown);
    }
    if (read_atom(r, frame, i, &cols, err) != 0) return NNP_ERR_FORMAT;
  }
  r->frame++;
  *got = 1;
  return NNP_OK;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Writer                                                                                                            */

static void write_header(FILE *out, const xyz_frame *f, const xyz_write_data *d, int forces_column) {
  if (f->has_cell) {
    fprintf(out, "Lattice=\"");
    for (int i = 0; i < 9; i++) fprintf(out, i ? " %.17g" : "%.17g", f->cell[i / 3][i % 3]);
    fprintf(out, "\" ");
  }
  fprintf(out, "Properties=species:S:1:pos:R:3%s%s", forces_column ? ":forces:R:3" : "",
          d->atom_energy ? ":energies:R:1" : "");
  if (d->energy) fprintf(out, " energy=%.17g", *d->energy);
  if (d->virial) {
    const double *v = d->virial; /* xx yy zz xy xz yz */
    const double full[9] = {v[0], v[3], v[4], v[3], v[1], v[5], v[4], v[5], v[2]};
    fprintf(out, " virial=\"");
    for (int i = 0; i < 9; i++) fprintf(out, i ? " %.17g" : "%.17g", full[i]);
    fprintf(out, "\"");
  }
  fprintf(out, " pbc=\"%c %c %c\"\n", f->pbc[0] ? 'T' : 'F', f->pbc[1] ? 'T' : 'F', f->pbc[2] ? 'T' : 'F');
}

nnp_status xyz_write_frame(FILE *out, const xyz_frame *frame, const xyz_write_data *data, nnp_error *err) {
  if (!out || !frame) return fail_file("(output)", err, NNP_ERR_ARGUMENT, "invalid argument");
  xyz_write_data own = {frame->has_forces ? frame->forces : NULL, NULL, frame->has_energy ? &frame->energy : NULL,
                        NULL};
  const xyz_write_data *d = data ? data : &own;
  fprintf(out, "%d\n", frame->n_atoms);
  /* a frame read with forces keeps its column even without atoms (its arrays are then NULL) */
  write_header(out, frame, d, d->forces || (!data && frame->has_forces));
  for (int i = 0; i < frame->n_atoms; i++) {
    const double *x = frame->positions + 3 * (size_t)i;
    fprintf(out, "%-2s %.17g %.17g %.17g", frame->symbols[i], x[0], x[1], x[2]);
    if (d->forces) {
      const double *g = d->forces + 3 * (size_t)i;
      fprintf(out, " %.17g %.17g %.17g", g[0], g[1], g[2]);
    }
    if (d->atom_energy) fprintf(out, " %.17g", d->atom_energy[i]);
    fputc('\n', out);
  }
  if (ferror(out)) return fail_file("(output)", err, NNP_ERR_IO, "write error");
  return NNP_OK;
}
