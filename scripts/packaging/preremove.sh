#!/bin/sh
# Before removing mvm-exchange: stop the server. The database in
# /var/lib/mvm and the keys in /etc/mvm stay: the log is evidence.
set -eu # dash, the /bin/sh of Debian, has no pipefail; no pipes here
if [ "${1:-}" = remove ] && [ -d /run/systemd/system ]; then
  systemctl disable --now mvm-server.service || true
fi
