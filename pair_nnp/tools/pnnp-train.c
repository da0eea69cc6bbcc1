/* pnnp-train: fit a pair_nnp model to DFT energies and forces (docs/training.md).
 *
 *   pnnp-train CONFIG.txt [--resume CHECKPOINT] [--threads N] [--max-epochs N] [--time-budget SECONDS]
 *
 * The work is done by train_run() (train_run.c); this file only reads the command line.
 */
#include "blas_threads.h"
#include "numbers.h"
#include "train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: pnnp-train CONFIG.txt [--resume CHECKPOINT] [--threads N] [--max-epochs N] [--time-budget SECONDS]\n"
    "                 [--list-validation]\n"
    "\n"
    "Train a pair_nnp potential on extended-XYZ energies and forces. CONFIG.txt holds `key values...` lines:\n"
    "the model's hyperparameters (species, r_cut, l_max, channels, layers, ...), the data (train FILE,\n"
    "validation FILE or validation_fraction F), the loss, optimiser and schedule, and the outputs (output,\n"
    "checkpoint, log). docs/training.md lists every key with its default.\n"
    "\n"
    "options:\n"
    "  --resume FILE        continue the run that wrote checkpoint FILE (same configuration and data)\n"
    "  --threads N          OpenMP threads, parallel over the structures of a batch (default: OpenMP default)\n"
    "  --max-epochs N       stop after epoch N (the schedule still plans for `epochs`; N > epochs raises it)\n"
    "  --time-budget S      stop before an epoch that would end later than S seconds after the start\n"
    "  --list-validation    print the held-out validation frames (FILE FRAME, frames counted from 0) and stop\n"
    "  --help               show this text\n"
    "\n"
    "Results depend only on the configuration and the seed (not on the thread count); a run stopped at any time\n"
    "resumes from its last checkpoint, losing at most the epoch in progress.\n";

static int usage_error(const char *what) {
  fprintf(stderr, "pnnp-train: %s (see --help)\n", what);
  return -1;
}

/* 0: run, 1: help shown, -1: bad usage. */
static int parse_args(int argc, char **argv, train_options *o) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(usage_text, stdout);
      return 1;
    } else if (!strcmp(a, "--list-validation")) {
      o->list_validation = 1;
    } else if (!strcmp(a, "--resume")) {
      if (!next) return usage_error("--resume needs a checkpoint file");
      o->resume_path = argv[++i];
    } else if (!strcmp(a, "--threads")) {
      if (!next || tool_parse_int(next, 1, 4096, &o->threads)) return usage_error("--threads needs an integer >= 1");
      i++;
    } else if (!strcmp(a, "--max-epochs")) {
      if (!next || tool_parse_int(next, 1, 1L << 24, &o->max_epochs))
        return usage_error("--max-epochs needs an integer >= 1");
      i++;
    } else if (!strcmp(a, "--time-budget")) {
      char *end;
      double s = next ? strtod(next, &end) : 0;
      if (!next || end == next || *end || !(s > 0)) return usage_error("--time-budget needs seconds > 0");
      o->time_budget = s;
      i++;
    } else if (a[0] == '-' && a[1] == '-') {
      fprintf(stderr, "pnnp-train: unknown option %s (see --help)\n", a);
      return -1;
    } else if (!o->config_path) {
      o->config_path = a;
    } else {
      fprintf(stderr, "pnnp-train: unexpected argument %s (see --help)\n", a);
      return -1;
    }
  }
  if (!o->config_path) return usage_error("expected a configuration file");
  return 0;
}

/* The command line as one string, for the model's provenance. */
static char *join_args(int argc, char **argv) {
  size_t n = 1;
  for (int i = 0; i < argc; i++) n += strlen(argv[i]) + 1;
  char *s = malloc(n);
  if (!s) return NULL;
  s[0] = '\0';
  for (int i = 0; i < argc; i++) {
    if (i) strcat(s, " ");
    strcat(s, argv[i]);
  }
  return s;
}

int main(int argc, char **argv) {
  tools_blas_single_threaded(); /* the program owns the process (nnp.h, "Threads") */
  train_options o;
  memset(&o, 0, sizeof o);
  int rc = parse_args(argc, argv, &o);
  if (rc) return rc > 0 ? 0 : 2;
  char *cmd = join_args(argc, argv);
  o.command_line = cmd;
  train_summary summary;
  nnp_error err;
  nnp_status st = train_run(&o, &summary, &err);
  free(cmd);
  if (st != NNP_OK) {
    fprintf(stderr, "pnnp-train: %s\n", err.message);
    return 1;
  }
  return 0;
}
