#!/bin/sh
# Builds a chroot for wsgikit's workers (host.toml `chroot = "/srv/chroots/%u"`, docs/chroot.md):
# a Python with the shared libraries it and its extension modules need (found with ldd), its
# standard library, wsgikit's bridge at /usr/lib/wsgikit/wsgi_bridge.py, /dev/null & co, /tmp,
# a minimal /etc/passwd and /etc/group, /etc/hosts, resolv.conf and the CA bundle, and the
# user's home as a mount point.
#
#   build-chroot.sh [--user NAME] [--mount-home] [--bridge FILE] DIR [PYTHON]
#   build-chroot.sh --refresh-bridge [--bridge FILE] DIR     (after each wsgikit upgrade)
#
# DIR is created root:root 755 (every folder above it must be root's and not writable by group
# or others: wsgikit refuses the chroot otherwise). PYTHON defaults to /usr/bin/python3; run it
# again with another Python to add it. --user NAME adds the user to /etc/passwd and /etc/group
# and creates the mount point DIR/home/NAME; --mount-home also bind-mounts the user's home there
# now (add the fstab line it prints to keep it across reboots). Run as root. Debian/Ubuntu,
# RHEL-likes: anything with sh, ldd, tar and cp.
set -eu

usage() {
  echo "usage: $0 [--user NAME] [--mount-home] [--bridge FILE] DIR [PYTHON]" >&2
  echo "       $0 --refresh-bridge [--bridge FILE] DIR" >&2
  exit 2
}

here=$(dirname "$(readlink -f "$0")")
bridge=""
for candidate in "$here/../dist/python-bridge/wsgi_bridge.py" "$here/../src/python-bridge/wsgi_bridge.py"; do
  if [ -z "$bridge" ] && [ -f "$candidate" ]; then bridge=$(readlink -f "$candidate"); fi
done
user=""
mount_home=0
refresh=0
while [ $# -gt 0 ]; do
  case "$1" in
    --user) [ $# -ge 2 ] || usage; user=$2; shift 2 ;;
    --mount-home) mount_home=1; shift ;;
    --bridge) [ $# -ge 2 ] || usage; bridge=$2; shift 2 ;;
    --refresh-bridge) refresh=1; shift ;;
    -h|--help) usage ;;
    --) shift; break ;;
    -*) usage ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] && [ $# -le 2 ] || usage
dir=$1
python=${2:-/usr/bin/python3}

[ "$(id -u)" = 0 ] || { echo "$0: run as root (the chroot must belong to root)" >&2; exit 1; }
case "$dir" in /*) ;; *) echo "$0: DIR must be an absolute path" >&2; exit 2 ;; esac
[ -n "$bridge" ] && [ -f "$bridge" ] || { echo "$0: wsgi_bridge.py not found; pass --bridge FILE" >&2; exit 1; }

install_bridge() {
  install -d -o root -g root -m 755 "$dir/usr/lib/wsgikit"
  install -o root -g root -m 644 "$bridge" "$dir/usr/lib/wsgikit/wsgi_bridge.py"
}

if [ "$refresh" = 1 ]; then
  [ -d "$dir" ] || { echo "$0: $dir does not exist" >&2; exit 1; }
  install_bridge
  echo "bridge refreshed in $dir"
  exit 0
fi

[ -x "$python" ] || { echo "$0: $python is not an executable Python" >&2; exit 1; }
umask 022
install -d -o root -g root -m 755 "$dir"
dir=$(readlink -f "$dir")

# The usr-merge links (/bin -> usr/bin, /lib -> usr/lib, …) as this system has them, so that the
# paths ldd and the ELF interpreter name resolve the same way inside.
for top in bin sbin lib lib32 lib64 libx32; do
  if [ -L "/$top" ] && [ ! -e "$dir/$top" ]; then
    target=$(readlink "/$top")
    install -d -m 755 "$dir/$(dirname "$top")/$target"
    ln -s "$target" "$dir/$top"
  fi
done

# Copies a file to the same path inside, following symlinks (cp -L), folders created 755.
copy_file() {
  [ -e "$dir$1" ] && return 0
  cp -L --parents "$1" "$dir"
}

# A path and every symlink on its way: /usr/bin/python3 -> python3.11 is kept as a link.
copy_path() {
  p=$1
  n=0
  while [ -L "$p" ] && [ $n -lt 20 ]; do
    target=$(readlink "$p")
    install -d -m 755 "$dir$(dirname "$p")"
    [ -e "$dir$p" ] || [ -L "$dir$p" ] || ln -s "$target" "$dir$p"
    case "$target" in /*) p=$target ;; *) p=$(dirname "$p")/$target ;; esac
    n=$((n + 1))
  done
  copy_file "$p"
}

# The shared libraries of an executable or extension module, and the dynamic loader.
copy_libs() {
  ldd "$1" 2>/dev/null | awk '/=> \// { print $3 } /^[[:space:]]*\/[^ ]+ \(/ { print $1 }' |
    while read -r lib; do copy_path "$lib"; done
}

copy_path "$python"
copy_libs "$python"

# The standard library, bytecode included (the chroot is read-only to the user, so Python could
# not write it there), without its test suite.
paths=$("$python" -I -c 'import sys, sysconfig; print(sysconfig.get_paths()["stdlib"]); print(sysconfig.get_config_var("DESTSHARED") or "")')
stdlib=$(echo "$paths" | sed -n 1p)
dynload=$(echo "$paths" | sed -n 2p)
[ -d "$stdlib" ] || { echo "$0: $python names no standard library folder" >&2; exit 1; }
tar -C / --exclude="${stdlib#/}/test" --exclude="${stdlib#/}/idlelib" --exclude="${stdlib#/}/tkinter" \
  -cf - "${stdlib#/}" | tar -C "$dir" -xf -
for so in "$stdlib"/lib-dynload/*.so ${dynload:+"$dynload"/*.so}; do
  [ -e "$so" ] && copy_libs "$so"
done

install_bridge

install -d -m 755 "$dir/dev" "$dir/etc" "$dir/home"
install -d -m 1777 "$dir/tmp"
for dev in null:1:3 zero:1:5 random:1:8 urandom:1:9; do
  name=${dev%%:*}
  nums=${dev#*:}
  if [ ! -e "$dir/dev/$name" ]; then
    mknod -m 666 "$dir/dev/$name" c "${nums%%:*}" "${nums#*:}" ||
      echo "$0: warning: could not create $dir/dev/$name (mknod refused); apps that open it will fail" >&2
  fi
done

# Name resolution and TLS roots for apps that call out (glibc's files and dns lookups are in libc).
for f in /etc/hosts /etc/resolv.conf /etc/nsswitch.conf /etc/ssl/certs/ca-certificates.crt; do
  if [ -f "$f" ]; then
    install -d -m 755 "$dir$(dirname "$f")"
    cp -L "$f" "$dir$f"
    chmod 644 "$dir$f"
  fi
done

# Only the names the chroot needs: root, nobody, and the user's own lines.
add_line() {
  file=$1
  line=$2
  touch "$dir/etc/$file"
  chmod 644 "$dir/etc/$file"
  grep -qxF "$line" "$dir/etc/$file" || echo "$line" >>"$dir/etc/$file"
}
for name in root nobody ${user:+"$user"}; do
  entry=$(getent passwd "$name") || { [ "$name" = "$user" ] && { echo "$0: no user $name" >&2; exit 1; }; continue; }
  add_line passwd "$entry"
  gid=$(echo "$entry" | cut -d: -f4)
  group=$(getent group "$gid") && add_line group "$(echo "$group" | cut -d: -f1-3):"
done

if [ -n "$user" ]; then
  home=$(getent passwd "$user" | cut -d: -f6)
  install -d -o root -g root -m 755 "$dir$home"
  if [ "$mount_home" = 1 ] && ! mountpoint -q "$dir$home"; then
    mount --bind "$home" "$dir$home"
  fi
  echo "home mount point: $dir$home (fstab: $home $dir$home none bind 0 0)"
fi
echo "chroot ready: $dir ($("$python" -I -c 'import sys; print(sys.version.split()[0])') at $python)"
