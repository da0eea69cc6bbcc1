/* Long-range baselines (docs/model.md, "Baselines"): the `baseline` header lines of a model file and the LAMMPS
 * input lines they stand for. The project computes no baseline itself: LAMMPS does, in MD and for the training
 * labels (pair_nnp/tools/baseline_cache.c), from the lines written here, so both see the same force field. */
#include "nnp_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int nnp_baseline_present(const nnp_hyper *h) {
  return h && (h->baseline.d3 || h->baseline.coulomb || h->baseline.c6c8);
}

/* Form version 1 of the c6c8 term: the switch polynomial and the table grid below. A later form gets a new number,
 * so that a model file always names the table it was trained with. */
#define C6C8_VERSION   1
#define C6C8_POINTS_V1 5000 /* table points, uniform in r from NNP_C6C8_TABLE_R_LO to R_FULL */

/* Whole-token number; 0 on success. */
static int token_double(const char *s, double *out) {
  char *end;
  const nnp_c_locale c = nnp_c_locale_enter(); /* "12.0" in any locale (c_locale.c) */
  double v = strtod(s, &end);
  nnp_c_locale_leave(c);
  if (end == s || *end || !isfinite(v)) return -1;
  *out = v;
  return 0;
}

/* The D3 keywords LAMMPS's dispersion/d3 accepts for the damping function. */
static int valid_damping(const char *s) {
  return !strcmp(s, "zero") || !strcmp(s, "zerom") || !strcmp(s, "bj") || !strcmp(s, "bjm");
}

/* A functional name is passed to LAMMPS verbatim: keep it to characters that need no quoting there. */
static int valid_functional(const char *s) {
  if (!*s || strlen(s) >= sizeof(((nnp_baseline *)0)->d3_functional)) return 0;
  for (; *s; ++s)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
          *s == '+' || *s == '.' || *s == '/'))
      return 0;
  return 1;
}

static nnp_status parse_d3(nnp_hyper *h, char **tok, int nt, nnp_error *err) {
  nnp_baseline *b = &h->baseline;
  if (b->d3) return nnp_fail(err, NNP_ERR_FORMAT, "baseline d3 is declared twice");
  if (nt != 5)
    return nnp_fail(err, NNP_ERR_FORMAT,
                    "baseline d3 needs 4 values: DAMPING FUNCTIONAL CUTOFF CN_CUTOFF (e.g. 'd3 bj revpbe0 12.0 10.0')");
  if (!valid_damping(tok[1]))
    return nnp_fail(err, NNP_ERR_FORMAT, "baseline d3: damping '%s' is not one of zero, zerom, bj, bjm", tok[1]);
  if (!valid_functional(tok[2]))
    return nnp_fail(err, NNP_ERR_FORMAT, "baseline d3: functional '%s' is not a plain name", tok[2]);
  if (token_double(tok[3], &b->d3_cutoff) || token_double(tok[4], &b->d3_cn_cutoff) || !(b->d3_cutoff > 0.0) ||
      !(b->d3_cn_cutoff > 0.0) || b->d3_cutoff > 1000.0 || b->d3_cn_cutoff > 1000.0)
    return nnp_fail(err, NNP_ERR_FORMAT, "baseline d3: cutoffs '%s %s' must be numbers in (0, 1000] Angstrom", tok[3],
                    tok[4]);
  snprintf(b->d3_damping, sizeof b->d3_damping, "%s", tok[1]);
  snprintf(b->d3_functional, sizeof b->d3_functional, "%s", tok[2]);
  b->d3 = 1;
  return NNP_OK;
}

/* The optional trailing `dielectric EPS` of a coulomb line (LAMMPS's `dielectric` command: every Coulomb
 * interaction, real-space and PPPM, divided by EPS). Takes the two tokens off *nt; EPS 1 when absent. */
static nnp_status parse_dielectric(nnp_baseline *b, char **tok, int *nt, nnp_error *err) {
  b->coul_dielectric = 1.0;
  if (*nt < 2 || strcmp(tok[*nt - 2], "dielectric")) return NNP_OK;
  if (token_double(tok[*nt - 1], &b->coul_dielectric) || !(b->coul_dielectric >= 1.0 && b->coul_dielectric <= 1e4))
    return nnp_fail(err, NNP_ERR_FORMAT, "baseline coulomb: dielectric '%s' must be a number in [1, 10000]",
                    tok[*nt - 1]);
  *nt -= 2;
  return NNP_OK;
}

/* One A-B:C6:C8 token of a c6c8 line into b->c6/c8 (both orders); seen[i][j] counts the pair. */
static nnp_status parse_c6c8_pair(nnp_hyper *h, char *tok, int seen[NNP_MAX_SPECIES][NNP_MAX_SPECIES], nnp_error *err) {
  const char *example = "e.g. 'O-H:4.5:60'";
  char *dash = strchr(tok, '-'), *c1 = dash ? strchr(dash, ':') : NULL, *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
  if (!dash || !c1 || !c2)
    return nnp_fail(err, NNP_ERR_FORMAT, "baseline c6c8: '%s' is not A-B:C6:C8 (%s)", tok, example);
  *dash = *c1 = *c2 = '\0';
  int i = nnp_hyper_species_index(h, tok), j = nnp_hyper_species_index(h, dash + 1);
  if (i < 0 || j < 0)
    return nnp_fail(err, NNP_ERR_FORMAT, "baseline c6c8: '%s' is not a species of the model", i < 0 ? tok : dash + 1);
  if (seen[i][j]++) return nnp_fail(err, NNP_ERR_FORMAT, "baseline c6c8: pair %s-%s is given twice", tok, dash + 1);
  seen[j][i] = seen[i][j];
  double c6, c8;
  if (token_double(c1 + 1, &c6) || token_double(c2 + 1, &c8) || fabs(c6) > 1e6 || fabs(c8) > 1e8)
    return nnp_fail(err, NNP_ERR_FORMAT,
                    "baseline c6c8: coefficients '%s:%s' of %s-%s are not numbers with |C6| <= 1e6 eV A^6 and |C8| "
                    "<= 1e8 eV A^8",
                    c1 + 1, c2 + 1, tok, dash + 1);
  h->baseline.c6[i][j] = h->baseline.c6[j][i] = c6;
  h->baseline.c8[i][j] = h->baseline.c8[j][i] = c8;
  return NNP_OK;
}

/* c6c8 VERSION R_ZERO R_FULL CUTOFF A-B:C6:C8 ...: every unordered species pair exactly once. */
static nnp_status parse_c6c8(nnp_hyper *h, char **tok, int nt, nnp_error *err) {
  nnp_baseline *b = &h->baseline;
  const int n = h->n_species, pairs = n * (n + 1) / 2;
  if (b->c6c8) return nnp_fail(err, NNP_ERR_FORMAT, "baseline c6c8 is declared twice");
  if (nt < 2 || strcmp(tok[1], "1"))
    return nnp_fail(err, NNP_ERR_FORMAT, "baseline c6c8: form version '%s' is not one this pair_nnp knows (1)",
                    nt < 2 ? "" : tok[1]);
  if (nt != 5 + pairs)
    return nnp_fail(err, NNP_ERR_FORMAT,
                    "baseline c6c8 needs 1 R_ZERO R_FULL CUTOFF and one A-B:C6:C8 per species pair (%d), e.g. 'c6c8 "
                    "1 3.0 5.0 12.0 H-H:1:10 H-O:2:30 O-O:9:200'",
                    pairs);
  if (token_double(tok[2], &b->c6c8_r_zero) || token_double(tok[3], &b->c6c8_r_full) ||
      token_double(tok[4], &b->c6c8_cutoff) || !(b->c6c8_r_zero >= 1.0) || !(b->c6c8_r_full > b->c6c8_r_zero) ||
      !(b->c6c8_cutoff >= b->c6c8_r_full) || b->c6c8_cutoff > 100.0)
    return nnp_fail(err, NNP_ERR_FORMAT,
                    "baseline c6c8: distances '%s %s %s' must satisfy 1 <= R_ZERO < R_FULL <= CUTOFF <= 100 (Angstrom)",
                    tok[2], tok[3], tok[4]);
  int seen[NNP_MAX_SPECIES][NNP_MAX_SPECIES];
  memset(seen, 0, sizeof seen);
  for (int k = 5; k < nt; ++k) {
    nnp_status st = parse_c6c8_pair(h, tok[k], seen, err);
    if (st != NNP_OK) return st;
  }
  b->c6c8_version = C6C8_VERSION;
  b->c6c8 = 1;
  return NNP_OK;
}

/* coulomb CUTOFF ACCURACY El:q El:q ... [dielectric EPS]: every species exactly once. */
static nnp_status parse_coulomb(nnp_hyper *h, char **tok, int nt, nnp_error *err) {
  nnp_baseline *b = &h->baseline;
  if (b->coulomb) return nnp_fail(err, NNP_ERR_FORMAT, "baseline coulomb is declared twice");
  nnp_status st = parse_dielectric(b, tok, &nt, err);
  if (st) return st;
  if (nt != 3 + h->n_species)
    return nnp_fail(err, NNP_ERR_FORMAT,
                    "baseline coulomb needs CUTOFF ACCURACY and one El:charge per species (%d), then optionally "
                    "`dielectric EPS`, e.g. 'coulomb 10.0 1e-6 O:-0.834 H:0.417'",
                    h->n_species);
  if (token_double(tok[1], &b->coul_cutoff) || !(b->coul_cutoff > 0.0) || b->coul_cutoff > 1000.0)
    return nnp_fail(err, NNP_ERR_FORMAT, "baseline coulomb: cutoff '%s' must be a number in (0, 1000] Angstrom",
                    tok[1]);
  if (token_double(tok[2], &b->kspace_accuracy) || !(b->kspace_accuracy > 0.0 && b->kspace_accuracy < 1.0))
    return nnp_fail(err, NNP_ERR_FORMAT, "baseline coulomb: pppm accuracy '%s' must be a number in (0, 1)", tok[2]);
  int seen[NNP_MAX_SPECIES] = {0};
  for (int k = 3; k < nt; ++k) {
    char *colon = strchr(tok[k], ':');
    if (!colon) return nnp_fail(err, NNP_ERR_FORMAT, "baseline coulomb: '%s' is not El:charge", tok[k]);
    *colon = '\0';
    const int s = nnp_hyper_species_index(h, tok[k]);
    if (s < 0) return nnp_fail(err, NNP_ERR_FORMAT, "baseline coulomb: '%s' is not a species of the model", tok[k]);
    if (seen[s]++) return nnp_fail(err, NNP_ERR_FORMAT, "baseline coulomb: species %s is given twice", tok[k]);
    if (token_double(colon + 1, &b->charge[s]) || fabs(b->charge[s]) > 100.0)
      return nnp_fail(err, NNP_ERR_FORMAT, "baseline coulomb: charge '%s' of %s is not a number in [-100, 100]",
                      colon + 1, tok[k]);
  }
  b->coulomb = 1;
  return NNP_OK;
}

nnp_status nnp_baseline_parse(nnp_hyper *h, const char *values, nnp_error *err) {
  if (!h || !values) return nnp_fail(err, NNP_ERR_ARGUMENT, "nnp_baseline_parse: NULL argument");
  if (h->n_species < 1) return nnp_fail(err, NNP_ERR_FORMAT, "'baseline' must come after 'species'");
  char copy[1024];
  if (strlen(values) >= sizeof copy) return nnp_fail(err, NNP_ERR_FORMAT, "baseline line is too long");
  strcpy(copy, values);
  enum { max_tokens = NNP_MAX_SPECIES * (NNP_MAX_SPECIES + 1) / 2 + 8 };
  char *tok[max_tokens];
  int nt = 0;
  char *save = NULL;
  for (char *s = strtok_r(copy, " \t", &save); s; s = strtok_r(NULL, " \t", &save)) {
    if (nt == max_tokens) return nnp_fail(err, NNP_ERR_FORMAT, "baseline line has too many values");
    tok[nt++] = s;
  }
  if (nt == 0)
    return nnp_fail(err, NNP_ERR_FORMAT, "baseline line is empty (want 'd3 ...', 'coulomb ...' or 'c6c8 ...')");
  if (!strcmp(tok[0], "d3")) return parse_d3(h, tok, nt, err);
  if (!strcmp(tok[0], "coulomb")) return parse_coulomb(h, tok, nt, err);
  if (!strcmp(tok[0], "c6c8")) return parse_c6c8(h, tok, nt, err);
  return nnp_fail(err, NNP_ERR_FORMAT, "unknown baseline term '%s' (this pair_nnp knows 'd3', 'coulomb' and 'c6c8')",
                  tok[0]);
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Text                                                                                                              */

typedef struct {
  char *buf;
  size_t size, len;
} out_text;

static void put(out_text *o, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void put(out_text *o, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  size_t room = o->len < o->size ? o->size - o->len : 0;
  int k = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
  va_end(ap);
  if (k > 0) o->len += (size_t)k;
}

/* The shortest of %.15g, %.16g, %.17g that reads back as v: 0.417 stays 0.417 and still round-trips exactly. */
static const char *num(double v, char *s) {
  const nnp_c_locale c = nnp_c_locale_enter(); /* "0.417" in any locale (c_locale.c) */
  for (int digits = 15; digits <= 17; ++digits) {
    snprintf(s, 32, "%.*g", digits, v);
    if (strtod(s, NULL) == v) break;
  }
  nnp_c_locale_leave(c);
  return s;
}

/* A dielectric other than 1 is written (and so keys the caches); 1 or unset leaves the line as before. */
static int coulomb_screened(const nnp_baseline *b) { return b->coul_dielectric > 0 && b->coul_dielectric != 1.0; }

size_t nnp_baseline_format(const nnp_hyper *h, char *buf, size_t size) {
  out_text o = {buf, size, 0};
  if (buf && size) buf[0] = '\0';
  const nnp_baseline *b = &h->baseline;
  char x[32], y[32];
  if (b->d3)
    put(&o, "baseline d3 %s %s %s %s\n", b->d3_damping, b->d3_functional, num(b->d3_cutoff, x),
        num(b->d3_cn_cutoff, y));
  if (b->coulomb) {
    put(&o, "baseline coulomb %s %s", num(b->coul_cutoff, x), num(b->kspace_accuracy, y));
    for (int s = 0; s < h->n_species; ++s) put(&o, " %s:%s", h->species[s], num(b->charge[s], x));
    if (coulomb_screened(b)) put(&o, " dielectric %s", num(b->coul_dielectric, x));
    put(&o, "\n");
  }
  if (b->c6c8) {
    put(&o, "baseline c6c8 %d %s %s", b->c6c8_version, num(b->c6c8_r_zero, x), num(b->c6c8_r_full, y));
    put(&o, " %s", num(b->c6c8_cutoff, x));
    for (int i = 0; i < h->n_species; ++i)
      for (int j = i; j < h->n_species; ++j)
        put(&o, " %s-%s:%s:%s", h->species[i], h->species[j], num(b->c6[i][j], x), num(b->c8[i][j], y));
    put(&o, "\n");
  }
  return o.len;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* The c6c8 term and its LAMMPS table                                                                               */

/* S(t) = 10 t^3 - 15 t^4 + 6 t^5 on t = (r - r_zero) / (r_full - r_zero) in [0, 1]: 0 and 1 with zero first and
 * second derivatives at both ends, so the term and its forces are C2 in r. */
static double smoothstep(double t) {
  return t <= 0.0 ? 0.0 : t >= 1.0 ? 1.0 : t * t * t * (10.0 + t * (-15.0 + 6.0 * t));
}

/* The table's part: (1 - S(r)) (C6/r^6 + C8/r^8) for r < R_FULL, i.e. what undoes LAMMPS's undamped born term
 * -(C6/r^6 + C8/r^8) inside R_FULL, so that the sum is -S(r) (C6/r^6 + C8/r^8). -dE/dr in *force. 1 - S(t) is
 * computed as S(1 - t) (the step is point-symmetric), which keeps its relative precision where it vanishes. */
double nnp_baseline_c6c8_table_pair(const nnp_baseline *b, int si, int sj, double r, double *force) {
  if (r >= b->c6c8_r_full) return *force = 0.0, 0.0;
  const double w = b->c6c8_r_full - b->c6c8_r_zero, t = (r - b->c6c8_r_zero) / w;
  const double keep = smoothstep(1.0 - t);                                                 /* 1 - S */
  const double dsdr = t > 0.0 && t < 1.0 ? 30.0 * t * t * (1.0 - t) * (1.0 - t) / w : 0.0; /* dS/dr */
  const double r2 = 1.0 / (r * r), r6 = r2 * r2 * r2, r8 = r6 * r2;
  const double disp = b->c6[si][sj] * r6 + b->c8[si][sj] * r8;                     /* C6/r^6 + C8/r^8 */
  const double ddisp = -(6.0 * b->c6[si][sj] * r6 + 8.0 * b->c8[si][sj] * r8) / r; /* its r-derivative */
  *force = dsdr * disp - keep * ddisp;                                             /* -dE/dr with E = (1 - S) disp */
  return keep * disp;
}

int nnp_baseline_c6c8_points(const nnp_hyper *h) {
  (void)h;
  return C6C8_POINTS_V1;
}

static unsigned long long c6c8_hash(const nnp_hyper *h) {
  char def[2048];
  nnp_baseline_format(h, def, sizeof def);
  const char *line = strstr(def, "baseline c6c8 ");
  unsigned long long f = 0xcbf29ce484222325ull;
  for (const char *p = line ? line : ""; *p && *p != '\n'; ++p) {
    f ^= (unsigned char)*p;
    f *= 0x100000001b3ull;
  }
  return f;
}

size_t nnp_baseline_c6c8_table_name(const nnp_hyper *h, const char *model, char *buf, size_t size) {
  out_text o = {buf, size, 0};
  if (buf && size) buf[0] = '\0';
  put(&o, "%s.c6c8-%016llx.table", model, c6c8_hash(h));
  return o.len;
}

size_t nnp_baseline_c6c8_table(const nnp_hyper *h, char *buf, size_t size) {
  out_text o = {buf, size, 0};
  if (buf && size) buf[0] = '\0';
  const nnp_baseline *b = &h->baseline;
  if (!b->c6c8) return 0;
  char def[2048];
  nnp_baseline_format(h, def, sizeof def);
  const char *line = strstr(def, "baseline c6c8 ");
  put(&o, "# pair_nnp c6c8 baseline table (docs/model.md, \"Baselines\"): E = (1 - S(r)) (C6/r^6 + C8/r^8) eV, F = "
          "-dE/dr;\n"
          "# with pair_style born's -(C6/r^6 + C8/r^8) it makes the damped term -S(r) (C6/r^6 + C8/r^8)\n");
  put(&o, "# %.*s\n", line ? (int)strcspn(line, "\n") : 0, line ? line : "");
  const int n = C6C8_POINTS_V1;
  const double lo = NNP_C6C8_TABLE_R_LO, hi = b->c6c8_r_full;
  for (int i = 0; i < h->n_species; ++i)
    for (int j = 0; j < h->n_species; ++j) {
      put(&o, "\n%s_%s\nN %d R %.17g %.17g\n\n", h->species[i], h->species[j], n, lo, hi);
      for (int k = 0; k < n; ++k) {
        /* the same r LAMMPS computes from R lo hi, so it need not re-spline the file's points */
        const double r = lo + (hi - lo) * k / (n - 1);
        double f, e = nnp_baseline_c6c8_table_pair(b, i, j, r, &f);
        put(&o, "%d %.17g %.17g %.17g\n", k + 1, r, e, f);
      }
    }
  return o.len;
}

/* Per-type charges. With types in species order: one `set type` per species. Otherwise the element of each type
 * is only known from the LAMMPS variable, so the lines walk it with `next` and compare names with `if`. */
static void charge_lines(out_text *o, const nnp_hyper *h, const char *elements, int elements_are_species) {
  char q[32];
  if (elements_are_species) {
    for (int s = 0; s < h->n_species; ++s) put(o, "set type %d charge %s\n", s + 1, num(h->baseline.charge[s], q));
    return;
  }
  /* the loop variables are deleted before and after, so that a second include (another run) starts afresh: an index
   * variable that exists already is not redefined, and `next` removes only the exhausted one */
  put(o,
      "variable nnp_element delete\nvariable nnp_type delete\nvariable nnp_element index %s\n"
      "variable nnp_type loop 1000\nlabel nnp_set_charge\n",
      elements);
  for (int s = 0; s < h->n_species; ++s)
    put(o, "if \"${nnp_element} == %s\" then \"set type ${nnp_type} charge %s\"\n", h->species[s],
        num(h->baseline.charge[s], q));
  put(o, "next nnp_element\nnext nnp_type\njump SELF nnp_set_charge\nvariable nnp_element delete\nvariable nnp_type "
         "delete\n");
}

/* Under pair_style hybrid*, LAMMPS ends a sub-style's arguments at the next word that names a pair style, and
 * `zero` is one (pair_style zero): `dispersion/d3 zero ...` would be cut after its first word. dispersion/d3
 * lower-cases its damping keyword (LAMMPS 7 Feb 2024 to at least 2025), and style names are case-sensitive, so the
 * LAMMPS lines spell zero damping `ZERO`, which parses the same inside and outside hybrid. (Newer versions also know
 * `original`; 4 Feb 2025 does not, and silently computes nothing for a damping name it does not know.) */
static const char *lammps_damping(const char *damping) { return strcmp(damping, "zero") ? damping : "ZERO"; }

/* pair_coeff lines of the c6c8 term: born (A = 0: -C6/r^6 - C8/r^8 to the cutoff, with LAMMPS's tail correction
 * beyond) and the table that damps it inside R_FULL. Per type pair in species order, else two nested loops over
 * ${elements}: the table file holds both A_B and B_A, and the born coefficients are picked by comparing the pair's
 * names (one `if` per ordered species pair). */
static void c6c8_lines(out_text *o, const nnp_hyper *h, const char *model, const char *elements,
                       int elements_are_species) {
  const nnp_baseline *b = &h->baseline;
  char full[32], c6[32], c8[32], name[4200];
  num(b->c6c8_r_full, full);
  if (model) {
    nnp_baseline_c6c8_table_name(h, model, name, sizeof name);
    put(o, "variable nnp_c6c8_table index %s\n", name);
  }
  if (elements_are_species) {
    for (int i = 0; i < h->n_species; ++i)
      for (int j = i; j < h->n_species; ++j)
        put(o, "pair_coeff %d %d born 0 1 0 %s %s\npair_coeff %d %d table ${nnp_c6c8_table} %s_%s %s\n", i + 1, j + 1,
            num(b->c6[i][j], c6), num(-b->c8[i][j], c8), i + 1, j + 1, h->species[i], h->species[j], full);
  } else {
    put(o,
        "variable nnp_ei delete\nvariable nnp_ti delete\nvariable nnp_ei index %s\nvariable nnp_ti loop 1000\n"
        "label nnp_c6c8_i\nvariable nnp_ej delete\nvariable nnp_tj delete\nvariable nnp_ej index %s\n"
        "variable nnp_tj loop 1000\nlabel nnp_c6c8_j\n",
        elements, elements);
    for (int i = 0; i < h->n_species; ++i)
      for (int j = 0; j < h->n_species; ++j)
        put(o,
            "if \"${nnp_ti} <= ${nnp_tj} && ${nnp_ei}_${nnp_ej} == %s_%s\" then \"pair_coeff ${nnp_ti} ${nnp_tj} born "
            "0 "
            "1 0 %s %s\" \"pair_coeff ${nnp_ti} ${nnp_tj} table ${nnp_c6c8_table} %s_%s %s\"\n",
            h->species[i], h->species[j], num(b->c6[i][j], c6), num(-b->c8[i][j], c8), h->species[i], h->species[j],
            full);
    put(o, "next nnp_ej\nnext nnp_tj\njump SELF nnp_c6c8_j\nnext nnp_ei\nnext nnp_ti\njump SELF nnp_c6c8_i\n"
           "variable nnp_ei delete\nvariable nnp_ti delete\nvariable nnp_ej delete\nvariable nnp_tj delete\n");
  }
  put(o, "pair_modify pair born tail yes\n");
}

size_t nnp_baseline_lammps_lines(const nnp_hyper *h, const char *nnp_options, const char *model, const char *elements,
                                 int elements_are_species, char *buf, size_t size) {
  out_text o = {buf, size, 0};
  if (buf && size) buf[0] = '\0';
  const nnp_baseline *b = &h->baseline;
  char x[32], y[32];
  const int nnp = model != NULL;
  const int hybrid = nnp + b->d3 + b->coulomb + 2 * b->c6c8 > 1; /* c6c8 is two styles */
  put(&o, "pair_style%s", hybrid ? " hybrid/overlay" : "");
  if (nnp) put(&o, " nnp%s%s", nnp_options && *nnp_options ? " " : "", nnp_options ? nnp_options : "");
  if (b->d3)
    put(&o, " dispersion/d3 %s %s %s %s", lammps_damping(b->d3_damping), b->d3_functional, num(b->d3_cutoff, x),
        num(b->d3_cn_cutoff, y));
  if (b->c6c8) put(&o, " born %s table spline %d", num(b->c6c8_cutoff, x), nnp_baseline_c6c8_points(h));
  if (b->coulomb) put(&o, " coul/long %s", num(b->coul_cutoff, x));
  put(&o, "\n");
  const char *sub_nnp = hybrid ? " nnp" : "", *sub_d3 = hybrid ? " dispersion/d3" : "";
  if (nnp) put(&o, "pair_coeff * *%s %s %s\n", sub_nnp, model, elements);
  if (b->d3) put(&o, "pair_coeff * *%s %s\n", sub_d3, elements);
  if (b->c6c8) c6c8_lines(&o, h, model, elements, elements_are_species);
  if (b->coulomb) {
    put(&o, "pair_coeff * *%s\n", hybrid ? " coul/long" : "");
    put(&o, "kspace_style pppm %s\n", num(b->kspace_accuracy, x));
    /* before the charge lines: pair_style nnp's refusal message cuts the include text at the charge loop */
    if (coulomb_screened(b)) put(&o, "dielectric %s\n", num(b->coul_dielectric, x));
    charge_lines(&o, h, elements, elements_are_species);
  }
  return o.len;
}
