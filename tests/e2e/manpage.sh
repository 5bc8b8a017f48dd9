#!/usr/bin/env bash
# manpage.sh - the man page and the option tables stay in step, both ways.
#   OVATOOL=build/ovatool bash tests/e2e/manpage.sh docs/ovatool.1
#
# The source of truth is `ovatool SUB --help`, printed from the same table
# the parser reads. For every subcommand listed by `ovatool --help`:
#   - the man page has a `.SS SUB` section under `.SH COMMANDS`;
#   - every option in SUB's --help (its option table, and the [--opt ARG]
#     items of its usage lines) has an entry in that section, with the same
#     short form and argument name;
#   - every option entry in that section is in SUB's --help.
# An option entry is a `.TP` whose tag line reads, once fonts are dropped,
# like a --help line: `\fB\-o\fR, \fB\-\-output\fR \fIFILE\fR|\fIDIR\fR`.
# Also: the global options (`.SH OPTIONS`) work, every exit status the help
# texts name is a `.TP` + `.B N` entry under EXIT STATUS and no other is,
# every environment variable the sources read (getenv/setenv) is an entry
# under ENVIRONMENT, and the page renders without a single warning.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

MAN=${1:?usage: manpage.sh MAN_PAGE (and OVATOOL in the environment)}
[ -f "$MAN" ] || fail "man page $MAN not found"
: "${OVATOOL:?set OVATOOL to the ovatool binary}"
SRC=$(cd "$(dirname "$0")/../.." && pwd)

problems=()
problem() { problems+=("$*"); echo "DRIFT: $*" >&2; }

# ---- the man page ------------------------------------------------------------

# section SH_TITLE [SS_TITLE]: the lines of one .SH section, or of one .SS
# section inside it (quotes around titles ignored), without the heading.
section() {
  awk -v sh="$1" -v ss="${2-}" '
    function title(l) { sub(/^\.S[HS][ \t]*/, "", l); gsub(/"/, "", l); sub(/[ \t]+$/, "", l); return l }
    /^\.SH/ { insh = (title($0) == sh); on = (ss == "") && insh; next }
    /^\.SS/ && ss != "" { on = insh && title($0) == ss; next }
    on { print }' "$MAN"
}

# .SS titles inside one .SH section.
subsections() {
  awk -v sh="$1" '
    function title(l) { sub(/^\.S[HS][ \t]*/, "", l); gsub(/"/, "", l); sub(/[ \t]+$/, "", l); return l }
    /^\.SH/ { insh = (title($0) == sh); next }
    /^\.SS/ && insh { print title($0) }' "$MAN"
}

# The tag line of every .TP on stdin, as plain text: no font escapes, no
# quotes, `\-` as `-`, and a leading font macro (.B, .BR, ...) dropped.
tags() {
  awk '/^\.\\"/ { next } want { print; want = 0; next } /^\.TP/ { want = 1 }' |
    sed -E -e 's/^\.(B|I|BR|RB|BI|IB|IR|RI)[[:space:]]+//' -e 's/"//g' \
      -e 's/\\f(\[[^]]*\]|\(..|.)//g' -e 's/\\-/-/g' -e 's/\\&//g' -e 's/\\e/\\/g' -e 's/[[:space:]]+$//'
}

# Option tags (from tags) as KEY, SHORT, LONG, ARG
# separated by \037 (a tab would merge empty fields in read); KEY is the long
# name, or -x for an option with a short form only. Other tags are skipped.
tag_options() {
  awk '{
    s = $0; short = ""; long = ""
    if (match(s, /^-[A-Za-z0-9], /)) { short = substr(s, 2, 1); s = substr(s, 5) }
    if (match(s, /^--[A-Za-z0-9][A-Za-z0-9-]*/)) { long = substr(s, 3, RLENGTH - 2); s = substr(s, RLENGTH + 1) }
    else if (short == "" && match(s, /^-[A-Za-z0-9]/)) { short = substr(s, 2, 1); s = substr(s, 3) }
    else next
    sub(/^[ \t]+/, "", s)
    printf "%s\037%s\037%s\037%s\n", (long != "" ? long : "-" short), short, long, s
  }'
}

# ---- the help texts ----------------------------------------------------------

# The options of one --help text on stdin, same format as tag_options: the
# lines of the option table (`  -o, --output FILE|DIR   text`, `      --json
# text`) first, then the [--opt ARG] / [-x] items of the usage lines for
# options the table does not have (subcommands without a table).
help_options() {
  awk '
    function put(k, s, l, a) { if (!(k in seen)) { seen[k] = 1; printf "%s\037%s\037%s\037%s\n", k, s, l, a } }
    /^  (-[A-Za-z0-9], |    )--[A-Za-z0-9]/ {
      s = substr($0, 3); short = ""; arg = ""
      if (s ~ /^-[A-Za-z0-9], /) short = substr(s, 2, 1)
      s = substr(s, 5)
      match(s, /^--[A-Za-z0-9][A-Za-z0-9-]*/)
      long = substr(s, 3, RLENGTH - 2); rest = substr(s, RLENGTH + 1)
      # the argument name follows after one space; the help text after two or more
      if (rest ~ /^ [^ ]/) { split(substr(rest, 2), w, " "); if (w[1] ~ /^[A-Z][A-Z0-9_|<>.\/-]*$/) arg = w[1] }
      if (short != "") shorts[short] = 1
      put(long, short, long, arg); next
    }
    { usage[++n] = $0 }
    END {
      for (i = 1; i <= n; i++) {
        line = usage[i]
        while (match(line, /\[-[^]]*\]/)) {
          item = substr(line, RSTART + 1, RLENGTH - 2); line = substr(line, RSTART + RLENGTH)
          split(item, w, " "); arg = substr(item, length(w[1]) + 2)
          short = ""; long = ""
          na = split(w[1], alt, "|")
          for (j = 1; j <= na; j++) {
            if (alt[j] ~ /^--[A-Za-z0-9]/) long = substr(alt[j], 3)
            else if (alt[j] ~ /^-[A-Za-z0-9]$/) short = substr(alt[j], 2)
          }
          if (long != "") put(long, short, long, arg)
          else if (short != "" && !(short in shorts)) put("-" short, short, "", arg)
        }
      }
    }'
}

# The exit statuses a help text on stdin names: the items of each
# "Exit status: 0 success, 1 failure (...), ..." paragraph, and "exit N".
help_exit_codes() {
  awk '
    function items(p,   n, i, item, v, d) {
      sub(/.*Exit status:/, "", p)
      while (match(p, /\([^()]*\)/)) p = substr(p, 1, RSTART - 1) substr(p, RSTART + RLENGTH)
      n = split(p, item, ",")
      for (i = 1; i <= n; i++) if (match(item[i], /^[ \t]*[0-9]+[ \t]/)) { v = item[i]; gsub(/[^0-9]/, " ", v); split(v, d, " "); print d[1] }
    }
    /Exit status:/ { on = 1; para = "" }
    on && /^[ \t]*$/ { on = 0; items(para) }
    on { para = para " " $0 }
    { t = $0; while (match(t, /exit [0-9]+/)) { print substr(t, RSTART + 5, RLENGTH - 5); t = substr(t, RSTART + RLENGTH) } }
    END { if (on) items(para) }'
}

sig() {  # sig SHORT LONG ARG: the option as --help prints it
  local s=""
  [ -n "$1" ] && s="-$1"
  [ -n "$1" ] && [ -n "$2" ] && s="$s, "
  [ -n "$2" ] && s="$s--$2"
  [ -n "$3" ] && s="$s $3"
  echo "$s"
}

main_help=$("$OVATOOL" --help) || fail "'ovatool --help' failed"
mapfile -t subs < <(sed -nE 's/^  ovatool ([a-z][a-z0-9-]*)( .*)?$/\1/p' <<<"$main_help")
[ "${#subs[@]}" -ge 1 ] || fail "no subcommands found in 'ovatool --help'"
note "subcommands in 'ovatool --help': ${subs[*]}"

# ---- every subcommand: a section, and the same options both ways -------------

mapfile -t man_subs < <(subsections COMMANDS)
for s in "${man_subs[@]}"; do
  grep -qxF -- "$s" <<<"$(printf '%s\n' "${subs[@]}")" \
    || problem "the man page has a section '.SS $s' under COMMANDS, but 'ovatool --help' lists no subcommand '$s'"
done

all_help=("$main_help")
for sub in "${subs[@]}"; do
  help=$("$OVATOOL" "$sub" --help) || fail "'ovatool $sub --help' failed"
  all_help+=("$help")
  if ! grep -qxF -- "$sub" <<<"$(printf '%s\n' "${man_subs[@]}")"; then
    problem "$sub: the man page has no section for it (a '.SS $sub' under '.SH COMMANDS')"
    continue
  fi

  declare -A H=() M=()
  while IFS=$'\037' read -r key short long arg; do H[$key]="$short"$'\037'"$long"$'\037'"$arg"; done \
    < <(help_options <<<"$help")
  # --help itself is an option of every subcommand (it printed this), and so
  # is -h where it prints the same
  if [ -z "${H[help]+x}" ]; then
    if [ "$("$OVATOOL" "$sub" -h 2>/dev/null)" = "$help" ]; then H[help]=$'h\037help\037'; else H[help]=$'\037help\037'; fi
  fi
  while IFS=$'\037' read -r key short long arg; do
    [ -n "${M[$key]+x}" ] && problem "$sub: the man page documents $(sig "$short" "$long" "") twice in its '$sub' section"
    M[$key]="$short"$'\037'"$long"$'\037'"$arg"
  done < <(section COMMANDS "$sub" | tags | tag_options)
  note "$sub: ${#H[@]} options in --help, ${#M[@]} in the man page"

  for key in "${!H[@]}"; do
    IFS=$'\037' read -r hs hl ha <<<"${H[$key]}"
    if [ -z "${M[$key]+x}" ]; then
      problem "$sub: option '$(sig "$hs" "$hl" "$ha")' (in 'ovatool $sub --help') is not documented in the man page's '$sub' section"
      continue
    fi
    IFS=$'\037' read -r ms ml ma <<<"${M[$key]}"
    if [ "$hs" != "$ms" ] || [ "$ha" != "$ma" ]; then
      problem "$sub: option --${hl:-$hs}: 'ovatool $sub --help' has '$(sig "$hs" "$hl" "$ha")', the man page has '$(sig "$ms" "$ml" "$ma")'"
    fi
  done
  for key in "${!M[@]}"; do
    IFS=$'\037' read -r ms ml ma <<<"${M[$key]}"
    [ -n "${H[$key]+x}" ] \
      || problem "$sub: the man page documents option '$(sig "$ms" "$ml" "$ma")' in its '$sub' section, but 'ovatool $sub --help' has no such option"
  done
  unset H M
done

# ---- the global options: each one the man page lists works -------------------

mapfile -t gopts < <(grep -E '^  ovatool -' <<<"$main_help" | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u)
gtags=$(section OPTIONS | tags)
for o in "${gopts[@]}"; do
  grep -qE -- "(^|[ ,])$o( |,|$)" <<<"$gtags" \
    || problem "global option $o (in 'ovatool --help') is not documented under the man page's OPTIONS"
done
while IFS=$'\037' read -r key short long arg; do
  for o in ${short:+-$short} ${long:+--$long}; do
    "$OVATOOL" "$o" >/dev/null 2>&1 \
      || problem "the man page documents global option $o under OPTIONS, but 'ovatool $o' does not succeed"
  done
done < <(tag_options <<<"$gtags")

# ---- exit statuses --------------------------------------------------------------

mapfile -t help_codes < <(printf '%s\n\n' "${all_help[@]}" | help_exit_codes | sort -un)
mapfile -t man_codes < <(section "EXIT STATUS" | tags | grep -xE '[0-9]+' | sort -un)
note "exit statuses in the help texts: ${help_codes[*]}; in the man page: ${man_codes[*]}"
[ "${#help_codes[@]}" -ge 1 ] || fail "no exit status found in the help texts"
for c in "${help_codes[@]}"; do
  grep -qx -- "$c" <<<"$(printf '%s\n' "${man_codes[@]}")" \
    || problem "exit status $c (named in the help texts) has no '.TP' + '.B $c' entry under the man page's EXIT STATUS"
done
for c in "${man_codes[@]}"; do
  grep -qx -- "$c" <<<"$(printf '%s\n' "${help_codes[@]}")" \
    || problem "the man page's EXIT STATUS documents $c, which no help text names"
done

# ---- environment variables the sources read ----------------------------------

[ -d "$SRC/src" ] || fail "no sources in $SRC/src to find the environment variables in"
envtags=$(section ENVIRONMENT | tags)
# names as whole string literals in the files that call getenv/setenv
mapfile -t vars < <(grep -rlE --include='*.c' --include='*.h' '\b(secure_)?(getenv|setenv|putenv)[[:space:]]*\(' "$SRC/src" |
  xargs -r grep -ohE '"[A-Z][A-Z0-9]*_[A-Za-z0-9_]*"' | tr -d '"' | sort -u)
[ "${#vars[@]}" -ge 1 ] || fail "no environment variable found in $SRC/src"
note "environment variables in the sources: ${vars[*]}"
for v in "${vars[@]}"; do
  grep -qE "(^|[^A-Za-z0-9_])${v}([^A-Za-z0-9_]|$)" <<<"$envtags" \
    || problem "environment variable $v (read or set in $SRC/src) has no '.TP' entry under the man page's ENVIRONMENT"
done

# ---- the page renders without warnings ---------------------------------------

if command -v groff >/dev/null; then
  warn=$(groff -man -ww -z -Tutf8 "$MAN" 2>&1) || problem "groff cannot format $MAN: $warn"
elif command -v man >/dev/null; then
  warn=$(man --warnings -l -E UTF-8 "$MAN" 2>&1 >/dev/null) || problem "man cannot format $MAN: $warn"
elif command -v mandoc >/dev/null; then
  warn=$(mandoc -Tlint -Wwarning "$MAN" 2>&1) || problem "mandoc -Tlint: $warn"
else
  fail "no roff formatter to check $MAN with: install groff-base (groff), man-db (man) or mandoc"
fi
[ -z "${warn:-}" ] || problem "$MAN renders with warnings: $warn"

if [ "${#problems[@]}" -gt 0 ]; then
  fail "$MAN is out of step with ovatool: ${#problems[@]} problem(s), each on a DRIFT: line above"
fi
echo "PASS: $MAN documents every subcommand, option, exit status and environment variable, and only those"
