#!/bin/sh
# Installs Debian's tempest (with stestr and subunit) for test/integration/tempest.test.ts, which
# runs tempest.api.image.v2 against glint behind the real Keystone of .ci/install-keystone.sh.
# Idempotent: does nothing when the packages are present; `apt-get update` only when missing.
set -eu

PACKAGES="tempest python3-stestr python3-subunit"

missing=""
for p in $PACKAGES; do
  if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
    missing="$missing $p"
  fi
done
if [ -z "$missing" ]; then
  echo "install-tempest: already installed:$PACKAGES"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

APT="env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 -y -q"
$SUDO $APT update
# shellcheck disable=SC2086
$SUDO $APT install --no-install-recommends $missing
echo "install-tempest: installed:$missing"
