/* edgectl.c - main: global options, configuration, the command table. */
#include "cmd.h"
#include "util/json.h"
#include "util/xalloc.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

const struct ec_cmd *const ec_commands[] = {
    &cmd_build_def,
    &cmd_host_def,
    &cmd_images_def,
    &cmd_inspect_def,
    &cmd_location_def,
    &cmd_logs_def,
    &cmd_prewarm_def,
    &cmd_ps_def,
    &cmd_pull_def,
    &cmd_push_def,
    &cmd_rm_def,
    &cmd_route_def,
    &cmd_run_def,
    &cmd_schedule_def,
    &cmd_stop_def,
    &cmd_store_def,
    NULL,
};

static volatile int interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static const struct ec_cmd *find_cmd(const char *name)
{
	const struct ec_cmd *const *c;

	for (c = ec_commands; *c; c++)
		if (!strcmp((*c)->name, name))
			return *c;
	/* internal commands: not listed, no man page */
	if (!strcmp(name, cmd_monitor_def.name))
		return &cmd_monitor_def;
	return NULL;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/* `edgectl help CMD`: the man page, else the built one next to the binary,
 * else the usage text. */
static int cmd_help(const char *name)
{
	const struct ec_cmd *cmd = NULL;
	char page[128], exe[PATH_MAX];
	_cleanup_free_ char *local = NULL;
	ssize_t n;

	if (name && strcmp(name, "edgectl") && !(cmd = find_cmd(name))) {
		fprintf(
		    stderr,
		    "edgectl: error: no command '%s'; see 'edgectl --help'\n",
		    name);
		return 2;
	}
	snprintf(page, sizeof(page), cmd ? "edgectl-%s" : "edgectl", name);
	fflush(stdout);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		char *slash;
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
		local = xasprintf("%s/man/%s.1", exe, page);
		if (access(local, R_OK) == 0) {
			pid_t pid;
			int st;
			/* try the installed page first, then the built one */
			pid = fork();
			if (pid == 0) {
				int devnull = open("/dev/null", O_WRONLY);
				if (devnull >= 0)
					dup2(devnull, 2);
				execlp("man", "man", page, (char *)NULL);
				_exit(127);
			}
			if (pid > 0 && waitpid(pid, &st, 0) == pid &&
			    WIFEXITED(st) && WEXITSTATUS(st) == 0)
				return 0;
			execlp("man", "man", "-l", local, (char *)NULL);
		}
	}
	execlp("man", "man", page, (char *)NULL);
	if (cmd)
		cmd_usage(cmd, stdout);
	else
		cli_main_usage(ec_commands, stdout);
	return 0;
}

int main(int argc, char **argv)
{
	struct ec_ctx ctx = {.interrupted = &interrupted};
	const struct ec_cmd *cmd;
	struct ec_err err;
	struct sigaction sa = {.sa_handler = on_signal};
	char cwd[4096];
	int i, r;

	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	ctx.stderr_tty = isatty(2);
	ec_err_clear(&err);

	/* global options before the command */
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--json"))
			ctx.json = 1;
		else if (!strcmp(a, "-q") || !strcmp(a, "--quiet"))
			ctx.quiet = 1;
		else if (!strcmp(a, "-v") || !strcmp(a, "--verbose"))
			ctx.verbose++;
		else if (!strcmp(a, "-vv"))
			ctx.verbose += 2;
		else if ((!strcmp(a, "--store") || !strcmp(a, "--root")) &&
			 i + 1 < argc)
			*(a[2] == 's' ? &ctx.store_url : &ctx.root) = argv[++i];
		else if (!strncmp(a, "--store=", 8))
			ctx.store_url = a + 8;
		else if (!strncmp(a, "--root=", 7))
			ctx.root = a + 7;
		else if (!strcmp(a, "--version")) {
			if (ctx.json)
				json_out(json_pack("{s:s}", "version",
						   EDGECTL_VERSION));
			else
				printf("edgectl %s\n", EDGECTL_VERSION);
			goto out;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			cli_main_usage(ec_commands, stdout);
			goto out;
		} else if (!strcmp(a, "--list-verbs") ||
			   !strcmp(a, "--list-json-probes") ||
			   !strcmp(a, "--list-usage-drift") ||
			   !strcmp(a, "--list-cmds")) {
			/* hidden, for the conventions test (cli_list) */
			cli_list(ec_commands, a + 7, stdout);
			goto out;
		} else {
			fprintf(stderr, "edgectl: unknown option '%s'\n", a);
			cli_main_usage(ec_commands, stderr);
			return 2;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "edgectl: no command given\n");
		cli_main_usage(ec_commands, stderr);
		return 2;
	}
	if (!strcmp(argv[i], "help"))
		return cmd_help(i + 1 < argc ? argv[i + 1] : NULL);
	cmd = find_cmd(argv[i]);
	if (!cmd) {
		fprintf(
		    stderr,
		    "edgectl: '%s' is not a command; see 'edgectl --help'\n",
		    argv[i]);
		return 2;
	}
	/* edgectl CMD [VERB] --list-opts (for the completion scripts) */
	if (i + 1 < argc && !strcmp(argv[i + 1], "--list-opts")) {
		list_opts(cmd, NULL, stdout);
		goto out;
	}
	if (i + 2 < argc && !strcmp(argv[i + 2], "--list-opts") && cmd->verbs) {
		const struct ec_verb *v = verb_find(cmd, argv[i + 1]);
		if (!v || !v->name) {
			fprintf(stderr, "edgectl: %s: no subcommand '%s'\n",
				cmd->name, argv[i + 1]);
			return 2;
		}
		list_opts(cmd, v, stdout);
		goto out;
	}
	if (cli_load_config(&ctx, env, &err) < 0)
		return report_error(&ctx, &err);
	cli_settings(&ctx, env, (unsigned)geteuid(), getcwd(cwd, sizeof(cwd)));
	r = cmd->run(&ctx, argc - i, argv + i);
	store_free(ctx.store);
	json_decref(ctx.config);
	for (i = 0; i < (int)ARRAY_SIZE(ctx.owned); i++)
		free(ctx.owned[i]);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (errno != EPIPE)
			fprintf(stderr, "edgectl: error: write to stdout: %s\n",
				strerror(errno));
		return r ? r : 1;
	}
	return r;
out:
	if (fflush(stdout) != 0 || ferror(stdout))
		return 1;
	return 0;
}
