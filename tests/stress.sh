#!/usr/bin/env bash
# Flakiness gate (not part of the default test command): run the real-browser tests and the
# learning tests N times, optionally beside two busy-loop processes (a loaded 2-core machine),
# and print how many of the N rounds passed for each.
#   tests/stress.sh [-n N] [--burn] [-k EXPR] [--only browser|learning]
# Exit status: non-zero if any round failed.
set -uo pipefail
cd "$(dirname "$0")/.."
N=10 BURN=0 K=() ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    -n) N="$2"; shift 2 ;;
    --burn) BURN=1; shift ;;
    -k) K=(-k "$2"); shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    *) echo "usage: tests/stress.sh [-n N] [--burn] [-k EXPR] [--only browser|learning]" >&2; exit 2 ;;
  esac
done
burners=()
if [ "$BURN" = 1 ]; then
  for _ in 1 2; do (while :; do :; done) & burners+=($!); done
  trap 'kill "${burners[@]}" 2>/dev/null' EXIT
fi
declare -A passed=([browser]=0 [learning]=0)
ok() { local rc=$?; [ "$rc" = 0 ] || [ "$rc" = 5 ]; }  # 5: -k selected nothing in that group
for i in $(seq 1 "$N"); do
  if [ "$ONLY" != learning ]; then
    python -m pytest -q -p no:cacheprovider -m browser "${K[@]}" tests/test_browser.py >"/tmp/seqlab-stress-browser-$i.log" 2>&1
    ok && passed[browser]=$((passed[browser] + 1)) || echo "round $i: browser failed (/tmp/seqlab-stress-browser-$i.log)"
  else passed[browser]=$((passed[browser] + 1)); fi
  if [ "$ONLY" != browser ]; then
    python -m pytest -q -p no:cacheprovider -m "not browser" "${K[@]}" tests/test_engine.py tests/test_models.py \
      tests/test_live.py tests/test_run_isolation.py tests/test_ssm.py tests/test_experiments.py \
      >"/tmp/seqlab-stress-learning-$i.log" 2>&1
    ok && passed[learning]=$((passed[learning] + 1)) || echo "round $i: learning failed (/tmp/seqlab-stress-learning-$i.log)"
  else passed[learning]=$((passed[learning] + 1)); fi
  echo "round $i done: browser ${passed[browser]}/$i, learning ${passed[learning]}/$i"
done
echo "browser: ${passed[browser]}/$N passed; learning: ${passed[learning]}/$N passed (burn=$BURN)"
[ "${passed[browser]}" = "$N" ] && [ "${passed[learning]}" = "$N" ]
