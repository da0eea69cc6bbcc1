/* Whole-token numbers for the tools' command lines and configuration files: the token must be all number. */
#ifndef NNP_TOOLS_NUMBERS_H
#define NNP_TOOLS_NUMBERS_H

/* An integer in [lo, hi]; 0: ok, -1: not an integer or out of range. */
int tool_parse_int(const char *s, long lo, long hi, int *out);
/* A finite number; 0: ok, -1: not a number or not finite. */
int tool_parse_real(const char *s, double *out);

#endif
