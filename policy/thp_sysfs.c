/* Parsers for the kernel's THP, buddy-allocator and vmstat files, and the
 * compaction verdict (pure; used by policy/thp.c and the unit tests). */
#include <string.h>

#include "policy/thp.h"

int ts_thp_sysfs_choice(const char *text) {
  const char *open = strchr(text, '[');
  if (open == NULL) return -1;
  static const char *const words[] = {[TS_THP_SYS_ALWAYS] = "always", [TS_THP_SYS_MADVISE] = "madvise",
                                      [TS_THP_SYS_NEVER] = "never", [TS_THP_SYS_DEFER_MADVISE] = "defer+madvise",
                                      [TS_THP_SYS_DEFER] = "defer"};
  for (int i = 0; i < 5; i++) {
    size_t n = strlen(words[i]);
    if (strncmp(open + 1, words[i], n) == 0 && open[1 + n] == ']') return i;
  }
  return -1;
}

/* Bytes in free blocks of order >= 9 (2 MiB with 4 KiB pages), all zones. */
uint64_t ts_thp_buddy_huge_bytes(const char *text, size_t page_size) {
  uint64_t total = 0;
  for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
    const char *p = strstr(line, "zone");
    if (p == NULL) continue;
    p += 4;
    while (*p == ' ') p++;
    while (*p && *p != ' ') p++; /* the zone's name */
    for (int order = 0; order < 64; order++) {
      while (*p == ' ') p++;
      if (*p < '0' || *p > '9') break;
      uint64_t count = 0;
      while (*p >= '0' && *p <= '9') count = count * 10 + (uint64_t)(*p++ - '0');
      if (order >= 9) total += count * ((uint64_t)page_size << order);
    }
  }
  return total;
}


/* The value of counter NAME in /proc/vmstat's text, or 0 when absent. */
uint64_t ts_thp_vmstat_counter(const char *text, const char *name) {
  size_t n = strlen(name);
  for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
    if (strncmp(line, name, n) != 0 || line[n] != ' ') continue;
    uint64_t v = 0;
    for (const char *p = line + n + 1; *p >= '0' && *p <= '9'; p++) v = v * 10 + (uint64_t)(*p - '0');
    return v;
  }
  return 0;
}

/* Does direct compaction work on this machine? Judged on the direct
 * compactions since the last look (system-wide: any process's count): with
 * too few to tell, the previous verdict stands; otherwise it works while at
 * most a quarter of them failed to produce the page they were for. */
bool ts_thp_compaction_verdict(bool prev, uint64_t stalls, uint64_t fails) {
  if (stalls < 4) return prev;
  return fails * 4 <= stalls;
}
