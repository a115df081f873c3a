"""The allocator configurations the engine benches compare.

glibc is "no preload". A peer whose library is not installed, or a glibc
without the hugetlb tunable, is skipped with a note rather than measured as
something it is not.
"""
import os
import platform
import subprocess
from dataclasses import dataclass, field

ARCH = platform.machine()
LIBDIRS = [f"/usr/lib/{ARCH}-linux-gnu", "/usr/lib64", "/usr/lib",
           f"/lib/{ARCH}-linux-gnu", "/lib64", "/lib"]

# Variables that would change an allocator's behaviour behind the bench's back.
SCRUB = ("LD_PRELOAD", "GLIBC_TUNABLES", "MALLOC_CONF", "TCMALLOC_")
SCRUB_PREFIX = ("MIMALLOC_", "TIERSHIM_", "JE_MALLOC_CONF")


@dataclass
class Config:
    key: str
    title: str
    kind: str                  # glibc, peer or tiershim
    preload: str = ""          # library path, "" for none
    env: dict = field(default_factory=dict)


def find_lib(name):
    for d in LIBDIRS:
        p = os.path.join(d, name)
        if os.path.exists(p):
            return p
    return None


def _glibc_has_hugetlb():
    ldso = find_lib(f"ld-linux-{ARCH.replace('_', '-')}.so.2")
    if not ldso:
        return False
    try:
        out = subprocess.run([ldso, "--list-tunables"], capture_output=True,
                             text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "glibc.malloc.hugetlb:" in out


def all_configs(tslib):
    """Every configuration, in report order, and the notes on skipped ones."""
    cfgs, skipped = [Config("glibc", "glibc", "glibc")], []
    if _glibc_has_hugetlb():
        cfgs.append(Config("glibc-hugetlb", "glibc hugetlb=1", "glibc",
                           env={"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}))
    else:
        skipped.append("glibc hugetlb=1 (no glibc.malloc.hugetlb tunable; glibc >= 2.35 has it)")
    peers = [("jemalloc", "jemalloc", "libjemalloc.so.2", "libjemalloc2", {}),
             ("jemalloc-thp", "jemalloc thp:always", "libjemalloc.so.2", "libjemalloc2",
              {"MALLOC_CONF": "thp:always,metadata_thp:always"}),
             # The PyTorch CPU performance guide's jemalloc setting: huge
             # requests from their own arenas, dirty/muzzy pages never decayed.
             ("jemalloc-torch", "jemalloc torch-guide", "libjemalloc.so.2", "libjemalloc2",
              {"MALLOC_CONF": "oversize_threshold:1,background_thread:true,metadata_thp:auto,"
                              "dirty_decay_ms:9000000000,muzzy_decay_ms:9000000000"}),
             ("tcmalloc", "tcmalloc", "libtcmalloc_minimal.so.4", "libtcmalloc-minimal4", {}),
             ("mimalloc", "mimalloc", "libmimalloc.so.2", "libmimalloc2.0", {}),
             ("mimalloc-lp", "mimalloc large OS pages", "libmimalloc.so.2", "libmimalloc2.0",
              {"MIMALLOC_LARGE_OS_PAGES": "1"})]
    for key, title, soname, pkg, env in peers:
        path = find_lib(soname)
        if path:
            cfgs.append(Config(key, title, "peer", path, env))
        else:
            skipped.append(f"{title} ({soname} not found; `apt-get install {pkg}` or `make deps`)")
    cfgs.append(Config("tiershim", "tiershim (default)", "tiershim", tslib))
    cfgs.append(Config("ts-collapse", "tiershim THP=collapse", "tiershim", tslib,
                       {"TIERSHIM_THP": "collapse"}))
    cfgs.append(Config("ts-nothp", "tiershim THP=off", "tiershim", tslib,
                       {"TIERSHIM_THP": "off"}))
    cfgs.append(Config("ts-profile", "tiershim PROFILE=1", "tiershim", tslib,
                       {"TIERSHIM_PROFILE": "1"}))
    return cfgs, skipped


def select(cfgs, wanted, default=None):
    """The configurations named in WANTED (comma list), glibc always first:
    it is the reference every other configuration's output is checked against.
    Without WANTED: those of DEFAULT (a tuple of keys) that are available, or all."""
    known = {c.key: c for c in cfgs}
    if not wanted and default:
        wanted = ",".join(k for k in default if k in known)
    if not wanted:
        return cfgs
    keys = [k for k in wanted.split(",") if k]
    bad = [k for k in keys if k not in known]
    if bad:
        raise SystemExit(f"run.py: error: unknown or unavailable configuration(s): {', '.join(bad)}"
                         f" (available: {', '.join(known)})")
    if "glibc" not in keys:
        keys.insert(0, "glibc")
    return [known[k] for k in keys]


def clean_env():
    """The caller's environment without allocator knobs."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(SCRUB) and not k.startswith(SCRUB_PREFIX)}
