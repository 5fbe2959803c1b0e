#!/bin/sh
# Installs wsgikit's CGI entry stub (suexec/wsgi-cgi) into a user's cgi-bin so that suEXEC runs
# it, then verifies every check suexec.c makes of it, in suexec.c's order (suexec/README.md).
#
#   install-stub.sh USER [DIR]           as root: install DIR/wsgi-cgi (default DIR: ~USER/public_html/cgi-bin)
#   install-stub.sh --check USER [DIR]   only verify; any user may run it
#
# Exit status: 0 all checks pass, 1 a check failed (each failure printed with its fix), 2 usage.
# The document root and userdir suffix are those of the suEXEC Apache runs (SUEXEC_BIN, an
# alternative on Debian): compiled into apache2-suexec-pristine (`suexec -V` as root prints them;
# Debian's: /var/www and public_html), read by apache2-suexec-custom from SUEXEC_CONFIG
# (/etc/apache2/suexec/APACHE_USER: line 1 the document root, line 2 the userdir suffix, a line
# starting with "#" turns that kind of request off; Debian's suffix there is public_html/cgi-bin).
# AP_UID_MIN, AP_GID_MIN and AP_SAFE_PATH are the binary's (`suexec -V`, both kinds), Debian's
# when -V cannot be run. Each can be overridden to match another build:
#   AP_DOC_ROOT  AP_USERDIR_SUFFIX  SUEXEC_BIN (/usr/lib/apache2/suexec)  APACHE_USER (www-data)
#   SUEXEC_CONFIG  AP_UID_MIN (100)  AP_GID_MIN (100)  AP_SAFE_PATH (/usr/local/bin:/usr/bin:/bin)
#   WSGI_CGI (/usr/local/bin/wsgi-cgi)

set -u

SUEXEC_BIN=${SUEXEC_BIN:-/usr/lib/apache2/suexec}
APACHE_USER=${APACHE_USER:-www-data}
suexec_real=$(readlink -f "$SUEXEC_BIN" 2>/dev/null) || suexec_real=$SUEXEC_BIN
# -V prints "-D NAME=value" lines (to stderr) for root and Apache's group; others get nothing.
suexec_v=$("$suexec_real" -V 2>&1) || suexec_v=
define() { echo "$suexec_v" | sed -n "s/^ *-D $1=\"\{0,1\}\([^\"]*\)\"\{0,1\}\$/\1/p"; }
config_dir=$(define SUEXEC_CONFIG_DIR)
case "$suexec_real" in *suexec-custom) [ -n "$config_dir" ] || config_dir=/etc/apache2/suexec ;; esac
if [ -n "$config_dir" ]; then
  SUEXEC_CONFIG=${SUEXEC_CONFIG:-${config_dir%/}/$APACHE_USER}
  suexec_from="apache2-suexec-custom, $SUEXEC_CONFIG"
  line() { sed -n "${1}p" "$SUEXEC_CONFIG" 2>/dev/null | sed 's/\r$//; /^#/d'; }
  AP_DOC_ROOT=${AP_DOC_ROOT-$(line 1)}
  AP_USERDIR_SUFFIX=${AP_USERDIR_SUFFIX-$(line 2)}
else
  suexec_from="$suexec_real"
  AP_DOC_ROOT=${AP_DOC_ROOT-$(define AP_DOC_ROOT)}
  AP_USERDIR_SUFFIX=${AP_USERDIR_SUFFIX-$(define AP_USERDIR_SUFFIX)}
  AP_DOC_ROOT=${AP_DOC_ROOT:-/var/www}
  AP_USERDIR_SUFFIX=${AP_USERDIR_SUFFIX:-public_html}
fi
AP_UID_MIN=${AP_UID_MIN:-$(define AP_UID_MIN)}
AP_GID_MIN=${AP_GID_MIN:-$(define AP_GID_MIN)}
AP_SAFE_PATH=${AP_SAFE_PATH:-$(define AP_SAFE_PATH)}
AP_UID_MIN=${AP_UID_MIN:-100}
AP_GID_MIN=${AP_GID_MIN:-100}
AP_SAFE_PATH=${AP_SAFE_PATH:-/usr/local/bin:/usr/bin:/bin}
WSGI_CGI=${WSGI_CGI:-/usr/local/bin/wsgi-cgi}
STUB_NAME=wsgi-cgi

usage() {
  echo "usage: $0 [--check] USER [DIR]" >&2
  echo "  installs (or with --check only verifies) DIR/$STUB_NAME; DIR defaults to ~USER/public_html/cgi-bin" >&2
  exit 2
}

check_only=false
if [ "${1:-}" = "--check" ]; then
  check_only=true
  shift
fi
[ $# -ge 1 ] && [ $# -le 2 ] || usage
case "$1" in -*) usage ;; esac

user=$1
entry=$(getent passwd "$user") || {
  echo "install-stub: no user $user" >&2
  exit 1
}
uid=$(echo "$entry" | cut -d: -f3)
gid=$(echo "$entry" | cut -d: -f4)
home=$(echo "$entry" | cut -d: -f6)
group=$(getent group "$gid" | cut -d: -f1)
[ -n "$group" ] || group=$gid
# The URL /~user/cgi-bin/ is ~user/public_html/cgi-bin under Apache's usual UserDir public_html.
dir=${2:-$home/public_html/cgi-bin}
case "$dir" in /*) ;; *) dir=$(pwd)/$dir ;; esac
stub=$dir/$STUB_NAME
here=$(cd "$(dirname "$0")" && pwd)

if ! $check_only; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-stub: run as root to install (it sets the owner to $user:$group); --check only verifies" >&2
    exit 1
  fi
  # The folder: created if missing, owned by the user, 0755. A symlink in its place is replaced
  # by nothing: suEXEC compares the real path, so the folder itself must be real.
  if [ -L "$dir" ]; then
    echo "install-stub: $dir is a symlink; suEXEC checks the real folder. Remove it or give a real folder." >&2
    exit 1
  fi
  mkdir -p "$dir" && chown "$uid:$gid" "$dir" && chmod 0755 "$dir" || exit 1
  # The stub: a fresh regular file (never a symlink to the shared copy), user:group, 0755.
  rm -f "$stub" && cp "$here/$STUB_NAME" "$stub" && chown "$uid:$gid" "$stub" && chmod 0755 "$stub" || exit 1
fi

failures=0
ok() { echo "ok    $1"; }
fail() {
  echo "FAIL  $1" >&2
  echo "      fix: $2" >&2
  failures=$((failures + 1))
}
# mode bits of a path as a number (lstat: a symlink's own bits)
mode_of() { echo $((0$(stat -c '%a' "$1"))); }

# suexec.c check 4 [107/108]: the target user and group may be switched to.
if [ "$uid" -ne 0 ] && [ "$uid" -ge "$AP_UID_MIN" ]; then
  ok "uid $uid of $user is not 0 and >= AP_UID_MIN $AP_UID_MIN"
else
  fail "uid $uid of $user is 0 or below AP_UID_MIN $AP_UID_MIN: suEXEC refuses it" "serve the site as an ordinary user"
fi
if [ "$gid" -ne 0 ] && [ "$gid" -ge "$AP_GID_MIN" ]; then
  ok "gid $gid ($group) is not 0 and >= AP_GID_MIN $AP_GID_MIN"
else
  fail "gid $gid ($group) is 0 or below AP_GID_MIN $AP_GID_MIN: suEXEC refuses it" "give $user a primary group with gid >= $AP_GID_MIN"
fi

# check 6 [111-114]: the folder (suEXEC's cwd) lies under ~user/AP_USERDIR_SUFFIX (userdir
# requests) or AP_DOC_ROOT (virtual hosts with SuexecUserGroup), compared as real paths. An empty
# value is a kind of request the suEXEC in use refuses.
if [ -d "$dir" ]; then
  real_dir=$(cd "$dir" && pwd -P)
  under() { [ -n "$1" ] && real=$( (cd "$1" 2>/dev/null && pwd -P) || echo "$1") && case "$real_dir/" in "$real"/*) true ;; *) false ;; esac; }
  userdir_words=${AP_USERDIR_SUFFIX:+$home/$AP_USERDIR_SUFFIX}
  if under "$userdir_words"; then
    ok "$dir is under $userdir_words (userdir requests; $suexec_from)"
  elif under "$AP_DOC_ROOT"; then
    ok "$dir is under the document root $AP_DOC_ROOT (SuexecUserGroup virtual hosts; $suexec_from)"
  else
    fail "$dir (really $real_dir) is under neither ${userdir_words:-a userdir (turned off)} nor ${AP_DOC_ROOT:-a document root (turned off)} ($suexec_from): suEXEC answers 500, logging \"command not in docroot\"" "put the cgi-bin under ${userdir_words:-$AP_DOC_ROOT}"
  fi
else
  fail "$dir does not exist" "run $0 $user${2:+ $2} as root"
fi

# check 7 [115/116]: the folder is a directory, not writable by group or others.
if [ -d "$dir" ] && [ ! -L "$dir" ]; then
  ok "$dir is a directory"
  if [ $(($(mode_of "$dir") & 022)) -eq 0 ]; then
    ok "$dir is not writable by group or others"
  else
    fail "$dir is writable by group or others" "chmod go-w $dir"
  fi
fi

# check 8 [117-119]: the program exists, is no symlink, not group/other-writable, not setuid/setgid.
if [ -L "$stub" ]; then
  fail "$stub is a symlink: suEXEC refuses symlinks" "rm $stub and run $0 $user as root (it copies the file)"
elif [ -f "$stub" ]; then
  ok "$stub is a regular file, not a symlink"
  mode=$(mode_of "$stub")
  if [ $((mode & 022)) -eq 0 ]; then ok "$stub is not writable by group or others"; else fail "$stub is writable by group or others" "chmod go-w $stub"; fi
  if [ $((mode & 06000)) -eq 0 ]; then ok "$stub is not setuid or setgid"; else fail "$stub is setuid or setgid" "chmod ug-s $stub"; fi
else
  fail "$stub does not exist" "run $0 $user${2:+ $2} as root"
fi

# check 9 [120]: the folder and the program are owned by the target uid AND gid.
for path in "$dir" "$stub"; do
  [ -e "$path" ] || continue
  owner=$(stat -c '%u:%g' "$path")
  if [ "$owner" = "$uid:$gid" ]; then ok "$path is owned by $user:$group"; else fail "$path is owned by $owner, not $uid:$gid ($user:$group)" "chown $user:$group $path"; fi
done

# check 10 [121]: the owner may execute the program.
if [ -f "$stub" ] && [ ! -L "$stub" ]; then
  if [ $(($(mode_of "$stub") & 0100)) -ne 0 ]; then ok "$stub is executable by its owner"; else fail "$stub is not executable by its owner" "chmod 0755 $stub"; fi
fi

# check 12-13: the environment is cleaned and PATH becomes AP_SAFE_PATH; the stub names
# wsgi-cgi by absolute path, and wsgi-cgi's own "#!/usr/bin/env node" searches only AP_SAFE_PATH.
# wsgi-cgi is the native launcher (docs/cgi-launcher.md) when a C compiler was there at install:
# it hands what it does not relay to the Node entry beside its real path, which needs node alike.
if [ -x "$WSGI_CGI" ]; then ok "$WSGI_CGI is installed"; else fail "$WSGI_CGI is missing or not executable" "ln -s /usr/lib/node_modules/wsgikit/dist/wsgi-cgi $WSGI_CGI (suexec/README.md, step 1)"; fi
if [ -x "$WSGI_CGI" ]; then
  real=$(readlink -f "$WSGI_CGI")
  if [ "$(head -c 4 "$real" | od -An -c | tr -d ' ')" = '177ELF' ]; then
    if [ -r "$(dirname "$real")/wsgi-cgi.cjs" ]; then ok "$WSGI_CGI is the native launcher ($real), with the Node entry beside it"; else fail "$WSGI_CGI is the native launcher, but $(dirname "$real")/wsgi-cgi.cjs is missing" "node $(dirname "$(dirname "$real")")/scripts/launcher-build.mjs, and link $WSGI_CGI to the package's dist/wsgi-cgi"; fi
  else
    ok "$WSGI_CGI is the Node entry (no native launcher: every request starts Node; with gcc installed, node $(dirname "$(dirname "$real")")/scripts/launcher-build.mjs builds it)"
  fi
fi
node=$(PATH=$AP_SAFE_PATH command -v node 2>/dev/null)
if [ -n "$node" ]; then ok "node is on AP_SAFE_PATH: $node"; else fail "no node in AP_SAFE_PATH $AP_SAFE_PATH (suEXEC's only PATH)" "install Node 20+ as /usr/bin/node, or ln -s \$(command -v node) /usr/local/bin/node"; fi

if [ "$failures" -eq 0 ]; then
  echo "$stub passes every suEXEC check"
  exit 0
fi
echo "$failures check(s) failed" >&2
exit 1
