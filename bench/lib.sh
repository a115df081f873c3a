# Shared by bench/*/run.sh: messages, arguments, the build under test,
# peer libraries and NAME=VALUE output. Source it after defining `root`
# (the repository) and a `usage` function.

# bench_tag: the prefix of messages (set it before sourcing; default run.sh).
die() { printf '%s: error: %s\n' "${bench_tag:-run.sh}" "$*" >&2; exit 1; }
say() { printf '%s%s\n' "${bench_tag:+$bench_tag: }" "$*" >&2; }

# bench_args SHORT_FLAG "$@": [SHORT_FLAG] [--reps N] [BUILD_DIR]. Sets
# short (1 with SHORT_FLAG), reps (default 5, or 3 when short) and build.
bench_args() {
  local flag=$1
  shift
  short=0 reps="" build=build
  while (($#)); do
    case $1 in
      "$flag") short=1 ;;
      --reps) (($# >= 2)) || die "--reps needs a number"; reps=$2; shift ;;
      --reps=*) reps=${1#--reps=} ;;
      -h|--help) usage; exit 0 ;;
      -*) usage >&2; die "unknown option: $1" ;;
      *) build=$1 ;;
    esac
    shift
  done
  [[ -z $reps ]] && reps=$((short ? 3 : 5))
  [[ $reps =~ ^[1-9][0-9]*$ ]] || die "--reps takes a positive integer, not '$reps'"
}

# bench_tool TARGET PATH: a measuring helper (the measure, not the thing
# measured) is built from the tree every time, so a stale binary never
# measures by an older rule without a word (it happened to tier_sample).
# TARGET is its CMake target, PATH its path inside the absolute $build.
bench_tool() {
  cmake --build "$build" --target "$1" >/dev/null || die "building $1 in $build failed"
  [[ -x $build/$2 ]] || die "$build/$2 is missing after building $1"
}

# bench_build PROGRAM...: makes $build absolute (a relative one is taken
# from the current directory, or else from the repository root, so
# `run.sh build` works from anywhere) and checks that it holds the library,
# the CLI and each PROGRAM (paths inside the build). Sets cli and tslib.
bench_build() {
  if [[ $build != /* && ! -d $build && -d $root/$build ]]; then build=$root/$build; fi
  [[ -d $build ]] || die "build directory '$build' not found; build it first:
  cmake -S $root -B $build && cmake --build $build -j"
  build=$(cd "$build" && pwd)
  cli=$build/tiershim
  tslib=$build/libtiershim.so
  local f
  for f in "$cli" "${@/#/$build/}"; do
    [[ -x $f ]] || die "$f is missing or not executable: is '$build' a complete tiershim build? (cmake --build $build)"
  done
  [[ -f $tslib ]] || die "$tslib is missing: is '$build' a complete tiershim build? (cmake --build $build)"
}

# The peers' libraries, from the system library directories.
libdirs=("/usr/lib/$(uname -m)-linux-gnu" /usr/lib64 /usr/lib "/lib/$(uname -m)-linux-gnu" /lib64 /lib)
find_lib() {
  local d
  for d in "${libdirs[@]}"; do
    [[ -e $d/$1 ]] && { printf '%s\n' "$d/$1"; return 0; }
  done
  return 1
}

calc() { awk "BEGIN { printf \"$1\", $2 }"; } # calc FORMAT EXPR

field() { # NAME LINE -> value of NAME=... in LINE
  sed -n "s/.*\\<$1=\\([^ ]*\\).*/\\1/p" <<<"$2"
}

# gen_models DIR PREFIX EXT GENERATOR SIZE...: makes DIR/PREFIX-SIZE.EXT with
# GENERATOR (a python script taking --size and --out) where missing, and
# prints model_SIZE=PATH for each (dots in SIZE become _). The generators
# rename into place, so a file that exists is complete.
gen_models() {
  local dir=$1 prefix=$2 ext=$3 gen=$4 m f
  shift 4
  mkdir -p "$dir"
  for m in "$@"; do
    f=$dir/$prefix-$m.$ext
    if [[ ! -f $f ]]; then
      say "generating $f"
      /usr/bin/python3 "$gen" --size "$m" --out "$f"
    fi
    printf 'model_%s=%s\n' "${m//./_}" "$f"
  done
}

# guest_ggml_files BINS: appends to the array `files` the tests/vm/run.sh
# --file arguments for the ggml CPU backends llama.cpp loads in the guest
# (from BINS, the shipped libraries, to /ts/bins).
guest_ggml_files() {
  local f
  for f in "$1"/libggml-cpu-{x64,sse42,sandybridge,haswell}.so; do
    [[ -f $f ]] && files+=(--file "$f:/ts/bins/$(basename "$f")")
  done
  return 0
}
