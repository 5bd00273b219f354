#!/usr/bin/env bash
# Makes sure every Debian package ccpump needs is installed.
# As root it installs what is missing with apt-get; otherwise it prints the
# exact apt-get line and fails, so nothing is half set up.  Packages named in
# CCPUMP_EXTRA_PKGS are required the same way; those in CCPUMP_OPTIONAL_PKGS
# are installed where they can be and otherwise named and left out.
set -euo pipefail

# Build, libraries, fuzzing, procmail as a test peer (tests/relay/test_mda.sh),
# systemd for systemd-analyze, which checks the unit file (test_service),
# strace, which shows a test the order of a command's syncs (test_queue_ops),
# and procps, whose ps and pgrep find the relay's processes in a PID
# namespace (test_relay_pid1).  Keep in step with docs/design.md.
pkgs=(
  build-essential cmake pkg-config
  liburcu-dev libck-dev libjemalloc-dev
  libgmime-3.0-dev libglib2.0-dev
  clang libclang-rt-14-dev
  python3
  procmail
  systemd
  strace
  procps
)
if [ -n "${CCPUMP_EXTRA_PKGS:-}" ]; then
  read -r -a extra <<<"$CCPUMP_EXTRA_PKGS"
  pkgs+=("${extra[@]}")
fi

# Optional packages (CCPUMP_OPTIONAL_PKGS): installed as root where apt-get
# can, otherwise named in one line and left out; what needs them skips them.
optional=()
if [ -n "${CCPUMP_OPTIONAL_PKGS:-}" ]; then
  read -r -a optional <<<"$CCPUMP_OPTIONAL_PKGS"
fi

not_installed() {
  local p st
  for p in "$@"; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$st" = installed ] || echo "$p"
  done
}

mapfile -t missing < <(not_installed "${pkgs[@]}")
mapfile -t missing_optional < <(not_installed "${optional[@]}")
[ ${#missing[@]} -eq 0 ] && [ ${#missing_optional[@]} -eq 0 ] && exit 0

# Why nothing can be installed here, if so: one look, for both kinds.
cannot=
if [ "$(id -u)" -ne 0 ]; then
  cannot=root
elif ! command -v apt-get >/dev/null; then
  cannot=apt
fi

if [ ${#missing[@]} -gt 0 ] && [ -n "$cannot" ]; then
  line="apt-get install -y --no-install-recommends ${missing[*]}"
  if [ $cannot = root ]; then
    echo "ccpump: missing Debian packages; run as root: apt-get update && $line" >&2
  else
    echo "ccpump: missing packages (${missing[*]}) and no apt-get on this machine" >&2
  fi
  exit 1
fi

if [ -n "$cannot" ]; then
  echo "ccpump: optional packages not installed (${missing_optional[*]}): what needs" \
       "them is skipped; as root: apt-get install -y --no-install-recommends" \
       "${missing_optional[*]}" >&2
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
  echo "ccpump: installing ${missing[*]}" >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [ ${#missing_optional[@]} -gt 0 ]; then
  echo "ccpump: installing the optional ${missing_optional[*]}" >&2
  apt-get install -y -qq --no-install-recommends "${missing_optional[@]}" ||
    echo "ccpump: could not install the optional ${missing_optional[*]}:" \
         "what needs them is skipped" >&2
fi
