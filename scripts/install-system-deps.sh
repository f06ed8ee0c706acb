#!/usr/bin/env bash
# Debian packages fixynn uses: the offline data sets of the default suite, a headless browser
# for the report test, Icarus Verilog (the second simulator, which runs the portable testbench
# of `fixynn rtl` in the test suite), OpenSTA for static timing, and the OSU 0.18 um standard
# cells (package qflow-tech-osu018, unpacked with dpkg -x: installing it would pull in the
# whole qflow flow).
# Installs only what is missing; a no-op when all are present.
# Without apt (or without root) it says what to install and carries on: the data loaders
# then give a clear error naming the missing file.
set -euo pipefail
PACKAGES=(dataset-fashion-mnist opencv-doc chromium iverilog opensta)
# fixynn.hw.liberty.OSU018_PATHS looks in both places
OSU018_LIB=usr/share/qflow/tech/osu018/osu018_stdcells.lib
OSU018_DIR=/opt/fixynn/qflow-tech-osu018

can_apt() { command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; }

install_packages() {
  local missing=() pkg
  for pkg in "${PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if can_apt; then
    echo "fixynn setup: apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "fixynn setup: please install the Debian packages: ${missing[*]} (sudo apt-get install ...)" >&2
  fi
}

unpack_osu018() {
  if [ -f "/$OSU018_LIB" ] || [ -f "$OSU018_DIR/$OSU018_LIB" ]; then return 0; fi
  if ! can_apt; then
    echo "fixynn setup: for mapped synthesis unpack qflow-tech-osu018 into $OSU018_DIR (apt-get download qflow-tech-osu018 && dpkg -x qflow-tech-osu018_*.deb $OSU018_DIR)" >&2
    return 0
  fi
  echo "fixynn setup: unpacking qflow-tech-osu018 into $OSU018_DIR"
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download qflow-tech-osu018 >/dev/null 2>&1) \
    || { apt-get update -qq && (cd "$tmp" && apt-get download qflow-tech-osu018 >/dev/null); }
  rm -rf "$OSU018_DIR.tmp" && mkdir -p "$OSU018_DIR.tmp"
  dpkg -x "$tmp"/qflow-tech-osu018_*.deb "$OSU018_DIR.tmp"
  rm -rf "$OSU018_DIR" && mv "$OSU018_DIR.tmp" "$OSU018_DIR" && rm -rf "$tmp"
}

install_packages
unpack_osu018
