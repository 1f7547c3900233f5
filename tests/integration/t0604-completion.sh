#!/bin/bash
# Bash completion (contrib/bash-completion/xrun): the script sourced in
# a bash without the bash-completion package, its function called as
# bash would call it, COMPREPLY checked: commands (the same as xrun
# --help lists), options (from COMMAND --help), run ids of the store.
# As root and as an unprivileged user.
. "$top_srcdir/tests/integration/lib.sh"

COMPLETION=$top_srcdir/contrib/bash-completion/xrun
XRUN_DIR=$(dirname "$XRUN")
# complete WORD...: what bash would offer for the last word, sorted,
# one line; run by bash with xrun on PATH (the way a user calls it).
cat >"$T/complete.sh" <<'SH'
. "$1"
shift
COMP_WORDS=("$@")
COMP_CWORD=$(($# - 1))
COMPREPLY=()
_xrun
((${#COMPREPLY[@]})) && printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "
SH
chmod 644 "$T/complete.sh"
complete_words() {
	"$@" env PATH="$XRUN_DIR:/usr/bin:/bin" bash --norc --noprofile "$T/complete.sh" "$COMPLETION" "${WORDS[@]}"
}

check "the script is valid bash" -- bash -n "$COMPLETION"

completion_test() { # completion_test WHO RUNNER...
	local who=$1
	shift
	"$@" "$XRUN" -q run --no-sandbox true
	"$@" "$XRUN" -q run --no-sandbox true
	local want ids
	want=$("$XRUN" --help | sed -n '/^Commands:/,/^$/p' | awk 'NF > 1 {print $1}' | sort | tr '\n' ' ')
	WORDS=(xrun "")
	is "$(complete_words "$@")" "$want" "$who: xrun <TAB>: every command of xrun --help"
	WORDS=(xrun sh)
	is "$(complete_words "$@")" "show " "$who: xrun sh<TAB>: show"
	WORDS=(xrun report --)
	like "$(complete_words "$@")" '--help --output --sweep --title' "$who: report --<TAB>: its options"
	WORDS=(xrun metrics --f)
	is "$(complete_words "$@")" "--follow " "$who: metrics --f<TAB>: --follow"
	ids=$("$@" "$XRUN" ls --json | "$PYTHON3" -c '
import json, sys
print(" ".join(sorted([r["id"][:8] for r in json.load(sys.stdin)] + ["latest"])))')
	WORDS=(xrun show "")
	is "$(complete_words "$@")" "$ids " "$who: show <TAB>: latest and the run ids"
	WORDS=(xrun tag "${ids:0:4}")
	is "$(complete_words "$@")" "${ids:0:8} " "$who: tag PREFIX<TAB>: the run"
	WORDS=(xrun tag "${ids:0:8}" "")
	is "$(complete_words "$@")" "" "$who: tag RUN <TAB>: no more runs (KEY=VALUE is the user's)"
	WORDS=(xrun diff "${ids:0:8}" "")
	is "$(complete_words "$@")" "$ids " "$who: diff RUN <TAB>: the second run"
	WORDS=(xrun ls --status f)
	is "$(complete_words "$@")" "failed " "$who: ls --status f<TAB>: failed"
	cd / || return
	WORDS=(xrun --store "$OLDPWD/.xrun" log "")
	is "$(complete_words "$@")" "$ids " "$who: --store DIR log <TAB>: the runs of that store"
	cd "$OLDPWD" || return
}

mkdir -p "$T/root" && cd "$T/root" || exit 1
completion_test root env
mkdir -p "$T/none" && cd "$T/none" || exit 1
WORDS=(xrun show "")
is "$(complete_words env)" "latest " "no store: only latest, and no error"

if have_test_user; then
	mkdir -p "$T/user" && chown "$TEST_USER" "$T/user" && cd "$T/user" || exit 1
	completion_test "$TEST_USER" as_user
else
	ok 0 "# skip no unprivileged test user (needs root)"
fi

done_testing
