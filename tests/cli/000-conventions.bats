#!/usr/bin/env bats
# The meta-test: every command in `edgectl --list-cmds` follows the
# conventions of STYLE.md (help, usage errors, man page, completions, JSON).
bats_require_minimum_version 1.5.0

setup() {
	load ../lib/common
	ec_isolate
	export EDGECTL_STORE="file://$BATS_TEST_TMPDIR/store"
}

cmds() { edgectl --list-cmds; }

@test "conventions: the command list is not empty and has no duplicates" {
	run -0 edgectl --list-cmds
	[ "${#lines[@]}" -ge 1 ]
	[ "$(printf '%s\n' "${lines[@]}" | sort | uniq -d)" = "" ]
}

@test "conventions: -h exits 0 with usage on stdout and nothing on stderr" {
	for c in $(cmds); do
		run -0 --separate-stderr edgectl "$c" -h
		[[ ${lines[0]} == "usage: edgectl $c"* ]] || { echo "$c -h: ${lines[0]}"; false; }
		[ -z "$stderr" ] || { echo "$c -h wrote to stderr: $stderr"; false; }
	done
}

@test "conventions: an unknown option exits 2 with usage on stderr and nothing on stdout" {
	for c in $(cmds); do
		run -2 --separate-stderr edgectl "$c" --no-such-option
		[ -z "$output" ] || { echo "$c: stdout not empty: $output"; false; }
		[[ $stderr == *"unknown option '--no-such-option'"* ]] || { echo "$c: $stderr"; false; }
		[[ $stderr == *"usage: edgectl $c"* ]] || { echo "$c: no usage in: $stderr"; false; }
	done
}

@test "conventions: with --json a usage error is one JSON object on stderr" {
	for c in $(cmds); do
		run -2 --separate-stderr edgectl --json "$c" --no-such-option
		[ -z "$output" ]
		jq -e '.error.exit_status == 2 and .error.category == "usage" and (.error.message | test("no-such-option"))' <<<"$stderr"
	done
}

@test "conventions: usage lines name exactly the options each verb takes" {
	# the usage lines are hand-written; the option tables are the truth
	run -0 --separate-stderr edgectl --list-usage-drift
	[ -z "$output" ] || { echo "$output"; false; }
}

@test "conventions: every command has a man page whose SYNOPSIS matches its usage" {
	for c in $(cmds); do
		page="$TOP/man/edgectl-$c.1.scd"
		[ -f "$page" ] || { echo "missing $page"; false; }
		synopsis=$(awk '/^# SYNOPSIS/{s=1;next} /^# /{s=0} s' "$page" | sed 's/++$//; s/[*_]//g; /^$/d')
		usage=$(edgectl "$c" -h | sed -n 's/^usage: //p; s/^   or: //p')
		[ "$synopsis" = "$usage" ] || { diff <(echo "$usage") <(echo "$synopsis"); false; }
		[ -f "$TOP/build/man/edgectl-$c.1" ] || { echo "man page not built for $c"; false; }
	done
}

@test "conventions: edgectl(1) lists every command" {
	for c in $(cmds); do
		grep -q "^\*$c\*" "$TOP/man/edgectl.1.scd" || { echo "edgectl.1 lacks $c"; false; }
	done
}

@test "conventions: bash, zsh and fish complete every command and its options" {
	for c in $(cmds); do
		pre=${c:0:2}
		got=$(bash -c "source '$TOP/completions/edgectl.bash'; COMP_WORDS=(edgectl $pre); COMP_CWORD=1; _edgectl; printf '%s\n' \"\${COMPREPLY[@]}\"")
		grep -qx "$c" <<<"$got" || { echo "bash does not complete $c: $got"; false; }
		got=$(zsh -c "compadd() { print -l -- \"\$@\" }; _files() {}; compdef() { return 1 }; source '$TOP/completions/edgectl.zsh'; words=(edgectl $pre); CURRENT=2; _edgectl")
		grep -qx "$c" <<<"$got" || { echo "zsh does not complete $c: $got"; false; }
		got=$(fish -c "source '$TOP/completions/edgectl.fish'; complete -C 'edgectl $pre'" | cut -f1)
		grep -qx "$c" <<<"$got" || { echo "fish does not complete $c: $got"; false; }
		# and the first long option of the command
		opt=$(edgectl "$c" --list-opts | grep -m1 -- '^--' | cut -d' ' -f1)
		got=$(bash -c "source '$TOP/completions/edgectl.bash'; COMP_WORDS=(edgectl $c --); COMP_CWORD=2; _edgectl; printf '%s\n' \"\${COMPREPLY[@]}\"")
		grep -qx -- "$opt" <<<"$got" || { echo "bash does not complete $c $opt"; false; }
		got=$(fish -c "source '$TOP/completions/edgectl.fish'; complete -C 'edgectl $c --'" | cut -f1)
		grep -qx -- "$opt" <<<"$got" || { echo "fish does not complete $c $opt: $got"; false; }
	done
}

@test "conventions: without edgectl on PATH the completions still offer every command (their fallback list is --list-cmds)" {
	want=$(cmds | sort)
	for f in bash zsh fish; do
		got=$(sed -n "s/.*--list-cmds 2>\/dev\/null.*\(printf '%s\\\\n'\|print -l\) //p" "$TOP/completions/edgectl.$f" | tr ' ' '\n' | sort)
		[ "$got" = "$want" ] || { echo "$f fallback: $got"; false; }
	done
	# and they use it: no edgectl reachable
	nobin=$(env -i PATH=/usr/bin:/bin bash -c "source '$TOP/completions/edgectl.bash'; COMP_WORDS=(edgectl s); COMP_CWORD=1; _edgectl; printf '%s\n' \"\${COMPREPLY[@]}\"")
	[ "$(sort <<<"$nobin")" = "$(printf '%s\n' schedule stop store)" ] || { echo "bash without edgectl: $nobin"; false; }
	nobin=$(env -i PATH=/usr/bin:/bin zsh -c "compadd() { print -l -- \"\$@\" }; _files() {}; compdef() { return 1 }; source '$TOP/completions/edgectl.zsh'; words=(edgectl r); CURRENT=2; _edgectl")
	grep -qx route <<<"$nobin" && grep -qx run <<<"$nobin" || { echo "zsh without edgectl: $nobin"; false; }
	nobin=$(env -i PATH=/usr/bin:/bin HOME="$BATS_TEST_TMPDIR" fish -c "source '$TOP/completions/edgectl.fish'; complete -C 'edgectl p'" | cut -f1)
	grep -qx prewarm <<<"$nobin" && grep -qx push <<<"$nobin" || { echo "fish without edgectl: $nobin"; false; }
}

@test "conventions: --json output of every command parses" {
	# the probes live in the command tables (--list-json-probes): one
	# read-only invocation per command or verb
	probes=$(edgectl --list-json-probes)
	for c in $(cmds); do
		grep -q "^$c	." <<<"$probes" || { echo "no JSON probe for '$c' (set json_probe in its table)"; false; }
	done
	while IFS=$'\t' read -r c probe; do
		run -0 --separate-stderr edgectl --json $probe
		[ "$(jq -s length <<<"$output")" = 1 ] || { echo "$c ($probe): not exactly one JSON value: $output"; false; }
	done <<<"$probes"
}

@test "conventions: every verb has its own help, options and operand counts" {
	run -0 edgectl --list-verbs
	[ "${#lines[@]}" -ge 20 ]
	while read -r c v min max; do
		all=$(edgectl "$c" --list-opts | grep -- '^--' | cut -d' ' -f1)
		if [ "$v" = - ]; then
			# the form without a verb (or a command without
			# verbs): a missing operand, too many operands
			if [ "$min" -gt 0 ]; then
				run -2 --separate-stderr edgectl "$c"
				[ -z "$output" ] || { echo "$c: stdout: $output"; false; }
				[[ $stderr == *"operand is missing"* && $stderr == *"usage: edgectl $c"* ]] || { echo "$c: $stderr"; false; }
			fi
			if [ "$max" -ge 0 ]; then
				extra=()
				for ((k = 0; k <= max; k++)); do extra+=("zz-extra$k"); done
				run -2 --separate-stderr edgectl "$c" "${extra[@]}"
				[[ $stderr == *"unexpected operand 'zz-extra$max'"* ]] || { echo "$c ${extra[*]}: $stderr"; false; }
			fi
			continue
		fi
		run -0 --separate-stderr edgectl "$c" "$v" -h
		[[ ${lines[0]} == "usage: edgectl $c $v"* ]] || { echo "$c $v -h: ${lines[0]}"; false; }
		[ -z "$stderr" ]
		mine=$(edgectl "$c" "$v" --list-opts | grep -- '^--' | cut -d' ' -f1)
		# an option of another verb is a usage error naming it
		for o in $all; do
			grep -qx -- "$o" <<<"$mine" && continue
			val=()
			edgectl "$c" --list-opts | grep -q -- "^$o " && val=(x)
			run -2 --separate-stderr edgectl "$c" "$v" "$o" "${val[@]}"
			[ -z "$output" ] || { echo "$c $v $o: stdout: $output"; false; }
			[[ $stderr == *"option '$o' does not apply"* ]] || { echo "$c $v $o: $stderr"; false; }
			[[ $stderr == *"usage: edgectl $c $v"* ]] || { echo "$c $v $o: no verb usage: $stderr"; false; }
			break
		done
		if [ "$min" -gt 0 ]; then
			run -2 --separate-stderr edgectl "$c" "$v"
			[[ $stderr == *"operand is missing"* ]] || { echo "$c $v: $stderr"; false; }
		fi
		if [ "$max" -ge 0 ]; then
			extra=()
			for ((k = 0; k <= max; k++)); do extra+=("zz-extra$k"); done
			run -2 --separate-stderr edgectl "$c" "$v" "${extra[@]}"
			[[ $stderr == *"unexpected operand 'zz-extra$max'"* ]] || { echo "$c $v ${extra[*]}: $stderr"; false; }
			run -2 --separate-stderr edgectl --json "$c" "$v" "${extra[@]}"
			jq -e '.error.exit_status == 2' <<<"$stderr"
		fi
	done < <(edgectl --list-verbs)
}

@test "conventions: every option a command takes is in its man page's OPTIONS" {
	for c in $(cmds); do
		page="$TOP/man/edgectl-$c.1.scd"
		section=$(awk '/^# OPTIONS/{s=1;next} /^# /{s=0} s' "$page")
		for o in $(edgectl "$c" --list-opts | grep -- '^--' | cut -d' ' -f1); do
			case $o in --store | --root | --json | --quiet | --verbose | --help) continue ;; esac
			grep -qE -- "\*(-[a-zA-Z], )?$o\*" <<<"$section" || { echo "edgectl-$c(1) OPTIONS lacks $o"; false; }
		done
	done
}

@test "conventions: bash completes a verb's own options and nothing after a value option" {
	got=$(bash -c "source '$TOP/completions/edgectl.bash'; COMP_WORDS=(edgectl route ls --); COMP_CWORD=3; _edgectl; printf '%s\n' \"\${COMPREPLY[@]}\"")
	! grep -qx -- --app <<<"$got" || false
	got=$(bash -c "source '$TOP/completions/edgectl.bash'; COMP_WORDS=(edgectl route add --); COMP_CWORD=3; _edgectl; printf '%s\n' \"\${COMPREPLY[@]}\"")
	grep -qx -- --app <<<"$got"
	! grep -qx -- --dev <<<"$got" || false
	# the word after --app (a value) is not taken as a verb
	got=$(bash -c "source '$TOP/completions/edgectl.bash'; COMP_WORDS=(edgectl route --app ls --); COMP_CWORD=4; _edgectl; printf '%s\n' \"\${COMPREPLY[@]}\"")
	grep -qx -- --dev <<<"$got"
}

@test "edgectl: no command exits 2 with usage on stderr" {
	run -2 --separate-stderr edgectl
	[ -z "$output" ]
	[[ $stderr == *"usage: edgectl"* ]]
}

@test "edgectl: an unknown command exits 2 naming it" {
	run -2 --separate-stderr edgectl frobnicate
	[[ $stderr == *"'frobnicate' is not a command"* ]]
}

@test "edgectl: --version and --json --version" {
	run -0 edgectl --version
	[[ $output == "edgectl "* ]]
	run -0 edgectl --json --version
	jq -e '.version | length > 0' <<<"$output"
}

@test "edgectl: help CMD shows the manual page" {
	export MANPAGER=cat PAGER=cat MANWIDTH=80
	run -0 edgectl help store
	[[ $output == *"edgectl-store - read and write objects"* ]]
	run -2 edgectl help frobnicate
}

@test "edgectl: settings precedence is flag > environment > config file" {
	mkdir -p "$XDG_CONFIG_HOME/edgectl"
	echo "{\"store\": \"file://$BATS_TEST_TMPDIR/cfg\"}" >"$XDG_CONFIG_HOME/edgectl/config.json"
	unset EDGECTL_STORE
	echo x | edgectl store put k1 -
	[ -f "$BATS_TEST_TMPDIR/cfg/k1" ]
	echo x | EDGECTL_STORE="file://$BATS_TEST_TMPDIR/env" edgectl store put k2 -
	[ -f "$BATS_TEST_TMPDIR/env/k2" ]
	echo x | EDGECTL_STORE="file://$BATS_TEST_TMPDIR/env" edgectl --store "file://$BATS_TEST_TMPDIR/flag" store put k3 -
	[ -f "$BATS_TEST_TMPDIR/flag/k3" ]
	[ ! -e "$BATS_TEST_TMPDIR/env/k3" ]
}

@test "edgectl: a broken config file is a clear usage error" {
	mkdir -p "$XDG_CONFIG_HOME/edgectl"
	echo '{"store": ' >"$XDG_CONFIG_HOME/edgectl/config.json"
	run -2 --separate-stderr edgectl store ls
	[[ $stderr == *"config file"*"config.json"* ]]
}

@test "edgectl: the default store is under XDG_DATA_HOME" {
	unset EDGECTL_STORE
	echo hi | edgectl store put a/b -
	[ "$(cat "$XDG_DATA_HOME/edgectl/store/a/b")" = hi ]
}

@test "edgectl: a write error on stdout is reported" {
	[ -w /dev/full ] || skip "no /dev/full"
	echo hi | edgectl store put k -
	run -1 bash -c 'edgectl store ls >/dev/full'
	[[ $output == *"write to stdout"* ]]
}
