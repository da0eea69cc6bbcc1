/* Model files (format versions 1 and 2, docs/model.md): a text header, parameter blocks, and an FNV-1a checksum. */
#include "nnp_internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t fnv1a64(const char *bytes, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= (unsigned char)bytes[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Reading                                                                                                           */

typedef struct {
  const char *p, *end; /* the body: everything before the checksum line, NUL-terminated copy */
  int line;
  nnp_error *err;
  int version; /* the file's format version (keys of version 2 are errors in version 1) */
} cursor;

/* Copies the next line (without newline) into buf; returns 1, 0 at the end of the body, or -1 for a line that does
 * not fit (a header line is never that long: truncating it would silently drop what follows). */
static int next_line(cursor *c, char *buf, size_t size) {
  if (c->p >= c->end) return 0;
  const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
  const char *stop = nl ? nl : c->end;
  size_t len = (size_t)(stop - c->p);
  if (len >= size) {
    c->line++;
    return -1;
  }
  memcpy(buf, c->p, len);
  buf[len] = '\0';
  if (len && buf[len - 1] == '\r') buf[len - 1] = '\0';
  c->p = nl ? nl + 1 : c->end;
  c->line++;
  return 1;
}

/* Splits a line in place into whitespace-separated tokens (strtok_r: threads parse at the same time). */
static int split(char *line, char **tok, int max) {
  int n = 0;
  char *save = NULL;
  for (char *s = strtok_r(line, " \t", &save); s && n < max; s = strtok_r(NULL, " \t", &save)) tok[n++] = s;
  return n;
}

#define BAD(...) nnp_fail(c->err, NNP_ERR_FORMAT, __VA_ARGS__)

/* Puts "line N: " before the message an inner parser left in c->err. */
static nnp_status prefix_line_number(cursor *c, int line, nnp_status st) {
  if (c->err) {
    char msg[sizeof c->err->message];
    snprintf(msg, sizeof msg, "line %d: %.480s", line, c->err->message);
    memcpy(c->err->message, msg, sizeof msg);
  }
  return st;
}

static nnp_status prefix_line(cursor *c, nnp_status st) { return prefix_line_number(c, c->line, st); }

typedef struct {
  char *text; /* "key value" after 'meta ', or a whole pair_cutoff line */
  int line;
} meta_line;

typedef struct {
  meta_line *v;
  int n, cap;
} meta_list;

static void meta_list_free(meta_list *l) {
  for (int k = 0; k < l->n; ++k) free(l->v[k].text);
  free(l->v);
}

/* Appends with geometric growth (a file may hold many meta lines). */
static nnp_status meta_list_add(cursor *c, meta_list *l, const char *text) {
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 16;
    meta_line *grown = realloc(l->v, (size_t)cap * sizeof *grown);
    if (!grown) return nnp_fail(c->err, NNP_ERR_NOMEM, "out of memory");
    l->v = grown;
    l->cap = cap;
  }
  char *copy = malloc(strlen(text) + 1);
  if (!copy) return nnp_fail(c->err, NNP_ERR_NOMEM, "out of memory");
  strcpy(copy, text);
  l->v[l->n++] = (meta_line){copy, c->line};
  return NNP_OK;
}

#define TOO_LONG()                                                                                                     \
  BAD("line %d: longer than %d characters (a header line is never that long)", c->line, LINE_MAX_LEN - 1)
enum { LINE_MAX_LEN = 1 << 16 };

/* Parses header lines up to the first 'param' line (left in `line`) with the header grammar (hyper_grammar.c).
 * pair_cutoff lines are read last, so that they may stand anywhere in the header; meta lines go to metas (caller
 * frees). */
static nnp_status parse_header(cursor *c, nnp_hyper *h, char *line, size_t size, meta_list *pairs, meta_list *metas) {
  nnp_hyper_reader reader;
  nnp_hyper_reader_init(&reader, c->version);
  int got;
  memset(h, 0, sizeof *h);
  while ((got = next_line(c, line, size)) > 0) {
    if (strncmp(line, "param ", 6) == 0) break;
    const char *key = line + strspn(line, " \t");
    const int is_meta = strncmp(line, "meta ", 5) == 0;
    if (is_meta || (strncmp(key, "pair_cutoff", 11) == 0 && strchr(" \t", key[11]))) {
      nnp_status st = meta_list_add(c, is_meta ? metas : pairs, is_meta ? line + 5 : line);
      if (st) return st;
      continue;
    }
    nnp_status st = nnp_hyper_read_line(&reader, h, line, c->err);
    if (st) return prefix_line(c, st);
  }
  if (got < 0) return TOO_LONG();
  if (got == 0 || strncmp(line, "param ", 6) != 0)
    return BAD("the file ends before the first parameter block (truncated?)");
  const char *missing = nnp_hyper_reader_missing(&reader);
  if (missing) return BAD("the header has no '%s' line", missing);
  for (int k = 0; k < pairs->n; ++k) {
    nnp_status st = nnp_hyper_read_line(&reader, h, pairs->v[k].text, c->err);
    if (st) return prefix_line_number(c, pairs->v[k].line, st);
  }
  return nnp_hyper_read_end(&reader, h, c->err);
}

static int compare_meta_keys(const void *x, const void *y) {
  const meta_line *a = x, *b = y;
  size_t la = strcspn(a->text, " "), lb = strcspn(b->text, " ");
  int d = strncmp(a->text, b->text, la < lb ? la : lb);
  return d ? d : (la > lb) - (la < lb);
}

/* Moves the meta lines into the model in file order, refusing a malformed or repeated key; sorting a copy finds
 * repeats in n log n (one nnp_model_set_meta per line would search the list each time). */
static nnp_status adopt_metas(cursor *c, nnp_model *m, meta_list *metas) {
  if (metas->n == 0) return NNP_OK;
  for (int k = 0; k < metas->n; ++k) {
    const char *t = metas->v[k].text;
    size_t klen = strcspn(t, " ");
    if (klen == 0 || klen >= sizeof m->meta[0].key || memchr(t, '\t', klen) || strchr(t, '\r'))
      return BAD("line %d: a meta key must be 1-63 characters without tabs, followed by a space and free text",
                 metas->v[k].line);
  }
  meta_line *sorted = malloc((size_t)metas->n * sizeof *sorted);
  m->meta = calloc((size_t)metas->n, sizeof *m->meta);
  if (!sorted || !m->meta) {
    free(sorted);
    return nnp_fail(c->err, NNP_ERR_NOMEM, "out of memory");
  }
  memcpy(sorted, metas->v, (size_t)metas->n * sizeof *sorted);
  qsort(sorted, (size_t)metas->n, sizeof *sorted, compare_meta_keys);
  for (int k = 1; k < metas->n; ++k)
    if (!compare_meta_keys(&sorted[k - 1], &sorted[k])) {
      const meta_line *a = &sorted[k - 1], *b = &sorted[k];
      nnp_status st = BAD("lines %d and %d: meta key '%.*s' is given twice", a->line < b->line ? a->line : b->line,
                          a->line < b->line ? b->line : a->line, (int)strcspn(a->text, " "), a->text);
      free(sorted);
      return st;
    }
  free(sorted);
  for (int k = 0; k < metas->n; ++k) {
    char *t = metas->v[k].text, *sp = strchr(t, ' ');
    size_t klen = sp ? (size_t)(sp - t) : strlen(t);
    memcpy(m->meta[k].key, t, klen);
    m->meta[k].key[klen] = '\0';
    memmove(t, sp ? sp + 1 : t + klen, strlen(sp ? sp + 1 : t + klen) + 1);
    m->meta[k].value = t; /* ownership moves to the model */
    metas->v[k].text = NULL;
    m->n_meta = k + 1;
  }
  return NNP_OK;
}

static nnp_status parse_params(cursor *c, nnp_model *m, char *line, size_t size) {
  for (int k = 0; k < m->n_arrays; ++k) {
    const nnp_param_array *a = &m->arrays[k];
    if (k > 0) {
      const int got = next_line(c, line, size);
      if (got < 0) return TOO_LONG();
      if (got == 0) return BAD("the file ends before parameter '%s' (truncated?)", a->name);
    }
    char *tok[8];
    int nt = split(line, tok, 8);
    if (nt < 2 || strcmp(tok[0], "param")) return BAD("line %d: expected 'param %s ...'", c->line, a->name);
    if (strcmp(tok[1], a->name))
      return BAD("line %d: expected parameter '%s', found '%s' (file inconsistent with its hyperparameters)", c->line,
                 a->name, tok[1]);
    int ok = nt - 2 == a->ndim;
    for (int d = 0; ok && d < a->ndim; ++d) {
      int v;
      ok = !nnp_parse_int(tok[2 + d], &v) && v == a->dims[d];
    }
    if (!ok) {
      char want[64] = "";
      for (int d = 0; d < a->ndim; ++d)
        snprintf(want + strlen(want), sizeof want - strlen(want), d ? " %d" : "%d", a->dims[d]);
      return BAD("line %d: parameter '%s' has the wrong shape; the hyperparameters require (%s)", c->line, a->name,
                 want);
    }
    double *dst = m->params + a->offset;
    for (size_t i = 0; i < a->size; ++i) {
      while (c->p < c->end && isspace((unsigned char)*c->p)) {
        if (*c->p == '\n') c->line++;
        c->p++;
      }
      if (c->p >= c->end)
        return BAD("the file ends inside parameter '%s' after %zu of %zu values (truncated?)", a->name, i, a->size);
      char *e;
      double v = strtod(c->p, &e);
      if (e == c->p || e > c->end || (*e && !isspace((unsigned char)*e)))
        return BAD("line %d: value %zu of parameter '%s' is not a number", c->line, i, a->name);
      if (!isfinite(v)) return BAD("line %d: value %zu of parameter '%s' is not finite", c->line, i, a->name);
      dst[i] = v;
      c->p = e;
    }
    /* the rest of the last value's line must be empty */
    while (c->p < c->end && *c->p != '\n') {
      if (!isspace((unsigned char)*c->p))
        return BAD("line %d: parameter '%s' has more than %zu values", c->line, a->name, a->size);
      c->p++;
    }
    if (c->p < c->end) c->p++, c->line++;
  }
  int got;
  while ((got = next_line(c, line, size)) != 0) {
    if (got < 0) return TOO_LONG();
    char *tok[2];
    if (split(line, tok, 2) > 0) return BAD("line %d: unexpected content after the last parameter", c->line);
  }
  return NNP_OK;
}

/* Locates the final 'checksum' line; returns the offset where it starts, or -1. */
static long find_checksum_line(const char *b, size_t n, uint64_t *stored, int *valid_hex) {
  size_t end = n;
  while (end > 0 && isspace((unsigned char)b[end - 1])) --end;
  size_t start = end;
  while (start > 0 && b[start - 1] != '\n') --start;
  if (end - start < 9 || strncmp(b + start, "checksum ", 9)) return -1;
  char hex[32] = {0};
  size_t len = end - start - 9;
  *valid_hex = len == 16;
  if (*valid_hex) {
    memcpy(hex, b + start + 9, 16);
    for (int k = 0; k < 16; ++k) *valid_hex &= isxdigit((unsigned char)hex[k]) != 0;
    *stored = strtoull(hex, NULL, 16);
  }
  return (long)start;
}

/* The version on the magic line: the whole rest of the line must be one positive integer (so "1.9 beta" and
 * 4294967297 are refused rather than read as 1). */
static int parse_version(const char *s, size_t n, int *version) {
  char text[32];
  size_t len = 0;
  while (len < n && s[len] != '\n') ++len;
  if (len && s[len - 1] == '\r') --len;
  if (len == 0 || len >= sizeof text) return -1;
  memcpy(text, s, len);
  text[len] = '\0';
  for (size_t k = 0; k < len; ++k)
    if (!isdigit((unsigned char)text[k])) return -1;
  return nnp_parse_int(text, version) || *version < 1 ? -1 : 0;
}

static nnp_status parse_model(const char *bytes, size_t n, nnp_model **out, nnp_error *err) {
  if (!bytes || !out) return nnp_fail(err, NNP_ERR_ARGUMENT, "nnp_model_parse: NULL argument");
  if (n == 0) return nnp_fail(err, NNP_ERR_FORMAT, "the model file is empty");
  if (n > NNP_MODEL_MAX_BYTES)
    return nnp_fail(err, NNP_ERR_FORMAT, "the model file is larger than the limit of %zu MiB for model files",
                    (size_t)NNP_MODEL_MAX_BYTES >> 20);
  if (memchr(bytes, '\0', n))
    return nnp_fail(err, NNP_ERR_FORMAT, "the model file contains NUL bytes (binary or damaged)");
  const char magic[] = "pair_nnp-model ";
  if (n < sizeof magic || strncmp(bytes, magic, sizeof magic - 1))
    return nnp_fail(err, NNP_ERR_FORMAT, "not a pair_nnp model file (the first line must be 'pair_nnp-model VERSION')");
  int version = 0;
  if (parse_version(bytes + sizeof magic - 1, n - (sizeof magic - 1), &version))
    return nnp_fail(err, NNP_ERR_FORMAT, "model file format version '%.16s' is not a positive integer",
                    bytes + sizeof magic - 1);
  if (version > NNP_FILE_FORMAT_VERSION)
    return nnp_fail(err, NNP_ERR_VERSION,
                    "model file format version %d is newer than this pair_nnp supports (%d); upgrade pair_nnp", version,
                    NNP_FILE_FORMAT_VERSION);
  uint64_t stored = 0;
  int valid_hex = 0;
  long body = find_checksum_line(bytes, n, &stored, &valid_hex);
  if (body < 0) return nnp_fail(err, NNP_ERR_FORMAT, "the model file has no final checksum line (truncated?)");
  if (!valid_hex) return nnp_fail(err, NNP_ERR_FORMAT, "the checksum line is malformed (want 16 hex digits)");
  uint64_t actual = fnv1a64(bytes, (size_t)body);
  if (actual != stored)
    return nnp_fail(err, NNP_ERR_CHECKSUM,
                    "checksum mismatch: the file says %016llx but its contents hash to %016llx (damaged or edited)",
                    (unsigned long long)stored, (unsigned long long)actual);
  char *copy = malloc((size_t)body + 1);
  char *line = malloc(LINE_MAX_LEN);
  meta_list metas = {NULL, 0, 0}, pairs = {NULL, 0, 0};
  nnp_model *m = NULL;
  nnp_status st = NNP_OK;
  if (!copy || !line) {
    st = nnp_fail(err, NNP_ERR_NOMEM, "out of memory reading a model");
    goto done;
  }
  memcpy(copy, bytes, (size_t)body);
  copy[body] = '\0';
  cursor c = {copy, copy + body, 0, err, version};
  next_line(&c, line, LINE_MAX_LEN); /* the magic line, already checked */
  nnp_hyper h;
  st = parse_header(&c, &h, line, LINE_MAX_LEN, &pairs, &metas);
  /* every value takes at least two bytes of what is left ("0" and a separator) */
  if (!st) st = nnp_model_alloc_limited(&h, (size_t)(c.end - c.p) / 2 + 1, &m, err);
  if (!st) st = parse_params(&c, m, line, LINE_MAX_LEN);
  if (!st) st = adopt_metas(&c, m, &metas);
done:
  meta_list_free(&metas);
  meta_list_free(&pairs);
  free(line);
  free(copy);
  if (st) {
    nnp_model_free(m);
    return st;
  }
  *out = m;
  return NNP_OK;
}

/* Numbers are read in the C locale whatever the process's LC_NUMERIC (c_locale.c). */
nnp_status nnp_model_parse(const char *bytes, size_t n, nnp_model **out, nnp_error *err) {
  const nnp_c_locale c = nnp_c_locale_enter();
  nnp_status st = parse_model(bytes, n, out, err);
  nnp_c_locale_leave(c);
  return st;
}

nnp_status nnp_model_read(const char *path, nnp_model **out, nnp_error *err) {
  if (!path || !out) return nnp_fail(err, NNP_ERR_ARGUMENT, "nnp_model_read: NULL argument");
  FILE *f = fopen(path, "rb");
  if (!f) return nnp_fail(err, NNP_ERR_IO, "cannot open model file '%s': %s", path, strerror(errno));
  size_t cap = 1 << 20, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (n < cap) break;
    /* Stop at the size limit, or early for what is not a model at all (no magic, or binary): the parser then says
     * which, rather than this loop reading all of /dev/zero. */
    if (n > NNP_MODEL_MAX_BYTES || strncmp(buf, "pair_nnp-model ", 15) || memchr(buf + n - got, '\0', got)) break;
    cap = cap * 2 > NNP_MODEL_MAX_BYTES + 1 ? NNP_MODEL_MAX_BYTES + 1 : cap * 2;
    char *grown = realloc(buf, cap);
    if (!grown) free(buf);
    buf = grown;
  }
  int read_error = ferror(f);
  fclose(f);
  if (!buf) return nnp_fail(err, NNP_ERR_NOMEM, "out of memory reading '%s'", path);

  if (read_error) {
    free(buf);
    return nnp_fail(err, NNP_ERR_IO, "error reading model file '%s'", path);
  }
  nnp_status st = nnp_model_parse(buf, n, out, err);
  free(buf);
  if (st && err) {
    char msg[sizeof err->message];
    snprintf(msg, sizeof msg, "%.200s: %.300s", path, err->message);
    memcpy(err->message, msg, sizeof msg);
  }
  return st;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Writing                                                                                                           */

typedef struct {
  char *s;
  size_t n, cap;
  int oom;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#include <stdarg.h>
static void sb_printf(strbuf *b, const char *fmt, ...) {
  if (b->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    if (k < 0) {
      b->oom = 1;
      return;
    }
    if ((size_t)k < b->cap - b->n) {
      b->n += (size_t)k;
      return;
    }
    size_t cap = b->cap * 2 + (size_t)k + 1;
    char *grown = realloc(b->s, cap);
    if (!grown) {
      b->oom = 1;
      return;
    }
    b->s = grown;
    b->cap = cap;
  }
}

/* The lines of docs/model.md, "Model options", for the options a model has (after energy_scale) */
static void write_options(strbuf *b, const nnp_hyper *h) {
  const nnp_model_options *o = &h->options;
  if (o->odd_paths) sb_printf(b, "paths all\n");
  if (o->gate_silu) sb_printf(b, "gate_activation silu\n");
  if (o->no_residual) {
    sb_printf(b, "residual");
    for (int t = 0; t < h->layers; ++t) sb_printf(b, " %d", !(o->no_residual >> t & 1u));
    sb_printf(b, "\n");
  }
  if (o->readout_linear) sb_printf(b, "readout_activation none\n");
  if (o->n_radial_frequencies) {
    sb_printf(b, "radial_frequencies");
    for (int n = 0; n < o->n_radial_frequencies; ++n) sb_printf(b, " %.17g", o->radial_frequencies[n]);
    sb_printf(b, "\n");
  }
}

static void write_header(strbuf *b, const nnp_model *m) {
  const nnp_hyper *h = &m->h;
  /* a file without a baseline, model options or the product family stays version 1, readable by every pair_nnp; any
   * of them make it version 2, which older readers refuse ("newer than this pair_nnp supports") instead of running
   * without the baseline or misreading the model */
  const int product = h->interaction == NNP_INTERACTION_PRODUCT;
  sb_printf(b, "pair_nnp-model %d\nspecies", nnp_baseline_present(h) || nnp_options_present(h) || product ? 2 : 1);
  for (int s = 0; s < h->n_species; ++s) sb_printf(b, " %s", h->species[s]);
  sb_printf(b, "\nunits metal\nr_cut %.17g\n", h->r_cut);
  for (int a = 0; a < h->n_species; ++a)
    for (int c = a; c < h->n_species; ++c)
      if (h->pair_cutoff[a][c] != h->r_cut)
        sb_printf(b, "pair_cutoff %s %s %.17g\n", h->species[a], h->species[c], h->pair_cutoff[a][c]);
  sb_printf(b, "r_min %.17g\nl_max %d\nchannels %d\nlayers %d\nradial_basis %d\nradial_hidden", h->r_min, h->l_max,
            h->channels, h->layers, h->radial_basis);
  for (int k = 0; k < h->n_radial_hidden; ++k) sb_printf(b, " %d", h->radial_hidden[k]);
  sb_printf(b, "\nenvelope_p %d\nreadout_hidden %d\navg_num_neighbors %.17g\nenergy_shift", h->envelope_p,
            h->readout_hidden, h->avg_num_neighbors);
  for (int s = 0; s < h->n_species; ++s) sb_printf(b, " %.17g", h->energy_shift[s]);
  sb_printf(b, "\nenergy_scale");
  for (int s = 0; s < h->n_species; ++s) sb_printf(b, " %.17g", h->energy_scale[s]);
  sb_printf(b, "\n");
  write_options(b, h);
  if (product)
    sb_printf(b, "interaction product\ncorrelation %d\nmessage_l_max %d\n", h->correlation, h->message_l_max);
  char baseline[2048];
  if (nnp_baseline_format(h, baseline, sizeof baseline) < sizeof baseline) sb_printf(b, "%s", baseline);
  for (int k = 0; k < m->n_meta; ++k) sb_printf(b, "meta %s %s\n", m->meta[k].key, m->meta[k].value);
}

static nnp_status write_model(const nnp_model *m, const char *path, nnp_error *err) {
  if (!m || !path) return nnp_fail(err, NNP_ERR_ARGUMENT, "nnp_model_write: NULL argument");
  strbuf b = {malloc(1 << 16), 0, 1 << 16, 0};
  if (!b.s) return nnp_fail(err, NNP_ERR_NOMEM, "out of memory writing a model");
  write_header(&b, m);
  for (int k = 0; k < m->n_arrays; ++k) {
    const nnp_param_array *a = &m->arrays[k];
    sb_printf(&b, "param %s", a->name);
    for (int d = 0; d < a->ndim; ++d) sb_printf(&b, " %d", a->dims[d]);
    const size_t row = a->ndim == 1 ? a->size : (size_t)a->dims[a->ndim - 1];
    for (size_t i = 0; i < a->size; ++i) sb_printf(&b, "%s%.17g", i % row == 0 ? "\n" : " ", m->params[a->offset + i]);
    sb_printf(&b, "\n");
  }
  if (b.oom) {
    free(b.s);
    return nnp_fail(err, NNP_ERR_NOMEM, "out of memory writing a model");
  }
  char tail[64];
  snprintf(tail, sizeof tail, "checksum %016llx\n", (unsigned long long)fnv1a64(b.s, b.n));
  FILE *f = fopen(path, "wb");
  if (!f) {
    free(b.s);
    return nnp_fail(err, NNP_ERR_IO, "cannot write model file '%s': %s", path, strerror(errno));
  }
  int ok = fwrite(b.s, 1, b.n, f) == b.n && fputs(tail, f) >= 0;
  ok = (fclose(f) == 0) && ok;
  free(b.s);
  if (!ok) return nnp_fail(err, NNP_ERR_IO, "error writing model file '%s'", path);
  return NNP_OK;
}

/* Numbers are written in the C locale whatever the process's LC_NUMERIC (c_locale.c). */
nnp_status nnp_model_write(const nnp_model *m, const char *path, nnp_error *err) {
  const nnp_c_locale c = nnp_c_locale_enter();
  nnp_status st = write_model(m, path, err);
  nnp_c_locale_leave(c);
  return st;
}
