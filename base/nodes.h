/* Node lists, as sysfs and numactl write them ("0-3,8"; "" is empty),
 * for node masks of one uint64_t: options, tier discovery, the CLI. */
#ifndef TS_NODES_H
#define TS_NODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define TS_NODES_MAX 64 /* node masks are one uint64_t */

/* End of a sysfs value: the string's end, or the one newline sysfs adds. */
bool ts_nodes_at_end(const char *p);
/* Reads a decimal number (at least one digit) at *pp and advances it;
 * large values saturate. */
bool ts_nodes_number(const char **pp, uint64_t *v);
/* 0, -1 if malformed, -2 if well-formed but naming a node past 63 (a big
 * machine, not a broken file: the caller says so differently). */
int ts_nodes_parse(const char *s, uint64_t *mask);
/* Appends mask as runs: "0-1,4". */
void ts_nodes_put(ts_buf_t *b, uint64_t mask);

/* 0 on success, -1 if malformed or a node is >= TS_NODES_MAX. */
int ts_nodelist_parse(const char *s, uint64_t *mask);
/* Writes mask as a node list ("0-1,4"); returns the length (see buf.h). */
size_t ts_nodelist_format(uint64_t mask, char *buf, size_t cap);

#endif
