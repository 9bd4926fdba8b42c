# Start a private vsftpd on 127.0.0.1 with a throwaway local user (needs root).
# shellcheck shell=bash
# Sets VSFTPD_PID VSFTPD_PORT VSFTPD_USER VSFTPD_PASS VSFTPD_HOME; vsftpd_stop undoes everything.
VSFTPD_USER=${VSFTPD_USER:-ferrybench}
vsftpd_start() { # vsftpd_start WORKDIR
  local base=$1/vsftpd bin
  bin=$(command -v vsftpd || echo /usr/sbin/vsftpd)
  [[ -x $bin ]] || die "vsftpd not found: apt-get install vsftpd"
  [[ $(id -u) == 0 ]] || die "vsftpd needs a local user: run as root"
  mkdir -p "$base/home" "$base/empty"
  chmod 755 "$1" "$base" "$base/empty"
  VSFTPD_HOME=$base/home
  VSFTPD_PASS=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
  if id "$VSFTPD_USER" >/dev/null 2>&1; then
    [[ $(getent passwd "$VSFTPD_USER" | cut -d: -f5) == ferry-bench ]] || die "user $VSFTPD_USER exists and is not ours"
    usermod -d "$VSFTPD_HOME" -s /bin/bash "$VSFTPD_USER"
  else
    # bash: Debian's PAM stack for vsftpd runs pam_shells (the shell must be a login shell).
    useradd -M -N -g nogroup -c ferry-bench -d "$VSFTPD_HOME" -s /bin/bash "$VSFTPD_USER"
  fi
  echo "$VSFTPD_USER:$VSFTPD_PASS" | chpasswd
  chown "$VSFTPD_USER" "$VSFTPD_HOME"
  VSFTPD_PORT=$(free_port)
  cat >"$base/vsftpd.conf" <<CONF
listen=YES
listen_ipv6=NO
listen_address=$HOST
listen_port=$VSFTPD_PORT
background=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
chroot_local_user=NO
pasv_enable=YES
pasv_address=$HOST
connect_from_port_20=NO
secure_chroot_dir=$base/empty
pam_service_name=vsftpd
seccomp_sandbox=NO
xferlog_enable=NO
max_clients=0
max_per_ip=0
CONF
  "$bin" "$base/vsftpd.conf" >"$base/out.log" 2>&1 &
  VSFTPD_PID=$!
  wait_port "$VSFTPD_PORT" "$VSFTPD_PID" || die "vsftpd did not start: $(head -c 300 "$base/out.log")"
}
vsftpd_stop() {
  stop_pid "${VSFTPD_PID:-}"
  VSFTPD_PID=""
  if id "$VSFTPD_USER" >/dev/null 2>&1 && [[ $(getent passwd "$VSFTPD_USER" | cut -d: -f5) == ferry-bench ]]; then
    userdel "$VSFTPD_USER" 2>/dev/null || true
  fi
  return 0
}
