#!/bin/sh
# Run by `lab images build` as: recipe.sh <suite> <target-dir> <cache-dir>
# Produces a minimal Debian root file system that the other images build FROM.
set -eu
suite="$1"; target="$2"; cache="$3"
mkdir -p "$cache"
debootstrap --variant=minbase --cache-dir="$cache" "$suite" "$target" http://deb.debian.org/debian
# Keep images small and apt quiet inside builds.
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' > "$target/etc/apt/apt.conf.d/90dicom-range"
rm -rf "$target/var/cache/apt/archives/"*.deb "$target/var/lib/apt/lists/"*
