# bash completion for edgectl. Commands, verbs and options come from the
# binary itself (edgectl --list-cmds, edgectl CMD [VERB] --list-opts, whose
# lines are "--NAME" for a flag and "--NAME ARG" for an option that takes a
# value): one source of truth, no hand-kept lists.
# The commands when no edgectl is on PATH yet (000-conventions keeps this
# list equal to --list-cmds).
_edgectl_cmds()
{
	edgectl --list-cmds 2>/dev/null || printf '%s\n' build host images inspect location logs prewarm ps pull push rm route run schedule stop store
}

_edgectl()
{
	local cur prev words cword cmd verb i opts valopts
	_init_completion 2>/dev/null || {
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
	}
	# the command and its verb: the first two words that are neither
	# options nor an option's value
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		--store | --root) ((i++)) ;;
		-*)
			if [ -n "$cmd" ] && grep -qx -- "${words[i]}" <<<"$valopts"; then
				((i++))
			fi
			;;
		*)
			if [ -z "$cmd" ]; then
				cmd=${words[i]}
				opts=$(edgectl "$cmd" --list-opts 2>/dev/null)
				valopts=$(sed -n 's/^\(--[^ ]*\) .*/\1/p' <<<"$opts")
			elif [ -z "$verb" ] && grep -qx -- "${words[i]}" <<<"$(grep -v -- '^-' <<<"$opts")"; then
				verb=${words[i]}
				opts=$(edgectl "$cmd" "$verb" --list-opts 2>/dev/null)
			fi
			;;
		esac
	done
	case $prev in
	--store | --root)
		[ "$prev" = --root ] && COMPREPLY=($(compgen -d -- "$cur"))
		return
		;;
	esac
	if [ -z "$cmd" ]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--store --root --json --quiet --verbose --version --help" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(_edgectl_cmds) help" -- "$cur"))
		fi
		return
	fi
	if [ "$cmd" = help ]; then
		COMPREPLY=($(compgen -W "$(_edgectl_cmds)" -- "$cur"))
		return
	fi
	# after an option that takes a value: files (the value)
	if [[ $prev == -* ]] && grep -qx -- "$prev" <<<"$(sed -n 's/^\(--[^ ]*\) .*/\1/p' <<<"$opts")"; then
		COMPREPLY=($(compgen -f -- "$cur"))
		return
	fi
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$(grep -- '^-' <<<"$opts" | cut -d' ' -f1)" -- "$cur"))
	else
		[ -z "$verb" ] && COMPREPLY=($(compgen -W "$(grep -v -- '^-' <<<"$opts")" -- "$cur"))
		[ ${#COMPREPLY[@]} -eq 0 ] && COMPREPLY=($(compgen -f -- "$cur"))
	fi
}
complete -F _edgectl edgectl
