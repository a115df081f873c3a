# kernel-apt.sh: which Debian kernel a TS_VM_KERNEL value names, and apt
# access to the suite that has it. Sourced by fetch-kernel.sh and by
# policy/unmap/kmod/build.sh; never changes the host's apt sources.
#
#   kapt_init KERNEL APT_DIR   6.1 | 6.12 | sid; sets kapt_why on failure
#   kapt_get ARGS...           apt-get for that suite (download, ...)
#   kapt_cache ARGS...         apt-cache for that suite
#   kapt_image_pkg             the linux-image-VERSION-amd64 package to use
#   kapt_known PKG             does the suite have PKG?
#
# 6.1 is the host's own suite (bookworm). bookworm-backports (6.12, built for
# Debian 12) and sid (the newest kernel) get a sources list of their own under
# APT_DIR, updated at most once a day.

kapt_kernel='' kapt_opts=() kapt_why=''

kapt_init() {
  kapt_kernel=$1
  local dir=$2 suite
  case $kapt_kernel in
    6.1) kapt_opts=(); return 0 ;;
    6.12) suite=bookworm-backports ;;
    sid) suite=sid ;;
    *) kapt_why="TS_VM_KERNEL=$kapt_kernel: not one of 6.1, 6.12, sid"; return 1 ;;
  esac
  command -v apt-get >/dev/null || { kapt_why="apt-get not available"; return 1; }
  mkdir -p "$dir/$suite/lists/partial" "$dir/$suite/cache/archives/partial" || return 1
  dir=$(cd "$dir/$suite" && pwd)
  echo "deb http://deb.debian.org/debian $suite main" > "$dir/sources.list"
  kapt_opts=(-o "Dir::Etc::sourcelist=$dir/sources.list" -o Dir::Etc::sourceparts=-
             -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache")
  local stamp=$dir/updated
  if [ -z "$(find "$stamp" -mmin -1440 2>/dev/null)" ]; then
    if apt-get -q "${kapt_opts[@]}" update >"$dir/update.log" 2>&1; then
      touch "$stamp"
    elif [ ! -e "$stamp" ]; then
      kapt_why="apt-get update of $suite failed (no network?)"
      return 1
    fi
  fi
}

kapt_get() { apt-get "${kapt_opts[@]}" "$@"; }
kapt_cache() { apt-cache "${kapt_opts[@]}" "$@"; }
kapt_known() { [ -n "$(kapt_cache show --no-all-versions "$1" 2>/dev/null | head -n1)" ]; }

kapt_image_pkg() {
  local pkg=''
  case $kapt_kernel in
    6.1)
      # The meta package names the current ABI: Depends: linux-image-6.1.0-56-amd64
      pkg=$(kapt_cache depends linux-image-amd64 2>/dev/null \
            | sed -n 's/^ *Depends: \(linux-image-6\.1\.0-[0-9]*-amd64\)$/\1/p' | head -n1)
      [ -n "$pkg" ] || pkg=$(kapt_cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' 2>/dev/null \
                             | awk '{print $1}' | sort -V | tail -n1) ;;
    6.12)
      pkg=$(kapt_cache search --names-only '^linux-image-6\.12\.[0-9]+\+deb12-amd64$' 2>/dev/null \
            | awk '{print $1}' | sort -V | tail -n1) ;;
    sid)
      pkg=$(kapt_cache depends linux-image-amd64 2>/dev/null \
            | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n1) ;;
  esac
  [ -n "$pkg" ] || { kapt_why="no linux-image package for $kapt_kernel known to apt (run apt-get update?)"; return 1; }
  echo "$pkg"
}
