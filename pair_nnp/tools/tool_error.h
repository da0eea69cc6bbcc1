/* The tools' one error convention below main (that of the core, nnp.h): a function that can fail returns an
 * nnp_status and writes its message into a caller's nnp_error; only main prints. Notices that are not errors (the
 * trainer's warnings) go through tool_notice, the one function that writes them. */
#ifndef NNP_TOOLS_TOOL_ERROR_H
#define NNP_TOOLS_TOOL_ERROR_H

#include "nnp.h"

#if defined(__GNUC__)
#define TOOL_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TOOL_PRINTF(f, a)
#endif

/* Writes the message (printf format) into err (may be NULL) and returns status. */
nnp_status tool_fail(nnp_error *err, nnp_status status, const char *fmt, ...) TOOL_PRINTF(3, 4);
/* Puts "prefix: " before the message already in err (unless it starts with it: a file named twice); returns
 * status. */
nnp_status tool_prefix(nnp_error *err, nnp_status status, const char *prefix);
/* A notice that is not an error ("warning: ...", or what a tool is about to do), "PROGRAM: what", to standard
 * error. */
void tool_notice(const char *program, const char *fmt, ...) TOOL_PRINTF(2, 3);

#endif
