#!/usr/bin/env bash
# Installs the Debian packages Parley needs at run time and in tests, only when missing.
# espeak-ng: text-to-speech; sip-tester: SIPp (interoperability and load scenarios);
# lame: MP3 encoding of recordings; sox: audio tooling used by test fixtures;
# pocketsphinx + pocketsphinx-en-us: the local speech recogniser (asr_engine=pocketsphinx),
# needed by its tests; at run time only when that engine is configured.
# chromium: the headless browser that drives the web console in its end-to-end test.
# postgresql: the server binaries the PostgreSQL store tests start themselves (test/pgtest);
# Parley itself only needs a server when PARLEY_DATABASE_URL points at one.
# nats-server: the NATS server (with JetStream) the cluster tests start themselves
# (test/natstest); Parley itself only needs one when PARLEY_NATS_URL points at it.
# kamailio: the SIP proxy whose dispatcher the cluster test puts in front of two nodes (the
# configuration of docs/cluster.md, run by the test itself); the service the package installs
# is stopped and disabled, since the tests need none.
set -euo pipefail

need=()
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
if [ "${1:-}" = "test" ]; then
  command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
  command -v sox >/dev/null 2>&1 || need+=(sox)
  command -v pocketsphinx_continuous >/dev/null 2>&1 || need+=(pocketsphinx)
  [ -f /usr/share/pocketsphinx/model/en-us/en-us.lm.bin ] || need+=(pocketsphinx-en-us)
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
  [ -x /usr/sbin/nats-server ] || command -v nats-server >/dev/null 2>&1 || need+=(nats-server)
  [ -x /usr/sbin/kamailio ] || command -v kamailio >/dev/null 2>&1 || need+=(kamailio)
fi
command -v lame >/dev/null 2>&1 || need+=(lame)

[ ${#need[@]} -eq 0 ] && exit 0

echo "installing missing packages: ${need[*]}"
SUDO=
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "error: need root (or sudo) to install: ${need[*]}" >&2
    exit 1
  fi
fi
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
if [[ " ${need[*]} " == *" kamailio "* ]] && command -v systemctl >/dev/null 2>&1 &&
  systemctl is-enabled --quiet kamailio 2>/dev/null; then
  $SUDO systemctl disable --now kamailio
fi
