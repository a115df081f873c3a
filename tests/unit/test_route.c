/* The boundary between the small and the large path. */
#include <criterion/criterion.h>
#include <stdint.h>

#include "alloc/route.h"

static void route(bool enable, size_t large_min) {
  ts_config_t cfg;
  ts_config_defaults(&cfg);
  cfg.enable = enable;
  cfg.large_min = large_min;
  ts_route_configure(&cfg);
}

Test(route, default_boundary_is_256k) {
  ts_config_t cfg;
  ts_config_defaults(&cfg);
  ts_route_configure(&cfg);
  cr_assert(!ts_large_wants(0));
  cr_assert(!ts_large_wants(256 * 1024 - 1));
  cr_assert(ts_large_wants(256 * 1024));
  cr_assert(ts_large_wants(SIZE_MAX));
}

Test(route, boundary_follows_option) {
  size_t mins[] = {4096, 65536, 2u << 20, (size_t)1 << 40};
  for (size_t i = 0; i < sizeof mins / sizeof mins[0]; i++) {
    route(true, mins[i]);
    cr_assert(!ts_large_wants(mins[i] - 1), "%zu - 1", mins[i]);
    cr_assert(ts_large_wants(mins[i]), "%zu", mins[i]);
    cr_assert(ts_large_wants(mins[i] + 1), "%zu + 1", mins[i]);
  }
}

Test(route, disabled_means_never_large) {
  route(false, 4096);
  cr_assert(!ts_large_wants(4096));
  cr_assert(!ts_large_wants((size_t)1 << 40));
  cr_assert(!ts_large_wants(SIZE_MAX - 1));
}
