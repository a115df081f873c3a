# The two commands a newcomer needs (see README.md):
#   make demo   install what is missing, build, run the demo comparison
#   make test   install what is missing, build, run every test
# Everything else here is plumbing for those two.

BUILD   ?= build
JOBS    ?= $(shell nproc)
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian 12 packages: build, library dependencies, test programs, bench peers.
PKGS_BUILD := build-essential cmake pkg-config libmimalloc-dev libnuma-dev \
              libunwind-dev libcriterion-dev
PKGS_TEST  := python3 sqlite3 nodejs util-linux
PKGS_BENCH := libmimalloc2.0 libjemalloc2 libtcmalloc-minimal4 time

.PHONY: all deps build test demo bench clean install

all: build

# Installs only what dpkg says is missing, so a prepared machine pays nothing.
deps:
	@missing=$$(for p in $(PKGS_BUILD) $(PKGS_TEST) $(PKGS_BENCH); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "tiershim: installing:" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

demo: build
	bench/micro/run.sh --demo $(BUILD)

bench: build
	bench/micro/run.sh $(BUILD)

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD)
