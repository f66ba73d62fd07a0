#compdef edgectl
# zsh completion for edgectl; commands and options come from the binary
# (edgectl --list-cmds, edgectl CMD --list-opts).
# The commands when no edgectl is on PATH yet (000-conventions keeps this
# list equal to --list-cmds).
_edgectl_cmds() {
	edgectl --list-cmds 2>/dev/null || print -l build host images inspect location logs prewarm ps pull push rm route run schedule stop store
}

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
			cmds=(${(f)"$(_edgectl_cmds)"} help)
			compadd -- $cmds
		fi
		return
	fi
	if [[ $cmd == help ]]; then
		compadd -- ${(f)"$(_edgectl_cmds)"}
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
