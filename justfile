# ctr: a container runtime written from scratch, and the book that teaches it.
# `just` alone lists the recipes.

set positional-arguments

# List the recipes
default:
    @just --list --unsorted

# Build and run lesson N with ARGS, or its demo when there are none (e.g. `just step 1 hostname`)
step N *ARGS:
    @scripts/step "$@"

# Show what lesson N adds to lesson N-1
diff N:
    @scripts/diff "$1"

# One commit per lesson, tagged step-01-uts, step-02-pid...: `git diff step-03-mount-chroot step-04-pull`, `git checkout step-04-pull`
tags:
    @scripts/tags

# Check your solution to challenge N.M of the book (e.g. `just check-challenge 5.1`; root)
check-challenge ID:
    @scripts/check-challenge "$1"

# Remove what lessons 5 and 6 made on the host: bridge0, the NAT and FORWARD rules, the leases
net-down:
    @scripts/step 6 net-down

# Make a root filesystem from Debian's busybox-static, offline, in ./rootfs
rootfs:
    @scripts/mkrootfs rootfs

# Open a shell (or run CMD) in a throwaway sandbox that plays the host (root)
sandbox *CMD:
    @scripts/sandbox "$@"

# A shell in a sandbox with the test images' registry at 127.0.0.1:5000, for lessons 4 to 9 offline (--auth: with tokens, as Docker Hub)
registry *CMD:
    @scripts/registry "$@"

# Run CMD (default: a shell) as root in a disposable Debian 12 VM: its stock kernel, cgroup v2 (e.g. `just vm just step 1 hostname`)
vm *CMD:
    @scripts/vm "$@"

# Build the book and fail on any missing include, anchor or link; `just book serve` to read it
book *ARGS:
    @scripts/book "$@"

# Everything CI runs: format, lints, the book, and all tests (integration tests need root)
test:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets --quiet -- -D warnings
    scripts/book
    cargo test --workspace

# Install ctr and ctr-runtime, their shell completions and man pages under PREFIX (default /usr/local)
install:
    @scripts/install

# Check that ctr and ctr-runtime build for arm64 (needs the rustup target and Debian's gcc-aarch64-linux-gnu)
check-arm64:
    cargo check --target aarch64-unknown-linux-gnu -p ctr --lib --bins

# Fuzz the reference parser, manifests and the layer extractor (root): PROPTEST_CASES per property (2000), FUZZ_SECONDS each (60)
fuzz:
    cargo test --test fuzz -- --ignored --nocapture --test-threads 1

# Remove what the build, the book and `just rootfs` made
clean:
    cargo clean
    rm -rf rootfs book/build

# The runtime, offline: make a busybox image, import it, run containers (root; in the sandbox)
demo:
    @scripts/demo

# Benchmarks as ratios against peers in the same run: start (none, bridge), pull, memory, disk, many containers; target/bench/*.md and chart.svg (root; in the sandbox)
bench:
    @scripts/bench
