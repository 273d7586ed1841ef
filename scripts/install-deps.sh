#!/usr/bin/env bash
# Installs every Debian 12 package fastmri-regen needs to build, run and test.
# Idempotent: apt-get skips what is already installed. Run as root (or via sudo).
#   scripts/install-deps.sh          build + run dependencies
#   scripts/install-deps.sh --test   also the independent oracles and validators used by the tests
#   scripts/install-deps.sh --slurm  also a local Slurm controller for jobs/ tests
#   scripts/install-deps.sh --bench  also BART, the peer bench/run.sh compares with
set -euo pipefail

want_test=0
want_slurm=0
want_bench=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    --slurm) want_slurm=1 ;;
    --bench) want_bench=1 ;;
    *) echo "install-deps.sh: unknown option '$arg'" >&2; exit 2 ;;
  esac
done


pkgs=(
  build-essential cmake pkg-config git ca-certificates python3
  openmpi-bin libopenmpi-dev
  libhdf5-openmpi-dev hdf5-tools
  libfftw3-dev libfftw3-mpi-dev
  libdcmtk-dev dcmtk
  libnifti2-dev
  libyaml-dev libxml2-dev libjansson-dev libssl-dev libpng-dev zlib1g-dev
)
if [ "$want_test" -eq 1 ]; then
  pkgs+=(
    python3 python3-numpy python3-h5py python3-pydicom python3-nibabel
    dicom3tools dcm2niix
    # fuzzing (scripts/fuzz.sh, ctest -L fuzz in a FMR_FUZZ build) and ctest -L valgrind
    clang-14 libclang-rt-14-dev libfuzzer-14-dev valgrind
  )
fi
if [ "$want_bench" -eq 1 ]; then
  pkgs+=(bart)
fi
if [ "$want_slurm" -eq 1 ]; then
  pkgs+=(slurmctld slurmd slurm-client munge)
fi

# Nothing to do when every package is there already: then no root is needed (the usual case on a
# cluster login node where an admin installed them).
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps.sh: all ${#pkgs[@]} Debian packages are installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo"
  elif command -v sudo >/dev/null 2>&1 && [ -t 0 ]; then
    SUDO="sudo" # sudo will ask for a password on the terminal
  else
    cat >&2 <<MSG
install-deps.sh: these Debian packages are missing and installing them needs root (no usable sudo):
  ${missing[*]}
Ask an administrator to run:
  apt-get install --no-install-recommends ${missing[*]}
or, if they are available another way (modules, a container), skip this step with --no-install:
  scripts/demo.sh --no-install      scripts/test.sh --no-install
MSG
    exit 2
  fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
