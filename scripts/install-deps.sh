#!/usr/bin/env bash
# Installs the Debian packages tpc needs that this machine lacks; does
# nothing (and needs no network) when all are there. The CUDA toolkit is not
# a Debian package: it lives at /usr/local/cuda on machines that have it, and
# the build skips CUDA parts where it is missing.
set -euo pipefail

PACKAGES=(
  cmake ninja-build g++ python3             # build tools; lit runs on python3
  llvm-22-dev llvm-22-tools                 # LLVM 22, lit, FileCheck, not
  libmlir-22-dev mlir-22-tools              # MLIR 22, mlir-tblgen
  libgtest-dev                              # unit tests
  libopenblas-dev                           # CPU runtime GEMMs (f32)
  libdnnl-dev                               # CPU runtime GEMMs (bf16, oneDNN)
  libhwy-dev                                # CPU runtime vector loops
  libgloo-dev                               # CPU runtime collectives
  openmpi-bin                               # mpirun: ranks as processes
  libpcre2-dev libicu-dev                   # tokenizers: regexes, Unicode
  libabsl-dev                               # executables: flags, strings, sync
  bc                                        # demo timing
  python3-numpy                             # the tests' numpy reference
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
      grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
# Node and npm run the reference tokenizers; any installation will do
# (Debian's, or NodeSource's, which bundles npm).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "tpc: installing missing packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "${missing[@]}"
