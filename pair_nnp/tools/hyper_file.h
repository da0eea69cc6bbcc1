/* Files of `key values...` lines in the model header's grammar: pnnp-init's hyperparameter file and pnnp-train's
 * configuration. The architecture keys are read by the core's one parser (nnp_hyper_read_line, nnp.h); the tool's
 * own keys (pnnp-train's data files, learning rate, ...) go to a callback. */
#ifndef NNP_TOOLS_HYPER_FILE_H
#define NNP_TOOLS_HYPER_FILE_H

#include "nnp.h"

#define HYPER_FILE_MAX_LINE   8192
#define HYPER_FILE_MAX_TOKENS (2 * NNP_MAX_SPECIES + 8)

/* One non-blank line, its comment (from `#`) removed. */
typedef struct {
  const char *path; /* the file, for messages */
  long line;        /* from 1 */
  const char *text; /* the whole line without its comment */
  int n;            /* tokens; tok[0] is the key */
  char *tok[HYPER_FILE_MAX_TOKENS];
  nnp_hyper_reader *reader; /* the grammar's reader of this file (hyper_file_apply) */
} hyper_file_line;

/* A tool's own key: NNP_OK (taken), or an error with a message (hyper_file_fail). *handled = 0 passes the line on to
 * the header grammar (or, for a key the grammar does not know either, to an "unknown key" error). */
typedef nnp_status (*hyper_file_key_fn)(void *ctx, const hyper_file_line *line, nnp_hyper *h, int *handled,
                                        nnp_error *err);

/* Reads `path` into h: `species` first (real element symbols; h starts from nnp_hyper_default for them, since other
 * keys name or count species), then every other line in file order, then the pair_cutoff lines (they see the final
 * r_cut). Messages read "PATH:LINE: what". `own` (may be NULL) sees every line but species and pair_cutoff before the
 * grammar does. */
nnp_status hyper_file_read(const char *path, nnp_hyper *h, hyper_file_key_fn own, void *ctx, nnp_error *err);

/* The header grammar's reading of one line (for a callback that adds checks of its own around it). */
nnp_status hyper_file_apply(const hyper_file_line *line, nnp_hyper *h, nnp_error *err);

/* NNP_ERR_FORMAT with "PATH:LINE: what[: detail]". */
nnp_status hyper_file_fail(nnp_error *err, const hyper_file_line *line, const char *what, const char *detail);

#endif
