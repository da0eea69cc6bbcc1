/* Files of `key values...` lines in the model header's grammar (hyper_file.h). */
#include "hyper_file.h"

#include "extxyz.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

nnp_status hyper_file_fail(nnp_error *err, const hyper_file_line *l, const char *what, const char *detail) {
  if (err)
    snprintf(err->message, sizeof err->message, "%s:%ld: %s%s%.300s", l->path, l->line, what, detail ? ": " : "",
             detail ? detail : "");
  return NNP_ERR_FORMAT;
}

nnp_status hyper_file_apply(const hyper_file_line *l, nnp_hyper *h, nnp_error *err) {
  nnp_error inner;
  nnp_status st = nnp_hyper_read_line(l->reader, h, l->text, &inner);
  return st ? hyper_file_fail(err, l, inner.message, NULL) : NNP_OK;
}

/* The file's non-blank lines, comments removed, split into tokens (each line owns its text). */
typedef struct {
  hyper_file_line *lines;
  int n;
} line_list;

static void free_lines(line_list *f) {
  for (int i = 0; i < f->n; i++) free((char *)f->lines[i].text);
  free(f->lines);
}

static int tokenize(char *text, hyper_file_line *l) {
  l->n = 0;
  for (char *s = text;;) {
    while (isspace((unsigned char)*s)) s++;
    if (!*s) return 0;
    if (l->n == HYPER_FILE_MAX_TOKENS) return -1;
    l->tok[l->n++] = s;
    while (*s && !isspace((unsigned char)*s)) s++;
    if (*s) *s++ = '\0';
  }
}

/* Keeps the line's text (for the grammar) and a tokenised copy behind it in one allocation. */
static nnp_status add_line(line_list *f, hyper_file_line *l, const char *text, nnp_error *err) {
  size_t len = strlen(text);
  char *both = malloc(2 * len + 2);
  hyper_file_line *grown = realloc(f->lines, (size_t)(f->n + 1) * sizeof *grown);
  if (grown) f->lines = grown;
  if (!both || !grown) {
    free(both);
    return hyper_file_fail(err, l, "out of memory", NULL);
  }
  memcpy(both, text, len + 1);
  memcpy(both + len + 1, text, len + 1);
  l->text = both;
  if (tokenize(both + len + 1, l)) {
    free(both);
    return hyper_file_fail(err, l, "too many values on one line", NULL);
  }
  if (l->n == 0) {
    free(both);
    return NNP_OK;
  }
  f->lines[f->n++] = *l;
  return NNP_OK;
}

static nnp_status read_lines(const char *path, nnp_hyper_reader *reader, line_list *f, nnp_error *err) {
  FILE *fp = fopen(path, "r");
  if (!fp) {
    snprintf(err->message, sizeof err->message, "%s: cannot open: %s", path, strerror(errno));
    return NNP_ERR_IO;
  }
  char text[HYPER_FILE_MAX_LINE];
  hyper_file_line l = {path, 0, NULL, 0, {0}, reader};
  nnp_status st = NNP_OK;
  while (!st && fgets(text, sizeof text, fp)) {
    l.line++;
    size_t len = strlen(text);
    if (len == sizeof text - 1 && text[len - 1] != '\n' && !feof(fp)) {
      st = hyper_file_fail(err, &l, "line too long", NULL);
      break;
    }
    text[strcspn(text, "#\r\n")] = '\0';
    st = add_line(f, &l, text, err);
  }
  if (!st && ferror(fp)) {
    snprintf(err->message, sizeof err->message, "%s: read error", path);
    st = NNP_ERR_IO;
  }
  fclose(fp);
  return st;
}

/* The one `species` line: real element symbols, then the defaults of nnp_hyper_default for them. */
static nnp_status read_species(const char *path, const line_list *f, nnp_hyper *h, nnp_error *err) {
  const hyper_file_line *found = NULL;
  for (int i = 0; i < f->n; i++) {
    const hyper_file_line *l = &f->lines[i];
    if (strcmp(l->tok[0], "species")) continue;
    nnp_status st = hyper_file_apply(l, h, err); /* the second one is refused ("given twice") */
    if (st) return st;
    found = l;
  }
  if (!found) {
    snprintf(err->message, sizeof err->message, "%s: no species line (e.g. `species H O`)", path);
    return NNP_ERR_FORMAT;
  }
  for (int s = 0; s < h->n_species; s++) {
    const char *canonical = xyz_element_symbol(xyz_element_z(h->species[s]));
    if (!canonical || strcmp(canonical, h->species[s]))
      return hyper_file_fail(err, found, "species: unknown element", h->species[s]);
  }
  char names[NNP_MAX_SPECIES][8];
  const char *ptr[NNP_MAX_SPECIES];
  const int n = h->n_species;
  for (int s = 0; s < n; s++) ptr[s] = strcpy(names[s], h->species[s]);
  nnp_error inner;
  if (nnp_hyper_default(h, n, ptr, &inner)) return hyper_file_fail(err, found, "species", inner.message);
  return NNP_OK;
}

static nnp_status read_line(const hyper_file_line *l, nnp_hyper *h, hyper_file_key_fn own, void *ctx, nnp_error *err) {
  int handled = 0;
  if (own) {
    nnp_status st = own(ctx, l, h, &handled, err);
    if (st || handled) return st;
  }
  if (!nnp_hyper_key_known(l->tok[0])) return hyper_file_fail(err, l, "unknown key", l->tok[0]);
  return hyper_file_apply(l, h, err);
}

static nnp_status read_all(const char *path, nnp_hyper_reader *reader, const line_list *f, nnp_hyper *h,
                           hyper_file_key_fn own, void *ctx, nnp_error *err) {
  nnp_status st = read_species(path, f, h, err);
  for (int i = 0; !st && i < f->n; i++) {
    const hyper_file_line *l = &f->lines[i];
    if (strcmp(l->tok[0], "species") && strcmp(l->tok[0], "pair_cutoff")) st = read_line(l, h, own, ctx, err);
  }
  for (int i = 0; !st && i < f->n; i++)
    if (!strcmp(f->lines[i].tok[0], "pair_cutoff")) st = hyper_file_apply(&f->lines[i], h, err);
  if (!st) {
    nnp_error inner;
    if (nnp_hyper_read_end(reader, h, &inner)) {
      snprintf(err->message, sizeof err->message, "%s: %.400s", path, inner.message);
      st = NNP_ERR_FORMAT;
    }
  }
  return st;
}

nnp_status hyper_file_read(const char *path, nnp_hyper *h, hyper_file_key_fn own, void *ctx, nnp_error *err) {
  nnp_hyper_reader *reader = NULL;
  line_list f = {NULL, 0};
  memset(h, 0, sizeof *h);
  nnp_status st = nnp_hyper_reader_create(&reader, err);
  if (!st) st = read_lines(path, reader, &f, err);
  if (!st) st = read_all(path, reader, &f, h, own, ctx, err);
  free_lines(&f);
  nnp_hyper_reader_free(reader);
  return st;
}
