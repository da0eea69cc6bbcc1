/* pair_nnp: evaluation of E(3)-equivariant message-passing potentials (NequIP family).
 *
 * The one public header of the core library. Conventions:
 *  - every function that can fail returns an nnp_status and, when given a non-NULL nnp_error, writes a readable
 *    message into it; nothing is kept in global state;
 *  - output buffers are owned by the caller; objects come in create/free pairs;
 *  - units are those of the model file: Angstrom, eV, eV/Angstrom (see docs/model.md for the equations).
 *
 * Threads. The library changes no process-wide setting: not the locale, not OpenMP's defaults, not BLAS's thread
 * count. A model is read-only while it is evaluated, so any number of threads may evaluate one model at once, each
 * with its own workspace (changing its weights or metadata must not overlap an evaluation); a workspace, a graph and
 * a cell graph are used by one thread at a time, and a workspace must not outlive its model. An evaluation runs its
 * OpenMP parallel regions with the workspace's thread count (nnp_workspace_create), whatever omp_set_num_threads
 * the caller set; called from inside the caller's own parallel region they run on one thread (no nesting). Inside
 * them the core calls BLAS for small products, so BLAS should run single-threaded, which only the program can set:
 * with OpenBLAS call openblas_set_num_threads(1) at start or set OPENBLAS_NUM_THREADS=1 (the tools and the LAMMPS
 * plugin do the former); the OpenMP build of OpenBLAS needs nothing. Left multi-threaded, BLAS costs speed only.
 * Under MPI every rank calls nnp_compute collectively (the exchange callback): a rank that fails an input check
 * returns before an exchange the others enter, so the caller should treat any failure as fatal for all ranks.
 *
 * Locale. Model files and baseline lines are read and written with a decimal point ("0.5") whatever LC_NUMERIC the
 * process has set: the functions that do so switch the calling thread alone to the C locale for the duration.
 */
#ifndef NNP_H
#define NNP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The functions of this header are the library's whole interface: a shared build exports them and nothing else
 * (the rest is compiled with hidden visibility, so it cannot clash with other libraries in the same process). */
#if defined(_WIN32)
#define NNP_API
#elif defined(__GNUC__) && __GNUC__ >= 4
#define NNP_API __attribute__((visibility("default")))
#else
#define NNP_API
#endif

#define NNP_VERSION_MAJOR 0
#define NNP_VERSION_MINOR 2
#define NNP_VERSION_PATCH 0
/* version 2 adds baselines, model options and the product family; models without them are written as version 1 */
#define NNP_FILE_FORMAT_VERSION 2
/* The limits of a model's hyperparameters (docs/model.md, "Symbols"): the model reader, nnp_model_create_random,
 * nnp_hyper_read_line and the tools refuse anything outside them, naming the key, the value and the range. */
#define NNP_MAX_SPECIES             32
#define NNP_MAX_L                   6    /* l_max in 0..NNP_MAX_L */
#define NNP_MAX_CHANNELS            1024 /* channels in 1..NNP_MAX_CHANNELS */
#define NNP_MAX_LAYERS              16   /* layers in 1..NNP_MAX_LAYERS */
#define NNP_MAX_RADIAL_BASIS        64   /* radial_basis in 1..NNP_MAX_RADIAL_BASIS */
#define NNP_MAX_RADIAL_LAYERS       8    /* radial_hidden has 1..NNP_MAX_RADIAL_LAYERS widths */
#define NNP_MAX_WIDTH               4096 /* radial_hidden widths and readout_hidden in 1..NNP_MAX_WIDTH */
#define NNP_MIN_ENVELOPE_P          2    /* envelope_p in NNP_MIN_ENVELOPE_P..NNP_MAX_ENVELOPE_P */
#define NNP_MAX_ENVELOPE_P          32
#define NNP_MAX_R_CUT               100.0 /* Angstrom: r_cut in (0, NNP_MAX_R_CUT), r_min in [0, r_cut) */
#define NNP_MIN_AVG_NEIGHBORS       1e-3  /* avg_num_neighbors in [NNP_MIN_AVG_NEIGHBORS, NNP_MAX_AVG_NEIGHBORS] */
#define NNP_MAX_AVG_NEIGHBORS       1e6
#define NNP_MAX_CORRELATION         4          /* product family: correlation in 1..NNP_MAX_CORRELATION */
#define NNP_MAX_MESSAGE_L           2          /* product family: message_l_max in 0..min(l_max, NNP_MAX_MESSAGE_L) */
#define NNP_MAX_NEIGHBOURS_PER_ATOM 1073741823 /* entries in one atom's neighbour list: 2^30 - 1 (nnp_graph) */

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

/* The library's version at run time, "MAJOR.MINOR.PATCH" (the NNP_VERSION_* macros are the header's, which a
 * program was compiled against). */
NNP_API const char *nnp_version(void);

/* ABI. The structs a caller fills or reads by value (nnp_error, nnp_baseline, nnp_options, nnp_hyper, nnp_graph,
 * nnp_result) have fixed arrays sized by the NNP_MAX_* limits: their layout is part of the binary interface. Any
 * change to it (a limit that grows, a field that widens, as nnp_graph's 64-bit offsets did) increments NNP_ABI_VERSION
 * and changes the shared library's SONAME (libpair_nnp.so.0.MINOR while the major version is 0, libpair_nnp.so.MAJOR
 * after), so a program linked against one layout cannot silently load another. A program that loads the library at
 * run time (dlopen, Python's ctypes) compares nnp_abi_version() with the NNP_ABI_VERSION it was written for. */
#define NNP_ABI_VERSION 2
NNP_API int nnp_abi_version(void);

/* A short name for a status code ("NNP_ERR_FORMAT" -> "damaged model file"). */
NNP_API const char *nnp_status_string(nnp_status status);

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
  double coul_dielectric;         /* relative permittivity eps (LAMMPS `dielectric EPS`: q_i q_j / (eps r)); 0: 1 */
  /* 1: fixed-coefficient damped dispersion, E_ij(r) = -S(r) (C6_ij / r^6 + C8_ij / r^8) for r < c6c8_cutoff, S a
   * quintic switch from 0 at c6c8_r_zero to 1 at c6c8_r_full, plus LAMMPS's homogeneous tail correction beyond the
   * cutoff; LAMMPS evaluates it as pair_style born (A = 0, tail yes) + pair_style table (the damping, from the file
   * nnp_baseline_c6c8_table writes); form version c6c8_version (docs/model.md, "Baselines") */
  int c6c8;
  int c6c8_version;
  double c6c8_r_zero, c6c8_r_full, c6c8_cutoff; /* Angstrom */
  double c6[NNP_MAX_SPECIES][NNP_MAX_SPECIES];  /* eV A^6, symmetric, per species pair */
  double c8[NNP_MAX_SPECIES][NNP_MAX_SPECIES];  /* eV A^8, symmetric */
} nnp_baseline;

/* Options that imported NequIP models need (docs/model.md, "Model options"; docs/nequip.md). All zero: the
 * defaults, i.e. the model as trained here. A file with any of them is format version 2. */
typedef struct {
  int odd_paths;            /* `paths all`: also the paths with l1 + l2 + l3 odd (then rotation-invariant only) */
  int gate_silu;            /* `gate_activation silu`: gates are SiLU(g) instead of sigmoid(g) */
  int readout_linear;       /* `readout_activation none`: E_i = mu + sigma w . (V h) */
  unsigned no_residual;     /* bit t set: layer t adds no residual (`residual` flag 0) */
  int n_radial_frequencies; /* 0: frequencies n pi; else radial_basis */
  double radial_frequencies[NNP_MAX_RADIAL_BASIS]; /* `radial_frequencies` w_n (dimensionless): sin(w_n r / r_c) */
} nnp_model_options;

/* Hyperparameters, as read from or written to a model file (docs/model.md, "Symbols"). */
typedef struct {
  int n_species;
  char species[NNP_MAX_SPECIES][8];                     /* element symbols */
  double r_cut;                                         /* largest cutoff (Angstrom) */
  double pair_cutoff[NNP_MAX_SPECIES][NNP_MAX_SPECIES]; /* <= r_cut, symmetric (Angstrom) */
  double r_min;                                         /* closest approach the model accepts (Angstrom) */
  int l_max, channels, layers, radial_basis, envelope_p, readout_hidden;
  int n_radial_hidden;
  int radial_hidden[NNP_MAX_RADIAL_LAYERS];
  double avg_num_neighbors;
  double energy_shift[NNP_MAX_SPECIES]; /* eV */
  double energy_scale[NNP_MAX_SPECIES]; /* eV */
  nnp_baseline baseline;                /* all zero: none */
  nnp_model_options options;            /* all zero: none */
  int interaction;   /* NNP_INTERACTION_TENSOR (0, the default) or NNP_INTERACTION_PRODUCT (docs/model.md) */
  int correlation;   /* product family: largest correlation order N_c, 1..4 (0 for the tensor family) */
  int message_l_max; /* product family: degree L_h of the features between layers, 0..min(l_max, 2) */
} nnp_hyper;

#define NNP_INTERACTION_TENSOR  0
#define NNP_INTERACTION_PRODUCT 1

/* Index of an element symbol among h's species, or -1. */
NNP_API int nnp_hyper_species_index(const nnp_hyper *h, const char *element);

/* The model header's grammar (docs/model.md, "Model file format"), one `key values...` line at a time: the one parser
 * of the architecture keys, which the model reader, pnnp-init and pnnp-train's configuration all use. The keys:
 * species, units, r_cut (also resets every pair cutoff to it), pair_cutoff, r_min, l_max, channels, layers,
 * radial_basis, radial_hidden, envelope_p, readout_hidden, avg_num_neighbors, energy_shift, energy_scale, the model
 * options (paths, gate_activation, readout_activation, residual, radial_frequencies), interaction, correlation,
 * message_l_max and baseline. Each value is checked against its type and the limits above; the message names the
 * key, the value and the allowed range. Keys other than pair_cutoff and baseline may be given once (the reader
 * remembers which it has read). energy_shift, energy_scale, pair_cutoff and baseline need `species` first;
 * pair_cutoff checks its value against the r_cut read so far, so give it after r_cut. A blank line or one that starts
 * with '#' is skipped; comments after values are not (strip them first). */
typedef struct nnp_hyper_reader nnp_hyper_reader;
NNP_API nnp_status nnp_hyper_reader_create(nnp_hyper_reader **out, nnp_error *err);
NNP_API void nnp_hyper_reader_free(nnp_hyper_reader *reader);
/* 1 when `key` is a key of the grammar, else 0. */
NNP_API int nnp_hyper_key_known(const char *key);
/* Reads one line into h (NNP_ERR_FORMAT with a message for a bad, unknown or repeated key). */
NNP_API nnp_status nnp_hyper_read_line(nnp_hyper_reader *reader, nnp_hyper *h, const char *line, nnp_error *err);
/* The checks that need the whole header: `residual` has one flag per layer, `correlation` and `message_l_max` come
 * with `interaction product` and only with it. (nnp_model_create_random checks the rest.) */
NNP_API nnp_status nnp_hyper_read_end(const nnp_hyper_reader *reader, const nnp_hyper *h, nnp_error *err);

/* Fill h with a small default model (for tests and benchmarks); species as given. */
NNP_API nnp_status nnp_hyper_default(nnp_hyper *h, int n_species, const char *const *species, nnp_error *err);

/* A model with the given hyperparameters and random weights drawn from a seeded generator (deterministic). */
NNP_API nnp_status nnp_model_create_random(const nnp_hyper *h, uint64_t seed, nnp_model **out, nnp_error *err);

/* Model files larger than this are refused (read stops there): real models are at most tens of MB, and a reader
 * pointed at /dev/zero or a huge wrong file would otherwise take all memory. */
#define NNP_MODEL_MAX_BYTES ((size_t)1 << 30)

NNP_API nnp_status nnp_model_read(const char *path, nnp_model **out, nnp_error *err);
/* Parse a model from memory (e.g. bytes broadcast from MPI rank 0). */
NNP_API nnp_status nnp_model_parse(const char *bytes, size_t n_bytes, nnp_model **out, nnp_error *err);
NNP_API nnp_status nnp_model_write(const nnp_model *model, const char *path, nnp_error *err);
NNP_API void nnp_model_free(nnp_model *model);

NNP_API const nnp_hyper *nnp_model_hyper(const nnp_model *model);
/* Index of an element symbol among the model's species, or -1. */
NNP_API int nnp_model_species_index(const nnp_model *model, const char *element);
/* Width of the per-atom feature vector that the exchange callback moves, in doubles. */
NNP_API int nnp_model_feature_width(const nnp_model *model);

/* Free-text metadata ("meta" lines): provenance, measured errors, training command. */
NNP_API int nnp_model_meta_count(const nnp_model *model);
NNP_API const char *nnp_model_meta_key(const nnp_model *model, int i);
NNP_API const char *nnp_model_meta_value(const nnp_model *model, int i);
NNP_API nnp_status nnp_model_set_meta(nnp_model *model, const char *key, const char *value, nnp_error *err);

/* Flat parameter vector (the order of docs/model.md, "Parameters in order"). */
NNP_API size_t nnp_model_param_count(const nnp_model *model);
NNP_API double *nnp_model_params(nnp_model *model);
NNP_API const double *nnp_model_params_const(const nnp_model *model);
/* Start dst from the weights of src (fine-tuning, or adding species to a trained model). The architectures must
 * agree in everything but the species (l_max, channels, layers, radial basis and MLP, readout, r_cut). Arrays that
 * do not depend on species are copied whole; the per-species rows (embedding, self-interactions) are copied for
 * every element both models know, matched by symbol, and left as they are for the others. Normalisation constants
 * are not touched. *n_shared (may be NULL) receives the number of species found in both models. */
NNP_API nnp_status nnp_model_copy_weights(nnp_model *dst, const nnp_model *src, int *n_shared, nnp_error *err);
NNP_API nnp_status nnp_model_set_normalisation(nnp_model *model, double avg_num_neighbors, const double *energy_shift,
                                               const double *energy_scale, nnp_error *err);

/* Baselines (baseline.c). */
/* 1 when h declares any baseline term. */
NNP_API int nnp_baseline_present(const nnp_hyper *h);
/* Parse the values of one `baseline` line (the text after the key, e.g. "d3 bj revpbe0 12.0 10.0" or
 * "coulomb 10.0 1e-6 O:-0.834 H:0.417 [dielectric 78]") into h->baseline; the species must already be set. Each term
 * at most once. */
NNP_API nnp_status nnp_baseline_parse(nnp_hyper *h, const char *values, nnp_error *err);
/* The `baseline ...` lines of the model header, canonical (what the file holds, what caches are keyed on).
 * Writes a NUL-terminated string (empty when there is no baseline); returns the length it needs. */
NNP_API size_t nnp_baseline_format(const nnp_hyper *h, char *buf, size_t size);
/* The LAMMPS input lines of the model + its baseline: pair_style hybrid/overlay nnp NNP_OPTIONS + the baseline
 * styles, pair_coeff lines, per-type charges, kspace_style. model and elements are inserted as given (a path and
 * "O H", or "${model}" and "${elements}"); charges: per LAMMPS type in species order when `elements_are_species`,
 * else a loop over ${elements} (for potentials/NAME.lammps). Returns the length it needs, like snprintf. */
NNP_API size_t nnp_baseline_lammps_lines(const nnp_hyper *h, const char *nnp_options, const char *model,
                                         const char *elements, int elements_are_species, char *buf, size_t size);
/* The c6c8 term (h->baseline.c6c8): its pair_coeff lines read the table file named by the LAMMPS variable
 * nnp_c6c8_table. With a model (the include file) the lines define it as MODEL.c6c8-HASH.table unless it is set
 * already (an index variable); without one the caller defines it. The table file's text: one section per ordered
 * species pair (keyword A_B), nnp_baseline_c6c8_points(h) points from NNP_C6C8_TABLE_R_LO to R_FULL, written
 * with 17 digits. Returns the length it needs, like snprintf (about 0.3 MB per section). */
#define NNP_C6C8_TABLE_R_LO 0.05 /* Angstrom: LAMMPS's table style stops a run with a pair closer than this */
NNP_API size_t nnp_baseline_c6c8_table(const nnp_hyper *h, char *buf, size_t size);
NNP_API int nnp_baseline_c6c8_points(const nnp_hyper *h);
/* MODEL.c6c8-HASH.table (HASH: FNV-1a of the canonical c6c8 line): the table next to a model, named by what it
 * holds so that a stale table is never read. Returns the length it needs. */
NNP_API size_t nnp_baseline_c6c8_table_name(const nnp_hyper *h, const char *model, char *buf, size_t size);
/* The table's part of the c6c8 term for species si, sj at r (Angstrom): (1 - S(r)) (C6/r^6 + C8/r^8) (eV), which
 * damps LAMMPS's born -(C6/r^6 + C8/r^8) inside R_FULL; -dE/dr (eV/A) in *force. */
NNP_API double nnp_baseline_c6c8_table_pair(const nnp_baseline *b, int si, int sj, double r, double *force);

/* ---------------------------------------------------------------------------------------------------------------- */
/* Graphs: atoms, ghosts and neighbour lists                                                                        */

enum { NNP_EXCHANGE_FORWARD = 0, NNP_EXCHANGE_REVERSE = 1 };

/* Moves per-atom blocks of `width` doubles between owned atoms and their ghost images.
 * FORWARD: data[ghost] = data[owner]. REVERSE: data[owner] += data[ghost]; the core then ignores ghost values.
 * `data` holds n_total * width doubles. Returns 0 on success, anything else aborts the evaluation. */
typedef int (*nnp_exchange_fn)(void *ctx, double *data, int width, int direction);

/* Sizes: atom counts and indices are int; neighbour-list offsets are 64-bit, since full lists of ~140 entries per
 * atom pass 2^31 entries near 15 million atoms. One atom's list may hold at most NNP_MAX_NEIGHBOURS_PER_ATOM entries
 * (an evaluation refuses more with NNP_ERR_ARGUMENT; an ignored atom's list is not read).
 * Atoms with species < 0 are ignored: no energy, not a neighbour (LAMMPS types mapped to NULL). Each listed pair
 * within the cutoff is one edge i <- j, so a pair listed twice counts twice. Full lists (every local pair listed from
 * both sides, as LAMMPS's full lists and nnp_cell_graph_build give) take a faster path; any other list is valid. */
typedef struct {
  int n_local;                 /* atoms [0, n_local) are owned: they have neighbour lists and energies */
  int n_total;                 /* atoms [n_local, n_total) are ghosts (images or other ranks' atoms) */
  const int *species;          /* [n_total] model species index */
  const double *positions;     /* [n_total][3] Angstrom */
  const int64_t *neigh_offset; /* [n_local + 1]: neighbours of i are neigh_index[neigh_offset[i] .. [i+1]) */
  const int *neigh_index;      /* atom indices in [0, n_total); entries beyond the cutoff are skipped */
  nnp_exchange_fn exchange;    /* required when n_total > n_local and the model has more than one layer; when set it
                                  is called at every exchange (collective under MPI), even with no ghosts here */
  void *exchange_ctx;
} nnp_graph;

/* A graph for one periodic (or open) cell: ghosts are periodic images, exchange copies from their owners. */
typedef struct nnp_cell_graph nnp_cell_graph;

/* cell: rows are the lattice vectors a, b, c (Angstrom); pbc: periodic along each; cutoff: neighbour radius.
 * Positions may lie outside the cell: the graph wraps them in (its positions are the wrapped ones; results are the
 * same). Non-finite positions or a singular cell give NNP_ERR_GEOMETRY. */
NNP_API nnp_status nnp_cell_graph_build(int n_atoms, const int *species, const double *positions,
                                        const double cell[3][3], const int pbc[3], double cutoff, nnp_cell_graph **out,
                                        nnp_error *err);
NNP_API void nnp_cell_graph_free(nnp_cell_graph *g);
NNP_API const nnp_graph *nnp_cell_graph_view(const nnp_cell_graph *g);
/* Moves the atoms (n_local x 3, Angstrom) and their images, keeping the neighbour lists: valid while no pair
 * comes closer than the model cutoff that was farther than the graph's cutoff (build with a skin to allow moves). */
NNP_API nnp_status nnp_cell_graph_update_positions(nnp_cell_graph *g, const double *positions, nnp_error *err);
/* Owner (in [0, n_local)) of every atom, ghosts included. */
NNP_API const int *nnp_cell_graph_owner(const nnp_cell_graph *g);
/* Add per-atom rows of ghosts (forces, per-atom virials) onto their owners: data is n_total x width. */
NNP_API void nnp_cell_graph_fold(const nnp_cell_graph *g, double *data, int width);

/* ---------------------------------------------------------------------------------------------------------------- */
/* Evaluation                                                                                                        */

typedef struct nnp_workspace nnp_workspace;

/* Work buffers for evaluations; grows as needed; one per concurrent caller. n_threads <= 0: OpenMP default. */
NNP_API nnp_status nnp_workspace_create(const nnp_model *model, int n_threads, nnp_workspace **out, nnp_error *err);
NNP_API void nnp_workspace_free(nnp_workspace *ws);
/* Bytes of memory the workspace holds now (its buffers grow with the largest graph evaluated, and with radial
 * tables): what a host program reports as the potential's memory use. Counted from the heap's block sizes (glibc);
 * with another C library only the workspace's own struct. */
NNP_API size_t nnp_workspace_memory(const nnp_workspace *ws);

/* From now on evaluate the radial MLPs from cubic Hermite tables with knots `step` Angstrom apart (built now from
 * the model's current weights), instead of exactly; step 0 returns to exact evaluation. Tables make MD several
 * times faster; the force error they introduce is measured by tests/test_core.c (step 0.01 A: below 1e-6 eV/A for
 * the test models). Parameter gradients need exact evaluation. Rebuild after changing the weights. */
NNP_API nnp_status nnp_workspace_tabulate_radial(nnp_workspace *ws, double step, nnp_error *err);
/* The tables' estimated error: the largest difference from the exact radial functions at the middle of the table
 * intervals, relative to the largest value of those functions (0 for exact evaluation). A step whose tables would be
 * off by more than 1e-4 is refused by nnp_workspace_tabulate_radial (NNP_ERR_ARGUMENT, with a step that would do). */
NNP_API double nnp_workspace_radial_table_error(const nnp_workspace *ws);

typedef enum { NNP_PRECISION_DOUBLE = 0, NNP_PRECISION_SINGLE = 1 } nnp_precision;
/* Arithmetic of the convolutions (docs/performance.md, "float32"): NNP_PRECISION_SINGLE evaluates the radial
 * tables, the features they read, the messages and the tensor products in float32, with the edge gradients,
 * energies, forces and virials summed in float64; the per-atom dense layers stay in float64. It needs radial tables
 * (nnp_compute fails without them) and a model of l_max <= 2 (the generated kernels; NNP_ERR_ARGUMENT otherwise).
 * Parameter gradients are always float64. The default is NNP_PRECISION_DOUBLE. */
NNP_API nnp_status nnp_workspace_set_precision(nnp_workspace *ws, nnp_precision precision, nnp_error *err);

typedef struct {
  double energy;       /* eV, sum over local atoms */
  double virial[6];    /* eV: xx yy zz xy xz yz, -sum_e r_e (outer) dE/dr_e */
  double *atom_energy; /* [n_local] eV, or NULL */
  double *forces;      /* [n_total][3] eV/Angstrom, or NULL; ghost rows are to be folded onto their owners */
  double *atom_virial; /* [n_total][6] eV, or NULL; ghost rows likewise */
} nnp_result;

/* Energy and, where the result asks for them, forces and virials. Output arrays are overwritten, not added to. */
NNP_API nnp_status nnp_compute(const nnp_model *model, nnp_workspace *ws, const nnp_graph *graph, nnp_result *result,
                               nnp_error *err);

/* dE/dtheta for every parameter (size nnp_model_param_count), overwritten, in the same pass as what `result`
 * asks for (result may be NULL) and the energy (energy may be NULL). For training. */
NNP_API nnp_status nnp_compute_param_gradient(const nnp_model *model, nnp_workspace *ws, const nnp_graph *graph,
                                              nnp_result *result, double *energy, double *dE_dparams, nnp_error *err);

/* ---------------------------------------------------------------------------------------------------------------- */
/* Training passes (docs/training.md, "The force term's parameter gradient")                                        */

/* The radial functions of one optimiser step: a snapshot of the radial MLP weights and, with step > 0, the cubic
 * Hermite tables MD uses (nnp_workspace_tabulate_radial), knots `step` Angstrom apart; step 0: the exact MLP.
 * Rebuild after every change of the weights. Read-only once built: threads may share one. */
typedef struct nnp_train_radial nnp_train_radial;
NNP_API nnp_status nnp_train_radial_build(const nnp_model *model, double step, nnp_train_radial **out, nnp_error *err);
NNP_API void nnp_train_radial_free(nnp_train_radial *radial);
/* Length of the knot gradient that nnp_train_gradient accumulates (values and r-derivatives of every knot of every
 * table); 0 for the exact MLP. */
NNP_API size_t nnp_train_radial_knot_size(const nnp_train_radial *radial);
/* grad += the knot gradient carried to the radial MLP weights through the knots (indexed like the parameters). */
NNP_API nnp_status nnp_train_radial_backprop(const nnp_model *model, const nnp_train_radial *radial,
                                             const double *knot_grad, double *grad, nnp_error *err);

/* Work buffers of the training passes; single-threaded (a trainer runs one structure per thread). */
typedef struct nnp_train_workspace nnp_train_workspace;
NNP_API nnp_status nnp_train_workspace_create(const nnp_model *model, nnp_train_workspace **out, nnp_error *err);
NNP_API void nnp_train_workspace_free(nnp_train_workspace *ws);

/* Pass 1: energy (eV) and forces ([n_total][3] eV/Angstrom, ghost rows to fold onto their owners; may be NULL) with
 * the given radial functions; keeps the forward pass for nnp_train_gradient. */
NNP_API nnp_status nnp_train_forces(const nnp_model *model, nnp_train_workspace *ws, const nnp_train_radial *radial,
                                    const nnp_graph *graph, double *energy, double *forces, nnp_error *err);
/* Pass 2, right after nnp_train_forces on the same graph, positions, weights and radial functions:
 *   grad += w_energy dE/dtheta + w_dir d/dtheta <v, dE/dx>
 * exactly (a tangent sweep along v and one reverse sweep), v [n_total][3] a direction in configuration space (a
 * ghost's row is its owner's). With tables the radial part goes to knot_grad (added to, nnp_train_radial_knot_size
 * doubles; NULL allowed for the exact MLP), to be carried to the weights by nnp_train_radial_backprop. */
NNP_API nnp_status nnp_train_gradient(const nnp_model *model, nnp_train_workspace *ws, const nnp_train_radial *radial,
                                      const nnp_graph *graph, const double *v, double w_energy, double w_dir,
                                      double *grad, double *knot_grad, nnp_error *err);

#ifdef __cplusplus
}
#endif
#endif
