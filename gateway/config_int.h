/* config_int.h — what config.c and config_keys.c share; not part of the API. */
#ifndef LT_CONFIG_INT_H
#define LT_CONFIG_INT_H

/* Split a space- or comma-separated list into a NULL-terminated array of
 * strings (caller frees with lt_free_list). */
char **lt_split_list(const char *v);
/* Free what lt_split_list returned; NULL-safe. */
void lt_free_list(char **l);

#endif
