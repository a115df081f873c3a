/* Routing: which path serves a malloc-family request. Kept apart from the
 * paths themselves so the decision is unit-testable without a heap. */
#ifndef TS_ROUTE_H
#define TS_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/options.h"

/* Size at or above which a request takes the large path; SIZE_MAX when
 * tiershim's policies are off. Read on every allocation. */
extern size_t ts_large_threshold;

static inline bool ts_large_wants(size_t size) { return size >= ts_large_threshold; }

/* Derives the routing from the configuration (at init). */
void ts_route_configure(const ts_config_t *cfg);

#endif
