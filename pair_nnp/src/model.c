/* Model objects: hyperparameters, the layout of layers and parameters, random initialisation. */
#include "nnp_internal.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

nnp_status nnp_hyper_default(nnp_hyper *h, int n_species, const char *const *species, nnp_error *err) {
  if (!h || n_species < 1 || n_species > NNP_MAX_SPECIES || !species)
    return nnp_fail(err, NNP_ERR_ARGUMENT, "nnp_hyper_default: need 1 to %d species", NNP_MAX_SPECIES);
  memset(h, 0, sizeof *h);
  h->n_species = n_species;
  for (int s = 0; s < n_species; ++s) {
    if (!species[s] || strlen(species[s]) == 0 || strlen(species[s]) >= sizeof h->species[s])
      return nnp_fail(err, NNP_ERR_ARGUMENT, "nnp_hyper_default: bad species name at position %d", s);
    strcpy(h->species[s], species[s]);
    h->energy_shift[s] = 0.0;
    h->energy_scale[s] = 1.0;
  }
  h->r_cut = 5.0;
  for (int a = 0; a < NNP_MAX_SPECIES; ++a)
    for (int b = 0; b < NNP_MAX_SPECIES; ++b) h->pair_cutoff[a][b] = h->r_cut;
  h->r_min = 0.5;
  h->l_max = 2;
  h->channels = 32;
  h->layers = 3;
  h->radial_basis = 8;
  h->envelope_p = 6;
  h->readout_hidden = 16;
  h->n_radial_hidden = 2;
  h->radial_hidden[0] = 64;
  h->radial_hidden[1] = 64;
  h->avg_num_neighbors = 50.0;
  return NNP_OK;
}

/* A path of the model: the triangle rule, and l1 + l2 + l3 even unless the model has `paths all` */
static int model_path(const nnp_hyper *h, int l1, int l2, int l3) {
  return l3 >= abs(l1 - l2) && l3 <= l1 + l2 && ((l1 + l2 + l3) % 2 == 0 || h->options.odd_paths);
}

int nnp_options_present(const nnp_hyper *h) {
  const nnp_model_options *o = &h->options;
  return o->odd_paths || o->gate_silu || o->readout_linear || o->no_residual || o->n_radial_frequencies;
}

/* The options of docs/model.md, "Model options" (l_max, layers and radial_basis already checked) */
static nnp_status validate_options(const nnp_hyper *h, nnp_error *err) {
  const nnp_model_options *o = &h->options;
  if (o->n_radial_frequencies != 0 && o->n_radial_frequencies != h->radial_basis)
    return nnp_fail(err, NNP_ERR_FORMAT, "radial_frequencies has %d values but radial_basis is %d",
                    o->n_radial_frequencies, h->radial_basis);
  for (int n = 0; n < o->n_radial_frequencies; ++n)
    if (!(o->radial_frequencies[n] > 0.0 && o->radial_frequencies[n] < 1e6))
      return nnp_fail(err, NNP_ERR_FORMAT, "radial frequency %g is not in (0, 1e6)", o->radial_frequencies[n]);
  if (h->layers < 32 && o->no_residual >> h->layers)
    return nnp_fail(err, NNP_ERR_FORMAT, "residual flags are given for more than %d layers", h->layers);
  /* the widest layer (l1, l2, l3 <= l_max) must fit the path table; only `paths all` at large l_max comes near */
  int n_paths = 0;
  for (int l3 = 0; l3 <= h->l_max; ++l3)
    for (int l1 = 0; l1 <= h->l_max; ++l1)
      for (int l2 = 0; l2 <= h->l_max; ++l2) n_paths += model_path(h, l1, l2, l3);
  if (n_paths > NNP_MAX_PATHS)
    return nnp_fail(err, NNP_ERR_FORMAT, "l_max %d with these paths gives %d paths per layer, more than %d", h->l_max,
                    n_paths, NNP_MAX_PATHS);
  return NNP_OK;
}

/* The header key of the first model option h sets, in the order of docs/model.md's table; NULL when none */
static const char *first_option_key(const nnp_hyper *h) {
  const nnp_model_options *o = &h->options;
  if (o->odd_paths) return "paths all";
  if (o->gate_silu) return "gate_activation silu";
  if (o->no_residual) return "residual";
  if (o->readout_linear) return "readout_activation none";
  if (o->n_radial_frequencies) return "radial_frequencies";
  return NULL;
}

/* The interaction family and the product family's two keys (docs/model.md, "Model file format"). The model options
 * are defined for the tensor family only (docs/model.md, "Model options"): they describe imported NequIP models, the
 * product basis is built for even-parity features (`paths all` would break it), and the numpy reference refuses the
 * combination too, so a product model with one of them is refused rather than evaluated unchecked. */
static nnp_status validate_interaction(const nnp_hyper *h, nnp_error *err) {
  if (h->interaction == NNP_INTERACTION_TENSOR) {
    if (h->correlation || h->message_l_max)
      return nnp_fail(err, NNP_ERR_FORMAT, "'correlation' and 'message_l_max' need 'interaction product'");
    return NNP_OK;
  }
  if (h->interaction != NNP_INTERACTION_PRODUCT)
    return nnp_fail(err, NNP_ERR_FORMAT, "unknown interaction family %d", h->interaction);
  const char *option = first_option_key(h);
  if (option)
    return nnp_fail(err, NNP_ERR_FORMAT,
                    "'%s' with 'interaction product': the model options are for the tensor family only "
                    "(docs/model.md, \"Model options\")",
                    option);
  if (h->correlation < 1 || h->correlation > NNP_MAX_CORRELATION)
    return nnp_fail(err, NNP_ERR_FORMAT, "correlation %d is outside 1..%d", h->correlation, NNP_MAX_CORRELATION);
  const int lh_max = h->l_max < NNP_MAX_MESSAGE_L ? h->l_max : NNP_MAX_MESSAGE_L;
  if (h->message_l_max < 0 || h->message_l_max > lh_max)
    return nnp_fail(err, NNP_ERR_FORMAT, "message_l_max %d is outside 0..min(l_max, %d) = 0..%d", h->message_l_max,
                    NNP_MAX_MESSAGE_L, lh_max);
  if (h->l_max > NNP_PRODUCT_MAX_L)
    return nnp_fail(err, NNP_ERR_FORMAT, "the product family is implemented for l_max <= %d (this model has %d)",
                    NNP_PRODUCT_MAX_L, h->l_max);
  return NNP_OK;
}

nnp_status nnp_hyper_validate(const nnp_hyper *h, nnp_error *err) {
  if (h->n_species < 1 || h->n_species > NNP_MAX_SPECIES)
    return nnp_fail(err, NNP_ERR_FORMAT, "number of species %d is outside 1..%d", h->n_species, NNP_MAX_SPECIES);
  for (int a = 0; a < h->n_species; ++a)
    for (int b = 0; b < a; ++b)
      if (strcmp(h->species[a], h->species[b]) == 0)
        return nnp_fail(err, NNP_ERR_FORMAT, "species %s is listed twice", h->species[a]);
  nnp_status st = nnp_hyper_check_limits(h, err); /* the grammar's limits of single keys (hyper_grammar.c) */
  if (st) return st;
  if (!(h->r_min < h->r_cut))
    return nnp_fail(err, NNP_ERR_FORMAT, "r_min %g Angstrom is not in [0, r_cut) = [0, %g)", h->r_min, h->r_cut);
  for (int a = 0; a < h->n_species; ++a)
    for (int b = 0; b < h->n_species; ++b) {
      double rc = h->pair_cutoff[a][b];
      if (!(rc > 0.0 && rc <= h->r_cut) || rc != h->pair_cutoff[b][a])
        return nnp_fail(err, NNP_ERR_FORMAT, "pair cutoff %s-%s = %g must be in (0, r_cut] and symmetric",
                        h->species[a], h->species[b], rc);
    }
  for (int s = 0; s < h->n_species; ++s)
    if (!isfinite(h->energy_shift[s]) || !isfinite(h->energy_scale[s]))
      return nnp_fail(err, NNP_ERR_FORMAT, "energy shift/scale of %s is not finite", h->species[s]);
  st = validate_options(h, err);
  if (st) return st;
  return validate_interaction(h, err);
}

/* The product family passes degrees 0..message_l_max between layers, but its convolution makes every degree of the
 * atomic basis (paths with l3 <= l_max); the messages then hold those degrees. */
static void layout_layer(const nnp_hyper *h, int t, nnp_layer *ly) {
  const int C = h->channels, L = h->l_max, product = h->interaction == NNP_INTERACTION_PRODUCT;
  const int Lh = product ? h->message_l_max : L;
  memset(ly, 0, sizeof *ly);
  ly->lin = t == 0 ? 0 : Lh;
  ly->lout = t == h->layers - 1 ? 0 : Lh;
  const int l3_max = product ? L : ly->lout;
  for (int l3 = 0; l3 <= l3_max; ++l3) {
    ly->l3_first[l3] = ly->n_paths;
    for (int l1 = 0; l1 <= ly->lin; ++l1)
      for (int l2 = 0; l2 <= L; ++l2)
        if (model_path(h, l1, l2, l3)) {
          nnp_path *p = &ly->paths[ly->n_paths++];
          p->l1 = l1;
          p->l2 = l2;
          p->l3 = l3;
        }
    ly->l3_count[l3] = ly->n_paths - ly->l3_first[l3];
  }
  ly->n_gates = C * ly->lout;
  ly->residual = !(h->options.no_residual >> t & 1u);
  for (int l = 0; l <= ly->lout; ++l) ly->c_out[l] = l == 0 ? C + ly->n_gates : C;
  int off = 0, pre = 0;
  for (int l = 0; l <= l3_max; ++l) {
    ly->msg_offset[l] = off;
    off += (2 * l + 1) * ly->l3_count[l] * C;
  }
  for (int l = 0; l <= ly->lout; ++l) {
    ly->pre_offset[l] = pre;
    pre += (2 * l + 1) * ly->c_out[l];
  }
  ly->msg_width = off;
  ly->pre_width = pre;
}

typedef struct {
  nnp_model *m;
  size_t next;
} array_builder;

static size_t add_array(array_builder *b, const char *name, int ndim, int d0, int d1, int d2) {
  nnp_param_array *a = &b->m->arrays[b->m->n_arrays++];
  memset(a, 0, sizeof *a);
  snprintf(a->name, sizeof a->name, "%s", name);
  a->ndim = ndim;
  a->dims[0] = d0;
  a->dims[1] = d1;
  a->dims[2] = d2;
  a->size = (size_t)d0 * (ndim > 1 ? (size_t)d1 : 1) * (ndim > 2 ? (size_t)d2 : 1);
  a->offset = b->next;
  b->next += a->size;
  return a->offset;
}

static void layout_params(nnp_model *m) {
  const nnp_hyper *h = &m->h;
  const int C = h->channels, S = h->n_species, K = h->n_radial_hidden;
  array_builder b = {m, 0};
  char name[48];
  m->n_arrays = 0;
  m->embedding = add_array(&b, "embedding", 2, S, C, 0);
  for (int t = 0; t < h->layers; ++t) {
    nnp_layer *ly = &m->layers[t];
    for (int l = 0; l <= NNP_MAX_L; ++l) ly->self[l] = (size_t)-1;
    for (int l = 0; l <= ly->lin; ++l) {
      snprintf(name, sizeof name, "layer%d.up%d", t, l);
      ly->up[l] = add_array(&b, name, 2, C, C, 0);
    }
    int fan_in = h->radial_basis;
    for (int k = 0; k < K; ++k) {
      snprintf(name, sizeof name, "layer%d.radial%d", t, k + 1);
      ly->radial[k] = add_array(&b, name, 2, h->radial_hidden[k], fan_in, 0);
      fan_in = h->radial_hidden[k];
    }
    snprintf(name, sizeof name, "layer%d.radial_out", t);
    ly->radial_out = add_array(&b, name, 2, ly->n_paths * C, fan_in, 0);
    nnp_product_layer *pl = m->product_layers ? &m->product_layers[t] : NULL;
    if (pl) {
      for (int l = 0; l <= h->l_max; ++l) {
        snprintf(name, sizeof name, "layer%d.mix%d", t, l);
        pl->mix.down[l] = add_array(&b, name, 2, C, ly->l3_count[l] * C, 0);
      }
      for (int J = 0; J <= ly->lout; ++J) {
        snprintf(name, sizeof name, "layer%d.product%d", t, J);
        pl->product[J] = add_array(&b, name, 3, S, m->product_basis[J].n_products, C);
      }
    }
    for (int l = 0; l <= ly->lout; ++l) {
      snprintf(name, sizeof name, "layer%d.down%d", t, l);
      ly->down[l] = add_array(&b, name, 2, ly->c_out[l], (pl ? 1 : ly->l3_count[l]) * C, 0);
    }
    for (int l = 0; l <= ly->lin && l <= ly->lout; ++l) {
      snprintf(name, sizeof name, "layer%d.self%d", t, l);
      ly->self[l] = add_array(&b, name, 3, S, ly->c_out[l], C);
    }
    if (pl) {
      memcpy(pl->down.down, ly->down, sizeof ly->down);
      memcpy(pl->down.self, ly->self, sizeof ly->self);
    }
  }
  m->readout_hidden = add_array(&b, "readout.hidden", 2, h->readout_hidden, C, 0);
  m->readout_out = add_array(&b, "readout.out", 1, h->readout_hidden, 0, 0);
  m->n_params = b.next;
}

/* Number of parameter arrays layout_params creates (it must agree with it exactly): the embedding; per layer an
 * up-projection per input degree, the radial MLP's layers and output, (product family) a mix per degree of A and a
 * product weight per output degree, a down-projection per output degree and a self-connection per degree both sides
 * have; the readout's two arrays. */
static size_t count_param_arrays(const nnp_model *m) {
  size_t n = 1 + 2;
  for (int t = 0; t < m->h.layers; ++t) {
    const nnp_layer *ly = &m->layers[t];
    const int self = (ly->lin < ly->lout ? ly->lin : ly->lout) + 1;
    n += (size_t)(ly->lin + 1) + (size_t)m->h.n_radial_hidden + 1 + (size_t)(ly->lout + 1) + (size_t)self;
    if (m->product_layers) n += (size_t)(m->h.l_max + 1) + (size_t)(ly->lout + 1); /* mix{l}, product{J} */
  }
  return n;
}

/* The two down-projection views of each product layer's step 3 (see nnp_product_layer); weights set by layout_params */
static void layout_product_views(const nnp_hyper *h, const nnp_layer *ly, nnp_product_layer *pl) {
  const int C = h->channels;
  nnp_layer *mix = &pl->mix, *down = &pl->down;
  memset(pl, 0, sizeof *pl);
  mix->lin = -1;
  mix->lout = h->l_max;
  memcpy(mix->l3_count, ly->l3_count, sizeof ly->l3_count);
  memcpy(mix->msg_offset, ly->msg_offset, sizeof ly->msg_offset);
  mix->msg_width = ly->msg_width;
  for (int l = 0; l <= h->l_max; ++l) {
    mix->c_out[l] = C;
    mix->pre_offset[l] = C * l * l;
  }
  mix->pre_width = C * NNP_NSH(h->l_max);
  down->lin = ly->lin;
  down->lout = ly->lout;
  down->n_gates = ly->n_gates;
  memcpy(down->c_out, ly->c_out, sizeof ly->c_out);
  memcpy(down->pre_offset, ly->pre_offset, sizeof ly->pre_offset);
  down->pre_width = ly->pre_width;
  for (int J = 0; J <= ly->lout; ++J) {
    down->l3_count[J] = 1;
    down->msg_offset[J] = C * J * J;
  }
  down->msg_width = C * NNP_NSH(ly->lout);
}

/* Q(l_max, J, N_c) for J = 0..message_l_max and the per-layer views (product family only) */
static nnp_status build_product_family(nnp_model *m, nnp_error *err) {
  const nnp_hyper *h = &m->h;
  m->product_basis = calloc((size_t)h->message_l_max + 1, sizeof *m->product_basis);
  m->product_layers = calloc((size_t)h->layers, sizeof *m->product_layers);
  if (!m->product_basis || !m->product_layers)
    return nnp_fail(err, NNP_ERR_NOMEM, "out of memory allocating a product-family model");
  for (int J = 0; J <= h->message_l_max; ++J) {
    nnp_status st = nnp_product_basis_build(h->l_max, J, h->correlation, &m->product_basis[J], err);
    if (st) return st;
  }
  for (int t = 0; t < h->layers; ++t) layout_product_views(h, &m->layers[t], &m->product_layers[t]);
  return NNP_OK;
}

nnp_status nnp_model_alloc(const nnp_hyper *h, nnp_model **out, nnp_error *err) {
  return nnp_model_alloc_limited(h, (size_t)-1, out, err);
}

nnp_status nnp_model_alloc_limited(const nnp_hyper *h, size_t max_params, nnp_model **out, nnp_error *err) {
  nnp_status st = nnp_hyper_validate(h, err);
  if (st) return st;
  nnp_model *m = calloc(1, sizeof *m);
  if (!m) return nnp_fail(err, NNP_ERR_NOMEM, "out of memory allocating a model");
  m->h = *h;
  /* the features between layers: degrees 0..l_max, or 0..message_l_max in the product family */
  m->feature_width = h->channels * NNP_NSH(h->interaction == NNP_INTERACTION_PRODUCT ? h->message_l_max : h->l_max);
  m->layers = calloc((size_t)h->layers, sizeof *m->layers);
  if (!m->layers) {
    nnp_model_free(m);
    return nnp_fail(err, NNP_ERR_NOMEM, "out of memory allocating a model");
  }
  for (int t = 0; t < h->layers; ++t) layout_layer(h, t, &m->layers[t]);
  if (h->interaction == NNP_INTERACTION_PRODUCT) {
    st = build_product_family(m, err);
    if (st) {
      nnp_model_free(m);
      return st;
    }
  }
  m->arrays = calloc(count_param_arrays(m), sizeof *m->arrays);
  if (!m->arrays) {
    nnp_model_free(m);
    return nnp_fail(err, NNP_ERR_NOMEM, "out of memory allocating a model");
  }
  layout_params(m);
  if (m->n_params > max_params) {
    const size_t n_params = m->n_params;
    nnp_model_free(m);
    return nnp_fail(err, NNP_ERR_FORMAT, "the hyperparameters need %zu parameters, more than the file can hold (%zu)",
                    n_params, max_params);
  }
  m->params = calloc(m->n_params, sizeof *m->params);
  if (!m->params) {
    nnp_model_free(m);
    return nnp_fail(err, NNP_ERR_NOMEM, "out of memory allocating %zu parameters", m->n_params);
  }
  st = nnp_coupling_build(m, err);
  if (st) {
    nnp_model_free(m);
    return st;
  }
  *out = m;
  return NNP_OK;
}

void nnp_model_free(nnp_model *m) {
  if (!m) return;
  for (int i = 0; i < m->n_meta; ++i) free(m->meta[i].value);
  free(m->meta);
  free(m->params);
  free(m->cg);
  free(m->arrays);
  free(m->layers);
  if (m->product_basis)
    for (int J = 0; J <= m->h.message_l_max; ++J) nnp_product_basis_free(&m->product_basis[J]);
  free(m->product_basis);
  free(m->product_layers);
  free(m);
}

/* splitmix64 + Box-Muller: a small, seedable, platform-independent normal generator */
static uint64_t splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static double uniform01(uint64_t *state) { return ((double)(splitmix64(state) >> 11) + 0.5) * 0x1.0p-53; }

static double normal(uint64_t *state) {
  double u1 = uniform01(state), u2 = uniform01(state);
  return sqrt(-2.0 * log(u1)) * cos(2.0 * NNP_PI * u2);
}

nnp_status nnp_model_create_random(const nnp_hyper *h, uint64_t seed, nnp_model **out, nnp_error *err) {
  if (!h || !out) return nnp_fail(err, NNP_ERR_ARGUMENT, "nnp_model_create_random: NULL argument");
  nnp_model *m;
  nnp_status st = nnp_model_alloc(h, &m, err);
  if (st) return st;
  uint64_t state = seed ^ 0x6E6E705F6D6F646Cull;
  for (int k = 0; k < m->n_arrays; ++k) {
    const nnp_param_array *a = &m->arrays[k];
    int fan_in = a->ndim == 1 ? a->dims[0] : a->dims[a->ndim - 1];
    double std = k == 0 ? 1.0 : 1.0 / sqrt((double)fan_in);
    for (size_t i = 0; i < a->size; ++i) m->params[a->offset + i] = std * normal(&state);
  }
  *out = m;
  return NNP_OK;
}

const nnp_hyper *nnp_model_hyper(const nnp_model *m) { return m ? &m->h : NULL; }

int nnp_model_species_index(const nnp_model *m, const char *element) {
  return m ? nnp_hyper_species_index(&m->h, element) : -1;
}

int nnp_model_feature_width(const nnp_model *m) { return m ? m->feature_width : 0; }
size_t nnp_model_param_count(const nnp_model *m) { return m ? m->n_params : 0; }
double *nnp_model_params(nnp_model *m) { return m ? m->params : NULL; }
const double *nnp_model_params_const(const nnp_model *m) { return m ? m->params : NULL; }

int nnp_model_meta_count(const nnp_model *m) { return m ? m->n_meta : 0; }
const char *nnp_model_meta_key(const nnp_model *m, int i) {
  return m && i >= 0 && i < m->n_meta ? m->meta[i].key : NULL;
}
const char *nnp_model_meta_value(const nnp_model *m, int i) {
  return m && i >= 0 && i < m->n_meta ? m->meta[i].value : NULL;
}

nnp_status nnp_model_set_meta(nnp_model *m, const char *key, const char *value, nnp_error *err) {
  if (!m || !key || !value) return nnp_fail(err, NNP_ERR_ARGUMENT, "nnp_model_set_meta: NULL argument");
  size_t klen = strlen(key);
  if (klen == 0 || klen >= sizeof m->meta[0].key || strpbrk(key, " \t\r\n"))
    return nnp_fail(err, NNP_ERR_ARGUMENT, "metadata key '%s' must be 1-63 characters without spaces", key);
  if (strpbrk(value, "\r\n")) return nnp_fail(err, NNP_ERR_ARGUMENT, "metadata value for '%s' has a line break", key);
  char *copy = malloc(strlen(value) + 1);
  if (!copy) return nnp_fail(err, NNP_ERR_NOMEM, "out of memory");
  strcpy(copy, value);
  for (int i = 0; i < m->n_meta; ++i)
    if (strcmp(m->meta[i].key, key) == 0) {
      free(m->meta[i].value);
      m->meta[i].value = copy;
      return NNP_OK;
    }
  nnp_meta *grown = realloc(m->meta, (size_t)(m->n_meta + 1) * sizeof *grown);
  if (!grown) {
    free(copy);
    return nnp_fail(err, NNP_ERR_NOMEM, "out of memory");
  }
  m->meta = grown;
  strcpy(m->meta[m->n_meta].key, key);
  m->meta[m->n_meta].value = copy;
  m->n_meta++;
  return NNP_OK;
}

nnp_status nnp_model_set_normalisation(nnp_model *m, double avg_num_neighbors, const double *shift, const double *scale,
                                       nnp_error *err) {
  if (!m) return nnp_fail(err, NNP_ERR_ARGUMENT, "nnp_model_set_normalisation: NULL model");
  nnp_hyper h = m->h;
  h.avg_num_neighbors = avg_num_neighbors;
  for (int s = 0; s < h.n_species; ++s) {
    if (shift) h.energy_shift[s] = shift[s];
    if (scale) h.energy_scale[s] = scale[s];
  }
  nnp_status st = nnp_hyper_validate(&h, err);
  if (st) return st;
  m->h = h;
  return NNP_OK;
}

/* Arrays whose first dimension runs over species (docs/model.md, "Parameters in order"). */
static int is_per_species(const nnp_param_array *a) {
  return strcmp(a->name, "embedding") == 0 || strstr(a->name, ".self") != NULL || strstr(a->name, ".product") != NULL;
}

static int same_architecture(const nnp_hyper *a, const nnp_hyper *b) {
  if (a->l_max != b->l_max || a->channels != b->channels || a->layers != b->layers ||
      a->radial_basis != b->radial_basis || a->envelope_p != b->envelope_p || a->readout_hidden != b->readout_hidden ||
      a->n_radial_hidden != b->n_radial_hidden || a->r_cut != b->r_cut || a->interaction != b->interaction ||
      a->correlation != b->correlation || a->message_l_max != b->message_l_max)
    return 0;
  for (int k = 0; k < a->n_radial_hidden; ++k)
    if (a->radial_hidden[k] != b->radial_hidden[k]) return 0;
  return 1;
}

nnp_status nnp_model_copy_weights(nnp_model *dst, const nnp_model *src, int *n_shared, nnp_error *err) {
  if (!dst || !src) return nnp_fail(err, NNP_ERR_ARGUMENT, "nnp_model_copy_weights: NULL model");
  /* the options change what the weights mean (an imported NequIP model's; the trainer makes models without them) */
  if (nnp_options_present(&dst->h) || nnp_options_present(&src->h))
    return nnp_fail(err, NNP_ERR_ARGUMENT,
                    "cannot copy weights of a model with options (paths, gate_activation, residual, "
                    "readout_activation, radial_frequencies: an imported model), which training does not support");
  if (!same_architecture(&dst->h, &src->h))
    return nnp_fail(
        err, NNP_ERR_ARGUMENT,
        "cannot copy weights between different architectures (l_max %d/%d, channels %d/%d, layers %d/%d, "
        "radial_basis %d/%d, r_cut %g/%g A, or the radial MLP, readout widths or interaction family differ)",
        dst->h.l_max, src->h.l_max, dst->h.channels, src->h.channels, dst->h.layers, src->h.layers, dst->h.radial_basis,
        src->h.radial_basis, dst->h.r_cut, src->h.r_cut);
  int src_of[NNP_MAX_SPECIES], shared = 0;
  for (int s = 0; s < dst->h.n_species; ++s) {
    src_of[s] = nnp_model_species_index(src, dst->h.species[s]);
    shared += src_of[s] >= 0;
  }
  /* Same architecture means the same arrays in the same order; only the species dimension differs. */
  for (int k = 0; k < dst->n_arrays; ++k) {
    const nnp_param_array *d = &dst->arrays[k], *s = &src->arrays[k];
    if (!is_per_species(d)) {
      memcpy(dst->params + d->offset, src->params + s->offset, d->size * sizeof *dst->params);
      continue;
    }
    size_t row = d->size / (size_t)dst->h.n_species;
    for (int sp = 0; sp < dst->h.n_species; ++sp)
      if (src_of[sp] >= 0)
        memcpy(dst->params + d->offset + (size_t)sp * row, src->params + s->offset + (size_t)src_of[sp] * row,
               row * sizeof *dst->params);
  }
  if (n_shared) *n_shared = shared;
  return NNP_OK;
}
