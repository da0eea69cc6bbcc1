/* pnnp-train optimiser state: random numbers, Adam, the weight EMA, gradient clipping, the plateau schedule, and
 * checkpoints that hold all of it so that a resumed run continues bit for bit. */
#define _POSIX_C_SOURCE 200809L /* fsync, fileno */

#include "tool_error.h"
#include "train.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------------------------------- */
/* Random numbers: xoshiro256** seeded through splitmix64 (Blackman & Vigna); the state is four words, so it fits in
 * a checkpoint, and the sequence is the same on every platform. */

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void train_rng_seed(train_rng *r, uint64_t seed) {
  for (int k = 0; k < 4; k++) r->s[k] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t train_rng_next(train_rng *r) {
  uint64_t *s = r->s, result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

/* Fisher-Yates with an unbiased bounded draw (rejection of the short tail). */
void train_rng_shuffle(train_rng *r, int *a, int n) {
  for (int i = n - 1; i > 0; i--) {
    uint64_t bound = (uint64_t)i + 1, limit = UINT64_MAX - UINT64_MAX % bound, x;
    do x = train_rng_next(r);
    while (x >= limit);
    int j = (int)(x % bound), t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}

/* ---------------------------------------------------------------------------------------------------------------- */

int train_state_alloc(train_state *s, size_t n) {
  memset(s, 0, sizeof *s);
  s->n_params = n;
  s->params = calloc(n, sizeof *s->params);
  s->ema = calloc(n, sizeof *s->ema);
  s->adam_m = calloc(n, sizeof *s->adam_m);
  s->adam_v = calloc(n, sizeof *s->adam_v);
  s->best_loss = INFINITY;
  s->plateau_best = INFINITY;
  s->best_epoch = -1;
  if (s->params && s->ema && s->adam_m && s->adam_v) return 0;
  train_state_free(s);
  return -1;
}

void train_state_free(train_state *s) {
  free(s->params);
  free(s->ema);
  free(s->adam_m);
  free(s->adam_v);
  s->params = s->ema = s->adam_m = s->adam_v = NULL;
}

/* Adam (Kingma & Ba) with the usual constants, then the EMA of the weights. The EMA decay warms up as
 * (1 + t) / (10 + t) so that the average does not drag the random initial weights along for hundreds of steps. */
void train_adam_step(train_state *s, const double *grad, double ema_decay) {
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  s->step++;
  const double c1 = 1 - pow(b1, (double)s->step), c2 = 1 - pow(b2, (double)s->step);
  const double step = s->lr / c1, d = fmin(ema_decay, (1.0 + (double)s->step) / (10.0 + (double)s->step));
  for (size_t q = 0; q < s->n_params; q++) {
    s->adam_m[q] = b1 * s->adam_m[q] + (1 - b1) * grad[q];
    s->adam_v[q] = b2 * s->adam_v[q] + (1 - b2) * grad[q] * grad[q];
    s->params[q] -= step * s->adam_m[q] / (sqrt(s->adam_v[q] / c2) + eps);
    s->ema[q] = d * s->ema[q] + (1 - d) * s->params[q];
  }
}

double train_clip_gradient(double *grad, size_t n, double max_norm) {
  double norm2 = 0;
  for (size_t q = 0; q < n; q++) norm2 += grad[q] * grad[q];
  double norm = sqrt(norm2);
  if (max_norm > 0 && isfinite(norm) && norm > max_norm) {
    double f = max_norm / norm;
    for (size_t q = 0; q < n; q++) grad[q] *= f;
  }
  return norm;
}

/* ReduceLROnPlateau: an epoch improves when it beats the reference by a relative 1e-4 (noise in the last digits
 * must not count as progress); after `patience` epochs without improvement the rate drops by `factor`. */
int train_schedule_update(train_state *s, double loss, int patience, double factor, double min_lr) {
  if (loss < s->plateau_best * (1 - 1e-4)) {
    s->plateau_best = loss;
    s->plateau_count = 0;
    return 0;
  }
  if (++s->plateau_count < patience || s->base_lr <= min_lr) return 0;
  s->plateau_count = 0;
  s->base_lr = fmax(s->base_lr * factor, min_lr);
  return 1;
}

/* Warm-up multiplies the rate by (t + 1) / W over the first W steps (the first step is not taken at rate 0).
 * The cosine runs over the steps after the warm-up to the end of `epochs`, from learning_rate to the floor:
 * lr = floor + (lr0 - floor) (1 + cos(pi p)) / 2, p the fraction of those steps done. */
double train_step_lr(const train_state *s, const train_config *c, long steps_per_epoch) {
  const double pi = 3.14159265358979323846, t = (double)s->step, warm = c->warmup_epochs * (double)steps_per_epoch;
  double lr = s->base_lr;
  if (c->lr_schedule == TRAIN_LR_COSINE) {
    double total = (double)c->epochs * (double)steps_per_epoch - warm;
    double p = total > 0 ? fmin(1.0, fmax(0.0, (t - warm) / total)) : 1.0;
    lr = c->min_learning_rate + (c->learning_rate - c->min_learning_rate) * 0.5 * (1 + cos(pi * p));
  }
  if (t < warm) lr *= (t + 1) / warm;
  /* the final stage changes the loss abruptly; a capped rate keeps that from throwing the weights about */
  if (c->final_learning_rate > 0 && train_config_final_stage(c, s->epoch + 1)) lr = fmin(lr, c->final_learning_rate);
  return lr;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Checkpoints: "NNPCKPT" + format byte, a fixed header of 64-bit fields, four parameter arrays, and the FNV-1a hash
 * of every byte before it. Native byte order: a checkpoint resumes a run on the machine family that wrote it.
 * Format 3 adds the energy_offset constants after the header; format 2 (no offsets) is still read. */

enum { CKPT_FORMAT = 3, CKPT_FORMAT_OLDEST = 2 };
static const char ckpt_magic[7] = {'N', 'N', 'P', 'C', 'K', 'P', 'T'};

typedef struct {
  FILE *fp;
  uint64_t hash;
  int failed;
} ckpt_stream;

static void hash_bytes(ckpt_stream *c, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) c->hash = (c->hash ^ b[i]) * 0x100000001b3ULL;
}

static void put(ckpt_stream *c, const void *p, size_t n) {
  if (c->failed || fwrite(p, 1, n, c->fp) != n) c->failed = 1;
  hash_bytes(c, p, n);
}

static void get(ckpt_stream *c, void *p, size_t n) {
  if (c->failed || fread(p, 1, n, c->fp) != n) {
    c->failed = 1;
    memset(p, 0, n);
  }
  hash_bytes(c, p, n);
}

/* The fields in file order; the same function reads and writes so that the two cannot disagree. */
static void transfer_header(ckpt_stream *c, train_state *s, void (*io)(ckpt_stream *, void *, size_t)) {
  int64_t i64[9] = {(int64_t)s->n_params, s->step,    s->epoch, s->best_epoch,   s->plateau_count,
                    s->n_species,         s->n_train, s->n_val, s->skipped_steps};
  io(c, i64, sizeof i64);
  s->n_params = (size_t)i64[0];
  s->step = (long)i64[1];
  s->epoch = (int)i64[2];
  s->best_epoch = (int)i64[3];
  s->plateau_count = (int)i64[4];
  s->n_species = (int)i64[5];
  s->n_train = (long)i64[6];
  s->n_val = (long)i64[7];
  s->skipped_steps = (long)i64[8];
  double d[5] = {s->lr, s->best_loss, s->plateau_best, s->avg_num_neighbors, s->base_lr};
  io(c, d, sizeof d);
  s->lr = d[0];
  s->best_loss = d[1];
  s->plateau_best = d[2];
  s->avg_num_neighbors = d[3];
  s->base_lr = d[4];
  io(c, s->energy_shift, sizeof s->energy_shift);
  io(c, s->energy_scale, sizeof s->energy_scale);
  io(c, s->rng.s, sizeof s->rng.s);
  io(c, s->identity, sizeof s->identity);
  s->identity[sizeof s->identity - 1] = '\0'; /* a damaged file cannot leave it unterminated */
}

/* Format 3: the count of energy_offset files and their constants (NNP_MAX_SPECIES values each). Returns -1 when a
 * count read back is out of range (a damaged file). */
static int transfer_offsets(ckpt_stream *c, train_state *s, void (*io)(ckpt_stream *, void *, size_t)) {
  int64_t n = s->n_offsets;
  io(c, &n, sizeof n);
  if (n < 0 || n > TRAIN_MAX_FILES) {
    s->n_offsets = 0;
    c->failed = 1;
    return -1;
  }
  s->n_offsets = (int)n;
  io(c, s->offset, (size_t)n * sizeof s->offset[0]);
  return 0;
}

static void put_io(ckpt_stream *c, void *p, size_t n) { put(c, p, n); }

nnp_status train_checkpoint_write(const char *path, const train_state *s, nnp_error *err) {
  nnp_status st;
  char tmp[TRAIN_PATH_MAX + 8];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  ckpt_stream c = {fopen(tmp, "wb"), 0xcbf29ce484222325ULL, 0};
  if (!c.fp) {
    st = tool_fail(err, NNP_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
    return st;
  }
  train_state copy = *s; /* transfer_header writes back what it transfers; keep the caller's state const */
  const char format = CKPT_FORMAT;
  put(&c, ckpt_magic, sizeof ckpt_magic);
  put(&c, &format, 1);
  transfer_header(&c, &copy, put_io);
  transfer_offsets(&c, &copy, put_io);
  size_t bytes = s->n_params * sizeof(double);
  put(&c, s->params, bytes);
  put(&c, s->ema, bytes);
  put(&c, s->adam_m, bytes);
  put(&c, s->adam_v, bytes);
  uint64_t h = c.hash;
  if (fwrite(&h, sizeof h, 1, c.fp) != 1) c.failed = 1;
  /* flushed and synced before the rename, so that a crash leaves either the old or the new checkpoint whole */
  if (fflush(c.fp) != 0 || fsync(fileno(c.fp)) != 0) c.failed = 1;
  if (fclose(c.fp) != 0) c.failed = 1;
  if (c.failed || rename(tmp, path) != 0) {
    st = tool_fail(err, NNP_ERR_IO, "%s: cannot write the checkpoint: %s", path, strerror(errno));
    remove(tmp);
    return st;
  }
  return NNP_OK;
}

nnp_status train_checkpoint_read(const char *path, train_state *s, nnp_error *err) {
  nnp_status st;
  ckpt_stream c = {fopen(path, "rb"), 0xcbf29ce484222325ULL, 0};
  if (!c.fp) {
    st = tool_fail(err, NNP_ERR_IO, "%s: cannot open the checkpoint: %s", path, strerror(errno));
    return st;
  }
  char magic[7], format = 0;
  get(&c, magic, sizeof magic);
  get(&c, &format, 1);
  if (c.failed || memcmp(magic, ckpt_magic, sizeof magic) != 0) {
    fclose(c.fp);
    st = tool_fail(err, NNP_ERR_FORMAT, "%s: not an pnnp-train checkpoint", path);
    return st;
  }
  if (format < CKPT_FORMAT_OLDEST || format > CKPT_FORMAT) {
    fclose(c.fp);
    st = tool_fail(err, NNP_ERR_FORMAT, "%s: checkpoint format %d; this pnnp-train reads formats %d to %d", path,
                   format, CKPT_FORMAT_OLDEST, CKPT_FORMAT);
    return st;
  }
  size_t expected = s->n_params;
  transfer_header(&c, s, get);
  s->n_offsets = 0; /* format 2 has none; a run with energy_offset then differs in its identity */
  memset(s->offset, 0, sizeof s->offset);
  if (format >= 3 && transfer_offsets(&c, s, get)) {
    fclose(c.fp);
    st = tool_fail(err, NNP_ERR_FORMAT, "%s: the checkpoint is damaged (energy_offset count out of range)", path);
    return st;
  }
  if (!c.failed && s->n_params != expected) {
    fclose(c.fp);
    st = tool_fail(err, NNP_ERR_FORMAT, "%s: the checkpoint has %zu parameters, the configured model %zu", path,
                   s->n_params, expected);
    s->n_params = expected;
    return st;
  }
  size_t bytes = s->n_params * sizeof(double);
  get(&c, s->params, bytes);
  get(&c, s->ema, bytes);
  get(&c, s->adam_m, bytes);
  get(&c, s->adam_v, bytes);
  uint64_t want = c.hash, have = 0;
  if (!c.failed && fread(&have, sizeof have, 1, c.fp) != 1) c.failed = 1;
  fclose(c.fp);
  if (c.failed) {
    st = tool_fail(err, NNP_ERR_FORMAT, "%s: the checkpoint is truncated", path);
    return st;
  }
  if (have != want) {
    st = tool_fail(err, NNP_ERR_FORMAT, "%s: the checkpoint's checksum does not match (damaged file)", path);
    return st;
  }
  return NNP_OK;
}
