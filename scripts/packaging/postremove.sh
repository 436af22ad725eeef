#!/bin/sh
set -eu # dash, the /bin/sh of Debian, has no pipefail; no pipes here
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
