/* The placement engine's default operations: the policies; see place_ops.h. */
#include "alloc/place_int.h"

#include "policy/thp.h"
#include "policy/tierpol.h"
#include "policy/unmap/unmap.h"

const ts_place_ops_t ts_place_default_ops = {
    .thp_window = ts_thp_init,
    .thp_mapped = ts_thp_mapped,
    .thp_unmapped = ts_thp_unmapped,
    .thp_granted = ts_thp_granted,
    .thp_released = ts_thp_released,
    .thp_sparse = ts_thp_sparse,
    .thp_unsparse = ts_thp_unsparse,
    .thp_mmap_probe = ts_thp_mmap_probe,
    .thp_mmap_observe = ts_thp_mmap_observe,
    .thp_block_probe = ts_thp_block_probe,
    .thp_block_placed = ts_thp_block_placed,
    .thp_block_observe = ts_thp_block_observe,
    .thp_fill_small = ts_thp_fill_small,
    .thp_fork_child = ts_thp_fork_child,
    .tier_window_mapped = ts_tier_window_mapped,
    .tier_granted = ts_tier_granted,
    .release = ts_unmap_release,
    .retain_max = ts_unmap_retain_max,
    .decay_ns = ts_unmap_delay_ns,
    .scale = ts_unmap_scale,
    .decayed = ts_unmap_decayed,
    .settle = ts_unmap_settle,
};

const ts_place_ops_t *place_ops = &ts_place_default_ops;

void ts_place_set_ops(const ts_place_ops_t *ops) { place_ops = ops != NULL ? ops : &ts_place_default_ops; }
