# The two commands a newcomer needs (see README.md):
#   make demo   install what is missing, build, run llama.cpp with and
#               without tiershim on the tiny generated model
#   make test   install what is missing, build, run every test (the engine
#               smoke tests included)
# Everything else here is plumbing for those two.

BUILD   ?= build
JOBS    ?= $(shell nproc)
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian 12 packages: build, library dependencies, test programs, bench peers.
# tmux: integration.top_tty's terminal; prometheus: promtool and the server
# integration.exporter starts itself on loopback. Their daemons must not run:
# the install goes through a policy-rc.d that refuses every service start
# (removed afterwards), and under systemd the units are disabled.
PKGS_BUILD := build-essential cmake pkg-config libmimalloc-dev libnuma-dev \
              libunwind-dev libcriterion-dev
PKGS_TEST  := python3 sqlite3 nodejs util-linux git python3-numpy python3-onnx numactl \
              libpython3.11-testsuite xz-utils tmux prometheus python3-yaml
PKGS_BENCH := libmimalloc2.0 libjemalloc2 libtcmalloc-minimal4 time strace gnuplot-nox
# The torch engine (bench/torch, its smoke test): optional, about 600 MB with its
# dependencies; when it cannot be installed the smoke test skips.
PKGS_TORCH := python3-torch
# tests/vm: the two-tier qemu guest (linux-headers-amd64: for vm.kmod, the
# headers of the current Debian 12 kernel, the one the guest boots)
# debootstrap: the sid chroot vm.kmod@sid builds the module in; dwarves
# (pahole): the module's BTF for 6.12's headers; zstd: 6.12+ kernels.
# debian/: building the packages (make deb) and the packaging.deb test.
PKGS_DEB   := dpkg-dev debhelper dh-dkms bash-completion lintian man-db
PKGS_VM    := qemu-system-x86 busybox-static cpio kmod xz-utils zstd linux-headers-amd64 \
              debootstrap dwarves

.PHONY: all deps build deb engines test test-kernels demo bench bench-micro bench-thp bench-llama bench-onnx bench-torch bench-tiers bench-luf bench-unmap bench-serving bench-serving-quick fuzz test-sanitize clean install

all: build

# Installs only what dpkg says is missing, so a prepared machine pays nothing.
deps:
	@missing=$$(for p in $(PKGS_BUILD) $(PKGS_TEST) $(PKGS_BENCH) $(PKGS_VM) $(PKGS_DEB); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done; \
	  command -v npm >/dev/null || echo npm); \
	if [ -n "$$missing" ]; then \
	  echo "tiershim: installing:" $$missing; \
	  prc=; [ -e /usr/sbin/policy-rc.d ] || { prc=/usr/sbin/policy-rc.d; \
	    printf '#!/bin/sh\nexit 101\n' | $(SUDO) tee $$prc >/dev/null && $(SUDO) chmod +x $$prc; }; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	  rc=$$?; [ -z "$$prc" ] || $(SUDO) rm -f $$prc; \
	  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then \
	    $(SUDO) systemctl disable --now prometheus prometheus-node-exporter >/dev/null 2>&1 || true; fi; \
	  exit $$rc; \
	fi
	@for p in $(PKGS_TORCH); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || { \
	  echo "tiershim: installing $$p (optional)"; \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$p || \
	  echo "tiershim: warning: $$p could not be installed: the torch smoke test will skip"; }; done

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)

# The engines (npm, offline) and their tiny generated models, for the demo
# and the smoke tests. The benchmark models are made by bench-llama/onnx.
engines: deps
	bench/llama/setup.sh --tiny >/dev/null
	bench/onnx/setup.sh --tiny >/dev/null
	bench/torch/setup.sh >/dev/null || echo "tiershim: warning: the torch engine is not prepared: its smoke test will skip"

# The guest tests named in tests/vm/CMakeLists.txt (TS_VM_EVERY_KERNEL) run
# on every guest kernel here; the rest on Debian 12's 6.1 only.
test: build engines
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS) -LE kernels

# Every guest test on every guest kernel (6.1, 6.12, sid: tests/vm/README.md).
test-kernels: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS) -L vm

# run.sh prepares what it needs itself (llama.cpp from npm, the tiny model).
demo: build
	bench/llama/run.sh --demo $(BUILD)

# Benchmarks: reports under bench/results/<date>-<host>/ (see docs/results.md).
bench: bench-micro bench-thp bench-llama bench-onnx bench-torch bench-tiers bench-unmap

bench-micro: build
	bench/micro/run.sh $(BUILD)

bench-thp: build
	bench/thp/run.sh $(BUILD)

bench-llama: build
	bench/llama/run.sh $(BUILD)

bench-onnx: build
	bench/onnx/run.sh $(BUILD)

# PyTorch CPU (python3-torch): encoder and decoder, issue 20's seven configurations.
bench-torch: build
	bench/torch/run.sh $(BUILD)

# llama.cpp's placement per TIERSHIM_BULK policy in the two-tier qemu guest.
bench-tiers: build engines
	bench/tiers/guest_llama.sh $(BUILD)

# The TLB-shootdown experiment of tiered inference (issue 18, docs/results.md):
# two llama.cpp processes in the two-tier guest, NUMA balancing in tiering
# mode, glibc/jemalloc/tiershim/tiershim tuned, 3 interleaved rounds.
bench-luf: build engines
	bench/tiers/luf.sh $(BUILD)

# Serving-grade figures (issue 19): load time of llama.cpp 1.1B and ONNX
# Runtime BERT per allocator, 9 rotated rounds with the host's page-reporting
# state per run (about 30 minutes); the quick variant: glibc and tiershim, 3
# rounds (about 5 minutes).
# Load time, tail latency on fragmented memory (THP defrag is set to
# `always` for part of it and restored), a soak of 2,000 requests, 1 and 2
# threads: bench/serving/README.md. The quick variant: under 10 minutes.
bench-serving: build engines
	python3 bench/serving/load.py $(BUILD)
	python3 bench/serving/serve.py all $(BUILD)
bench-serving-quick: build engines
	python3 bench/serving/load.py --quick $(BUILD)
	python3 bench/serving/serve.py all --quick $(BUILD)

# TLB shootdowns per 1,000 frees and ops/s, every peer and unmap backend:
# on the host, then in the two-tier guest with the tiershim module loaded.
bench-unmap: build
	bash policy/unmap/kmod/build.sh $(BUILD)/kmod || true
	bench/micro/unmap/run.sh $(BUILD)
	bench/micro/unmap/run.sh --guest $(BUILD)

# The unit tests under AddressSanitizer + UBSan (the shim itself cannot be
# preloaded under ASan: both want to be the allocator).
test-sanitize: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTIERSHIM_BUILD_BENCH=OFF \
	  -DCMAKE_C_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
	cmake --build build-asan -j $(JOBS) --target ts_unit tsan_core
	build-asan/tests/unit/ts_unit --jobs 2
	build-asan/tests/tsan/tsan_core
	# the stress program itself (on the sanitizer's allocator; forks off:
	# ASan's fork of a multithreaded process can hang in the child)
	cc -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-builtin-malloc \
	  -fno-builtin-free tests/stress/stress.c -o build-asan/stress-asan -lpthread
	build-asan/stress-asan -f 0 4 20000
	command -v clang >/dev/null || $(SUDO) apt-get install -y clang
	CC=clang cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DTIERSHIM_BUILD_BENCH=OFF \
	  -DCMAKE_C_FLAGS="-fsanitize=thread -fno-omit-frame-pointer"
	cmake --build build-tsan -j $(JOBS) --target tsan_core
	TSAN_OPTIONS=halt_on_error=1:exitcode=66 build-tsan/tests/tsan/tsan_core
	clang -O1 -g -fsanitize=thread tests/stress/stress.c -o build-tsan/stress-tsan -lpthread
	TSAN_OPTIONS=halt_on_error=1:exitcode=66 build-tsan/stress-tsan -f 0 4 20000 # TSan: no threads after fork

# libFuzzer targets (clang, ASan + UBSan) and the differential mmap-family
# fuzzer (tests/fuzz/mmap_fuzz.md), 5 minutes each: tests/fuzz/run.sh.
fuzz: deps
	@command -v clang >/dev/null || $(SUDO) apt-get install -y clang
	bash tests/fuzz/run.sh

install: build
	cmake --install $(BUILD)

# The Debian packages (debian/README.source), built on a copy of the tree:
# $(BUILD)/deb/*.deb, then: apt install ./tiershim_*.deb ./libtiershim0_*.deb
deb: deps
	debian/build-debs.sh $(BUILD)/deb

clean:
	rm -rf $(BUILD)
