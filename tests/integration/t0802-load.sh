#!/bin/bash
# Load: 64 runs at once into one store, and 100 MiB of stdout at full
# speed, captured whole while the launcher's memory stays flat.
. "$top_srcdir/tests/integration/lib.sh"
cd "$T" || exit 1
[ -x /usr/bin/time ] || skip_all "/usr/bin/time is not installed (apt-get install time)"

# 64 xrun run in parallel: 64 distinct, valid, finished records.
"$XRUN" -q run true # the store, first
pids=
for i in $(seq 64); do
	"$XRUN" -q run -p "i=$i" sh -c 'echo "run $XRUN_PARAM_i"' >"out.$i" 2>&1 &
	pids="$pids $!"
done
failed=0
for p in $pids; do
	wait "$p" || failed=$((failed + 1))
done
is "$failed" 0 "64 runs at once: every one succeeds"
recs=$(grep -l '"i": ' .xrun/runs/*/record.json)
is "$(echo "$recs" | wc -l)" 64 "64 records"
is "$(for r in $recs; do jget "$r" 'd["id"]'; done | sort -u | wc -l)" 64 "... with 64 distinct ids"
is "$(for r in $recs; do jget "$r" 'd["params"]["i"]'; done | sort -n | tr '\n' ' ')" \
	"$(seq 64 | tr '\n' ' ')" "... one for each param"
is "$(for r in $recs; do jget "$r" 'd["status"]'; done | sort -u)" succeeded "... all finalized as succeeded"
# shellcheck disable=SC2086
check "all 64 validate" -- validate $recs

# 100 MiB of stdout: every byte captured, the digest right, and the
# launcher's peak RSS flat (it streams through a 64 KiB buffer).
want=$(head -c 104857600 /dev/zero | sha256sum | cut -d' ' -f1)
/usr/bin/time -f '%M' -o rss "$XRUN" -q run -- head -c 104857600 /dev/zero >/dev/null
is "$?" 0 "100 MiB of stdout: the run succeeds"
rec=$(latest_record)
is "$(jget "$rec" 'd["result"]["stdout"]["bytes"]')" 104857600 "... every byte counted"
is "$(jget "$rec" 'd["result"]["stdout"]["sha256"]')" "sha256:$want" "... and hashed"
is "$(stat -c %s "$(dirname "$rec")/stdout")" 104857600 "... and kept in the run directory"
rss=$(tail -n 1 rss)
echo "# launcher peak RSS: ${rss} KiB"
case $("$XRUN" --version) in
*asan* | *ubsan*)
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n # SKIP peak RSS: a sanitizer build's shadow memory is not the launcher's"
	;;
*) ok $((rss > 16384)) "the launcher's peak RSS stays within 16 MiB (${rss} KiB)" ;;
esac

done_testing
