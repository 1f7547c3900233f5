#!/bin/bash
# xrun report on a real scikit-learn sweep (metrics every epoch), read
# in a real browser: headless Chromium takes a screenshot (not blank),
# runs the page's script and dumps the DOM, in which the curves, their
# points, the sorted table, the difference of two runs and the escaping
# of hostile strings are checked. As root, then as an unprivileged user.
. "$top_srcdir/tests/integration/lib.sh"

"$PYTHON3" -c 'import sklearn' 2>/dev/null ||
	skip_all "report tests need Debian's python3-sklearn ($PYTHON3)"
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] ||
	echo "# chromium is missing (build-aux/install-deps --test installs it): browser checks skipped"

# chrome DIR ARGS...: headless Chromium with a profile of its own.
chrome() {
	local dir=$1
	shift
	timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu \
		--no-first-run --no-default-browser-check --user-data-dir="$dir/chrome" \
		--hide-scrollbars "$@" 2>/dev/null
}
# dom FILE [FRAGMENT]: the DOM after the page's script ran.
dom() {
	chrome "$(dirname "$1")" --virtual-time-budget=5000 --dump-dom "file://$1${2:-}"
}
skip_browser() {
	local n
	for n in $(seq "$1"); do ok 0 "# skip chromium is missing"; done
}

mkdir -p "$T/w" && cd "$T/w" || exit 1
git init -q . && cp "$top_srcdir/tests/integration/report-train.py" train.py
"$XRUN" -q sweep --seed 7 -p lr=0.1,0.01,0.001 -p epochs=6 -- "$PYTHON3" train.py >/dev/null
is "$?" 0 "a sweep of a scikit-learn training (3 runs, 6 epochs)"
sweep=$(jget "$(latest_record)" 'd["tags"]["sweep"]')
first=$("$XRUN" ls --sweep "$sweep" --json | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')

"$XRUN" report --sweep "${sweep:0:8}" -o report.html 2>"$T/err"
is "$?" 0 "report --sweep -o exits 0"
like "$(cat "$T/err")" "report of 3 runs in 'report.html'" "... and says where it wrote"
ok "$(grep -c $'[\r\e]' "$T/err")" "... without a progress bar: stderr is no terminal"
html=$(cat report.html)
like "$html" '^<!DOCTYPE html>' "an HTML document"
ok "$(grep -Eic '(src|href|action)="(https?:)?//|<link|@import|url\(' report.html)" \
	"self-contained: no address outside the file, no link, no import"
like "$html" "Content-Security-Policy\" content=\"default-src 'none'" \
	"a Content-Security-Policy that forbids any fetch"
like "$html" '@media \(max-width' "a layout for phones"
like "$html" '@media print' "a layout for print"
is "$(grep -o '<polyline class="curve"' report.html | wc -l)" 6 \
	"two metrics × three runs: six curves"
"$XRUN" report --sweep "$sweep" >stdout.html
is "$?" 0 "report to standard output when it is not a terminal"
is "$(grep -c '<polyline class="curve"' stdout.html)" "$(grep -c '<polyline class="curve"' report.html)" \
	"... the same report"

if [ -n "$CHROMIUM" ]; then
	chrome "$T/w" --window-size=1000,1400 --screenshot="$T/w/shot.png" \
		"file://$T/w/report.html" >/dev/null
	read -r w h colours inked < <("$PYTHON3" "$top_srcdir/tests/integration/png-stats.py" shot.png)
	is "$w x $h" "1000 x 1400" "a screenshot in Chromium"
	ok "$([ "${colours:-0}" -ge 8 ] && [ "${inked:-0}" -ge 20 ]; echo $?)" \
		"... not blank: $colours colours, $inked‰ of the pixels inked"
	dom "$T/w/report.html" >dom.html
	cat >"$T/count.py" <<'PY'
import html.parser, json, sys

class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.charts, self.rows, self.scripts, self.imgs = [], [], 0, 0
        self.titles, self.in_title, self.pre, self.in_pre = [], False, "", False
        self.ready = None
        self.sorted = None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.ready = a.get("data-ready")
        if tag == "figure" and "chart" in a.get("class", ""):
            self.charts.append({"metric": a["data-metric"], "curves": []})
        if tag == "polyline":
            pts = a["points"].split()
            self.charts[-1]["curves"].append((int(a["data-points"]), len(pts)))
        if tag == "tr" and "data-run" in a:
            self.rows.append(None)
        if tag == "td" and self.rows and self.rows[-1] is None:
            self.rows[-1] = a.get("data-v")
        if tag == "th" and a.get("aria-sort"):
            self.sorted = (a.get("data-key"), a["aria-sort"])
        if tag == "script":
            self.scripts += 1
        if tag == "img":
            self.imgs += 1
        if tag == "title":
            self.in_title = True
        if tag == "pre" and a.get("id") == "diff-out":
            self.in_pre = True
    def handle_endtag(self, tag):
        if tag == "title":
            self.in_title = False
        if tag == "pre":
            self.in_pre = False
    def handle_data(self, d):
        if self.in_title:
            self.titles.append(d)
        if self.in_pre:
            self.pre += d

p = P()
p.feed(open(sys.argv[1]).read())
print(json.dumps({"charts": p.charts, "rows": p.rows, "scripts": p.scripts,
                  "imgs": p.imgs, "titles": p.titles, "pre": p.pre,
                  "ready": p.ready, "sorted": p.sorted}))
PY
	count() { "$PYTHON3" "$T/count.py" "$1" >"$1.json" && jget "$1.json" "$2"; }
	is "$(count dom.html 'd["ready"]')" 1 "the page's script ran to its end"
	is "$(count dom.html '[c["metric"] for c in d["charts"]]')" '["loss", "val_accuracy"]' \
		"one chart per metric"
	is "$(count dom.html '[len(c["curves"]) for c in d["charts"]]')" '[3, 3]' \
		"three curves in each, one per run"
	is "$(count dom.html 'sorted({n for c in d["charts"] for k in c["curves"] for n in k})')" '[6]' \
		"six points in every curve, one per epoch"
	like "$(count dom.html 'd["titles"]')" 'step 3: loss = [0-9.]+' "hover values on the points"
	like "$(count dom.html 'd["pre"]')" '~ lr +0\.1 → 0\.01' \
		"the difference of two runs, shown for the first two"
	# Sorting: a click on the loss header orders the rows by it.
	want=$("$XRUN" compare --sweep "$sweep" --json | "$PYTHON3" -c '
import json, sys
runs = json.load(sys.stdin)["runs"]
print(" ".join(r["id"] for r in sorted(runs, key=lambda r: r["metrics"]["loss"])))')
	dom "$T/w/report.html" '#sort=metric:loss' >sorted.html
	is "$(count sorted.html '" ".join(d["rows"])')" "$want" \
		"a click on the loss header: the runs by loss, lowest first"
	is "$(count sorted.html 'd["sorted"]')" '["metric:loss", "ascending"]' "... and the header says so"
	dom "$T/w/report.html" '#sort=metric:loss:desc' >sorted.html
	is "$(count sorted.html '" ".join(reversed(d["rows"]))')" "$want" \
		"a second click: highest first"
	# The replay's verdict, with the replay in the report.
	"$XRUN" -q replay "$first" >/dev/null 2>&1
	is "$?" 0 "a replay of the first run"
	"$XRUN" -q report -o all.html
	dom "$T/w/all.html" >all-dom.html
	like "$(cat all-dom.html)" 'reproduced</span>' "a replay's verdict in its provenance"
	chrome "$T/w" --no-pdf-header-footer --print-to-pdf="$T/w/r.pdf" "file://$T/w/report.html" >/dev/null
	like "$(head -c 5 r.pdf)" '%PDF-' "printed to PDF"
else
	skip_browser 13
fi

# Hostile strings from a record: params, names, tags and notes are text.
"$XRUN" -q run --no-sandbox -n '<img src=x onerror=alert(1)>' \
	-p 'evil=</script><script>document.title="pwned"</script>' \
	-p 'amp=&lt;b&gt;' --tag 'k=<b>bold</b>' -- sh -c 'echo "{\"<i>m</i>\": 1}" >>"$XRUN_METRICS"'
"$XRUN" note latest "$(printf 'line\xe2\x80\xa8sep </script><script>alert(2)</script>')"
"$XRUN" report latest -o evil.html
is "$?" 0 "a report of a run with hostile strings"
is "$(grep -c '<script' evil.html)" 2 "only the report's own two script elements"
ok "$(grep -c '<img' evil.html)" "no img element from the run's name"
ok "$(grep -o '<script type="application/json" id="xrun-data">.*</script>' evil.html |
	grep -c -e '</script><script>' -e $'\xe2\x80\xa8')" \
	"the embedded JSON cannot end its element, and carries U+2028 escaped"
like "$(cat evil.html)" '&lt;/script&gt;&lt;script&gt;document.title=&quot;pwned&quot;' \
	"the param is shown as text"
like "$(cat evil.html)" '&amp;lt;b&amp;gt;' "an ampersand is escaped too"
if [ -n "$CHROMIUM" ]; then
	dom "$T/w/evil.html" >evil-dom.html
	is "$(count evil-dom.html 'd["ready"]')" 1 "the page's script still runs"
	is "$(count evil-dom.html 'd["scripts"]')" 2 "... and no script got in"
	like "$(count evil-dom.html 'd["titles"][0]')" '^xrun report$' "... the title is untouched"
	ok "$(count evil-dom.html 'd["imgs"]')" "... and no image"
else
	skip_browser 4
fi

# Errors
err=$("$XRUN" report --sweep x latest -o x.html 2>&1)
is "$?" 2 "RUNs and --sweep together: 2"
err=$(script -qec "$XRUN report latest" /dev/null 2>&1)
is "$?" 2 "no -o and a terminal for standard output: 2"
like "$err" 'give -o FILE.html' "... says what to do"
err=$("$XRUN" report --sweep nosuch -o x.html 2>&1)
is "$?" 1 "an unknown sweep: 1"
like "$err" "no runs of a sweep 'nosuch'" "... says so"
test ! -e x.html
ok $? "... and writes nothing"

# The same as an unprivileged user, in a store of their own.
if have_test_user; then
	mkdir -p "$T/u" && chown "$TEST_USER" "$T/u" && cd "$T/u" || exit 1
	as_user cp "$top_srcdir/tests/integration/report-train.py" train.py
	as_user "$XRUN" -q sweep --seed 3 -p lr=0.05,0.005 -p epochs=4 -- "$PYTHON3" train.py >/dev/null
	is "$?" 0 "as $TEST_USER: a scikit-learn sweep"
	as_user "$XRUN" -q report -o report.html
	is "$?" 0 "as $TEST_USER: report"
	is "$(grep -c '<polyline class="curve"' report.html)" 4 "as $TEST_USER: two metrics × two runs"
	if [ -n "$CHROMIUM" ]; then
		as_user timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
			--user-data-dir="$T/u/chrome" --virtual-time-budget=5000 \
			--dump-dom "file://$T/u/report.html" 2>/dev/null >"$T/u/dom.html"
		is "$(count "$T/u/dom.html" '[len(c["curves"]) for c in d["charts"]]')" '[2, 2]' \
			"as $TEST_USER: the curves in Chromium"
		is "$(count "$T/u/dom.html" 'sorted({n for c in d["charts"] for k in c["curves"] for n in k})')" '[4]' \
			"as $TEST_USER: four points each"
	else
		skip_browser 2
	fi
else
	ok 0 "# skip no unprivileged test user (needs root)"
fi

done_testing
