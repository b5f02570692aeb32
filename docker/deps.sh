#!/bin/sh
# Install the Debian packages of the given roles (build, run, test, ...)
# listed in docker/debian-packages.txt, and nothing when all are there.
# With --list, print them (one a line) and install nothing.
# Usage: docker/deps.sh [--list] ROLE [ROLE...]
set -eu
here=$(dirname "$0")
list="$here/debian-packages.txt"
only_list=no
if [ "${1:-}" = --list ]; then only_list=yes; shift; fi
[ $# -gt 0 ] || { echo "usage: $0 [--list] ROLE [ROLE...]" >&2; exit 2; }

want=""
for role in "$@"; do
    want="$want $(awk -v r="$role" '!/^#/ && NF >= 2 { n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == r) print $1 }' "$list")"
done

if [ $only_list = yes ]; then
    for p in $want; do echo "$p"; done | awk '!seen[$0]++'
    exit 0
fi

missing=""
for p in $want; do
    case " $missing " in *" $p "*) continue ;; esac
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$st" = installed ] || missing="$missing $p"
done
[ -n "$missing" ] || exit 0

echo "deps: installing:$missing"
if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
# A service that a package may start (memcached) does no harm: the tests and
# the demo start their own, on free loopback ports.
$sudo apt-get update -q
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
