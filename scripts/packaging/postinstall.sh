#!/bin/sh
# After installing or upgrading mvm-exchange: the server's user and group,
# and /etc/mvm for its certificate and keys. The server is not started: it
# needs its PKI first (README.md, "Installing the .deb").
set -eu # dash, the /bin/sh of Debian, has no pipefail; no pipes here
if command -v systemd-sysusers >/dev/null 2>&1; then
  systemd-sysusers /usr/lib/sysusers.d/mvm-server.conf
elif ! getent passwd mvm >/dev/null; then
  adduser --system --group --home /var/lib/mvm --no-create-home mvm
fi
# Readable by the server's group, by nobody else; an existing directory
# keeps what its administrator set.
if [ ! -d /etc/mvm ]; then
  install -d -m 0750 -o root -g mvm /etc/mvm
fi
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
  # An upgrade restarts a server that was running.
  systemctl try-restart mvm-server.service || true
fi
