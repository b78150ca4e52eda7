#!/usr/bin/env bash
# Installs Flightlog as systemd services: release binaries, the flightlog user and group, the state and
# config folders, a default config and the units. Run as root from the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root"; exit 1; }

scripts/install-deps.sh
swift build -c release
bin=$(swift build -c release --show-bin-path)
for c in gateway ingestd sessiond operatord flightlog; do install -m 0755 "$bin/$c" /usr/local/bin/$c; done

getent group flightlog >/dev/null || groupadd --system flightlog
id flightlog >/dev/null 2>&1 || useradd --system --gid flightlog --home-dir /var/lib/flightlog --shell /usr/sbin/nologin flightlog
install -d -m 0750 -o flightlog -g flightlog /var/lib/flightlog /var/lib/flightlog/run
install -d -m 0755 /etc/flightlog
if [ ! -f /etc/flightlog/config.yaml ]; then
  cat > /etc/flightlog/config.yaml <<'YAML'
home: /var/lib/flightlog
gateway:
  listen: "127.0.0.1:8877"
capture:
  on_failure: block
  redact_bodies: true
sessions:
  idle_timeout: 5m
database:
  url: "sqlite:///var/lib/flightlog/flightlog.db"
operator:
  metrics_listen: "127.0.0.1:9877"
  mode: systemd
YAML
  chmod 0644 /etc/flightlog/config.yaml
fi
install -m 0644 deploy/*.service deploy/flightlog.target /etc/systemd/system/
install -d /usr/local/share/doc/flightlog && install -m 0644 README.md deploy/README.md /usr/local/share/doc/flightlog/ 2>/dev/null || true
# The CA is created once, as the service user, so its key is 0600 and owned by flightlog.
runuser -u flightlog -- /usr/local/bin/flightlog ca init --config /etc/flightlog/config.yaml
systemctl daemon-reload
systemctl enable --now flightlog.target
echo "Flightlog installed. Point agents at it with: flightlog env --config /etc/flightlog/config.yaml"
