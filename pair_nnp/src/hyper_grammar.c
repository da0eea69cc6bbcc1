/* The model header's grammar (docs/model.md, "Model file format"): every architecture key with its type and its
 * limits, in one table. The model reader (model_io.c), pnnp-init and pnnp-train's configuration read their keys
 * through nnp_hyper_read_line, and nnp_hyper_validate checks built hyperparameters against the same table, so a value
 * is refused with the same bound and the same words wherever it comes from. */
#include "nnp_internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
  KEY_SPECIES,     /* element symbols */
  KEY_UNITS,       /* `metal` */
  KEY_REAL,        /* one number in [lo, hi] (open ends as flagged) */
  KEY_PAIR,        /* A B r */
  KEY_INT,         /* one integer in lo..hi */
  KEY_WIDTHS,      /* 1..NNP_MAX_RADIAL_LAYERS integers in lo..hi */
  KEY_PER_SPECIES, /* one finite number per species */
  KEY_CHOICE,      /* one of two words, stored as 0 or 1 */
  KEY_RESIDUAL,    /* one 0/1 flag per layer */
  KEY_FREQUENCIES, /* 1..NNP_MAX_RADIAL_BASIS numbers */
  KEY_BASELINE     /* the rest of the line goes to nnp_baseline_parse */
} key_kind;

typedef struct {
  const char *name;
  key_kind kind;
  int version;               /* the model file format version that introduced the key */
  int required;              /* every model file has it */
  size_t offset;             /* of the field in nnp_hyper */
  double lo, hi;             /* limits of a number or an integer */
  int open_lo, open_hi;      /* a number's limit itself is excluded */
  const char *word0, *word1; /* KEY_CHOICE: the words stored as 0 and 1 */
} hyper_key;

#define FIELD(f) offsetof(nnp_hyper, f)
static const hyper_key keys[] = {
    {"species", KEY_SPECIES, 1, 1, 0, 1, NNP_MAX_SPECIES, 0, 0, NULL, NULL},
    {"units", KEY_UNITS, 1, 1, 0, 0, 0, 0, 0, NULL, NULL},
    {"r_cut", KEY_REAL, 1, 1, FIELD(r_cut), 0, NNP_MAX_R_CUT, 1, 1, NULL, NULL},
    {"pair_cutoff", KEY_PAIR, 1, 0, 0, 0, 0, 1, 0, NULL, NULL},
    {"r_min", KEY_REAL, 1, 1, FIELD(r_min), 0, NNP_MAX_R_CUT, 0, 1, NULL, NULL},
    {"l_max", KEY_INT, 1, 1, FIELD(l_max), 0, NNP_MAX_L, 0, 0, NULL, NULL},
    {"channels", KEY_INT, 1, 1, FIELD(channels), 1, NNP_MAX_CHANNELS, 0, 0, NULL, NULL},
    {"layers", KEY_INT, 1, 1, FIELD(layers), 1, NNP_MAX_LAYERS, 0, 0, NULL, NULL},
    {"radial_basis", KEY_INT, 1, 1, FIELD(radial_basis), 1, NNP_MAX_RADIAL_BASIS, 0, 0, NULL, NULL},
    {"radial_hidden", KEY_WIDTHS, 1, 1, FIELD(radial_hidden), 1, NNP_MAX_WIDTH, 0, 0, NULL, NULL},
    {"envelope_p", KEY_INT, 1, 1, FIELD(envelope_p), NNP_MIN_ENVELOPE_P, NNP_MAX_ENVELOPE_P, 0, 0, NULL, NULL},
    {"readout_hidden", KEY_INT, 1, 1, FIELD(readout_hidden), 1, NNP_MAX_WIDTH, 0, 0, NULL, NULL},
    /* messages are scaled by nu^-1/2: far below one neighbour per thousand atoms or above a million neighbours no
     * data set could have produced it, and 1e-300 would turn every message into an overflow (docs/model.md) */
    {"avg_num_neighbors", KEY_REAL, 1, 1, FIELD(avg_num_neighbors), NNP_MIN_AVG_NEIGHBORS, NNP_MAX_AVG_NEIGHBORS, 0, 0,
     NULL, NULL},
    {"energy_shift", KEY_PER_SPECIES, 1, 1, FIELD(energy_shift), 0, 0, 0, 0, NULL, NULL},
    {"energy_scale", KEY_PER_SPECIES, 1, 1, FIELD(energy_scale), 0, 0, 0, 0, NULL, NULL},
    {"paths", KEY_CHOICE, 2, 0, FIELD(options.odd_paths), 0, 0, 0, 0, "even", "all"},
    {"gate_activation", KEY_CHOICE, 2, 0, FIELD(options.gate_silu), 0, 0, 0, 0, "sigmoid", "silu"},
    {"readout_activation", KEY_CHOICE, 2, 0, FIELD(options.readout_linear), 0, 0, 0, 0, "silu", "none"},
    {"residual", KEY_RESIDUAL, 2, 0, 0, 0, 0, 0, 0, NULL, NULL},
    {"radial_frequencies", KEY_FREQUENCIES, 2, 0, FIELD(options.radial_frequencies), 0, 0, 0, 0, NULL, NULL},
    {"interaction", KEY_CHOICE, 2, 0, FIELD(interaction), 0, 0, 0, 0, "tensor", "product"},
    {"correlation", KEY_INT, 2, 0, FIELD(correlation), 1, NNP_MAX_CORRELATION, 0, 0, NULL, NULL},
    {"message_l_max", KEY_INT, 2, 0, FIELD(message_l_max), 0, NNP_MAX_MESSAGE_L, 0, 0, NULL, NULL},
    {"baseline", KEY_BASELINE, 1, 0, 0, 0, 0, 0, 0, NULL, NULL},
};
#undef FIELD
enum { N_KEYS = sizeof keys / sizeof keys[0] };

static const hyper_key *find_key(const char *name) {
  for (int k = 0; k < N_KEYS; ++k)
    if (!strcmp(keys[k].name, name)) return &keys[k];
  return NULL;
}

static uint64_t key_bit(const hyper_key *k) { return (uint64_t)1 << (k - keys); }

static int repeatable(const hyper_key *k) { return k->kind == KEY_PAIR || k->kind == KEY_BASELINE; }

int nnp_hyper_species_index(const nnp_hyper *h, const char *element) {
  if (!h || !element) return -1;
  for (int s = 0; s < h->n_species; ++s)
    if (!strcmp(h->species[s], element)) return s;
  return -1;
}

int nnp_hyper_key_known(const char *key) { return key && find_key(key) != NULL; }

/* ---------------------------------------------------------------------------------------------------------------- */
/* Values                                                                                                            */

int nnp_parse_int(const char *s, int *out) {
  char *e;
  errno = 0;
  long v = strtol(s, &e, 10);
  if (e == s || *e || errno || v < -1000000000L || v > 1000000000L) return -1;
  *out = (int)v;
  return 0;
}

/* A whole token as a finite number (the caller holds the C locale: nnp_hyper_read_line). */
static int parse_double(const char *s, double *out) {
  char *e;
  double v = strtod(s, &e);
  if (e == s || *e || !isfinite(v)) return -1;
  *out = v;
  return 0;
}

/* "1..16" for an integer key, "(0, 100)" for a number */
static const char *range_text(const hyper_key *k, char *buf, size_t size) {
  if (k->kind == KEY_INT || k->kind == KEY_WIDTHS)
    snprintf(buf, size, "%d..%d", (int)k->lo, (int)k->hi);
  else
    snprintf(buf, size, "%c%g, %g%c", k->open_lo ? '(' : '[', k->lo, k->hi, k->open_hi ? ')' : ']');
  return buf;
}

static int int_in_range(const hyper_key *k, int v) { return v >= (int)k->lo && v <= (int)k->hi; }

static int real_in_range(const hyper_key *k, double v) {
  return (k->open_lo ? v > k->lo : v >= k->lo) && (k->open_hi ? v < k->hi : v <= k->hi);
}

static nnp_status bad_int(const hyper_key *k, int v, nnp_error *err) {
  char range[64];
  return nnp_fail(err, NNP_ERR_FORMAT, "%s %d is outside %s", k->name, v, range_text(k, range, sizeof range));
}

static nnp_status bad_real(const hyper_key *k, double v, nnp_error *err) {
  char range[64];
  return nnp_fail(err, NNP_ERR_FORMAT, "%s %g is outside %s", k->name, v, range_text(k, range, sizeof range));
}

nnp_status nnp_hyper_check_limits(const nnp_hyper *h, nnp_error *err) {
  for (int i = 0; i < N_KEYS; ++i) {
    const hyper_key *k = &keys[i];
    const char *field = (const char *)h + k->offset;
    /* the product family's keys are zero in the tensor family: validate_interaction (model.c) checks them */
    if (k->kind == KEY_INT && k->version == 1) {
      int v;
      memcpy(&v, field, sizeof v);
      if (!int_in_range(k, v)) return bad_int(k, v, err);
    } else if (k->kind == KEY_REAL) {
      double v;
      memcpy(&v, field, sizeof v);
      if (!real_in_range(k, v)) return bad_real(k, v, err);
    } else if (k->kind == KEY_WIDTHS) {
      if (h->n_radial_hidden < 1 || h->n_radial_hidden > NNP_MAX_RADIAL_LAYERS)
        return nnp_fail(err, NNP_ERR_FORMAT, "%s has %d widths; it needs 1 to %d", k->name, h->n_radial_hidden,
                        NNP_MAX_RADIAL_LAYERS);
      for (int w = 0; w < h->n_radial_hidden; ++w)
        if (!int_in_range(k, h->radial_hidden[w])) {
          char range[64];
          return nnp_fail(err, NNP_ERR_FORMAT, "%s width %d is outside %s", k->name, h->radial_hidden[w],
                          range_text(k, range, sizeof range));
        }
    }
  }
  return NNP_OK;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* One line                                                                                                          */

enum { MAX_TOKENS = NNP_MAX_RADIAL_BASIS + 8 }; /* the longest lines: radial_frequencies, species */

typedef struct {
  const hyper_key *key;
  char **tok;       /* tok[0] is the key */
  int n;            /* tokens on the line; may exceed MAX_TOKENS (then only the first MAX_TOKENS are kept) */
  const char *rest; /* the text after the key */
} line_view;

static nnp_status need_count(const line_view *l, int want, nnp_error *err) {
  if (l->n - 1 != want)
    return nnp_fail(err, NNP_ERR_FORMAT, "'%s' needs %d value(s), found %d", l->key->name, want, l->n - 1);
  return NNP_OK;
}

static nnp_status need_species(const line_view *l, const nnp_hyper *h, nnp_error *err) {
  if (h->n_species < 1) return nnp_fail(err, NNP_ERR_FORMAT, "'%s' must come after 'species'", l->key->name);
  return NNP_OK;
}

static nnp_status read_species(const line_view *l, nnp_hyper *h, nnp_error *err) {
  if (l->n < 2 || l->n - 1 > NNP_MAX_SPECIES)
    return nnp_fail(err, NNP_ERR_FORMAT, "'species' needs 1 to %d symbols, found %d", NNP_MAX_SPECIES, l->n - 1);
  for (int s = 0; s < l->n - 1; ++s) {
    const char *name = l->tok[s + 1];
    if (strlen(name) >= sizeof h->species[s])
      return nnp_fail(err, NNP_ERR_FORMAT, "species name '%s' is too long", name);
    for (int t = 0; t < s; ++t)
      if (!strcmp(h->species[t], name)) return nnp_fail(err, NNP_ERR_FORMAT, "species %s is listed twice", name);
    strcpy(h->species[s], name);
  }
  h->n_species = l->n - 1;
  return NNP_OK;
}

static nnp_status read_units(const line_view *l, nnp_error *err) {
  nnp_status st = need_count(l, 1, err);
  if (st) return st;
  if (strcmp(l->tok[1], "metal"))
    return nnp_fail(err, NNP_ERR_FORMAT, "units '%s' are not supported; model files are in metal units (eV, Angstrom)",
                    l->tok[1]);
  return NNP_OK;
}

static nnp_status read_real(const line_view *l, nnp_hyper *h, nnp_error *err) {
  const hyper_key *k = l->key;
  double v;
  nnp_status st = need_count(l, 1, err);
  if (st) return st;
  if (parse_double(l->tok[1], &v))
    return nnp_fail(err, NNP_ERR_FORMAT, "'%s' value '%s' is not a finite number", k->name, l->tok[1]);
  if (!real_in_range(k, v)) return bad_real(k, v, err);
  memcpy((char *)h + k->offset, &v, sizeof v);
  if (k->offset == offsetof(nnp_hyper, r_cut)) /* pair_cutoff lines, read after it, may lower single pairs */
    for (int a = 0; a < NNP_MAX_SPECIES; ++a)
      for (int b = 0; b < NNP_MAX_SPECIES; ++b) h->pair_cutoff[a][b] = v;
  return NNP_OK;
}

static nnp_status read_int(const line_view *l, nnp_hyper *h, nnp_error *err) {
  const hyper_key *k = l->key;
  int v;
  nnp_status st = need_count(l, 1, err);
  if (st) return st;
  if (nnp_parse_int(l->tok[1], &v))
    return nnp_fail(err, NNP_ERR_FORMAT, "'%s' value '%s' is not an integer", k->name, l->tok[1]);
  if (!int_in_range(k, v)) return bad_int(k, v, err);
  memcpy((char *)h + k->offset, &v, sizeof v);
  return NNP_OK;
}

static nnp_status read_widths(const line_view *l, nnp_hyper *h, nnp_error *err) {
  const hyper_key *k = l->key;
  char range[64];
  if (l->n < 2 || l->n - 1 > NNP_MAX_RADIAL_LAYERS)
    return nnp_fail(err, NNP_ERR_FORMAT, "'%s' needs 1 to %d widths, found %d", k->name, NNP_MAX_RADIAL_LAYERS,
                    l->n - 1);
  for (int w = 1; w < l->n; ++w) {
    if (nnp_parse_int(l->tok[w], &h->radial_hidden[w - 1]))
      return nnp_fail(err, NNP_ERR_FORMAT, "'%s' width '%s' is not an integer", k->name, l->tok[w]);
    if (!int_in_range(k, h->radial_hidden[w - 1]))
      return nnp_fail(err, NNP_ERR_FORMAT, "%s width %d is outside %s", k->name, h->radial_hidden[w - 1],
                      range_text(k, range, sizeof range));
  }
  h->n_radial_hidden = l->n - 1;
  return NNP_OK;
}

static nnp_status read_per_species(const line_view *l, nnp_hyper *h, nnp_error *err) {
  double *dst = (double *)((char *)h + l->key->offset);
  nnp_status st = need_species(l, h, err);
  if (!st) st = need_count(l, h->n_species, err);
  if (st) return st;
  for (int s = 0; s < h->n_species; ++s)
    if (parse_double(l->tok[s + 1], &dst[s]))
      return nnp_fail(err, NNP_ERR_FORMAT, "'%s' value '%s' is not a finite number", l->key->name, l->tok[s + 1]);
  return NNP_OK;
}

static nnp_status read_pair(nnp_hyper_reader *r, const line_view *l, nnp_hyper *h, nnp_error *err) {
  double v;
  nnp_status st = need_species(l, h, err);
  if (!st) st = need_count(l, 3, err);
  if (st) return st;
  const char *A = l->tok[1], *B = l->tok[2];
  const int a = nnp_hyper_species_index(h, A), b = nnp_hyper_species_index(h, B);
  if (a < 0 || b < 0)
    return nnp_fail(err, NNP_ERR_FORMAT, "pair_cutoff %s %s names a species that is not in 'species'", A, B);
  if (r->pair_given[a][b]) return nnp_fail(err, NNP_ERR_FORMAT, "pair_cutoff %s %s is given twice", A, B);
  if (parse_double(l->tok[3], &v))
    return nnp_fail(err, NNP_ERR_FORMAT, "pair_cutoff %s %s value '%s' is not a finite number", A, B, l->tok[3]);
  if (!(v > 0 && v <= h->r_cut))
    return nnp_fail(err, NNP_ERR_FORMAT, "pair_cutoff %s %s %g is outside (0, r_cut] = (0, %g]", A, B, v, h->r_cut);
  r->pair_given[a][b] = r->pair_given[b][a] = 1;
  h->pair_cutoff[a][b] = h->pair_cutoff[b][a] = v;
  return NNP_OK;
}

static nnp_status read_choice(const line_view *l, nnp_hyper *h, nnp_error *err) {
  const hyper_key *k = l->key;
  nnp_status st = need_count(l, 1, err);
  if (st) return st;
  if (strcmp(l->tok[1], k->word0) && strcmp(l->tok[1], k->word1))
    return nnp_fail(err, NNP_ERR_FORMAT, "'%s' is '%s'; it must be '%s' or '%s'", k->name, l->tok[1], k->word0,
                    k->word1);
  const int v = !strcmp(l->tok[1], k->word1);
  memcpy((char *)h + k->offset, &v, sizeof v);
  return NNP_OK;
}

/* one 0/1 flag per layer; the count is checked against `layers` by nnp_hyper_read_end */
static nnp_status read_residual(nnp_hyper_reader *r, const line_view *l, nnp_hyper *h, nnp_error *err) {
  if (l->n < 2 || l->n - 1 > NNP_MAX_LAYERS)
    return nnp_fail(err, NNP_ERR_FORMAT, "'residual' needs one 0 or 1 per layer (1..%d), found %d values",
                    NNP_MAX_LAYERS, l->n - 1);
  h->options.no_residual = 0;
  for (int t = 1; t < l->n; ++t) {
    if (strcmp(l->tok[t], "0") && strcmp(l->tok[t], "1"))
      return nnp_fail(err, NNP_ERR_FORMAT, "residual flag '%s' is not 0 or 1", l->tok[t]);
    if (l->tok[t][0] == '0') h->options.no_residual |= 1u << (t - 1);
  }
  r->n_residual = l->n - 1;
  return NNP_OK;
}

/* the count is checked against radial_basis, the values' range by nnp_hyper_validate */
static nnp_status read_frequencies(const line_view *l, nnp_hyper *h, nnp_error *err) {
  nnp_model_options *o = &h->options;
  const int max = (int)(sizeof o->radial_frequencies / sizeof o->radial_frequencies[0]);
  if (l->n < 2 || l->n - 1 > max)
    return nnp_fail(err, NNP_ERR_FORMAT, "'radial_frequencies' needs 1 to %d numbers, found %d", max, l->n - 1);
  for (int n = 1; n < l->n; ++n)
    if (parse_double(l->tok[n], &o->radial_frequencies[n - 1]))
      return nnp_fail(err, NNP_ERR_FORMAT, "radial frequency '%s' is not a finite number", l->tok[n]);
  o->n_radial_frequencies = l->n - 1;
  return NNP_OK;
}

static nnp_status read_value(nnp_hyper_reader *r, const line_view *l, nnp_hyper *h, nnp_error *err) {
  switch (l->key->kind) {
  case KEY_SPECIES:
    return read_species(l, h, err);
  case KEY_UNITS:
    return read_units(l, err);
  case KEY_REAL:
    return read_real(l, h, err);
  case KEY_PAIR:
    return read_pair(r, l, h, err);
  case KEY_INT:
    return read_int(l, h, err);
  case KEY_WIDTHS:
    return read_widths(l, h, err);
  case KEY_PER_SPECIES:
    return read_per_species(l, h, err);
  case KEY_CHOICE:
    return read_choice(l, h, err);
  case KEY_RESIDUAL:
    return read_residual(r, l, h, err);
  case KEY_FREQUENCIES:
    return read_frequencies(l, h, err);
  case KEY_BASELINE:
    return nnp_baseline_parse(h, l->rest, err);
  }
  return nnp_fail(err, NNP_ERR_FORMAT, "'%s': unhandled key", l->key->name);
}

/* Splits text in place at blanks; counts every token but keeps at most `max` */
static int split(char *text, char **tok, int max) {
  int n = 0;
  for (char *s = text;;) {
    while (isspace((unsigned char)*s)) ++s;
    if (!*s) return n;
    if (n < max) tok[n] = s;
    ++n;
    while (*s && !isspace((unsigned char)*s)) ++s;
    if (*s) *s++ = '\0';
  }
}

static nnp_status read_line(nnp_hyper_reader *r, nnp_hyper *h, const char *line, nnp_error *err) {
  const char *p = line;
  while (isspace((unsigned char)*p)) ++p;
  if (!*p || *p == '#') return NNP_OK;
  char *copy = malloc(strlen(p) + 1);
  if (!copy) return nnp_fail(err, NNP_ERR_NOMEM, "out of memory");
  strcpy(copy, p);
  const char *rest = p + strcspn(p, " \t\r\n\v\f");
  char *tok[MAX_TOKENS];
  line_view l = {NULL, tok, split(copy, tok, MAX_TOKENS), rest};
  nnp_status st = NNP_OK;
  l.key = find_key(tok[0]);
  if (!l.key)
    st = nnp_fail(err, NNP_ERR_FORMAT, "unknown header key '%s'", tok[0]);
  else if (r->version && l.key->version > r->version)
    st = nnp_fail(err, NNP_ERR_FORMAT, "'%s' needs format version %d (the file says %d)", l.key->name, l.key->version,
                  r->version);
  else if (!repeatable(l.key) && (r->seen & key_bit(l.key)))
    st = nnp_fail(err, NNP_ERR_FORMAT, "'%s' is given twice", l.key->name);
  else if (l.n > MAX_TOKENS && l.key->kind != KEY_SPECIES && l.key->kind != KEY_BASELINE)
    st = nnp_fail(err, NNP_ERR_FORMAT, "'%s' has %d values, far more than it takes", l.key->name, l.n - 1);
  else if (l.n > MAX_TOKENS && l.key->kind == KEY_SPECIES)
    st = nnp_fail(err, NNP_ERR_FORMAT, "'species' needs 1 to %d symbols, found %d", NNP_MAX_SPECIES, l.n - 1);
  else
    st = read_value(r, &l, h, err);
  if (!st) r->seen |= key_bit(l.key);
  free(copy);
  return st;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* The reader                                                                                                        */

void nnp_hyper_reader_init(nnp_hyper_reader *r, int version) {
  memset(r, 0, sizeof *r);
  r->version = version;
}

nnp_status nnp_hyper_reader_create(nnp_hyper_reader **out, nnp_error *err) {
  if (!out) return nnp_fail(err, NNP_ERR_ARGUMENT, "nnp_hyper_reader_create: NULL argument");
  *out = malloc(sizeof **out);
  if (!*out) return nnp_fail(err, NNP_ERR_NOMEM, "out of memory");
  nnp_hyper_reader_init(*out, 0);
  return NNP_OK;
}

void nnp_hyper_reader_free(nnp_hyper_reader *r) { free(r); }

/* Numbers are read in the C locale whatever the process's LC_NUMERIC (c_locale.c). */
nnp_status nnp_hyper_read_line(nnp_hyper_reader *r, nnp_hyper *h, const char *line, nnp_error *err) {
  if (!r || !h || !line) return nnp_fail(err, NNP_ERR_ARGUMENT, "nnp_hyper_read_line: NULL argument");
  const nnp_c_locale c = nnp_c_locale_enter();
  nnp_status st = read_line(r, h, line, err);
  nnp_c_locale_leave(c);
  return st;
}

static int has(const nnp_hyper_reader *r, const char *key) { return (r->seen & key_bit(find_key(key))) != 0; }

nnp_status nnp_hyper_read_end(const nnp_hyper_reader *r, const nnp_hyper *h, nnp_error *err) {
  if (!r || !h) return nnp_fail(err, NNP_ERR_ARGUMENT, "nnp_hyper_read_end: NULL argument");
  if (r->n_residual && r->n_residual != h->layers)
    return nnp_fail(err, NNP_ERR_FORMAT, "'residual' has %d flags but the model has %d layers", r->n_residual,
                    h->layers);
  if (h->interaction == NNP_INTERACTION_PRODUCT) {
    if (!has(r, "correlation"))
      return nnp_fail(err, NNP_ERR_FORMAT, "the header has no 'correlation' line (needed by 'interaction product')");
    if (!has(r, "message_l_max"))
      return nnp_fail(err, NNP_ERR_FORMAT, "the header has no 'message_l_max' line (needed by 'interaction product')");
  } else if (has(r, "correlation") || has(r, "message_l_max")) {
    return nnp_fail(err, NNP_ERR_FORMAT, "'%s' needs 'interaction product'",
                    has(r, "correlation") ? "correlation" : "message_l_max");
  }
  return NNP_OK;
}

const char *nnp_hyper_reader_missing(const nnp_hyper_reader *r) {
  for (int k = 0; k < N_KEYS; ++k)
    if (keys[k].required && !(r->seen & key_bit(&keys[k]))) return keys[k].name;
  return NULL;
}
