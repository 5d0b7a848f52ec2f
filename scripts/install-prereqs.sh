#!/usr/bin/env bash
# Host prerequisites of dicom-range on a fresh Debian machine (run as root):
#   debootstrap  builds the base image from Debian packages (there is no registry)
#   libpcap-dev  the sniffer and its tests capture with libpcap
#   dcmtk        real DICOM peers (storescp, dcmqrscp) for the agent's interop tests, and
#                dcmsign, the independent verifier of the signed labs' archived instances
#   dicom3tools  dciodvfy, validating the agent's synthetic files against their IODs
#   tshark       Wireshark's dissector, the reference of wire's parity test and benchmark
#   libxml2-utils  xmllint, validating junit.xml against the JUnit XSD in report's tests
#   chromium     headless browser rendering report.html in report's tests
#   openssl      RSA keys for the agent's TLS 1.2 test against Orthanc (ring cannot make them)
#   docker-compose  runs the project `lab export compose` writes, in the e2e tests
# Docker Engine itself is expected to be installed and running.
set -euo pipefail
need=()
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
dpkg -s libpcap-dev >/dev/null 2>&1 || need+=(libpcap-dev)
command -v storescp >/dev/null 2>&1 && command -v dcmsign >/dev/null 2>&1 || need+=(dcmtk)
command -v dciodvfy >/dev/null 2>&1 || need+=(dicom3tools)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v tshark >/dev/null 2>&1 || need+=(tshark)
command -v xmllint >/dev/null 2>&1 || need+=(libxml2-utils)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ "${#need[@]}" -gt 0 ]; then
  echo "installing host packages: ${need[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  # wireshark-common asks whether non-root users may capture; answer it up front (no)
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  echo "error: the Docker daemon is not reachable; start it (systemctl start docker) and retry" >&2
  exit 2
fi
command -v cargo-nextest >/dev/null 2>&1 || cargo install --locked cargo-nextest
# cargo-deb builds the .deb (scripts/build-deb.sh) that crates/lab/tests/deb.rs installs
command -v cargo-deb >/dev/null 2>&1 || cargo install --locked cargo-deb
