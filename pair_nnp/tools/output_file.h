/* Output files of the tools (pnnp-eval --predictions; pnnp-train's model, learning curve and checkpoint):
 *  - an output may not be one of the tool's inputs or another of its outputs: compared by file identity (device and
 *    inode, so other spellings, hard links and symbolic links count; a file not created yet by its directory's
 *    identity and its name), so a careless command line cannot truncate the data or the model it reads;
 *  - an output is written to a temporary file next to it and renamed over it when complete, so a failed or
 *    interrupted run leaves the previous file (or none), never half of one; the temporary file is removed on failure.
 * Outputs that exist and are not regular files (/dev/null, a FIFO, /dev/stdout) are written directly and are not
 * compared: writing to them twice destroys nothing.
 */
#ifndef NNP_TOOLS_OUTPUT_FILE_H
#define NNP_TOOLS_OUTPUT_FILE_H

#include "nnp.h"

#include <stddef.h>
#include <stdio.h>

typedef struct {
  const char *path; /* NULL or "" (an option not given) is skipped; "-" (standard input) too */
  const char *role; /* for messages: "the training data", "the model output", ... */
} tool_path;

/* NNP_OK when no output is the same file as an input or as another output; NNP_ERR_ARGUMENT with a message naming
 * both otherwise. */
nnp_status tool_outputs_distinct(const tool_path *inputs, int n_inputs, const tool_path *outputs, int n_outputs,
                                 nnp_error *err);

typedef struct {
  FILE *fp;        /* the stream to write (the temporary file, or the target itself when it is not regular) */
  char *path;      /* the target */
  char *temp_path; /* the temporary file, NULL when writing the target directly */
} tool_output;

/* Creates the temporary file "PATH.tmp-PID-N" (never an existing file) and opens it for writing ("w" or "wb").
 * Returns NNP_OK, or an error with a message. */
nnp_status tool_output_open(tool_output *out, const char *path, const char *mode, nnp_error *err);
/* Flushes, syncs and closes the stream (when still open) and renames the temporary file over the target. On any
 * failure the temporary file is removed and an error returned with a message; the target is then untouched. */
nnp_status tool_output_commit(tool_output *out, nnp_error *err);
/* Closes the stream and removes the temporary file: nothing is written to the target. */
void tool_output_discard(tool_output *out);

#endif
