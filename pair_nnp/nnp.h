/* pair_nnp: evaluation of E(3)-equivariant message-passing potentials (NequIP family).
 *
 * The one public header of the core library. Conventions:
 *  - every function that can fail returns an nnp_status and, when given a non-NULL nnp_error, writes a readable
 *    message into it; nothing is kept in global state;
 *  - output buffers are owned by the caller; objects come in create/free pairs;
 *  - units are those of the model file: Angstrom, eV, eV/Angstrom (see docs/model.md for the equations).
 */
#ifndef NNP_H
#define NNP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NNP_VERSION_MAJOR       0
#define NNP_VERSION_MINOR       1
#define NNP_VERSION_PATCH       0
#define NNP_FILE_FORMAT_VERSION 2 /* 2 adds baselines and the product family; other files are written as 1 */
#define NNP_MAX_SPECIES         32
#define NNP_MAX_L               6

typedef enum {
  NNP_OK = 0,
  NNP_ERR_ARGUMENT, /* a NULL pointer, a negative count, an option out of range */
  NNP_ERR_IO,       /* a file could not be opened, read or written */
  NNP_ERR_FORMAT,   /* a model file is damaged, truncated or inconsistent */
  NNP_ERR_VERSION,  /* a model file of a newer format version */
  NNP_ERR_CHECKSUM, /* a model file whose checksum does not match its contents */
  NNP_ERR_SPECIES,  /* an element or species index the model does not know */
  NNP_ERR_GEOMETRY, /* non-finite positions, atoms closer than the model accepts, a bad cell */
  NNP_ERR_NOMEM,    /* an allocation failed */
  NNP_ERR_EXCHANGE, /* the caller's feature-exchange callback reported failure */
  NNP_ERR_NUMERIC   /* a non-finite energy or force (damaged weights?) */
} nnp_status;

typedef struct {
  char message[512];
} nnp_error;

/* A short name for a status code ("NNP_ERR_FORMAT" -> "damaged model file"). */
const char *nnp_status_string(nnp_status status);

/* ---------------------------------------------------------------------------------------------------------------- */
/* Models                                                                                                            */

typedef struct nnp_model nnp_model;

/* A long-range baseline that LAMMPS computes and the model's energies are added to (docs/model.md, "Baselines").
 * The network was trained on reference minus baseline; the physical potential is network + baseline. */
typedef struct {
  int d3;                         /* 1: pair_style dispersion/d3 DAMPING FUNCTIONAL CUTOFF CN_CUTOFF */
  char d3_damping[8];             /* zero, zerom, bj, bjm */
  char d3_functional[32];         /* a functional name LAMMPS's dispersion/d3 knows, e.g. revpbe0 */
  double d3_cutoff, d3_cn_cutoff; /* Angstrom */
  int coulomb;                    /* 1: pair_style coul/long CUTOFF + kspace_style pppm ACCURACY */
  double coul_cutoff;             /* Angstrom */
  double kspace_accuracy;         /* relative force accuracy of pppm */
  double charge[NNP_MAX_SPECIES]; /* e, per model species */
} nnp_baseline;

/* Hyperparameters, as read from or written to a model file (docs/model.md, "Symbols"). */
typedef struct {
  int n_species;
  char species[NNP_MAX_SPECIES][8];                     /* element symbols */
  double r_cut;                                         /* largest cutoff (Angstrom) */
  double pair_cutoff[NNP_MAX_SPECIES][NNP_MAX_SPECIES]; /* <= r_cut, symmetric (Angstrom) */
  double r_min;                                         /* closest approach the model accepts (Angstrom) */
  int l_max, channels, layers, radial_basis, envelope_p, readout_hidden;
  int n_radial_hidden;
  int radial_hidden[8];
  double avg_num_neighbors;
  double energy_shift[NNP_MAX_SPECIES]; /* eV */
  double energy_scale[NNP_MAX_SPECIES]; /* eV */
  nnp_baseline baseline;                /* all zero: none */
  int interaction;   /* NNP_INTERACTION_TENSOR (0, the default) or NNP_INTERACTION_PRODUCT (docs/model.md) */
  int correlation;   /* product family: largest correlation order N_c, 1..4 (0 for the tensor family) */
  int message_l_max; /* product family: degree L_h of the features between layers, 0..min(l_max, 2) */
} nnp_hyper;

#define NNP_INTERACTION_TENSOR  0
#define NNP_INTERACTION_PRODUCT 1

/* Fill h with a small default model (for tests and benchmarks); species as given. */
nnp_status nnp_hyper_default(nnp_hyper *h, int n_species, const char *const *species, nnp_error *err);

/* A model with the given hyperparameters and random weights drawn from a seeded generator (deterministic). */
nnp_status nnp_model_create_random(const nnp_hyper *h, uint64_t seed, nnp_model **out, nnp_error *err);

/* Model files larger than this are refused (read stops there): real models are at most tens of MB, and a reader
 * pointed at /dev/zero or a huge wrong file would otherwise take all memory. */
#define NNP_MODEL_MAX_BYTES ((size_t)1 << 30)

nnp_status nnp_model_read(const char *path, nnp_model **out, nnp_error *err);
/* Parse a model from memory (e.g. bytes broadcast from MPI rank 0). */
nnp_status nnp_model_parse(const char *bytes, size_t n_bytes, nnp_model **out, nnp_error *err);
nnp_status nnp_model_write(const nnp_model *model, const char *path, nnp_error *err);
void nnp_model_free(nnp_model *model);

const nnp_hyper *nnp_model_hyper(const nnp_model *model);
/* Index of an element symbol among the model's species, or -1. */
int nnp_model_species_index(const nnp_model *model, const char *element);
/* Width of the per-atom feature vector that the exchange callback moves, in doubles. */
int nnp_model_feature_width(const nnp_model *model);

/* Free-text metadata ("meta" lines): provenance, measured errors, training command. */
int nnp_model_meta_count(const nnp_model *model);
const char *nnp_model_meta_key(const nnp_model *model, int i);
const char *nnp_model_meta_value(const nnp_model *model, int i);
nnp_status nnp_model_set_meta(nnp_model *model, const char *key, const char *value, nnp_error *err);

/* Flat parameter vector (the order of docs/model.md, "Parameters in order"). */
size_t nnp_model_param_count(const nnp_model *model);
double *nnp_model_params(nnp_model *model);
const double *nnp_model_params_const(const nnp_model *model);
/* Start dst from the weights of src (fine-tuning, or adding species to a trained model). The architectures must
 * agree in everything but the species (l_max, channels, layers, radial basis and MLP, readout, r_cut). Arrays that
 * do not depend on species are copied whole; the per-species rows (embedding, self-interactions) are copied for
 * every element both models know, matched by symbol, and left as they are for the others. Normalisation constants
 * are not touched. *n_shared (may be NULL) receives the number of species found in both models. */
nnp_status nnp_model_copy_weights(nnp_model *dst, const nnp_model *src, int *n_shared, nnp_error *err);
nnp_status nnp_model_set_normalisation(nnp_model *model, double avg_num_neighbors, const double *energy_shift,
                                       const double *energy_scale, nnp_error *err);

/* Baselines (baseline.c). */
/* 1 when h declares any baseline term. */
int nnp_baseline_present(const nnp_hyper *h);
/* Parse the values of one `baseline` line (the text after the key, e.g. "d3 bj revpbe0 12.0 10.0" or
 * "coulomb 10.0 1e-6 -0.834 0.417") into h->baseline; the species must already be set. Each term at most once. */
nnp_status nnp_baseline_parse(nnp_hyper *h, const char *values, nnp_error *err);
/* The `baseline ...` lines of the model header, canonical (what the file holds, what caches are keyed on).
 * Writes a NUL-terminated string (empty when there is no baseline); returns the length it needs. */
size_t nnp_baseline_format(const nnp_hyper *h, char *buf, size_t size);
/* The LAMMPS input lines of the model + its baseline: pair_style hybrid/overlay nnp NNP_OPTIONS + the baseline
 * styles, pair_coeff lines, per-type charges, kspace_style. model and elements are inserted as given (a path and
 * "O H", or "${model}" and "${elements}"); charges: per LAMMPS type in species order when `elements_are_species`,
 * else a loop over ${elements} (for potentials/NAME.lammps). Returns the length it needs, like snprintf. */
size_t nnp_baseline_lammps_lines(const nnp_hyper *h, const char *nnp_options, const char *model, const char *elements,
                                 int elements_are_species, char *buf, size_t size);

/* ---------------------------------------------------------------------------------------------------------------- */
/* Graphs: atoms, ghosts and neighbour lists                                                                        */

enum { NNP_EXCHANGE_FORWARD = 0, NNP_EXCHANGE_REVERSE = 1 };

/* Moves per-atom blocks of `width` doubles between owned atoms and their ghost images.
 * FORWARD: data[ghost] = data[owner]. REVERSE: data[owner] += data[ghost]; the core then ignores ghost values.
 * `data` holds n_total * width doubles. Returns 0 on success, anything else aborts the evaluation. */
typedef int (*nnp_exchange_fn)(void *ctx, double *data, int width, int direction);

/* Atoms with species < 0 are ignored: no energy, not a neighbour (LAMMPS types mapped to NULL). Each listed pair
 * within the cutoff is one edge i <- j, so a pair listed twice counts twice. Full lists (every local pair listed from
 * both sides, as LAMMPS's full lists and nnp_cell_graph_build give) take a faster path; any other list is valid. */
typedef struct {
  int n_local;              /* atoms [0, n_local) are owned: they have neighbour lists and energies */
  int n_total;              /* atoms [n_local, n_total) are ghosts (images or other ranks' atoms) */
  const int *species;       /* [n_total] model species index */
  const double *positions;  /* [n_total][3] Angstrom */
  const int *neigh_offset;  /* [n_local + 1]: neighbours of i are neigh_index[neigh_offset[i] .. [i+1]) */
  const int *neigh_index;   /* atom indices in [0, n_total); entries beyond the cutoff are skipped */
  nnp_exchange_fn exchange; /* required when n_total > n_local and the model has more than one layer; when set it
                               is called at every exchange (collective under MPI), even with no ghosts here */
  void *exchange_ctx;
} nnp_graph;

/* A graph for one periodic (or open) cell: ghosts are periodic images, exchange copies from their owners. */
typedef struct nnp_cell_graph nnp_cell_graph;

/* cell: rows are the lattice vectors a, b, c (Angstrom); pbc: periodic along each; cutoff: neighbour radius.
 * Positions may lie outside the cell: the graph wraps them in (its positions are the wrapped ones; results are the
 * same). Non-finite positions or a singular cell give NNP_ERR_GEOMETRY. */
nnp_status nnp_cell_graph_build(int n_atoms, const int *species, const double *positions, const double cell[3][3],
                                const int pbc[3], double cutoff, nnp_cell_graph **out, nnp_error *err);
void nnp_cell_graph_free(nnp_cell_graph *g);
const nnp_graph *nnp_cell_graph_view(const nnp_cell_graph *g);
/* Moves the atoms (n_local x 3, Angstrom) and their images, keeping the neighbour lists: valid while no pair
 * comes closer than the model cutoff that was farther than the graph's cutoff (build with a skin to allow moves). */
nnp_status nnp_cell_graph_update_positions(nnp_cell_graph *g, const double *positions, nnp_error *err);
/* Owner (in [0, n_local)) of every atom, ghosts included. */
const int *nnp_cell_graph_owner(const nnp_cell_graph *g);
/* Add per-atom rows of ghosts (forces, per-atom virials) onto their owners: data is n_total x width. */
void nnp_cell_graph_fold(const nnp_cell_graph *g, double *data, int width);

/* ---------------------------------------------------------------------------------------------------------------- */
/* Evaluation                                                                                                        */

typedef struct nnp_workspace nnp_workspace;

/* Work buffers for evaluations; grows as needed; one per concurrent caller. n_threads <= 0: OpenMP default. */
nnp_status nnp_workspace_create(const nnp_model *model, int n_threads, nnp_workspace **out, nnp_error *err);
void nnp_workspace_free(nnp_workspace *ws);

/* From now on evaluate the radial MLPs from cubic Hermite tables with knots `step` Angstrom apart (built now from
 * the model's current weights), instead of exactly; step 0 returns to exact evaluation. Tables make MD several
 * times faster; the force error they introduce is measured by tests/test_core.c (step 0.01 A: below 1e-6 eV/A for
 * the test models). Parameter gradients need exact evaluation. Rebuild after changing the weights. */
nnp_status nnp_workspace_tabulate_radial(nnp_workspace *ws, double step, nnp_error *err);
/* The tables' estimated error: the largest difference from the exact radial functions at the middle of the table
 * intervals, relative to the largest value of those functions (0 for exact evaluation). A step whose tables would be
 * off by more than 1e-4 is refused by nnp_workspace_tabulate_radial (NNP_ERR_ARGUMENT, with a step that would do). */
double nnp_workspace_radial_table_error(const nnp_workspace *ws);

typedef enum { NNP_PRECISION_DOUBLE = 0, NNP_PRECISION_SINGLE = 1 } nnp_precision;
/* Arithmetic of the convolutions (docs/performance.md, "float32"): NNP_PRECISION_SINGLE evaluates the radial
 * tables, the features they read, the messages and the tensor products in float32, with the edge gradients,
 * energies, forces and virials summed in float64; the per-atom dense layers stay in float64. It needs radial tables
 * (nnp_compute fails without them) and a model of l_max <= 2 (the generated kernels; NNP_ERR_ARGUMENT otherwise).
 * Parameter gradients are always float64. The default is NNP_PRECISION_DOUBLE. */
nnp_status nnp_workspace_set_precision(nnp_workspace *ws, nnp_precision precision, nnp_error *err);

typedef struct {
  double energy;       /* eV, sum over local atoms */
  double virial[6];    /* eV: xx yy zz xy xz yz, -sum_e r_e (outer) dE/dr_e */
  double *atom_energy; /* [n_local] eV, or NULL */
  double *forces;      /* [n_total][3] eV/Angstrom, or NULL; ghost rows are to be folded onto their owners */
  double *atom_virial; /* [n_total][6] eV, or NULL; ghost rows likewise */
} nnp_result;

/* Energy and, where the result asks for them, forces and virials. Output arrays are overwritten, not added to. */
nnp_status nnp_compute(const nnp_model *model, nnp_workspace *ws, const nnp_graph *graph, nnp_result *result,
                       nnp_error *err);

/* dE/dtheta for every parameter (size nnp_model_param_count), overwritten, in the same pass as what `result`
 * asks for (result may be NULL) and the energy (energy may be NULL). For training. */
nnp_status nnp_compute_param_gradient(const nnp_model *model, nnp_workspace *ws, const nnp_graph *graph,
                                      nnp_result *result, double *energy, double *dE_dparams, nnp_error *err);

/* ---------------------------------------------------------------------------------------------------------------- */
/* Training passes (docs/training.md, "The force term's parameter gradient")                                        */

/* The radial functions of one optimiser step: a snapshot of the radial MLP weights and, with step > 0, the cubic
 * Hermite tables MD uses (nnp_workspace_tabulate_radial), knots `step` Angstrom apart; step 0: the exact MLP.
 * Rebuild after every change of the weights. Read-only once built: threads may share one. */
typedef struct nnp_train_radial nnp_train_radial;
nnp_status nnp_train_radial_build(const nnp_model *model, double step, nnp_train_radial **out, nnp_error *err);
void nnp_train_radial_free(nnp_train_radial *radial);
/* Length of the knot gradient that nnp_train_gradient accumulates (values and r-derivatives of every knot of every
 * table); 0 for the exact MLP. */
size_t nnp_train_radial_knot_size(const nnp_train_radial *radial);
/* grad += the knot gradient carried to the radial MLP weights through the knots (indexed like the parameters). */
nnp_status nnp_train_radial_backprop(const nnp_model *model, const nnp_train_radial *radial, const double *knot_grad,
                                     double *grad, nnp_error *err);

/* Work buffers of the training passes; single-threaded (a trainer runs one structure per thread). */
typedef struct nnp_train_workspace nnp_train_workspace;
nnp_status nnp_train_workspace_create(const nnp_model *model, nnp_train_workspace **out, nnp_error *err);
void nnp_train_workspace_free(nnp_train_workspace *ws);

/* Pass 1: energy (eV) and forces ([n_total][3] eV/Angstrom, ghost rows to fold onto their owners; may be NULL) with
 * the given radial functions; keeps the forward pass for nnp_train_gradient. */
nnp_status nnp_train_forces(const nnp_model *model, nnp_train_workspace *ws, const nnp_train_radial *radial,
                            const nnp_graph *graph, double *energy, double *forces, nnp_error *err);
/* Pass 2, right after nnp_train_forces on the same graph, positions, weights and radial functions:
 *   grad += w_energy dE/dtheta + w_dir d/dtheta <v, dE/dx>
 * exactly (a tangent sweep along v and one reverse sweep), v [n_total][3] a direction in configuration space (a
 * ghost's row is its owner's). With tables the radial part goes to knot_grad (added to, nnp_train_radial_knot_size
 * doubles; NULL allowed for the exact MLP), to be carried to the weights by nnp_train_radial_backprop. */
nnp_status nnp_train_gradient(const nnp_model *model, nnp_train_workspace *ws, const nnp_train_radial *radial,
                              const nnp_graph *graph, const double *v, double w_energy, double w_dir, double *grad,
                              double *knot_grad, nnp_error *err);

#ifdef __cplusplus
}
#endif
#endif
