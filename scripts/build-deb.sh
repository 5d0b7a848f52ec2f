#!/usr/bin/env bash
# Builds the .deb of dicom-range: `lab` and `lab-agent`, then the shell completions and
# man pages that the built `lab` generates (cargo-deb runs no code of ours), then
# cargo-deb on what was built (no second build). Prints the path of the .deb last.
#   scripts/build-deb.sh                  release build (what to ship)
#   scripts/build-deb.sh --profile dev --no-build
#                                         package the debug build as it is (the test does:
#                                         a cargo build there could rebuild the binaries
#                                         other tests are running)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=release
build=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="${2:?--profile needs a value}"; shift 2 ;;
    --no-build) build=no; shift ;;
    *) echo "usage: $0 [--profile dev|release] [--no-build]" >&2; exit 2 ;;
  esac
done
if ! command -v cargo-deb >/dev/null 2>&1; then
  echo "error: cargo-deb is missing; install it: cargo install cargo-deb --locked (scripts/install-prereqs.sh does)" >&2
  exit 2
fi
if [ "$build" = yes ]; then cargo build --profile "$profile" -p lab -p agent >&2; fi
dir="$profile"; [ "$profile" = dev ] && dir=debug
lab="${CARGO_TARGET_DIR:-target}/$dir/lab"
for bin in "$lab" "${CARGO_TARGET_DIR:-target}/$dir/lab-agent"; do
  [ -x "$bin" ] || { echo "error: $bin is not built (cargo build --profile $profile -p lab -p agent)" >&2; exit 2; }
done
# The path the assets of crates/lab/Cargo.toml name, whatever the target dir is.
assets=target/deb-assets
rm -rf "$assets" && mkdir -p "$assets/man"
"$lab" completions bash > "$assets/lab.bash"
"$lab" completions zsh > "$assets/_lab"
"$lab" completions fish > "$assets/lab.fish"
"$lab" man --out "$assets/man" >&2
gzip -9n "$assets"/man/*.1
out="${CARGO_TARGET_DIR:-target}/debian"
mkdir -p "$out"
# A dev package is for the test that installs it at once: fast compression (about 30 s less).
fast=(); [ "$profile" = dev ] && fast=(--fast)
cargo deb -p lab --no-build --profile "$profile" "${fast[@]}" -o "$out/" | tail -n 1
