/* pair_style nnp: LAMMPS glue for the pair_nnp core. See pair_nnp_lammps.h and README.md. */

#include "pair_nnp_lammps.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "force.h"
#include "kspace.h"
#include "lammps.h"
#include "memory.h"
#include "neigh_list.h"
#include "neigh_request.h"
#include "neighbor.h"
#include "update.h"

#include "nnp.h"

#include <mpi.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

using namespace LAMMPS_NS;

// The LAMMPS API changed in 2022; CMakeLists.txt detects which one the headers offer:
//   NNP_LAMMPS_ADD_REQUEST: neighbor->add_request(this, NeighConst::REQ_FULL) (else the request/requests[] API);
//   NNP_LAMMPS_COMM_PAIR:   comm->forward_comm_pair(this) / reverse_comm_pair(this) (else forward_comm(this)).

namespace {

// 1 eV in kcal/mol (CODATA 2018: 23.060 547 83; LAMMPS's own metal->real conversion uses 23.060549).
constexpr double EV_TO_KCAL_PER_MOL = 23.060549;

int exchange_trampoline(void *ctx, double *data, int width, int direction) {
  return static_cast<PairNNP *>(ctx)->exchange(data, width, direction);
}

std::string species_list(const nnp_model *model) {
  const nnp_hyper *h = nnp_model_hyper(model);
  std::string s;
  for (int i = 0; i < h->n_species; i++) {
    if (i) s += ' ';
    s += h->species[i];
  }
  return s;
}

} // namespace

/* ---------------------------------------------------------------------------------------------------------------- */

PairNNP::PairNNP(LAMMPS *lmp)
    : Pair(lmp), model(nullptr), workspace(nullptr), workspace_threads(-1), workspace_step(-1.0), energy_unit(1.0),
      radial_step(0.01), precision_single(0), comm_data(nullptr), comm_width(0), lists_copied_at(-1),
      lists_copied_nlocal(-1), baseline_check(true) {
  single_enable = 0;
  restartinfo = 0;
  one_coeff = 1;
  manybody_flag = 1;
  no_virial_fdotr_compute = 1; // the core returns the virial of its edges directly
  centroidstressflag = CENTROID_NOTAVAIL;
  comm_forward = 0;
  comm_reverse = 0;
}

PairNNP::~PairNNP() {
  release_model();
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
  }
}

void PairNNP::release_model() {
  if (workspace) nnp_workspace_free(workspace);
  if (model) nnp_model_free(model);
  workspace = nullptr;
  model = nullptr;
  workspace_threads = -1;
  workspace_step = -1.0;
}

void PairNNP::allocate() {
  allocated = 1;
  int n = atom->ntypes;
  memory->create(setflag, n + 1, n + 1, "pair:setflag");
  memory->create(cutsq, n + 1, n + 1, "pair:cutsq");
  for (int i = 0; i <= n; i++)
    for (int j = 0; j <= n; j++) setflag[i][j] = 0;
}

/* ---------------------------------------------------------------------------------------------------------------- */

/* An error that only some ranks may see: ends the whole run. LAMMPS 2021 built with exceptions throws from
 * Error::one and its main() calls MPI_Abort without flushing the screen, so a piped stdout would lose the message;
 * print and flush it first there. */
void PairNNP::fail_one(const std::string &msg) {
#ifdef NNP_LAMMPS_COMM_PAIR
  if (screen) {
    fprintf(screen, "ERROR on proc %d: %s\n", comm->me, msg.c_str());
    fflush(screen);
  }
#endif
  error->one(FLERR, msg);
}

/* pair_style nnp [radial_step A] [precision single|double] [baseline check|ignore]: radial functions from cubic
 * Hermite tables with knots A Angstrom apart (default 0.01, force error ~1e-7 eV/A, several times faster), or exactly
 * with radial_step 0; convolutions in float32 or float64 (default; docs/performance.md, "float32"); `baseline
 * ignore` runs a model that declares a baseline without it (see check_baseline()). */
void PairNNP::settings(int narg, char **arg) {
  const std::string usage = "pair_style nnp takes the optional keywords `radial_step A` (Angstrom, 0 = exact), "
                            "`precision single|double` and `baseline check|ignore`; the model is named in pair_coeff";
  if (narg % 2) error->all(FLERR, usage);
  for (int k = 0; k < narg; k += 2) {
    const std::string key = arg[k], value = arg[k + 1];
    if (key == "radial_step") {
      char *end = nullptr;
      radial_step = strtod(arg[k + 1], &end);
      if (end == arg[k + 1] || *end || !(radial_step >= 0.0)) error->all(FLERR, usage + ": bad value " + value);
    } else if (key == "precision") {
      if (value != "single" && value != "double") error->all(FLERR, usage + ": bad precision " + value);
      precision_single = value == "single";
    } else if (key == "baseline" && (value == "check" || value == "ignore")) {
      baseline_check = value == "check";
    } else {
      error->all(FLERR, usage + ", not " + key + " " + value);
    }
  }
}

/* pair_coeff * * MODEL.nnp El1 El2 ... ElN   (one element symbol or NULL per LAMMPS atom type) */

void PairNNP::coeff(int narg, char **arg) {
  const int ntypes = atom->ntypes;
  if (!allocated) allocate();

  if (narg != 3 + ntypes)
    error->all(FLERR, "pair_coeff for pair_style nnp: expected `pair_coeff * * MODEL.nnp` followed by one element "
                      "symbol (or NULL) for each of the " +
                          std::to_string(ntypes) + " atom types, got " + std::to_string(narg < 3 ? 0 : narg - 3) +
                          " element argument(s)");
  if (strcmp(arg[0], "*") != 0 || strcmp(arg[1], "*") != 0)
    error->all(FLERR, std::string("pair_coeff for pair_style nnp must start with `* *`: the model covers all types"));

  // Rank 0 reads the file; every rank parses the broadcast bytes (one reader for thousands of ranks).
  model_path = arg[2];
  long long nbytes = -1; // < 0: rank 0 could not read the file, -1 - errno
  std::string bytes;
  if (comm->me == 0) {
    errno = 0;
    FILE *fp = fopen(model_path.c_str(), "rb");
    const char *potdir = getenv("LAMMPS_POTENTIALS"); // like LAMMPS's own potential files
    if (!fp && errno == ENOENT && potdir && *potdir && model_path[0] != '/') {
      std::string alt = std::string(potdir) + "/" + model_path;
      fp = fopen(alt.c_str(), "rb");
      if (!fp) errno = ENOENT;
    }
    if (!fp) {
      nbytes = -1 - (long long)errno;
    } else {
      char chunk[65536];
      size_t got;
      // beyond the size limit the parser refuses the file: stop reading there (a path to /dev/zero ends too)
      while (bytes.size() <= NNP_MODEL_MAX_BYTES && (got = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        bytes.append(chunk, got);
      nbytes = ferror(fp) ? -1 - (long long)EIO : (long long)bytes.size();
      fclose(fp);
    }
  }
  MPI_Bcast(&nbytes, 1, MPI_LONG_LONG, 0, world);
  if (nbytes < 0)
    error->all(FLERR, "pair_style nnp: cannot read model file " + model_path + ": " +
                          std::string(strerror((int)(-1 - nbytes))));
  bytes.resize((size_t)nbytes);
  for (long long off = 0; off < nbytes;) { // MPI counts are int: broadcast in chunks
    int n = (int)((nbytes - off) < (1LL << 30) ? (nbytes - off) : (1LL << 30));
    MPI_Bcast(&bytes[(size_t)off], n, MPI_CHAR, 0, world);
    off += n;
  }

  release_model();
  nnp_error err;
  err.message[0] = '\0';
  nnp_status st = nnp_model_parse(bytes.data(), bytes.size(), &model, &err);
  if (st != NNP_OK) {
    model = nullptr;
    error->all(FLERR, "pair_style nnp: cannot use model file " + model_path + " (" + nnp_status_string(st) +
                          "): " + err.message);
  }

  // LAMMPS types -> model species; several types may share a species; NULL leaves a type to other sub-styles.
  type_species.assign(ntypes + 1, -1);
  for (int t = 1; t <= ntypes; t++) {
    const char *el = arg[2 + t];
    if (strcmp(el, "NULL") == 0) continue;
    int s = nnp_model_species_index(model, el);
    if (s < 0)
      error->all(FLERR, "pair_coeff for pair_style nnp: element " + std::string(el) + " (atom type " +
                            std::to_string(t) + ") is not a species of model " + model_path +
                            " (species: " + species_list(model) + ")");
    type_species[t] = s;
  }
  int nnull = 0;
  for (int t = 1; t <= ntypes; t++)
    if (type_species[t] < 0) nnull++;
  if (nnull == ntypes)
    error->all(FLERR, std::string("pair_coeff for pair_style nnp: every atom type is mapped to NULL"));
  if (nnull > 0 && force->pair == this) {
    for (int t = 1; t <= ntypes; t++)
      if (type_species[t] < 0)
        error->all(FLERR, "pair_coeff for pair_style nnp: atom type " + std::to_string(t) +
                              " is mapped to NULL, which is only allowed when nnp is a sub-style of pair_style "
                              "hybrid or hybrid/overlay (another style must then cover that type)");
  }

  for (int i = 1; i <= ntypes; i++)
    for (int j = i; j <= ntypes; j++) setflag[i][j] = (type_species[i] >= 0 && type_species[j] >= 0) ? 1 : 0;

  // Feature exchange moves up to this many doubles per atom; LAMMPS sizes its comm buffers from these.
  comm_forward = comm_reverse = nnp_model_feature_width(model);
}

/* ---------------------------------------------------------------------------------------------------------------- */

void PairNNP::init_style() {
  lists_copied_at = -1; // a new list is requested below: copy it at the next compute()
  if (!model) error->all(FLERR, std::string("pair_style nnp: no model loaded (missing pair_coeff * * MODEL ...)"));
  if (force->newton_pair == 0)
    error->all(FLERR, std::string("pair_style nnp requires newton pair on: forces and feature adjoints on ghost "
                                  "atoms are reverse-communicated to their owners"));

  const std::string units = update->unit_style;
  if (units == "metal")
    energy_unit = 1.0;
  else if (units == "real")
    energy_unit = EV_TO_KCAL_PER_MOL;
  else
    error->all(FLERR, "pair_style nnp supports units metal and real (Angstrom lengths), not units " + units);

  // Comm buffers are sized (in Comm::init, after this) from force->pair's comm_forward/comm_reverse. pair_style
  // hybrid takes the maximum over its sub-styles when `pair_style` is read, before pair_coeff has told us the
  // model's feature width: raise the parent's sizes here or the exchange would overrun LAMMPS's buffers.
  if (force->pair && force->pair != this) {
    if (force->pair->comm_forward < comm_forward) force->pair->comm_forward = comm_forward;
    if (force->pair->comm_reverse < comm_reverse) force->pair->comm_reverse = comm_reverse;
  }

  check_baseline();

  // A full neighbour list: every local atom sees all its neighbours, local or ghost.
#ifdef NNP_LAMMPS_ADD_REQUEST
  neighbor->add_request(this, NeighConst::REQ_FULL);
#else
  int irequest = neighbor->request(this, instance_me);
  neighbor->requests[irequest]->half = 0;
  neighbor->requests[irequest]->full = 1;
#endif

  // One workspace, threaded with LAMMPS's OpenMP threads per rank (OMP_NUM_THREADS, -pk omp N).
  int nthreads = comm->nthreads > 0 ? comm->nthreads : 1;
  if (!workspace || workspace_threads != nthreads) {
    if (workspace) nnp_workspace_free(workspace);
    workspace = nullptr;
    nnp_error err;
    err.message[0] = '\0';
    nnp_status st = nnp_workspace_create(model, nthreads, &workspace, &err);
    if (st != NNP_OK) {
      workspace = nullptr;
      fail_one(std::string("pair_style nnp: cannot create the workspace: ") + err.message);
    }
    workspace_threads = nthreads;
    workspace_step = -1.0;
  }
  // A re-issued `pair_style nnp radial_step X` reaches settings() of this instance: rebuild the tables for it.
  if (workspace_step != radial_step) {
    nnp_error err;
    err.message[0] = '\0';
    if (nnp_workspace_tabulate_radial(workspace, radial_step, &err) != NNP_OK)
      error->all(FLERR, std::string("pair_style nnp: cannot tabulate the radial functions: ") + err.message);
    workspace_step = radial_step;
    if (comm->me == 0) {
      char line[256];
      if (radial_step > 0.0)
        snprintf(line, sizeof line,
                 "pair_style nnp: radial functions from tables with knots %g A apart; estimated table error %.2g of "
                 "the functions' range\n",
                 radial_step, nnp_workspace_radial_table_error(workspace));
      else
        snprintf(line, sizeof line, "pair_style nnp: radial functions evaluated exactly (radial_step 0)\n");
      if (screen) fputs(line, screen);
      if (logfile) fputs(line, logfile);
    }
  }
  // Set at every init, so that a re-issued `pair_style nnp precision X` applies too.
  if (precision_single && radial_step == 0.0)
    error->all(FLERR, "pair_style nnp: precision single needs radial tables (radial_step > 0)");
  nnp_error err;
  err.message[0] = '\0';
  if (nnp_workspace_set_precision(workspace, precision_single ? NNP_PRECISION_SINGLE : NNP_PRECISION_DOUBLE, &err) !=
      NNP_OK)
    error->all(FLERR, std::string("pair_style nnp: ") + err.message);
}

/* A model trained on top of a baseline (docs/model.md, "Baselines") gives the physical forces only together with
 * it: refuse a run that lacks any of its LAMMPS lines, and name them. What is checked: the sub-styles
 * dispersion/d3, born + table (c6c8) and coul/long exist (coul/long with the model's cutoff), kspace pppm with the
 * model's accuracy, and every atom of a type mapped to a species carries that species' charge. D3's damping, functional
 * and cutoffs are not visible from here (dispersion/d3 does not export them). `baseline ignore` skips the check. */
void PairNNP::check_baseline() {
  const nnp_hyper *h = nnp_model_hyper(model);
  if (!nnp_baseline_present(h)) return;
  const nnp_baseline &b = h->baseline;
  std::string missing;
  auto miss = [&](const std::string &what) { missing += (missing.empty() ? "" : "; ") + what; };
  char num[64];
  if (b.d3 && !force->pair_match("dispersion/d3", 1)) {
    if (force->pair_map && !force->pair_map->count("dispersion/d3"))
      miss("pair_style dispersion/d3, which this LAMMPS (" + std::string(lmp->version) +
           ") does not have: it came with LAMMPS 7 Feb 2024 (package EXTRA-PAIR); LAMMPS 2021 (Debian bookworm) "
           "lacks it");
    else
      miss("the hybrid/overlay sub-style dispersion/d3");
  }
  if (b.c6c8) {
    // the table's file and cutoffs are not checked: the include names the file by a hash of the c6c8 line
    if (!force->pair_match("born", 1)) miss("the hybrid/overlay sub-style born (the c6c8 dispersion baseline)");
    if (!force->pair_match("table", 1)) miss("the hybrid/overlay sub-style table (the c6c8 dispersion baseline)");
  }
  if (b.coulomb) {
    Pair *coul = force->pair_match("coul/long", 1);
    int dim = 0;
    double *cut = coul ? static_cast<double *>(coul->extract("cut_coul", dim)) : nullptr;
    if (!coul) {
      miss("the hybrid/overlay sub-style coul/long");
    } else if (cut && std::fabs(*cut - b.coul_cutoff) > 1e-12 * b.coul_cutoff) {
      snprintf(num, sizeof num, "%.17g (the run has %.17g)", b.coul_cutoff, *cut);
      miss(std::string("coul/long with cutoff ") + num);
    }
    if (!force->kspace || !force->kspace_match("pppm", 1)) {
      miss("kspace_style pppm");
    } else if (std::fabs(force->kspace->accuracy_relative - b.kspace_accuracy) > 1e-12 * b.kspace_accuracy) {
      snprintf(num, sizeof num, "%.17g (the run has %.17g)", b.kspace_accuracy, force->kspace->accuracy_relative);
      miss(std::string("kspace_style pppm with accuracy ") + num);
    }
    const double eps = b.coul_dielectric > 0 ? b.coul_dielectric : 1.0;
    if (std::fabs(force->dielectric - eps) > 1e-12 * eps) {
      snprintf(num, sizeof num, "%.17g (the run has %.17g)", eps, force->dielectric);
      miss(std::string("dielectric ") + num);
    }
    long long wrong = 0, first_tag = -1;
    if (!atom->q_flag) {
      miss("per-atom charges (atom_style charge or full)");
    } else {
      for (int i = 0; i < atom->nlocal; i++) {
        int s = type_species[atom->type[i]];
        if (s >= 0 && std::fabs(atom->q[i] - b.charge[s]) > 1e-12 * (1.0 + std::fabs(b.charge[s]))) {
          if (!wrong++) first_tag = (long long)atom->tag[i];
        }
      }
      long long all = 0, tag = -1;
      MPI_Allreduce(&wrong, &all, 1, MPI_LONG_LONG, MPI_SUM, world);
      MPI_Allreduce(&first_tag, &tag, 1, MPI_LONG_LONG, MPI_MAX, world);
      if (all)
        miss(std::to_string(all) + " atoms (e.g. atom ID " + std::to_string(tag) +
             ") whose charge is not the model's charge of their species (set type N charge Q)");
    }
  }
  if (missing.empty()) return;
  if (!baseline_check) {
    if (comm->me == 0)
      error->warning(FLERR, "pair_style nnp: model " + model_path +
                                " was trained on top of a baseline that this "
                                "run lacks (" +
                                missing + "); running without it (baseline ignore)");
    return;
  }
  char buf[8192];
  nnp_baseline_lammps_lines(h, nullptr, "${model}", "${elements}", 0, buf, sizeof buf);
  // The include file's charge loop over ${elements} is long; this run's type -> species map gives it directly.
  std::string lines = buf;
  size_t loop = lines.find("variable nnp_element");
  if (loop != std::string::npos) {
    lines.erase(loop);
    for (int t = 1; t < (int)type_species.size(); t++)
      if (type_species[t] >= 0) {
        snprintf(num, sizeof num, "%.15g", b.charge[type_species[t]]); // within the 1e-12 the check allows
        lines += "set type " + std::to_string(t) + " charge " + num + "\n";
      }
  }
  error->all(FLERR, "pair_style nnp: model " + model_path +
                        " was trained on top of a long-range baseline that "
                        "LAMMPS adds, and this run lacks: " +
                        missing +
                        ". The model's lines (potentials/NAME.lammps "
                        "holds them) are:\n" +
                        std::string(lines) +
                        "Add `baseline ignore` to pair_style nnp to run "
                        "without them (the forces are then not those of the trained potential).");
}

/* The cutoff of a type pair is the model's cutoff of the species pair; the ghost shell is r_cut (+ skin), not
 * layers x r_cut: features beyond it arrive through the exchange. */

double PairNNP::init_one(int i, int j) {
  if (!model || type_species[i] < 0 || type_species[j] < 0) return 0.0;
  const nnp_hyper *h = nnp_model_hyper(model);
  double c = h->pair_cutoff[type_species[i]][type_species[j]];
  if (!(c > 0.0)) c = h->r_cut;
  return c;
}

/* ---------------------------------------------------------------------------------------------------------------- */

/* CSR neighbour lists indexed by local atom; atoms absent from ilist (hybrid skip lists) get none. The copy is
 * redone only when LAMMPS has rebuilt its lists (Neighbor::ncalls counts the builds): in between, the lists and the
 * atom order do not change, and copying some 100 candidates per atom every step was serial work that held back
 * threads. */
void PairNNP::copy_neighbour_lists(int nlocal) {
  const int inum = list->inum;
  const int *ilist = list->ilist;
  const int *numneigh = list->numneigh;
  int **firstneigh = list->firstneigh;
  neigh_offset.assign((size_t)nlocal + 1, 0);
  for (int ii = 0; ii < inum; ii++) {
    int i = ilist[ii];
    if (i < nlocal) neigh_offset[i + 1] = numneigh[i];
  }
  // 64-bit offsets (nnp_graph): full lists of ~140 candidates per atom pass 2^31 entries near 15 million atoms
  for (int i = 0; i < nlocal; i++) neigh_offset[i + 1] += neigh_offset[i];
  neigh_index.resize(neigh_offset[nlocal] > 0 ? (size_t)neigh_offset[nlocal] : 1);
  for (int ii = 0; ii < inum; ii++) {
    int i = ilist[ii];
    if (i >= nlocal) continue;
    const int *jlist = firstneigh[i];
    int *out = neigh_index.data() + neigh_offset[i];
    for (int jj = 0; jj < numneigh[i]; jj++) out[jj] = jlist[jj] & NEIGHMASK;
  }

  lists_copied_at = neighbor->ncalls;
  lists_copied_nlocal = nlocal;
}

void PairNNP::compute(int eflag, int vflag) {
  ev_init(eflag, vflag);

  const int nlocal = atom->nlocal;
  const int nall = nlocal + atom->nghost;
  const int *type = atom->type;

  // Species (LAMMPS types mapped to NULL become -1: the core leaves those atoms out).
  species.resize(nall > 0 ? nall : 1);
  for (int i = 0; i < nall; i++) species[i] = type_species[type[i]];

  if (neighbor->ncalls != lists_copied_at || nlocal != lists_copied_nlocal) copy_neighbour_lists(nlocal);
  positions_empty.assign(3, 0.0);
  nnp_graph graph;
  graph.n_local = nlocal;
  graph.n_total = nall;
  graph.species = species.data();
  graph.positions = (nall > 0 && atom->x) ? &atom->x[0][0] : positions_empty.data();
  graph.neigh_offset = neigh_offset.data();
  graph.neigh_index = neigh_index.data();
  graph.exchange = exchange_trampoline;
  graph.exchange_ctx = this;

  const bool want_eatom = eflag_atom != 0;
  const bool want_vatom = vflag_atom != 0;
  forces.resize(3 * (size_t)(nall > 0 ? nall : 1));
  if (want_eatom) atom_energy.resize(nlocal > 0 ? nlocal : 1);
  if (want_vatom) atom_virial.resize(6 * (size_t)(nall > 0 ? nall : 1));

  nnp_result res;
  res.energy = 0.0;
  for (double &v : res.virial) v = 0.0;
  res.forces = forces.data();
  res.atom_energy = want_eatom ? atom_energy.data() : nullptr;
  res.atom_virial = want_vatom ? atom_virial.data() : nullptr;

  nnp_error err;
  err.message[0] = '\0';
  nnp_status st = nnp_compute(model, workspace, &graph, &res, &err);
  // Other ranks may be waiting in a feature exchange: a failure here must abort the whole run.
  if (st != NNP_OK)
    fail_one(std::string("pair_style nnp: evaluation failed on step ") + std::to_string(update->ntimestep) + " (" +
             nnp_status_string(st) + "): " + err.message);

  const double u = energy_unit;
  double **f = atom->f;
  for (int i = 0; i < nall; i++) {
    f[i][0] += u * forces[3 * i + 0];
    f[i][1] += u * forces[3 * i + 1];
    f[i][2] += u * forces[3 * i + 2];
  }
  if (eflag_global) eng_vdwl += u * res.energy;
  if (vflag_global)
    for (int k = 0; k < 6; k++) virial[k] += u * res.virial[k];
  if (want_eatom)
    for (int i = 0; i < nlocal; i++) eatom[i] += u * atom_energy[i];
  if (want_vatom)
    for (int i = 0; i < nall; i++)
      for (int k = 0; k < 6; k++) vatom[i][k] += u * atom_virial[6 * i + k];
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Feature exchange: the core hands us a buffer of n_total x width doubles; LAMMPS's comm moves the rows.           */

int PairNNP::exchange(double *data, int width, int direction) {
  if (width < 0 || width > comm_forward) return 1;
  comm_data = data;
  comm_width = width;
  if (direction == NNP_EXCHANGE_FORWARD) {
#ifdef NNP_LAMMPS_COMM_PAIR
    comm->forward_comm_pair(this);
#else
    comm->forward_comm(this);
#endif
  } else if (direction == NNP_EXCHANGE_REVERSE) {
#ifdef NNP_LAMMPS_COMM_PAIR
    comm->reverse_comm_pair(this);
#else
    comm->reverse_comm(this);
#endif
  } else {
    return 1;
  }
  comm_data = nullptr;
  return 0;
}

int PairNNP::pack_forward_comm(int n, int *list, double *buf, int /*pbc_flag*/, int * /*pbc*/) {
  const int w = comm_width;
  int m = 0;
  for (int i = 0; i < n; i++) {
    const double *src = comm_data + (size_t)list[i] * w;
    for (int k = 0; k < w; k++) buf[m++] = src[k];
  }
  return m;
}

void PairNNP::unpack_forward_comm(int n, int first, double *buf) {
  const int w = comm_width;
  int m = 0;
  for (int i = first; i < first + n; i++) {
    double *dst = comm_data + (size_t)i * w;
    for (int k = 0; k < w; k++) dst[k] = buf[m++];
  }
}

int PairNNP::pack_reverse_comm(int n, int first, double *buf) {
  const int w = comm_width;
  int m = 0;
  for (int i = first; i < first + n; i++) {
    const double *src = comm_data + (size_t)i * w;
    for (int k = 0; k < w; k++) buf[m++] = src[k];
  }
  return m;
}

void PairNNP::unpack_reverse_comm(int n, int *list, double *buf) {
  const int w = comm_width;
  int m = 0;
  for (int i = 0; i < n; i++) {
    double *dst = comm_data + (size_t)list[i] * w;
    for (int k = 0; k < w; k++) dst[k] += buf[m++];
  }
}

double PairNNP::memory_usage() {
  double bytes = Pair::memory_usage();
  bytes += (double)(species.capacity() + neigh_index.capacity()) * sizeof(int);
  bytes += (double)neigh_offset.capacity() * sizeof(int64_t);
  bytes += (double)(forces.capacity() + atom_energy.capacity() + atom_virial.capacity()) * sizeof(double);
  if (workspace) bytes += (double)nnp_workspace_memory(workspace); // the largest part: the evaluation's buffers
  return bytes;
}
