#!/usr/bin/env bash
# Installs the system packages the tests drive: qemu-img and the distribution's OpenStack clients
# (glance, openstack, openstacksdk for /usr/bin/python3) for test/integration/real-clients.test.ts,
# and Ceph's monitor, OSD, RADOS Gateway and CLI for the real S3 server test/support/rgw.ts starts
# (the S3 blob-store contract and the S3 data-path API tests run on it as well as on s3rver).
# glance-api is the real Glance 25.1 test/integration/glance-oracle.test.ts compares glint with.
# Idempotent: installs only what is missing, and runs apt-get update once, only if needed.
set -euo pipefail

# glance-common: Glance's metadef files in /etc/glance/metadefs (test/integration/manage-metadefs.test.ts loads them)
packages=(qemu-utils python3-glanceclient python3-openstackclient python3-openstacksdk ceph-mon ceph-osd radosgw ceph-common glance-common glance-api)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg -s "$package" 2>/dev/null | grep -q '^Status: install ok installed$'; then
    missing+=("$package")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "system packages present: ${packages[*]}"
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  sudo=(sudo)
fi

echo "installing: ${missing[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
