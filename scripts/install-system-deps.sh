#!/usr/bin/env bash
# Debian packages fixynn uses: the offline data sets of the default suite, a headless
# browser for the report test, and Icarus Verilog (the second simulator, which runs the
# portable testbench of `fixynn rtl` in the test suite). Installs only what is missing; a no-op when all are present.
# Without apt (or without root) it says what to install and carries on: the data loaders
# then give a clear error naming the missing file.
set -euo pipefail
PACKAGES=(dataset-fashion-mnist opencv-doc chromium iverilog)
missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  echo "fixynn setup: apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "fixynn setup: please install the Debian packages: ${missing[*]} (sudo apt-get install ...)" >&2
fi
