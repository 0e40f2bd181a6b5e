/* seutudeskctl: administration on the server.  A table of subcommands, each
 * with its own options and --help. */
#include "autoconfig.h"

#include "config.h"
#include "ctl.h"
#include "log.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* config: the effective configuration, defaults included, as a config file. */
static int ctl_config(int argc, char **argv, const char *config_path)
{
	if (argc > 1) {
		fprintf(argc == 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr,
		        "Usage: seutudeskctl [-c FILE] config\n"
		        "Print the effective configuration, defaults included; secrets show as "
		        "(set).\n");
		return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
	}
	char *error = NULL;
	struct config *cfg = config_load(config_path, &error);
	if (cfg == NULL) {
		fprintf(stderr, "%s\n", error ? error : "out of memory");
		free(error);
		return 1;
	}
	config_dump(cfg, stdout);
	config_free(&cfg);
	return 0;
}

static const struct ctl_command {
	const char *name;
	int (*run)(int argc, char **argv, const char *config_path);
	const char *summary;
} commands[] = {
    {"status", ctl_status, "what the installation is doing, and what needs attention"},
    {"check", ctl_check, "check the config, rules, database, mailboxes and relay"},
    {"migrate", ctl_migrate, "apply pending database migrations"},
    {"classify", ctl_classify, "classify mail files and explain the decision"},
    {"rules", ctl_rules, "suggest rule lines learned from the agents' corrections"},
    {"config", ctl_config, "print the effective configuration"},
    {"sla", ctl_sla, "business-time arithmetic: due times and elapsed open time"},
    {"holidays", ctl_holidays, "list a year's holidays and a calendar's closed days"},
    {"agent", ctl_agent, "add, list, change, disable and enable the pool's agents"},
    {"token", ctl_token, "issue, revoke, list and check agents' and bridges' API tokens"},
    {"bridge", ctl_bridge, "add, list, disable and enable the chat bridges"},
    {"org", ctl_org, "set and list the members' population, users and workstations per year"},
    {"cost", ctl_cost, "add, list and remove the cost items of the costs report"},
    {"retention", ctl_retention, "remove personal data past its period (--dry-run: count)"},
    {"privacy", ctl_privacy, "export or erase everything held about a person"},
    {"ticket", ctl_ticket, "put a ticket under a legal hold or release it"},
};

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: seutudeskctl [-c FILE] COMMAND [ARGS]\n"
	        "Administer seutudesk on the server.\n\n"
	        "Options:\n"
	        "  -c, --config FILE  configuration file (default: $SEUTUDESK_CONF or %s)\n"
	        "  -h, --help         show this help\n"
	        "  -V, --version      show the version\n\nCommands:\n",
	        config_default_path());
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nRun 'seutudeskctl COMMAND --help' for a command's own options.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {"version", no_argument, NULL, 'V'},
	                                     {NULL, 0, NULL, 0}};
	const char *config_path = NULL;
	int c;

	log_open("seutudeskctl", LOG_LVL_WARN, false);
	/* "+" stops at the first non-option: the subcommand parses the rest. */
	while ((c = getopt_long(argc, argv, "+c:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("seutudeskctl %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (config_path == NULL)
		config_path = config_default_path();
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[optind], commands[i].name) == 0) {
			int sub_argc = argc - optind;
			char **sub_argv = argv + optind;
			optind = 1; /* the subcommand runs getopt afresh */
			return commands[i].run(sub_argc, sub_argv, config_path);
		}
	}
	fprintf(stderr, "seutudeskctl: unknown command '%s'; see 'seutudeskctl --help'\n",
	        argv[optind]);
	return 2;
}
