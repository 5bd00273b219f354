#!/usr/bin/env bash
# Makes sure every Debian package ccpump needs is installed.
# As root it installs what is missing with apt-get; otherwise it prints the
# exact apt-get line and fails, so nothing is half set up.
set -euo pipefail

# Build, libraries, fuzzing, procmail as a test peer (tests/relay/test_mda.sh),
# and systemd for systemd-analyze, which checks the unit file (test_service).
# Keep in step with docs/design.md.
pkgs=(
  build-essential cmake pkg-config
  liburcu-dev libck-dev libjemalloc-dev
  libgmime-3.0-dev libglib2.0-dev
  clang libclang-rt-14-dev
  python3
  procmail
  systemd
)
if [ -n "${CCPUMP_EXTRA_PKGS:-}" ]; then
  read -r -a extra <<<"$CCPUMP_EXTRA_PKGS"
  pkgs+=("${extra[@]}")
fi

missing=()
for p in "${pkgs[@]}"; do
  st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$st" = installed ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

line="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "ccpump: missing Debian packages; run as root: apt-get update && $line" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "ccpump: missing packages (${missing[*]}) and no apt-get on this machine" >&2
  exit 1
fi
echo "ccpump: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
