#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time (default 60 s each).
# Not part of CI. Usage: scripts/fuzz.sh [seconds] [target...]
#
# cargo-fuzz needs nightly-only rustc flags (-Zsanitizer=address and the
# sanitizer-coverage options). With only a stable toolchain installed,
# RUSTC_BOOTSTRAP=1 lets stable rustc accept them; a nightly toolchain
# (`cargo +nightly fuzz ...`) works without it. Install the tool with
# `cargo install cargo-fuzz`.
#
# Crashing inputs are left in fuzz/artifacts/<target>/; turn each into a
# regression test in the normal test suite (see audit-core/tests/bad_input.rs).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(redact body_capture parse_entry query_parsers canonical_json)
fi

export RUSTC_BOOTSTRAP="${RUSTC_BOOTSTRAP:-1}"
command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is not installed: cargo install cargo-fuzz" >&2; exit 2; }

# Seed corpora (the fuzzer finds valid entries much faster from one).
seed() { mkdir -p "corpus/$1"; shift; for f in "$@"; do cp "seeds/$f" "corpus/${target}/seed-$f"; done; }
for target in "${targets[@]}"; do
    case "$target" in
        parse_entry | canonical_json | redact) seed "$target" entry.json ;;
        query_parsers) seed "$target" span rfc3339 pattern resource ;;
        body_capture) seed "$target" body_json ;;
    esac
done

cargo fuzz build -O
status=0
for target in "${targets[@]}"; do
    echo "== $target: ${seconds}s"
    if ! cargo fuzz run -O "$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 2>&1 | tail -n 12; then
        echo "!! $target found a crash: see fuzz/artifacts/$target/" >&2
        status=1
    fi
done
exit "$status"
