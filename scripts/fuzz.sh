#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/fuzz_targets/) for a bounded time, on the stable
# toolchain. Exit status 0 when no target crashed; otherwise 1, with the crashing inputs'
# paths (fuzz/artifacts/<target>/...) printed at the end.
#
#   scripts/fuzz.sh                    # every target, 60 s each
#   FUZZ_SECONDS=300 scripts/fuzz.sh exchange sse_decoder
#
# Environment:
#   FUZZ_SECONDS    time per target, seconds (default 60)
#   FUZZ_SANITIZER  address (default) or none
#
# Seeds: fuzz/corpus/<target>/ (committed, read-only here). New inputs a run finds go to
# fuzz/target/corpus/<target>/ and seed the next local run.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-60}"
sanitizer="${FUZZ_SANITIZER:-address}"
case "$seconds" in '' | *[!0-9]*) echo "FUZZ_SECONDS must be a number of seconds" >&2; exit 2 ;; esac

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# cargo-fuzz passes unstable compiler flags (-Zsanitizer, coverage instrumentation); on the
# stable toolchain RUSTC_BOOTSTRAP lets rustc accept them.
export RUSTC_BOOTSTRAP=1

cd fuzz
build=(--sanitizer "$sanitizer" --debug-assertions)
if [ "$#" -gt 0 ]; then
  targets=("$@")
  for target in "${targets[@]}"; do
    cargo fuzz build "${build[@]}" "$target"
  done
else
  mapfile -t targets < <(cargo fuzz list)
  [ "${#targets[@]}" -gt 0 ] || { echo "no fuzz targets" >&2; exit 2; }
  echo "== building ${#targets[@]} fuzz targets (sanitizer: $sanitizer)"
  cargo fuzz build "${build[@]}"
fi

failed=()
for target in "${targets[@]}"; do
  seeds="corpus/$target"
  work="target/corpus/$target"
  artifacts="artifacts/$target"
  mkdir -p "$seeds" "$work" "$artifacts"
  marker="$(mktemp)"
  echo "== fuzzing $target for ${seconds}s ($(find "$seeds" -type f | wc -l) seeds)"
  # The first corpus directory receives new inputs; the committed seeds are only read.
  if cargo fuzz run "${build[@]}" "$target" "$work" "$seeds" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1; then
    echo "== $target: no crash"
  else
    status=$?
    found="$(find "$artifacts" -type f -newer "$marker" | sort | sed 's|^|fuzz/|' | tr '\n' ' ')"
    echo "== $target: FAILED (exit $status) ${found}"
    failed+=("$target: ${found:-no artifact written (see the output above)}")
  fi
  rm -f "$marker"
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo
  echo "fuzzing found crashes; reproduce with: (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET ARTIFACT)"
  for line in "${failed[@]}"; do
    echo "  $line"
  done
  exit 1
fi
echo "fuzzing: ${#targets[@]} targets, ${seconds}s each, no crash"
