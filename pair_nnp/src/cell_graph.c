/* Graphs for one cell: periodic images become ghost atoms owned by their originals, neighbour lists come from a
 * Cartesian bin grid, and the feature exchange copies from / accumulates onto owners. Used by the tools, the
 * trainer and the tests; LAMMPS brings its own ghosts and lists. */
#include "nnp_internal.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct nnp_cell_graph {
  nnp_graph view;
  int *species, *owner, *index;
  int64_t *offset;
  double *positions;
  double *shift; /* [n_total][3]: position = owner's input position + shift (locals: their wrap into the cell) */
};

/* Coordinates beyond this (A) overflow the wrap into the cell (1e308 - 2e308) or the bin index, and double precision
 * no longer resolves neighbour distances there (its spacing at 1e9 A is 1e-7 A). */
static const double max_coordinate = 1e9;

static nnp_status check_positions(int n, const double *pos, nnp_error *err) {
  for (int i = 0; i < 3 * n; ++i) {
    if (!isfinite(pos[i])) return nnp_fail(err, NNP_ERR_GEOMETRY, "atom %d has a non-finite position", i / 3);
    if (fabs(pos[i]) > max_coordinate)
      return nnp_fail(err, NNP_ERR_GEOMETRY, "atom %d is at %g A along axis %d; coordinates beyond %g A are refused",
                      i / 3, pos[i], i % 3, max_coordinate);
  }
  return NNP_OK;
}

nnp_status nnp_cell_graph_update_positions(nnp_cell_graph *g, const double *pos, nnp_error *err) {
  if (!g || !pos) return nnp_fail(err, NNP_ERR_ARGUMENT, "nnp_cell_graph_update_positions: NULL argument");
  nnp_status s = check_positions(g->view.n_local, pos, err);
  if (s) return s;
  for (int q = 0; q < g->view.n_total; ++q)
    for (int k = 0; k < 3; ++k) g->positions[3 * q + k] = pos[3 * g->owner[q] + k] + g->shift[3 * q + k];
  return NNP_OK;
}

static int exchange_with_owners(void *ctx, double *data, int width, int direction) {
  const nnp_cell_graph *g = ctx;
  for (int q = g->view.n_local; q < g->view.n_total; ++q) {
    double *ghost = data + (size_t)q * width, *own = data + (size_t)g->owner[q] * width;
    if (direction == NNP_EXCHANGE_FORWARD)
      memcpy(ghost, own, (size_t)width * sizeof *ghost);
    else
      for (int k = 0; k < width; ++k) own[k] += ghost[k];
  }
  return 0;
}

void nnp_cell_graph_fold(const nnp_cell_graph *g, double *data, int width) {
  exchange_with_owners((void *)g, data, width, NNP_EXCHANGE_REVERSE);
}

const nnp_graph *nnp_cell_graph_view(const nnp_cell_graph *g) { return g ? &g->view : NULL; }
const int *nnp_cell_graph_owner(const nnp_cell_graph *g) { return g ? g->owner : NULL; }

void nnp_cell_graph_free(nnp_cell_graph *g) {
  if (!g) return;
  free(g->species);
  free(g->owner);
  free(g->offset);
  free(g->index);
  free(g->positions);
  free(g->shift);
  free(g);
}

static int invert3(const double a[3][3], double inv[3][3]) {
  double det = a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) +
               a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
  double scale = 0.0;
  for (int i = 0; i < 3; ++i) {
    double n = sqrt(a[i][0] * a[i][0] + a[i][1] * a[i][1] + a[i][2] * a[i][2]);
    scale = scale == 0.0 ? n : scale * n;
  }
  if (!isfinite(det) || fabs(det) <= 1e-10 * scale) return -1;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      int i1 = (j + 1) % 3, i2 = (j + 2) % 3, j1 = (i + 1) % 3, j2 = (i + 2) % 3;
      inv[i][j] = (a[i1][j1] * a[i2][j2] - a[i1][j2] * a[i2][j1]) / det;
    }
  return 0;
}

static int compare_ints(const void *a, const void *b) {
  const int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

/* The matrix whose inverse gives fractional coordinates. Only the periodic lattice vectors matter: the others never
 * shift an atom, so where they make the cell singular (a slab given with a zero c vector) each is replaced by a unit
 * vector normal to the vectors before it, which leaves the periodic directions' planes where they are. */
static int fractional_basis(const double cell[3][3], const int pbc[3], double inv[3][3]) {
  for (int k = 0; k < 3; ++k)
    for (int d = 0; d < 3 && pbc[k]; ++d)
      if (!isfinite(cell[k][d])) return -1;
  if (invert3(cell, inv) == 0) return 0;
  double basis[3][3] = {{0}};
  int order[3], n = 0;
  for (int k = 0; k < 3; ++k)
    if (pbc[k]) order[n++] = k;
  for (int k = 0; k < 3; ++k)
    if (!pbc[k]) order[n++] = k;
  for (int q = 0; q < 3; ++q) {
    const int k = order[q];
    if (pbc[k]) {
      memcpy(basis[k], cell[k], sizeof basis[k]);
      continue;
    }
    /* a unit vector orthogonal to the rows placed so far: cross product of two, or any normal of one */
    double v[3] = {0, 0, 0};
    if (q == 2) {
      const double *a = basis[order[0]], *b = basis[order[1]];
      v[0] = a[1] * b[2] - a[2] * b[1], v[1] = a[2] * b[0] - a[0] * b[2], v[2] = a[0] * b[1] - a[1] * b[0];
    } else {
      const double *a = basis[order[0]];
      const int small = fabs(a[0]) <= fabs(a[1]) && fabs(a[0]) <= fabs(a[2]) ? 0 : fabs(a[1]) <= fabs(a[2]) ? 1 : 2;
      double e[3] = {0, 0, 0};
      e[small] = 1.0;
      v[0] = a[1] * e[2] - a[2] * e[1], v[1] = a[2] * e[0] - a[0] * e[2], v[2] = a[0] * e[1] - a[1] * e[0];
    }
    const double norm = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    if (!(norm > 0.0)) return -1;
    for (int d = 0; d < 3; ++d) basis[k][d] = v[d] / norm;
  }
  return invert3(basis, inv);
}

/* out = pos moved by whole lattice vectors so that the fractional coordinates along periodic directions lie in
 * [0, 1); inv == NULL (no periodic direction): a copy. */
static void wrap_into_cell(int n, const double *pos, const double cell[3][3], const double inv[3][3], const int pbc[3],
                           double *out) {
  if (n > 0) memcpy(out, pos, 3 * (size_t)n * sizeof *out); /* pos may be NULL when there are no atoms */
  if (!inv) return;
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < 3; ++k) {
      if (!pbc[k]) continue;
      double f = pos[3 * i] * inv[0][k] + pos[3 * i + 1] * inv[1][k] + pos[3 * i + 2] * inv[2][k];
      double w = floor(f);
      if (w != 0.0)
        for (int d = 0; d < 3; ++d) out[3 * i + d] -= w * cell[k][d];
    }
}

/* Image shifts needed along each periodic direction so that every image within `cutoff` of an atom is found. */
static void image_ranges(int n, const double *pos, const double inv[3][3], const int pbc[3], double cutoff,
                         int range[3]) {
  for (int k = 0; k < 3; ++k) {
    range[k] = 0;
    if (!pbc[k] || n == 0) continue;
    /* fractional coordinate k is pos . inv[:,k]; planes of constant k are 1/|inv[:,k]| apart */
    double bn = sqrt(inv[0][k] * inv[0][k] + inv[1][k] * inv[1][k] + inv[2][k] * inv[2][k]);
    double fmin = INFINITY, fmax = -INFINITY;
    for (int i = 0; i < n; ++i) {
      double f = pos[3 * i] * inv[0][k] + pos[3 * i + 1] * inv[1][k] + pos[3 * i + 2] * inv[2][k];
      fmin = f < fmin ? f : fmin;
      fmax = f > fmax ? f : fmax;
    }
    double r = ceil(fmax - fmin + cutoff * bn);
    range[k] = r < 1e6 ? (int)r : 1000000; /* absurd ranges are refused by the caller */
  }
}

typedef struct {
  double lo[3];
  double width;
  int dims[3];
  int *head, *next;
} bin_grid;

static int bin_of(const bin_grid *b, const double *x, int c[3]) {
  for (int k = 0; k < 3; ++k) {
    c[k] = (int)floor((x[k] - b->lo[k]) / b->width);
    if (c[k] < 0) c[k] = 0;
    if (c[k] >= b->dims[k]) c[k] = b->dims[k] - 1;
  }
  return (c[2] * b->dims[1] + c[1]) * b->dims[0] + c[0];
}

nnp_status nnp_cell_graph_build(int n, const int *species, const double *pos, const double cell[3][3], const int pbc[3],
                                double cutoff, nnp_cell_graph **out, nnp_error *err) {
  if (n < 0 || (n > 0 && (!species || !pos)) || !cell || !pbc || !out || !(cutoff > 0.0))
    return nnp_fail(err, NNP_ERR_ARGUMENT, "nnp_cell_graph_build: bad arguments");
  nnp_status s = check_positions(n, pos, err);
  if (s) return s;
  for (int k = 0; k < 3; ++k)
    for (int d = 0; d < 3; ++d)
      if (!(fabs(cell[k][d]) <= max_coordinate))
        return nnp_fail(err, NNP_ERR_GEOMETRY, "cell vector %d has component %g A; beyond %g A is refused", k,
                        cell[k][d], max_coordinate);
  double inv[3][3];
  const int periodic = pbc[0] || pbc[1] || pbc[2];
  if (periodic && fractional_basis(cell, pbc, inv))
    return nnp_fail(err, NNP_ERR_GEOMETRY, "the cell is singular or not finite");
  /* Work with every atom wrapped into the cell along its periodic directions: unwrapped input (trajectories often
   * are) would otherwise spread the atoms over many cells, and every image inside their bounding box would become
   * a ghost. The wrap is a lattice translation, recorded in the locals' shifts, so results do not change. */
  const double *input = pos;
  double *wrapped = malloc((3 * (size_t)n + 1) * sizeof *wrapped);
  if (!wrapped) return nnp_fail(err, NNP_ERR_NOMEM, "out of memory");
  wrap_into_cell(n, input, cell, periodic ? inv : NULL, pbc, wrapped);
  pos = wrapped;
  int range[3] = {0, 0, 0};
  if (periodic) image_ranges(n, pos, inv, pbc, cutoff, range);
  if ((long long)(2 * range[0] + 1) * (2 * range[1] + 1) * (2 * range[2] + 1) > 100000) {
    free(wrapped);
    return nnp_fail(err, NNP_ERR_GEOMETRY, "the cell is too thin for the cutoff (%d x %d x %d images)", range[0],
                    range[1], range[2]);
  }

  nnp_cell_graph *g = calloc(1, sizeof *g);
  if (!g) {
    free(wrapped);
    return nnp_fail(err, NNP_ERR_NOMEM, "out of memory");
  }
  /* bounding box of the local atoms, grown by the cutoff: only images inside it can be neighbours */
  double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < 3; ++k) {
      lo[k] = pos[3 * i + k] < lo[k] ? pos[3 * i + k] : lo[k];
      hi[k] = pos[3 * i + k] > hi[k] ? pos[3 * i + k] : hi[k];
    }
  for (int k = 0; k < 3 && n > 0; ++k) lo[k] -= cutoff, hi[k] += cutoff;
  size_t cap = (size_t)n + 16, total = (size_t)n;
  g->positions = malloc(3 * cap * sizeof *g->positions);
  g->owner = malloc(cap * sizeof *g->owner);
  if (!g->positions || !g->owner) goto nomem;
  memcpy(g->positions, pos, 3 * (size_t)n * sizeof *pos);
  for (int i = 0; i < n; ++i) g->owner[i] = i;
  for (int a = -range[0]; a <= range[0]; ++a)
    for (int b = -range[1]; b <= range[1]; ++b)
      for (int c = -range[2]; c <= range[2]; ++c) {
        if (a == 0 && b == 0 && c == 0) continue;
        double shift[3];
        /* a zero multiple of a non-periodic vector stays out: that vector may be anything, even non-finite */
        for (int k = 0; k < 3; ++k)
          shift[k] = (a ? a * cell[0][k] : 0.0) + (b ? b * cell[1][k] : 0.0) + (c ? c * cell[2][k] : 0.0);
        for (int i = 0; i < n; ++i) {
          double y[3] = {pos[3 * i] + shift[0], pos[3 * i + 1] + shift[1], pos[3 * i + 2] + shift[2]};
          if (y[0] < lo[0] || y[0] > hi[0] || y[1] < lo[1] || y[1] > hi[1] || y[2] < lo[2] || y[2] > hi[2]) continue;
          if (total == cap) {
            cap *= 2;
            double *p = realloc(g->positions, 3 * cap * sizeof *p);
            if (!p) goto nomem;
            g->positions = p;
            int *o = realloc(g->owner, cap * sizeof *o);
            if (!o) goto nomem;
            g->owner = o;
          }
          memcpy(g->positions + 3 * total, y, sizeof y);
          g->owner[total++] = i;
        }
      }
  g->shift = malloc(3 * (total + 1) * sizeof *g->shift);
  if (!g->shift) goto nomem;
  for (size_t q = 0; q < total; ++q)
    for (int k = 0; k < 3; ++k) g->shift[3 * q + k] = g->positions[3 * q + k] - input[3 * g->owner[q] + k];
  g->species = malloc((total + 1) * sizeof *g->species);
  g->offset = malloc(((size_t)n + 1) * sizeof *g->offset);
  if (!g->species || !g->offset) goto nomem;
  for (size_t q = 0; q < total; ++q) g->species[q] = species[g->owner[q]];

  /* bin every atom, then collect each local atom's neighbours from the 27 surrounding bins */
  bin_grid bins = {{lo[0], lo[1], lo[2]}, cutoff, {1, 1, 1}, NULL, NULL};
  for (int k = 0; k < 3 && n > 0; ++k) {
    double span = hi[k] - lo[k];
    bins.dims[k] = span / cutoff > 200.0 ? 200 : (int)(span / cutoff) + 1;
  }
  bins.width = cutoff;
  for (int k = 0; k < 3 && n > 0; ++k)
    if ((hi[k] - lo[k]) / bins.dims[k] > bins.width) bins.width = (hi[k] - lo[k]) / bins.dims[k];
  size_t nbins = (size_t)bins.dims[0] * bins.dims[1] * bins.dims[2];
  bins.head = malloc(nbins * sizeof *bins.head);
  bins.next = malloc((total + 1) * sizeof *bins.next);
  if (!bins.head || !bins.next) {
    free(bins.head);
    free(bins.next);
    goto nomem;
  }
  for (size_t q = 0; q < nbins; ++q) bins.head[q] = -1;
  for (size_t q = total; q-- > 0;) {
    int c[3], b = bin_of(&bins, g->positions + 3 * q, c);
    bins.next[q] = bins.head[b];
    bins.head[b] = (int)q;
  }
  if (total > INT_MAX) {
    free(bins.head);
    free(bins.next);
    free(wrapped);
    nnp_cell_graph_free(g);
    return nnp_fail(err, NNP_ERR_ARGUMENT,
                    "%d atoms with their periodic images within %g A make %zu, more than the %d a graph can "
                    "index; split the system (e.g. over MPI ranks)",
                    n, cutoff, total, INT_MAX);
  }
  size_t ncap = (size_t)n * 64 + 16, nn = 0;
  g->index = malloc(ncap * sizeof *g->index);
  const double rc2 = cutoff * cutoff;
  for (int i = 0; i < n && g->index; ++i) {
    g->offset[i] = (int64_t)nn;
    int c[3];
    bin_of(&bins, pos + 3 * i, c);
    for (int dz = -1; dz <= 1; ++dz)
      for (int dy = -1; dy <= 1; ++dy)
        for (int dx = -1; dx <= 1; ++dx) {
          int x = c[0] + dx, y = c[1] + dy, z = c[2] + dz;
          if (x < 0 || y < 0 || z < 0 || x >= bins.dims[0] || y >= bins.dims[1] || z >= bins.dims[2]) continue;
          for (int q = bins.head[(z * bins.dims[1] + y) * bins.dims[0] + x]; q >= 0; q = bins.next[q]) {
            if (q == i) continue;
            const double *p = g->positions + 3 * (size_t)q;
            double d0 = p[0] - pos[3 * i], d1 = p[1] - pos[3 * i + 1], d2 = p[2] - pos[3 * i + 2];
            if (d0 * d0 + d1 * d1 + d2 * d2 >= rc2) continue;
            if (nn == ncap) {
              ncap *= 2;
              int *grown = realloc(g->index, ncap * sizeof *grown);
              if (!grown) {
                free(g->index);
                g->index = NULL;
                break;
              }
              g->index = grown;
            }
            g->index[nn++] = q;
          }
        }
    if (!g->index) break;
    /* bins are visited in a fixed order, but sort so a neighbour list reads naturally (qsort: a thin cell can give
     * an atom tens of thousands of image neighbours, where the insertion sort once took minutes) */
    qsort(g->index + g->offset[i], nn - (size_t)g->offset[i], sizeof *g->index, compare_ints);
  }
  free(bins.head);
  free(bins.next);
  if (!g->index) goto nomem;
  g->offset[n] = (int64_t)nn;
  g->view = (nnp_graph){n, (int)total, g->species, g->positions, g->offset, g->index, exchange_with_owners, g};
  free(wrapped);
  *out = g;
  return NNP_OK;
nomem:
  free(wrapped);
  nnp_cell_graph_free(g);
  return nnp_fail(err, NNP_ERR_NOMEM, "out of memory building the neighbour graph");
}
