/* The slow-path tick hook; see tick.h. */
#include "base/tick.h"

void (*ts_tick_hook)(void);
