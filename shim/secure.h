/* Secure execution (AT_SECURE: setuid, setgid, file capabilities) and the
 * heap: mimalloc's own MIMALLOC_* variables are ignored too. See secure.c
 * and docs/design.md, "Secure execution". */
#ifndef TS_SECURE_H
#define TS_SECURE_H

#include <stdbool.h>

/* Whether the kernel marked this process AT_SECURE. */
bool ts_secure(void);

#endif
