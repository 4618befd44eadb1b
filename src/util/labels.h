/* Label lists and the small text fields that come from users and from model
 * metadata ("labels", "preprocess.mean"/"preprocess.std"): splitting, class
 * name matching, comma-separated floats.  Pure functions: no I/O, no
 * printing; fuzzed by fuzz/fuzz_labels.c. */
#ifndef CC_LABELS_H
#define CC_LABELS_H
#include <stddef.h>

/* Splits NUL-terminated text into lines (a trailing '\r' is dropped, and so is
 * an empty last line).  *out gets n malloc'd strings (free with
 * cc_labels_free).  Returns n, or -1 when out of memory or when there are more
 * than CC_LABELS_MAX lines. */
#define CC_LABELS_MAX (1 << 24)
int cc_labels_split(const char *text, char ***out);
void cc_labels_free(char **labels, int n);

/* Whether `name` names `label`: exactly (loose = 0), or (loose = 1)
 * case-insensitively, or as one of its comma-separated synonyms or its
 * parenthesised common name. */
int cc_label_matches(const char *label, const char *name, int loose);

/* The class that `name` names: strict matches first, then loose ones.
 * Returns the index; -1 when nothing matches; -2 when the loose match is
 * ambiguous (then *first is the first match and *count the number). */
int cc_label_find(char *const *labels, int n, const char *name, int *first, int *count);

/* Comma-separated floats ("0.485,0.456,0.406"): returns the count, or -1 when
 * malformed, not finite, or more than max values. */
int cc_parse_floats(const char *s, float *v, int max);
#endif
