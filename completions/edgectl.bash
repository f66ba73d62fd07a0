# bash completion for edgectl. Commands and options come from the binary
# itself (edgectl --list-cmds, edgectl CMD --list-opts): one source of truth.
_edgectl()
{
	local cur prev words cword cmd i
	_init_completion 2>/dev/null || {
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
	}
	case $prev in
	--store | --root | --part-size | --range | --if-match | --if-none-match | -j | --jobs | --content-type)
		[ "$prev" = --root ] && COMPREPLY=($(compgen -d -- "$cur"))
		return
		;;
	esac
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		--store | --root) ((i++)) ;;
		-*) ;;
		*) cmd=${words[i]}; break ;;
		esac
	done
	if [ -z "$cmd" ]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--store --root --json --quiet --verbose --version --help" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(edgectl --list-cmds 2>/dev/null) help" -- "$cur"))
		fi
		return
	fi
	if [ "$cmd" = help ]; then
		COMPREPLY=($(compgen -W "$(edgectl --list-cmds 2>/dev/null)" -- "$cur"))
		return
	fi
	local opts
	opts=$(edgectl "$cmd" --list-opts 2>/dev/null)
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$(grep -- '^-' <<<"$opts")" -- "$cur"))
	else
		COMPREPLY=($(compgen -W "$(grep -v -- '^-' <<<"$opts")" -- "$cur"))
		[ ${#COMPREPLY[@]} -eq 0 ] && COMPREPLY=($(compgen -f -- "$cur"))
	fi
}
complete -F _edgectl edgectl
