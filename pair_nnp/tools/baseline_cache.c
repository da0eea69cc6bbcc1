/* baseline_cache: LAMMPS-computed baseline energies, virials and forces per frame, cached with a key of the inputs.
 * See baseline_cache.h; docs/training.md, "Baselines". */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */

#include "baseline_cache.h"

#include "extxyz.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAGIC "pair_nnp-baseline-cache 1"

/* LAMMPS's pressure in `units metal` is bar = virial (eV) * nktv2p / volume (A^3); nktv2p is this constant in
 * LAMMPS's update.cpp, so dividing by it recovers the virial to rounding. */
#define LAMMPS_METAL_NKTV2P 1.6021765e6

static nnp_status fail(nnp_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static nnp_status fail(nnp_error *err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
  return NNP_ERR_IO;
}

typedef struct {
  uint64_t h;
} fnv;
static void fnv_init(fnv *f) { f->h = 0xcbf29ce484222325ull; }
static void fnv_add(fnv *f, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; ++i) {
    f->h ^= b[i];
    f->h *= 0x100000001b3ull;
  }
}

/* FNV-1a of a file's bytes and its size. */
static int hash_file(const char *path, uint64_t *hash, long long *bytes, nnp_error *err) {
  FILE *f = fopen(path, "rb");
  if (!f) return fail(err, "%s: cannot open: %s", path, strerror(errno));
  fnv h;
  fnv_init(&h);
  char buf[1 << 16];
  size_t got;
  long long n = 0;
  while ((got = fread(buf, 1, sizeof buf, f)) > 0) fnv_add(&h, buf, got), n += (long long)got;
  int bad = ferror(f);
  fclose(f);
  if (bad) return fail(err, "%s: read error", path);
  *hash = h.h;
  *bytes = n;
  return 0;
}

const char *baseline_lammps_binary(const char *given) {
  if (given && *given) return given;
  const char *env = getenv("NNP_LMP");
  return env && *env ? env : "lmp";
}

int baseline_cache_path(const char *data_path, const char *cache_dir, const nnp_hyper *h, char *out, size_t size) {
  char def[2048];
  nnp_baseline_format(h, def, sizeof def);
  fnv f;
  fnv_init(&f);
  fnv_add(&f, def, strlen(def));
  const char *slash = strrchr(data_path, '/');
  const char *base = slash ? slash + 1 : data_path;
  int n;
  if (cache_dir && *cache_dir)
    n = snprintf(out, size, "%s/%s.baseline-%016llx", cache_dir, base, (unsigned long long)f.h);
  else
    n = snprintf(out, size, "%s.baseline-%016llx", data_path, (unsigned long long)f.h);
  return n < 0 || (size_t)n >= size ? -1 : 0;
}

void baseline_cache_free(baseline_cache *c) {
  free(c->n_atoms);
  free(c->first);
  free(c->energy);
  free(c->virial);
  free(c->forces);
  memset(c, 0, sizeof *c);
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* LAMMPS frames: LAMMPS wants a (restricted) triclinic cell with a along x and b in the xy plane. R rotates the
 * file's axes onto LAMMPS's (x_lammps = R x); forces and virials come back with R^T.                               */

static void cross(const double a[3], const double b[3], double c[3]) {
  c[0] = a[1] * b[2] - a[2] * b[1];
  c[1] = a[2] * b[0] - a[0] * b[2];
  c[2] = a[0] * b[1] - a[1] * b[0];
}
static double dot(const double a[3], const double b[3]) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

/* Rows of R are the unit vectors of LAMMPS's x, y, z in the file's axes. -1 for a left-handed or singular cell. */
static int lammps_rotation(const double cell[3][3], double R[3][3]) {
  double la = sqrt(dot(cell[0], cell[0]));
  if (!(la > 0)) return -1;
  for (int k = 0; k < 3; ++k) R[0][k] = cell[0][k] / la;
  double ab[3];
  cross(cell[0], cell[1], ab);
  double lab = sqrt(dot(ab, ab));
  if (!(lab > 0)) return -1;
  for (int k = 0; k < 3; ++k) R[2][k] = ab[k] / lab;
  cross(R[2], R[0], R[1]);
  return dot(cell[2], R[2]) > 0 ? 0 : -1;
}

static void rotate(const double R[3][3], const double v[3], double out[3]) {
  for (int i = 0; i < 3; ++i) out[i] = R[i][0] * v[0] + R[i][1] * v[1] + R[i][2] * v[2];
}
static void rotate_back(const double R[3][3], const double v[3], double out[3]) {
  for (int i = 0; i < 3; ++i) out[i] = R[0][i] * v[0] + R[1][i] * v[1] + R[2][i] * v[2];
}

/* One frame as a LAMMPS data file (atom_style charge; charges are set by the baseline's lines). */
static int write_data_file(const char *path, const xyz_frame *f, const int *species, int n_species, nnp_error *err) {
  double R[3][3], a[3], b[3], c[3];
  if (lammps_rotation(f->cell, R)) return fail(err, "the cell is singular or left-handed");
  rotate(R, f->cell[0], a);
  rotate(R, f->cell[1], b);
  rotate(R, f->cell[2], c);
  FILE *out = fopen(path, "w");
  if (!out) return fail(err, "%s: cannot write: %s", path, strerror(errno));
  fprintf(out, "pair_nnp baseline frame %ld\n\n%d atoms\n%d atom types\n\n", f->index, f->n_atoms, n_species);
  /* An orthorhombic cell stays an orthogonal LAMMPS box: pppm takes other code paths for triclinic boxes, which
   * agree with the orthogonal ones only to pppm's accuracy, and MD of such a cell runs in an orthogonal box. Tilts
   * below 1e-12 of the box length are rotation round-off of an orthorhombic cell. */
  const double tiny = 1e-12 * (a[0] + b[1] + c[2]);
  if (fabs(b[0]) < tiny) b[0] = 0.0;
  if (fabs(c[0]) < tiny) c[0] = 0.0;
  if (fabs(c[1]) < tiny) c[1] = 0.0;
  fprintf(out, "0 %.17g xlo xhi\n0 %.17g ylo yhi\n0 %.17g zlo zhi\n", a[0], b[1], c[2]);
  if (b[0] != 0.0 || c[0] != 0.0 || c[1] != 0.0) fprintf(out, "%.17g %.17g %.17g xy xz yz\n", b[0], c[0], c[1]);
  fprintf(out, "\nAtoms # charge\n\n");
  /* fractional coordinates wrapped into [0, 1): read_data then needs no remapping; energies and forces of a periodic
   * system do not depend on which image an atom is given as */
  double inv[3][3], bc[3], ca[3], ab[3];
  cross(f->cell[1], f->cell[2], bc);
  cross(f->cell[2], f->cell[0], ca);
  cross(f->cell[0], f->cell[1], ab);
  const double det = dot(f->cell[0], bc);
  for (int k = 0; k < 3; ++k) inv[0][k] = bc[k] / det, inv[1][k] = ca[k] / det, inv[2][k] = ab[k] / det;
  for (int i = 0; i < f->n_atoms; ++i) {
    const double *x = f->positions + 3 * i;
    double s[3], p[3];
    for (int k = 0; k < 3; ++k) {
      s[k] = dot(inv[k], x);
      s[k] -= floor(s[k]);
      if (s[k] >= 1.0) s[k] = 0.0;
    }
    for (int k = 0; k < 3; ++k) p[k] = s[0] * a[k] + s[1] * b[k] + s[2] * c[k];
    fprintf(out, "%d %d 0 %.17g %.17g %.17g\n", i + 1, species[i] + 1, p[0], p[1], p[2]);
  }
  if (fclose(out) != 0) return fail(err, "%s: write error", path);
  return 0;
}

/* The LAMMPS input for one frame: the baseline alone, run 0, then energy, virial*nktv2p and forces at full precision.
 */
static void write_frame_input(FILE *in, const nnp_hyper *h, long k, const char *elements, const char *lines) {
  (void)h;
  fprintf(in,
          "clear\nunits metal\natom_style charge\nboundary p p p\nread_data f%ld.data\nmass * 1.0\n%s"
          "compute nnp_pv all pressure NULL virial\nthermo_style custom step pe vol c_nnp_pv[1]\n"
          "thermo_modify format float %%.17g\nrun 0\n"
          "print \"%ld $(pe:%%.17g) $(c_nnp_pv[1]*vol:%%.17g) $(c_nnp_pv[2]*vol:%%.17g) $(c_nnp_pv[3]*vol:%%.17g) "
          "$(c_nnp_pv[4]*vol:%%.17g) $(c_nnp_pv[5]*vol:%%.17g) $(c_nnp_pv[6]*vol:%%.17g)\" append energies.txt "
          "screen no\n"
          "write_dump all custom f%ld.forces id fx fy fz modify sort id format float %%.17g\n",
          k, lines, k, k);
  (void)elements;
}

/* The LAMMPS error message in a log, for the caller's message; with a hint where LAMMPS lacks dispersion/d3. */
static void lammps_error(const char *log_path, nnp_error *err) {
  FILE *f = fopen(log_path, "r");
  char line[1024], last[1024] = "(no ERROR line in the log)";
  while (f && fgets(line, sizeof line, f))
    if (strstr(line, "ERROR")) {
      line[strcspn(line, "\n")] = '\0';
      snprintf(last, sizeof last, "%s", line);
    }
  if (f) fclose(f);
  const char *hint = strstr(last, "dispersion/d3") ? "; pair_style dispersion/d3 came with LAMMPS 7 Feb 2024 "
                                                     "(package EXTRA-PAIR): LAMMPS 2021 (Debian bookworm) lacks it, "
                                                     "build a newer LAMMPS (e.g. Debian trixie's)"
                     : (strstr(last, "pppm") || strstr(last, "coul/long"))
                         ? "; coul/long and pppm need the KSPACE package"
                         : "";
  snprintf(err->message, sizeof err->message, "LAMMPS failed (log %.100s): %.160s%.180s", log_path, last, hint);
}

static int version_from_log(const char *log_path, char *out, size_t size) {
  FILE *f = fopen(log_path, "r");
  char line[512];
  int found = 0;
  while (f && !found && fgets(line, sizeof line, f)) {
    char *p = strstr(line, "LAMMPS (");
    if (!p) continue;
    p += 8;
    char *e = strrchr(p, ')');
    if (!e) continue;
    *e = '\0';
    snprintf(out, size, "%s", p);
    found = 1;
  }
  if (f) fclose(f);
  return found ? 0 : -1;
}

/* Runs `lmp` in dir on in_name; its screen output goes to the log. Returns the exit status (0 = success). */
static int run_lammps(const char *lmp, const char *dir, const char *in_name, const char *log_name) {
  char cmd[8192];
  int n = snprintf(cmd, sizeof cmd, "cd '%s' && '%s' -nocite -log '%s' -screen none -in '%s' >/dev/null 2>&1", dir, lmp,
                   log_name, in_name);
  if (n < 0 || (size_t)n >= sizeof cmd || strchr(dir, '\'') || strchr(lmp, '\'')) return -1;
  return system(cmd);
}

nnp_status baseline_lammps_version(const char *lmp, char *out, size_t size, nnp_error *err) {
  char dir[] = "/tmp/pnnp-baseline-XXXXXX";
  if (!mkdtemp(dir)) return fail(err, "cannot make a temporary directory: %s", strerror(errno));
  char in[4200], log[4200];
  snprintf(in, sizeof in, "%s/in.empty", dir);
  snprintf(log, sizeof log, "%s/log.lammps", dir);
  FILE *f = fopen(in, "w");
  if (f) fclose(f);
  int rc = run_lammps(lmp, dir, "in.empty", "log.lammps");
  int bad = rc != 0 || version_from_log(log, out, size);
  remove(in);
  remove(log);
  rmdir(dir);
  if (bad) return fail(err, "cannot run LAMMPS as '%s' (set --lmp or NNP_LMP to the lmp binary)", lmp);
  return 0;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* The cache file                                                                                                   */

typedef struct {
  char *s;
  size_t n, cap;
  int oom;
} text;

static void tput(text *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void tput(text *t, const char *fmt, ...) {
  for (int attempt = 0; attempt < 2 && !t->oom; ++attempt) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(t->s ? t->s + t->n : NULL, t->s ? t->cap - t->n : 0, fmt, ap);
    va_end(ap);
    if (k < 0) {
      t->oom = 1;
      return;
    }
    if (t->s && (size_t)k < t->cap - t->n) {
      t->n += (size_t)k;
      return;
    }
    size_t cap = 2 * t->cap + (size_t)k + 4096;
    char *g = realloc(t->s, cap);
    if (!g) {
      t->oom = 1;
      return;
    }
    t->s = g;
    t->cap = cap;
  }
}

static int write_cache(const char *path, const char *def, uint64_t data_hash, long long data_bytes,
                       const baseline_cache *c, nnp_error *err) {
  text t = {NULL, 0, 0, 0};
  tput(&t, "%s\ndata_bytes %lld\ndata_fnv1a %016llx\nlammps_version %s\n%sframes %ld\n", CACHE_MAGIC, data_bytes,
       (unsigned long long)data_hash, c->lammps_version, def, c->n_frames);
  for (long k = 0; k < c->n_frames; ++k) {
    const double *v = c->virial + 6 * k;
    tput(&t, "frame %ld %d %.17g %.17g %.17g %.17g %.17g %.17g %.17g\n", k, c->n_atoms[k], c->energy[k], v[0], v[1],
         v[2], v[3], v[4], v[5]);
    for (int i = 0; i < c->n_atoms[k]; ++i) {
      const double *f = c->forces + 3 * (c->first[k] + i);
      tput(&t, "%.17g %.17g %.17g\n", f[0], f[1], f[2]);
    }
  }
  if (t.oom) {
    free(t.s);
    return fail(err, "out of memory writing %s", path);
  }
  fnv h;
  fnv_init(&h);
  fnv_add(&h, t.s, t.n);
  char tmp[4300];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    free(t.s);
    return fail(err, "%s: cannot write: %s", tmp, strerror(errno));
  }
  int ok = fwrite(t.s, 1, t.n, f) == t.n && fprintf(f, "checksum %016llx\n", (unsigned long long)h.h) > 0;
  ok = fclose(f) == 0 && ok;
  free(t.s);
  if (!ok || rename(tmp, path) != 0) {
    remove(tmp);
    return fail(err, "%s: write error", path);
  }
  return 0;
}

static char *read_all(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 20, len = 0;
  char *b = malloc(cap + 1);
  size_t got;
  while (b && (got = fread(b + len, 1, cap - len, f)) > 0) {
    len += got;
    if (len == cap) {
      char *g = realloc(b, 2 * cap + 1);
      if (!g) free(b);
      b = g;
      cap *= 2;
    }
  }
  int bad = ferror(f);
  fclose(f);
  if (!b || bad) {
    free(b);
    return NULL;
  }
  b[len] = '\0';
  *n = len;
  return b;
}

static int alloc_frames(baseline_cache *c, long n_frames, long n_atoms) {
  c->n_frames = n_frames;
  c->n_atoms = calloc((size_t)n_frames + 1, sizeof *c->n_atoms);
  c->first = calloc((size_t)n_frames + 1, sizeof *c->first);
  c->energy = calloc((size_t)n_frames + 1, sizeof *c->energy);
  c->virial = calloc(6 * (size_t)n_frames + 1, sizeof *c->virial);
  c->forces = calloc(3 * (size_t)n_atoms + 1, sizeof *c->forces);
  return c->n_atoms && c->first && c->energy && c->virial && c->forces ? 0 : -1;
}

/* Parses the body (checksum verified); fills c. */
static int parse_cache(char *body, const char *path, const char *def, uint64_t data_hash, long long data_bytes,
                       baseline_cache *c, nnp_error *err) {
  char *save = NULL, *line = strtok_r(body, "\n", &save);
  if (!line || strcmp(line, CACHE_MAGIC)) return fail(err, "%s: not a baseline cache (version 1)", path);
  long long bytes = -1;
  unsigned long long hash = 0;
  char cached_def[2048] = "";
  long n_frames = -1;
  while ((line = strtok_r(NULL, "\n", &save)) && n_frames < 0) {
    if (sscanf(line, "data_bytes %lld", &bytes) == 1 || sscanf(line, "data_fnv1a %llx", &hash) == 1) continue;
    if (!strncmp(line, "lammps_version ", 15)) {
      snprintf(c->lammps_version, sizeof c->lammps_version, "%s", line + 15);
    } else if (!strncmp(line, "baseline ", 9)) {
      size_t used = strlen(cached_def);
      snprintf(cached_def + used, sizeof cached_def - used, "%s\n", line);
    } else if (sscanf(line, "frames %ld", &n_frames) != 1) {
      return fail(err, "%s: unexpected line '%.80s'", path, line);
    }
  }
  if (strcmp(cached_def, def))
    return fail(err, "%s is stale: it holds another baseline definition (%.200s)", path, cached_def);
  if (bytes != data_bytes || hash != data_hash)
    return fail(err, "%s is stale: the data file changed since the cache was computed", path);
  if (n_frames < 1 || n_frames > 100000000L) return fail(err, "%s: bad frame count", path);
  /* first pass over the frame lines: atom counts */
  char *rest = line;
  long atoms = 0;
  long k = 0;
  char *frames_start = rest;
  if (!rest) return fail(err, "%s: no frames", path);
  rest[strlen(rest)] = '\n'; /* undo strtok's cut so the rest is parsed with strtod */
  for (char *p = frames_start; k < n_frames; ++k) {
    long idx;
    int na, used = 0;
    if (sscanf(p, "frame %ld %d%n", &idx, &na, &used) != 2 || idx != k || na < 1)
      return fail(err, "%s: frame %ld: bad header", path, k);
    atoms += na;
    for (int skip = 0; skip <= na; ++skip) {
      p = strchr(p, '\n');
      if (!p) return fail(err, "%s: frame %ld is truncated", path, k);
      ++p;
    }
  }
  if (alloc_frames(c, n_frames, atoms)) return fail(err, "out of memory reading %s", path);
  char *p = frames_start;
  long at = 0;
  for (k = 0; k < n_frames; ++k) {
    int used = 0;
    long idx;
    sscanf(p, "frame %ld %d%n", &idx, &c->n_atoms[k], &used);
    p += used;
    c->first[k] = at;
    for (int j = 0; j < 7; ++j) {
      char *e;
      double v = strtod(p, &e);
      if (e == p || !isfinite(v)) return fail(err, "%s: frame %ld: bad number", path, k);
      if (j == 0)
        c->energy[k] = v;
      else
        c->virial[6 * k + j - 1] = v;
      p = e;
    }
    for (long i = 0; i < 3L * c->n_atoms[k]; ++i) {
      char *e;
      double v = strtod(p, &e);
      if (e == p || !isfinite(v)) return fail(err, "%s: frame %ld: bad force", path, k);
      c->forces[3 * at + i] = v;
      p = e;
    }
    at += c->n_atoms[k];
    while (*p == ' ' || *p == '\n') ++p;
  }
  return 0;
}

nnp_status baseline_cache_load(const char *data_path, const char *cache_dir, const nnp_hyper *h, baseline_cache *c,
                               nnp_error *err) {
  memset(c, 0, sizeof *c);
  char path[4200], def[2048];
  if (baseline_cache_path(data_path, cache_dir, h, path, sizeof path)) return fail(err, "path too long");
  nnp_baseline_format(h, def, sizeof def);
  uint64_t data_hash;
  long long data_bytes;
  if (hash_file(data_path, &data_hash, &data_bytes, err)) return NNP_ERR_IO;
  size_t n = 0;
  char *b = read_all(path, &n);
  if (!b) return fail(err, "no baseline cache %s (%s)", path, strerror(errno));
  /* checksum line: the last line */
  size_t end = n;
  while (end > 0 && (b[end - 1] == '\n')) --end;
  size_t start = end;
  while (start > 0 && b[start - 1] != '\n') --start;
  unsigned long long stored;
  int rc = -1;
  if (end - start != 25 || sscanf(b + start, "checksum %llx", &stored) != 1) {
    fail(err, "%s has no checksum line (truncated?)", path);
  } else {
    fnv f;
    fnv_init(&f);
    fnv_add(&f, b, start);
    if (f.h != stored) {
      fail(err, "%s is damaged (checksum mismatch)", path);
    } else {
      b[start] = '\0';
      rc = parse_cache(b, path, def, data_hash, data_bytes, c, err);
    }
  }
  free(b);
  if (rc) baseline_cache_free(c);
  return rc;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Computing                                                                                                        */

typedef struct {
  char dir[4300];
  long n_frames;
} scratch;

static void scratch_remove(scratch *s) {
  char p[4500];
  for (long k = 0; k < s->n_frames; ++k) {
    snprintf(p, sizeof p, "%s/f%ld.data", s->dir, k);
    remove(p);
    snprintf(p, sizeof p, "%s/f%ld.forces", s->dir, k);
    remove(p);
  }
  const char *names[] = {"in.baseline", "energies.txt", "log.lammps", "c6c8.table"};
  for (int i = 0; i < 4; ++i) {
    snprintf(p, sizeof p, "%s/%s", s->dir, names[i]);
    remove(p);
  }
  rmdir(s->dir);
}

/* The c6c8 term's table file (docs/model.md, "Baselines"), which the frames' lines read as ${nnp_c6c8_table}. */
static int write_c6c8_table(const nnp_hyper *h, const scratch *s, FILE *in, nnp_error *err) {
  if (!h->baseline.c6c8) return 0;
  size_t n = nnp_baseline_c6c8_table(h, NULL, 0);
  char *table = malloc(n + 1), path[4500];
  if (!table) return fail(err, "out of memory");
  nnp_baseline_c6c8_table(h, table, n + 1);
  snprintf(path, sizeof path, "%s/c6c8.table", s->dir);
  FILE *f = fopen(path, "w");
  int ok = f && fwrite(table, 1, n, f) == n;
  ok = (f && fclose(f) == 0) && ok;
  free(table);
  if (!ok) return fail(err, "%s: cannot write", path);
  fprintf(in, "variable nnp_c6c8_table string c6c8.table\n"); /* `clear` keeps variables */
  return 0;
}

/* Writes one data file per frame and the input script; records atoms and rotations. */
static int prepare_frames(const char *data_path, const nnp_hyper *h, scratch *s, baseline_cache *c, double **rot,
                          nnp_error *err) {
  xyz_reader *r = NULL;
  nnp_error xe;
  if (xyz_reader_open(data_path, &r, &xe)) return fail(err, "%s", xe.message);
  char elements[NNP_MAX_SPECIES * 8] = "";
  for (int t = 0; t < h->n_species; ++t) {
    strcat(elements, t ? " " : "");
    strcat(elements, h->species[t]);
  }
  char lines[8192];
  nnp_baseline_lammps_lines(h, NULL, NULL, elements, 1, lines, sizeof lines);
  char in_path[4500];
  snprintf(in_path, sizeof in_path, "%s/in.baseline", s->dir);
  FILE *in = fopen(in_path, "w");
  xyz_frame f;
  xyz_frame_init(&f);
  int rc = in ? write_c6c8_table(h, s, in, err) : (int)fail(err, "%s: cannot write", in_path), got = 0;
  int *species = NULL;
  size_t cap_frames = 0, cap_atoms = 0, atoms = 0;
  nnp_status xst = NNP_OK;
  while (!rc && !(xst = xyz_reader_next(r, &f, &got, &xe)) && got) {
    char where[64];
    snprintf(where, sizeof where, "frame %ld, line %ld", f.index, f.line);
    if (!f.has_cell || !f.pbc[0] || !f.pbc[1] || !f.pbc[2]) {
      rc = fail(err, "%s: %s: the baseline needs periodic frames (Lattice, pbc T T T)", data_path, where);
      break;
    }
    int *sp = realloc(species, (size_t)f.n_atoms * sizeof *sp);
    if (!sp) {
      rc = fail(err, "out of memory");
      break;
    }
    species = sp;
    for (int i = 0; i < f.n_atoms && !rc; ++i) {
      species[i] = -1;
      for (int t = 0; t < h->n_species; ++t)
        if (!strcmp(f.symbols[i], h->species[t])) species[i] = t;
      if (species[i] < 0)
        rc = fail(err, "%s: %s: atom %d: element %s is not a species of the model", data_path, where, i, f.symbols[i]);
    }
    if (rc) break;
    if ((size_t)s->n_frames + 1 > cap_frames) {
      cap_frames = 2 * cap_frames + 64;
      int *na = realloc(c->n_atoms, cap_frames * sizeof *na);
      if (na) c->n_atoms = na;
      long *fi = realloc(c->first, cap_frames * sizeof *fi);
      if (fi) c->first = fi;
      double *ro = realloc(*rot, 9 * cap_frames * sizeof *ro);
      if (ro) *rot = ro;
      if (!na || !fi || !ro) {
        rc = fail(err, "out of memory");
        break;
      }
    }
    if (atoms + (size_t)f.n_atoms > cap_atoms) cap_atoms = 2 * (atoms + (size_t)f.n_atoms);
    char data[4500];
    snprintf(data, sizeof data, "%s/f%ld.data", s->dir, s->n_frames);
    nnp_error inner;
    if (write_data_file(data, &f, species, h->n_species, &inner)) {
      rc = fail(err, "%s: %s: %s", data_path, where, inner.message);
      break;
    }
    lammps_rotation(f.cell, (double(*)[3])(*rot + 9 * s->n_frames));
    c->n_atoms[s->n_frames] = f.n_atoms;
    c->first[s->n_frames] = (long)atoms;
    atoms += (size_t)f.n_atoms;
    write_frame_input(in, h, s->n_frames, elements, lines);
    s->n_frames++;
  }
  if (!rc && xst) rc = fail(err, "%s", xe.message);
  if (in && fclose(in) != 0 && !rc) rc = fail(err, "%s: write error", in_path);
  xyz_frame_free(&f);
  xyz_reader_close(r);
  free(species);
  c->n_frames = s->n_frames;
  if (!rc) {
    c->energy = calloc((size_t)c->n_frames, sizeof *c->energy);
    c->virial = calloc(6 * (size_t)c->n_frames, sizeof *c->virial);
    c->forces = calloc(3 * atoms + 1, sizeof *c->forces);
    if (!c->energy || !c->virial || !c->forces) rc = fail(err, "out of memory");
  }
  return rc;
}

/* Reads energies.txt and the force dumps, rotating back into the file's axes. */
static int collect_results(const scratch *s, const double *rot, baseline_cache *c, nnp_error *err) {
  char p[4500];
  snprintf(p, sizeof p, "%s/energies.txt", s->dir);
  FILE *f = fopen(p, "r");
  if (!f) return fail(err, "LAMMPS wrote no energies (%s)", p);
  for (long k = 0; k < c->n_frames; ++k) {
    long idx;
    double e, w[6];
    if (fscanf(f, "%ld %lf %lf %lf %lf %lf %lf %lf", &idx, &e, &w[0], &w[1], &w[2], &w[3], &w[4], &w[5]) != 8 ||
        idx != k) {
      fclose(f);
      return fail(err, "%s: frame %ld missing or malformed", p, k);
    }
    const double(*R)[3] = (const double(*)[3])(rot + 9 * k);
    /* pressure*volume -> virial (LAMMPS order xx yy zz xy xz yz), then W = R^T W' R */
    double Wl[3][3] = {{w[0], w[3], w[4]}, {w[3], w[1], w[5]}, {w[4], w[5], w[2]}}, W[3][3] = {{0}};
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b)
        for (int i = 0; i < 3; ++i)
          for (int j = 0; j < 3; ++j) W[a][b] += R[i][a] * Wl[i][j] * R[j][b] / LAMMPS_METAL_NKTV2P;
    double *v = c->virial + 6 * k;
    v[0] = W[0][0], v[1] = W[1][1], v[2] = W[2][2], v[3] = W[0][1], v[4] = W[0][2], v[5] = W[1][2];
    c->energy[k] = e;
  }
  fclose(f);
  for (long k = 0; k < c->n_frames; ++k) {
    snprintf(p, sizeof p, "%s/f%ld.forces", s->dir, k);
    FILE *d = fopen(p, "r");
    if (!d) return fail(err, "LAMMPS wrote no forces for frame %ld (%s)", k, p);
    char line[512];
    int header = 0;
    while (header < 9 && fgets(line, sizeof line, d)) header++;
    const double(*R)[3] = (const double(*)[3])(rot + 9 * k);
    for (int i = 0; i < c->n_atoms[k]; ++i) {
      int id;
      double fl[3];
      if (fscanf(d, "%d %lf %lf %lf", &id, &fl[0], &fl[1], &fl[2]) != 4 || id != i + 1) {
        fclose(d);
        return fail(err, "%s: atom %d missing or malformed", p, i + 1);
      }
      rotate_back(R, fl, c->forces + 3 * (c->first[k] + i));
    }
    fclose(d);
  }
  return 0;
}

nnp_status baseline_cache_compute(const char *data_path, const char *cache_dir, const nnp_hyper *h, const char *lmp,
                                  nnp_error *err) {
  if (!nnp_baseline_present(h)) return fail(err, "the model declares no baseline");
  char path[4200], def[2048];
  if (baseline_cache_path(data_path, cache_dir, h, path, sizeof path)) return fail(err, "path too long");
  nnp_baseline_format(h, def, sizeof def);
  uint64_t data_hash;
  long long data_bytes;
  if (hash_file(data_path, &data_hash, &data_bytes, err)) return NNP_ERR_IO;
  if (cache_dir && *cache_dir && mkdir(cache_dir, 0777) != 0 && errno != EEXIST)
    return fail(err, "cannot make the cache directory %s: %s", cache_dir, strerror(errno));
  scratch s;
  memset(&s, 0, sizeof s);
  snprintf(s.dir, sizeof s.dir, "%s.tmpXXXXXX", path);
  if (!mkdtemp(s.dir)) return fail(err, "cannot make a scratch directory %s: %s", s.dir, strerror(errno));
  baseline_cache c;
  memset(&c, 0, sizeof c);
  double *rot = NULL;
  int rc = prepare_frames(data_path, h, &s, &c, &rot, err), lammps_failed = 0;
  if (!rc) {
    int status = run_lammps(lmp, s.dir, "in.baseline", "log.lammps");
    char log[4500];
    snprintf(log, sizeof log, "%s/log.lammps", s.dir);
    if (status != 0) {
      nnp_error inner;
      lammps_error(log, &inner);
      rc = fail(err, "%s: %s", data_path, inner.message);
      lammps_failed = 1; /* its scratch directory stays for inspection: the message names its log */
    } else if (version_from_log(log, c.lammps_version, sizeof c.lammps_version)) {
      rc = fail(err, "no LAMMPS version line in %s", log);
    } else {
      rc = collect_results(&s, rot, &c, err);
    }
  }
  if (!rc) rc = write_cache(path, def, data_hash, data_bytes, &c, err);
  if (!lammps_failed) scratch_remove(&s);
  free(rot);
  baseline_cache_free(&c);
  return rc;
}
