# AF_CUSTOM — see README.md.  Every target installs and builds what it
# needs; kernels are cached outside the repo ($AFC_CACHE, default
# ~/.cache/af_custom).

.PHONY: all setup kernel kernel-debug module tests run check check-debug fuzz vm bench bench-hosts install clean

all: module

setup:
	@scripts/setup-host.sh

kernel: setup
	@scripts/build-kernel.sh normal

kernel-debug: setup
	@scripts/build-kernel.sh debug

module: setup
	@scripts/build-module.sh "$$(scripts/build-kernel.sh normal)" normal

tests: setup
	@scripts/build-tests.sh "$$(scripts/build-kernel.sh normal)"

# The demo: boot the VM, load the module, show it at work.
run: setup
	@mkdir -p build; GUEST_SCRIPT=qemu/demo.sh scripts/vm-tests.sh normal >build/run.out 2>&1 || \
	   { tail -40 build/run.out; exit 1; }; \
	 grep -a -v '^\[' build/vm-normal.log | sed -n '/^== insmod/,/^AFC-EXIT/p'

# Every test: host (cargo test, short fuzz) and VM.
check:
	@scripts/check.sh normal

# Every VM test on the debug kernel (KASAN, lockdep, kmemleak).
check-debug:
	@scripts/check.sh debug

fuzz: setup
	@scripts/fuzz.sh $${FUZZ_SECONDS:-300}

# AF_CUSTOM against TCP and AF_UNIX in one VM run (1 vCPU): one table.
# Console in build/vm-bench.log, table in build/bench.out; docs/PERFORMANCE.md.
bench: setup
	@scripts/bench.sh

# AF_CUSTOM against TCP between two guests (one vCPU each) over virtio-net
# and e1000: stream, rr, crr. Not part of `make check`.
# Consoles in build/bench-hosts/, table in build/bench-hosts.out.
bench-hosts: setup
	@scripts/bench-hosts.sh

# Run your own guest script: make vm SCRIPT=path/to/script.sh
vm: setup
	@GUEST_SCRIPT="$${SCRIPT:?set SCRIPT=guest script}" scripts/vm-tests.sh normal

# The manual page and the uapi header (PREFIX, default /usr/local).
# The module itself is built for the project's 6.12 kernel, not the host's.
PREFIX ?= /usr/local
install:
	install -D -m 644 docs/af_custom.7 $(DESTDIR)$(PREFIX)/share/man/man7/af_custom.7
	install -D -m 644 rust/uapi/linux/af_custom.h $(DESTDIR)$(PREFIX)/include/linux/af_custom.h

clean:
	rm -rf build target
