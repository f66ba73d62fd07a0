# fish completion for edgectl; commands and options come from the binary
# (edgectl --list-cmds, edgectl CMD --list-opts).
# The commands when no edgectl is on PATH yet (000-conventions keeps this
# list equal to --list-cmds).
function __edgectl_cmds
	edgectl --list-cmds 2>/dev/null; or printf '%s\n' build host images inspect location logs prewarm ps pull push rm route run schedule stop store
end

function __edgectl_cmd
	set -l toks (commandline -opc)
	set -l skip 0
	for t in $toks[2..-1]
		if test $skip = 1
			set skip 0
			continue
		end
		switch $t
			case --store --root
				set skip 1
			case '-*'
			case '*'
				echo $t
				return 0
		end
	end
	return 1
end

function __edgectl_needs_cmd
	not __edgectl_cmd >/dev/null
end

function __edgectl_words
	set -l c (__edgectl_cmd)
	if test "$c" = help
		__edgectl_cmds
		return
	end
	# a verb given: its own options (lines are "--NAME" or "--NAME ARG")
	set -l toks (commandline -opc)
	set -l verbs (edgectl $c --list-opts 2>/dev/null | string match -v -- '-*')
	for t in $toks[3..-1]
		if contains -- $t $verbs
			edgectl $c $t --list-opts 2>/dev/null | string replace -r ' .*' ''
			return
		end
	end
	edgectl $c --list-opts 2>/dev/null | string replace -r ' .*' ''
end

complete -c edgectl -f
complete -c edgectl -n __edgectl_needs_cmd -a '(__edgectl_cmds) help'
complete -c edgectl -n __edgectl_needs_cmd -l store -r -d 'object store URL'
complete -c edgectl -n __edgectl_needs_cmd -l root -r -d 'local root'
complete -c edgectl -n __edgectl_needs_cmd -l json -d 'JSON output'
complete -c edgectl -n __edgectl_needs_cmd -l version -d 'print the version'
complete -c edgectl -n 'not __edgectl_needs_cmd' -a '(__edgectl_words)'
