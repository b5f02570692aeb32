#!/bin/sh
# Run every test against the build in $1 (build/default or build/sanitize):
# the Check unit tests, then the end-to-end tests against a real Swift.
# Ends with one line "N passed, N failed"; exits non-zero if any failed.
set -u
build=${1:?usage: tests/run.sh BUILD_DIR}
passed=0
failed=0
log=$(mktemp)
failures=$(mktemp)      # what failed, repeated above the summary line
trap 'rm -f "$log" "$failures"' EXIT

for t in "$build"/tests/test_*; do
    [ -x "$t" ] || continue
    echo "== unit: $(basename "$t")"
    "$t" > "$log" 2>&1
    rc=$?
    cat "$log"
    # Check's summary: "100%: Checks: 78, Failures: 0, Errors: 0"
    line=$(grep -E '^[0-9]+%: Checks: ' "$log" | tail -n 1)
    if [ -n "$line" ]; then
        checks=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
        bad=$(echo "$line" | sed -E 's/.*Failures: ([0-9]+), Errors: ([0-9]+).*/\1 \2/' | awk '{ print $1 + $2 }')
        passed=$((passed + checks - bad))
        failed=$((failed + bad))
    fi
    if [ $rc -ne 0 ] && { [ -z "$line" ] || [ "$bad" = 0 ]; }; then
        failed=$((failed + 1))   # crashed or exited badly outside any check
    fi
    if [ $rc -ne 0 ]; then
        # Check names a failed check "file:line:F:suite:test:i: message".
        grep -E '^[^ ]+:[0-9]+:[EF]:' "$log" | sed 's/^/failed: /' >> "$failures"
        echo "failed: $(basename "$t") exited $rc" >> "$failures"
    fi
done

echo "== end-to-end"
/usr/bin/python3 tests/e2e/run.py --bin "$build/swiftgate" > "$log" 2>&1
rc=$?
cat "$log"
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
if [ -n "$line" ]; then
    passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
    failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
elif [ $rc -ne 0 ]; then
    failed=$((failed + 1))
fi

grep -E '^failed: ' "$log" >> "$failures"
if [ ! -s "$failures" ] && [ $rc -ne 0 ]; then
    echo "failed: the end-to-end runner exited $rc" >> "$failures"
fi
cat "$failures"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
