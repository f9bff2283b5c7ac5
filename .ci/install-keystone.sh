#!/bin/sh
# Installs what test/support/keystone.ts needs: Debian's keystone (keystone-manage,
# keystone-wsgi-public), uwsgi with its python3 plugin to serve it, and the openstack CLI.
# Idempotent: packages already installed are not touched, and `apt-get update` only runs when
# something is missing. Never starts a system keystone service: the tests run their own.
set -eu

PACKAGES="keystone uwsgi-core uwsgi-plugin-python3 python3-openstackclient"

missing=""
for p in $PACKAGES; do
  if ! dpkg -s "$p" >/dev/null 2>&1 || ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
    missing="$missing $p"
  fi
done
if [ -z "$missing" ]; then
  echo "install-keystone: already installed:$PACKAGES"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Keep maintainer scripts from starting services (Docker images usually ship this already).
created_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod 755 /usr/sbin/policy-rc.d
  created_policy=1
fi

# Answer the package's debconf questions up front: no database setup, no LDAP, no
# endpoint registration — the test harness does all of that in its own temp folder.
cat <<'SEL' | $SUDO debconf-set-selections
keystone keystone/configure_db boolean false
keystone keystone/register-endpoint boolean false
keystone keystone/configure_ldap boolean false
SEL

APT="env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 -y -q"
$SUDO $APT update
# shellcheck disable=SC2086
$SUDO $APT install --no-install-recommends $missing

if [ -n "$created_policy" ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
# The package may have started a keystone under uwsgi anyway (no policy-rc.d honoured by
# every init); stop it so port 5000 stays free.
if command -v service >/dev/null 2>&1; then $SUDO service keystone stop >/dev/null 2>&1 || true; fi
echo "install-keystone: installed:$missing"
