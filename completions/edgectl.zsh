#compdef edgectl
# zsh completion for edgectl; commands and options come from the binary
# (edgectl --list-cmds, edgectl CMD --list-opts).
_edgectl() {
	local -a cmds opts words_after
	local cmd i
	for ((i = 2; i < CURRENT; i++)); do
		case ${words[i]} in
		--store|--root) ((i++)) ;;
		-*) ;;
		*) cmd=${words[i]}; break ;;
		esac
	done
	if [[ -z $cmd ]]; then
		if [[ ${words[CURRENT]} == -* ]]; then
			compadd -- --store --root --json --quiet --verbose --version --help
		else
			cmds=(${(f)"$(edgectl --list-cmds 2>/dev/null)"} help)
			compadd -- $cmds
		fi
		return
	fi
	if [[ $cmd == help ]]; then
		compadd -- ${(f)"$(edgectl --list-cmds 2>/dev/null)"}
		return
	fi
	opts=(${(f)"$(edgectl $cmd --list-opts 2>/dev/null)"})
	# a verb given: its own options (lines are "--NAME" or "--NAME ARG")
	for ((i = i + 1; i < CURRENT; i++)); do
		if [[ ${words[i]} != -* ]] && (( ${opts[(Ie)${words[i]}]} )); then
			opts=(${(f)"$(edgectl $cmd ${words[i]} --list-opts 2>/dev/null)"})
			break
		fi
	done
	opts=(${opts%% *})
	if [[ ${words[CURRENT]} == -* ]]; then
		compadd -- ${(M)opts:#-*}
	else
		compadd -- ${opts:#-*}
		_files
	fi
}
compdef _edgectl edgectl 2>/dev/null || _edgectl "$@"
