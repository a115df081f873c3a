/* Routing between the small and large paths; see route.h. */
#include "alloc/route.h"

#include <stdint.h>

size_t ts_large_threshold = 256 * 1024; /* the default, until init runs */

void ts_route_configure(const ts_config_t *cfg) {
  ts_large_threshold = cfg->enable ? cfg->large_min : SIZE_MAX;
}
