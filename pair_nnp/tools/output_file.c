/* Output files that never overwrite an input and are never left half-written (output_file.h). */
#define _POSIX_C_SOURCE 200809L /* fileno, fsync, stat */

#include "output_file.h"

#include "tool_error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What a path names: an existing regular file by device and inode; a file to be created by its directory's device
 * and inode and its name. kind 0: not comparable (not given, standard input, a device or FIFO, an unusable path). */
typedef struct {
  int kind; /* 0 none, 1 existing file, 2 file to be created */
  dev_t dev;
  ino_t ino;
  const char *name; /* kind 2: the last path component */
} file_identity;

static file_identity identity_of(const char *path) {
  file_identity id = {0, 0, 0, NULL};
  struct stat st;
  if (!path || !path[0] || !strcmp(path, "-")) return id;
  if (stat(path, &st) == 0) {
    if (S_ISREG(st.st_mode)) id.kind = 1, id.dev = st.st_dev, id.ino = st.st_ino;
    return id;
  }
  const char *slash = strrchr(path, '/');
  id.name = slash ? slash + 1 : path;
  char dir[4096];
  if (!slash)
    strcpy(dir, ".");
  else if (slash == path)
    strcpy(dir, "/");
  else if ((size_t)(slash - path) < sizeof dir)
    memcpy(dir, path, (size_t)(slash - path)), dir[slash - path] = '\0';
  else
    return id;
  if (id.name[0] && stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) id.kind = 2, id.dev = st.st_dev, id.ino = st.st_ino;
  return id;
}

static int same_file(const file_identity *a, const file_identity *b) {
  return a->kind && a->kind == b->kind && a->dev == b->dev && a->ino == b->ino &&
         (a->kind == 1 || !strcmp(a->name, b->name));
}

nnp_status tool_outputs_distinct(const tool_path *inputs, int n_inputs, const tool_path *outputs, int n_outputs,
                                 nnp_error *err) {
  for (int o = 0; o < n_outputs; ++o) {
    const file_identity out = identity_of(outputs[o].path);
    for (int i = 0; i < n_inputs; ++i) {
      const file_identity in = identity_of(inputs[i].path);
      if (same_file(&out, &in)) {
        return tool_fail(err, NNP_ERR_ARGUMENT,
                         "%s %s is %s %s: writing it would destroy that input; choose another file", outputs[o].role,
                         outputs[o].path, inputs[i].role, inputs[i].path);
      }
    }
    for (int p = 0; p < o; ++p) {
      const file_identity other = identity_of(outputs[p].path);
      if (same_file(&out, &other)) {
        return tool_fail(err, NNP_ERR_ARGUMENT, "%s %s and %s %s are the same file; choose different files",
                         outputs[p].role, outputs[p].path, outputs[o].role, outputs[o].path);
      }
    }
  }
  return NNP_OK;
}

static char *copy_string(const char *s) {
  char *c = malloc(strlen(s) + 1);
  if (c) strcpy(c, s);
  return c;
}

nnp_status tool_output_open(tool_output *out, const char *path, const char *mode, nnp_error *err) {
  memset(out, 0, sizeof *out);
  struct stat st;
  const int direct = stat(path, &st) == 0 && !S_ISREG(st.st_mode);
  out->path = copy_string(path);
  if (!out->path) goto nomem;
  if (direct) {
    out->fp = fopen(path, mode);
    if (!out->fp) {
      tool_fail(err, NNP_ERR_IO, "%s: cannot open for writing: %s", path, strerror(errno));
      tool_output_discard(out);
      return NNP_ERR_IO;
    }
    return NNP_OK;
  }
  const size_t size = strlen(path) + 48;
  out->temp_path = malloc(size);
  if (!out->temp_path) goto nomem;
  for (int attempt = 0; attempt < 100; ++attempt) {
    snprintf(out->temp_path, size, "%s.tmp-%ld-%d", path, (long)getpid(), attempt);
    const int fd = open(out->temp_path, O_WRONLY | O_CREAT | O_EXCL, 0666);
    if (fd < 0 && errno == EEXIST) continue;
    if (fd < 0) break;
    out->fp = fdopen(fd, mode);
    if (!out->fp) {
      close(fd);
      break;
    }
    return NNP_OK;
  }
  tool_fail(err, NNP_ERR_IO, "%s: cannot create a temporary file next to it (%s): %s", path, out->temp_path,
            strerror(errno));
  tool_output_discard(out);
  return NNP_ERR_IO;
nomem:
  tool_fail(err, NNP_ERR_NOMEM, "%s: out of memory", path);
  tool_output_discard(out);
  return NNP_ERR_NOMEM;
}

nnp_status tool_output_commit(tool_output *out, nnp_error *err) {
  int ok = 1, errnum = 0;
  if (out->fp) {
    ok = fflush(out->fp) == 0 && !ferror(out->fp);
    if (!ok) errnum = errno;
    /* synced before the rename, so that a crash leaves the old file or the new one whole */
    if (ok && out->temp_path && fsync(fileno(out->fp)) != 0) ok = 0, errnum = errno;
    if (fclose(out->fp) != 0 && ok) ok = 0, errnum = errno;
    out->fp = NULL;
  }
  if (ok && out->temp_path && rename(out->temp_path, out->path) != 0) ok = 0, errnum = errno;
  if (!ok) {
    tool_fail(err, NNP_ERR_IO, "%s: write error: %s", out->path, errnum ? strerror(errnum) : "(unknown)");
    tool_output_discard(out);
    return NNP_ERR_IO;
  }
  free(out->temp_path);
  free(out->path);
  memset(out, 0, sizeof *out);
  return NNP_OK;
}

void tool_output_discard(tool_output *out) {
  if (out->fp) fclose(out->fp);
  if (out->temp_path) remove(out->temp_path);
  free(out->temp_path);
  free(out->path);
  memset(out, 0, sizeof *out);
}
