#!/usr/bin/env bash
# usage: deploy/local/apt_install.sh PACKAGE...
# Install Debian packages as root (sudo when not root), without recommends: what python.sh and
# rust.sh need when their tool is missing. stack.sh has its own, which also keeps apt from
# starting the servers' system services.
set -euo pipefail

[ "$#" -gt 0 ] || { echo "usage: apt_install.sh PACKAGE..." >&2; exit 2; }
SUDO=$( [ "$(id -u)" -eq 0 ] && echo "" || echo sudo )
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@"
