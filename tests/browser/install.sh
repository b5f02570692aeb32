#!/bin/sh
# What the browser test needs, installed only where missing; silent and quick
# when everything is there.  Run by tests/e2e/test_browser.py.
#
#   - Chromium: Debian's package (docker/debian-packages.txt, role test, so
#     `make test` has usually installed it already).  Never a browser
#     download of Playwright's own: `npx playwright install` cannot work here.
#   - node and npm: whatever is on the PATH (the machines have Node.js 20 with
#     its own npm).  Only where one is missing, Debian's nodejs and npm.  npm
#     is not in the package list, because a nodejs built elsewhere (such as
#     nodesource's, which ships npm itself) conflicts with Debian's npm.
#   - playwright-core, at the version package-lock.json pins, with `npm ci`
#     into tests/browser/node_modules (git-ignored), redone when the lock
#     file changes.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi

if [ ! -x /usr/bin/chromium ]; then
    "$root/docker/deps.sh" test
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "browser: installing Debian's nodejs and npm"
    $sudo apt-get update -q
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends nodejs npm
fi

stamp="$here/node_modules/.swiftgate-lock-sha256"
want=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
if [ -f "$here/node_modules/playwright-core/package.json" ] && [ -f "$stamp" ] \
        && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
echo "browser: npm ci (playwright-core) in $here"
cd "$here"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 timeout 300 \
    npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
echo "$want" > "$stamp"
