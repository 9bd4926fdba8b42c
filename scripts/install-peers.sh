#!/usr/bin/env bash
# Install the FTP servers the client interop tests run against (test/helpers/vsftpd.ts,
# test/helpers/pureftpd.ts; proftpd for bench/mirror.ts). Root only; idempotent: a second run
# changes nothing.
#
# vsftpd comes from apt as usual. pure-ftpd conflicts with vsftpd as a Debian package, so its
# .deb is unpacked (not installed) into $PEERS_DIR and run from there; the test helper finds it
# at $PEERS_DIR/pure-ftpd/usr/sbin/pure-ftpd (or $PUREFTPD_BIN).
set -euo pipefail
PEERS_DIR=${PEERS_DIR:-/opt/ferry-peers}
[[ $(id -u) == 0 ]] || { echo "install-peers.sh: run as root (it uses apt-get and writes $PEERS_DIR)" >&2; exit 2; }

updated=0
apt_update() { [[ $updated == 1 ]] || { apt-get update -qq; updated=1; }; }

if ! command -v vsftpd >/dev/null && [[ ! -x /usr/sbin/vsftpd ]]; then
  apt_update
  apt-get install -y --no-install-recommends vsftpd
fi
# openssl makes the throwaway certificates of the TLS interop tests.
if ! command -v openssl >/dev/null; then
  apt_update
  apt-get install -y --no-install-recommends openssl
fi
# vsftpd's Debian package starts a system-wide daemon on port 21; the tests start their own.
systemctl disable --now vsftpd >/dev/null 2>&1 || true

# pure-ftpd's libraries (its .deb is unpacked below, so apt does not pull them in).
need=()
for pkg in libsodium23 libcap2 libpam0g libssl3 libcrypt1; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  apt_update
  apt-get install -y --no-install-recommends "${need[@]}"
fi

target=$PEERS_DIR/pure-ftpd
if [[ ! -x $target/usr/sbin/pure-ftpd ]]; then
  work=$(mktemp -d); chmod 755 "$work"  # apt-get download runs as _apt
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && { apt-get download pure-ftpd 2>/dev/null || { apt_update; apt-get download pure-ftpd; }; })
  mkdir -p "$target"
  dpkg -x "$work"/pure-ftpd_*.deb "$target"
fi
# Its shared libraries must all resolve (libsodium, libssl, libcap ... come with the base system).
if ldd "$target/usr/sbin/pure-ftpd" | grep -q "not found"; then
  echo "install-peers.sh: pure-ftpd misses libraries:" >&2
  ldd "$target/usr/sbin/pure-ftpd" | grep "not found" >&2
  exit 1
fi

# proftpd (bench/lib/proftpd.ts): proftpd-core conflicts with vsftpd too, so it is unpacked
# into $PEERS_DIR/proftpd the same way; these libraries of it are not in the base system.
need=()
for pkg in libhiredis0.14 libmemcached11 libmemcachedutil2 libpcre2-posix3; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  apt_update
  apt-get install -y --no-install-recommends "${need[@]}"
fi
proftpd=$PEERS_DIR/proftpd
if [[ ! -x $proftpd/usr/sbin/proftpd ]]; then
  work2=$(mktemp -d); chmod 755 "$work2"
  trap 'rm -rf "${work:-}" "$work2"' EXIT
  (cd "$work2" && { apt-get download proftpd-core 2>/dev/null || { apt_update; apt-get download proftpd-core; }; })
  mkdir -p "$proftpd"
  dpkg -x "$work2"/proftpd-core_*.deb "$proftpd"
fi
if ldd "$proftpd/usr/sbin/proftpd" | grep -q "not found"; then
  echo "install-peers.sh: proftpd misses libraries:" >&2
  ldd "$proftpd/usr/sbin/proftpd" | grep "not found" >&2
  exit 1
fi
echo "peers ready: $(command -v vsftpd || echo /usr/sbin/vsftpd), $target/usr/sbin/pure-ftpd, $proftpd/usr/sbin/proftpd"
