/* seutudeskctl agent, bridge and token: who may call the API (the pool's
 * agents and the chat bridges) and their tokens. */
#include "autoconfig.h"

#include "agent.h"
#include "bridge.h"
#include "config.h"
#include "ctl.h"
#include "db.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_INPUT_MAX 256

/* The options every subcommand has. */
#define COMMON_HELP                                                                                \
	"  -D, --database CONNINFO  connect with this libpq connection string instead of the\n"    \
	"                           [database] section of the configuration file\n"                \
	"  -h, --help               show this help\n"
#define EXIT_HELP "\nExit status: 0 done, 1 failed or refused (the reason on stderr), 2 usage.\n"

#define SPEC_HELP                                                                                  \
	"  --name NAME              the full name (required for add)\n"                            \
	"  --email ADDRESS          where mail to the agent goes (required for add)\n"             \
	"  --role ROLE              agent, lead, manager or admin (default: agent)\n"              \
	"  --organisation ORG       the member organisation the agent works for, or none\n"        \
	"  --queues LIST            the queues the agent works (default: any)\n"                   \
	"  --municipalities LIST    the municipalities whose tickets they see (default: any)\n"    \
	"  --sectors LIST           the sectors whose tickets they see (default: any)\n"           \
	"  --sote, --no-sote        cleared for sensitive (sote) tickets, or not (the default)\n"  \
	"  --max-open N             the most open tickets assigned at once, 0 to 1000\n"           \
	"                           (default: 25)\n"
#define LIST_HELP                                                                                  \
	"\nLIST is any, none, or ids separated by commas (karstula,kinnula).  Queues come\n"       \
	"from the configuration and are not checked; municipalities and sectors must\n"            \
	"exist in the database.\n"

struct subcommand {
	const char *name;
	int (*run)(int argc, char **argv, const char *config_path);
	const char *usage; /* printed after "Usage: seutudeskctl " */
};

static void sub_usage(const struct subcommand *s, FILE *out)
{
	fprintf(out, "Usage: seutudeskctl %s", s->usage);
}

static void print_error(const char *cmd, char *error)
{
	fprintf(stderr, "seutudeskctl %s: %s\n", cmd, error ? error : "out of memory");
	free(error);
}

static PGconn *open_db(const char *cmd, const char *config_path, const char *database)
{
	struct config *cfg = NULL;
	char *error = NULL;
	PGconn *conn;

	if (database != NULL)
		conn = db_connect(database, NULL, 10, "seutudeskctl", &error);
	else if ((cfg = config_load(config_path, &error)) == NULL) {
		fprintf(stderr, "%s\n", error ? error : "out of memory"); /* names file:line */
		free(error);
		return NULL;
	} else
		conn = db_connect_config(cfg, "seutudeskctl", &error);
	config_free(&cfg);
	if (conn == NULL)
		print_error(cmd, error);
	return conn;
}

/* ---- output -------------------------------------------------------------- */

/* Prints s in a column of width characters (UTF-8 code points), cut to fit. */
static void cell(const char *s, int width)
{
	int w = 0;
	const char *p = s;

	for (; *p; p++) {
		if (((unsigned char)*p & 0xc0) == 0x80)
			continue;
		if (w == width)
			break;
		w++;
	}
	fwrite(s, 1, (size_t)(p - s), stdout);
	printf("%*s", width - w + 2, "");
}

/* "any", "none" or "a, b"; malloc'd. */
static char *ids_text(const struct agent_ids *ids)
{
	size_t len = 1;
	char *r;

	if (ids->any)
		return strdup("any");
	if (ids->n == 0)
		return strdup("none");
	for (size_t i = 0; i < ids->n; i++)
		len += strlen(ids->ids[i]) + 2;
	r = malloc(len);
	if (r != NULL) {
		r[0] = '\0';
		for (size_t i = 0; i < ids->n; i++) {
			if (i > 0)
				strcat(r, ", ");
			strcat(r, ids->ids[i]);
		}
	}
	return r;
}

/* null for any, else an array. */
static json_t *ids_json(const struct agent_ids *ids)
{
	json_t *a;

	if (ids->any)
		return json_null();
	a = json_array();
	for (size_t i = 0; i < ids->n; i++)
		json_array_append_new(a, json_string(ids->ids[i]));
	return a;
}

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *agent_json(const struct agent *a)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_integer(a->id));
	json_object_set_new(o, "login", json_string(a->login));
	json_object_set_new(o, "name", json_string(a->name));
	json_object_set_new(o, "email", json_string(a->email));
	json_object_set_new(o, "role", json_string(agent_role_name(a->role)));
	json_object_set_new(o, "organisation", str_or_null(a->organisation));
	json_object_set_new(o, "queues", ids_json(&a->queues));
	json_object_set_new(o, "municipalities", ids_json(&a->municipalities));
	json_object_set_new(o, "sectors", ids_json(&a->sectors));
	json_object_set_new(o, "sote", json_boolean(a->sote));
	json_object_set_new(o, "max_open", json_integer(a->max_open));
	json_object_set_new(o, "active", json_boolean(a->active));
	json_object_set_new(o, "created_at", json_string(a->created_at));
	json_object_set_new(o, "last_seen_at", str_or_null(a->last_seen_at));
	json_object_set_new(o, "tokens", json_integer(a->tokens));
	return o;
}

static json_t *tokens_json(const struct agent_token *t, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "id", json_integer(t[i].id));
		json_object_set_new(o, "agent", json_integer(t[i].agent));
		json_object_set_new(o, "login", json_string(t[i].login));
		json_object_set_new(o, "prefix", json_string(t[i].prefix));
		json_object_set_new(o, "created_at", json_string(t[i].created_at));
		json_object_set_new(o, "last_used_at", str_or_null(t[i].last_used_at));
		json_object_set_new(o, "revoked_at", str_or_null(t[i].revoked_at));
		json_array_append_new(a, o);
	}
	return a;
}

/* Prints and frees doc. */
static void print_json(json_t *doc)
{
	char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s != NULL)
		printf("%s\n", s);
	free(s);
	json_decref(doc);
}

static void print_tokens(const struct agent_token *t, size_t n, bool with_login)
{
	if (n == 0) {
		printf("(no tokens)\n");
		return;
	}
	if (with_login)
		cell("LOGIN", 16);
	cell("PREFIX", 12);
	cell("CREATED", 20);
	cell("LAST USED", 20);
	printf("REVOKED\n");
	for (size_t i = 0; i < n; i++) {
		if (with_login)
			cell(t[i].login, 16);
		cell(t[i].prefix, 12);
		cell(t[i].created_at, 20);
		cell(t[i].last_used_at ? t[i].last_used_at : "never", 20);
		printf("%s\n", t[i].revoked_at ? t[i].revoked_at : "-");
	}
}

/* ---- option parsing ------------------------------------------------------ */

enum {
	OPT_NAME = 256,
	OPT_EMAIL,
	OPT_ROLE,
	OPT_ORG,
	OPT_QUEUES,
	OPT_MUNICIPALITIES,
	OPT_SECTORS,
	OPT_SOTE,
	OPT_NO_SOTE,
	OPT_MAX_OPEN,
	OPT_LOGIN,
	OPT_JSON,
	OPT_ALL,
	OPT_PREFIX,
	OPT_BRIDGE,
	OPT_KIND,
};

static const struct option all_opts[] = {
    {"name", required_argument, NULL, OPT_NAME},
    {"email", required_argument, NULL, OPT_EMAIL},
    {"role", required_argument, NULL, OPT_ROLE},
    {"organisation", required_argument, NULL, OPT_ORG},
    {"organization", required_argument, NULL, OPT_ORG},
    {"queues", required_argument, NULL, OPT_QUEUES},
    {"municipalities", required_argument, NULL, OPT_MUNICIPALITIES},
    {"sectors", required_argument, NULL, OPT_SECTORS},
    {"sote", no_argument, NULL, OPT_SOTE},
    {"no-sote", no_argument, NULL, OPT_NO_SOTE},
    {"max-open", required_argument, NULL, OPT_MAX_OPEN},
    {"login", required_argument, NULL, OPT_LOGIN},
    {"json", no_argument, NULL, OPT_JSON},
    {"all", no_argument, NULL, OPT_ALL},
    {"prefix", required_argument, NULL, OPT_PREFIX},
    {"bridge", no_argument, NULL, OPT_BRIDGE},
    {"kind", required_argument, NULL, OPT_KIND},
    {"database", required_argument, NULL, 'D'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct args {
	struct agent_spec spec;
	bool spec_given; /* any option of spec */
	bool json, all, bridge;
	const char *prefix, *kind;
	const char *database;
	int npos;
	char **pos; /* the arguments that are not options */
};

/* Parses argv (argv[0] the subcommand), allowing the long options in the
 * bitmask allowed and min_pos to max_pos arguments.  Returns -1 to go on,
 * else the exit status. */
#define ALLOW(o) (1u << ((o)-OPT_NAME))
#define ALLOW_SPEC                                                                                 \
	(ALLOW(OPT_NAME) | ALLOW(OPT_EMAIL) | ALLOW(OPT_ROLE) | ALLOW(OPT_ORG) |                   \
	 ALLOW(OPT_QUEUES) | ALLOW(OPT_MUNICIPALITIES) | ALLOW(OPT_SECTORS) | ALLOW(OPT_SOTE) |    \
	 ALLOW(OPT_NO_SOTE) | ALLOW(OPT_MAX_OPEN) | ALLOW(OPT_LOGIN))

static int parse_args(const struct subcommand *s, int argc, char **argv, unsigned allowed,
                      int min_pos, int max_pos, struct args *a)
{
	int c, li = -1;

	memset(a, 0, sizeof(*a));
	a->spec.sote = -1;
	optind = 0; /* glibc: start afresh, permuting, so options may follow AGENT */
	opterr = 0; /* our own messages, naming the whole subcommand */
	while ((c = getopt_long(argc, argv, ":D:h", all_opts, &li)) != -1) {
		if (c >= OPT_NAME && !(allowed & ALLOW(c))) {
			fprintf(stderr, "seutudeskctl %s: --%s does not apply here\n", s->name,
			        all_opts[li].name);
			sub_usage(s, stderr);
			return 2;
		}
		a->spec_given |= c >= OPT_NAME && (ALLOW_SPEC & ALLOW(c));
		switch (c) {
		case OPT_NAME:
			a->spec.name = optarg;
			break;
		case OPT_EMAIL:
			a->spec.email = optarg;
			break;
		case OPT_ROLE:
			a->spec.role = optarg;
			break;
		case OPT_ORG:
			a->spec.organisation = optarg;
			break;
		case OPT_QUEUES:
			a->spec.queues = optarg;
			break;
		case OPT_MUNICIPALITIES:
			a->spec.municipalities = optarg;
			break;
		case OPT_SECTORS:
			a->spec.sectors = optarg;
			break;
		case OPT_SOTE:
		case OPT_NO_SOTE:
			a->spec.sote = c == OPT_SOTE;
			break;
		case OPT_MAX_OPEN:
			a->spec.max_open = optarg;
			break;
		case OPT_LOGIN:
			a->spec.login = optarg;
			break;
		case OPT_JSON:
			a->json = true;
			break;
		case OPT_ALL:
			a->all = true;
			break;
		case OPT_PREFIX:
			a->prefix = optarg;
			break;
		case OPT_BRIDGE:
			a->bridge = true;
			break;
		case OPT_KIND:
			a->kind = optarg;
			break;
		case 'D':
			a->database = optarg;
			break;
		case 'h':
			sub_usage(s, stdout);
			return 0;
		case ':':
			fprintf(stderr, "seutudeskctl %s: '%.64s' needs an argument\n", s->name,
			        argv[optind - 1]);
			sub_usage(s, stderr);
			return 2;
		default:
			fprintf(stderr, "seutudeskctl %s: unknown option '%.64s'\n", s->name,
			        optopt ? (char[]){'-', (char)optopt, '\0'} : argv[optind - 1]);
			sub_usage(s, stderr);
			return 2;
		}
	}
	a->npos = argc - optind;
	a->pos = argv + optind;
	if (a->npos < min_pos || a->npos > max_pos) {
		if (a->npos < min_pos)
			fprintf(stderr, "seutudeskctl %s: AGENT is required\n", s->name);
		else
			fprintf(stderr, "seutudeskctl %s: unexpected argument '%.64s'\n", s->name,
			        a->pos[max_pos]);
		sub_usage(s, stderr);
		return 2;
	}
	return -1;
}

/* ---- agent --------------------------------------------------------------- */

static int agent_add_cmd(int argc, char **argv, const char *config_path);
static int agent_modify_cmd(int argc, char **argv, const char *config_path);
static int agent_list_cmd(int argc, char **argv, const char *config_path);
static int agent_show_cmd(int argc, char **argv, const char *config_path);
static int agent_disable_cmd(int argc, char **argv, const char *config_path);
static int agent_enable_cmd(int argc, char **argv, const char *config_path);

static const struct subcommand agent_subs[] = {
    {"agent add", agent_add_cmd,
     "agent add LOGIN --name NAME --email ADDRESS [OPTION]...\n"
     "Add an agent of the pool.  LOGIN is a to z, 0 to 9, '.', '_' and '-', starting\n"
     "with a letter, at most 64 characters.\n\n"
     "Options:\n" SPEC_HELP COMMON_HELP LIST_HELP EXIT_HELP},
    {"agent list", agent_list_cmd,
     "agent list [--json]\n"
     "List every agent, disabled ones too.\n\n"
     "Options:\n"
     "  --json                   a JSON array, with every field (null lists are any)\n" COMMON_HELP
         EXIT_HELP},
    {"agent show", agent_show_cmd,
     "agent show AGENT [--json]\n"
     "Show an agent (a login or a numeric id) and its tokens, revoked ones too.\n\n"
     "Options:\n"
     "  --json                   a JSON object, with the tokens as api_tokens\n" COMMON_HELP
         EXIT_HELP},
    {"agent modify", agent_modify_cmd,
     "agent modify AGENT [OPTION]...\n"
     "Change what the options give of an agent (a login or a numeric id); the rest\n"
     "stays.\n\n"
     "Options:\n"
     "  --login LOGIN            rename the agent\n" SPEC_HELP COMMON_HELP LIST_HELP EXIT_HELP},
    {"agent disable", agent_disable_cmd,
     "agent disable AGENT\n"
     "Disable an agent: their tokens stop working until they are enabled again.\n"
     "Agents are never deleted: the history names them.\n\n"
     "Options:\n" COMMON_HELP EXIT_HELP},
    {"agent enable", agent_enable_cmd,
     "agent enable AGENT\n"
     "Enable a disabled agent again; their unrevoked tokens work again.\n\n"
     "Options:\n" COMMON_HELP EXIT_HELP},
};

static void agent_usage(FILE *out)
{
	fprintf(out, "Usage: seutudeskctl agent COMMAND [ARGS]\n"
	             "Manage the agents of the pool.  AGENT is a login or a numeric id.\n\n"
	             "Commands:\n"
	             "  add LOGIN --name NAME --email ADDRESS [OPTION]...  add an agent\n"
	             "  list [--json]                    list the agents\n"
	             "  show AGENT [--json]              show an agent and their tokens\n"
	             "  modify AGENT [OPTION]...         change an agent\n"
	             "  disable AGENT                    disable an agent and their tokens\n"
	             "  enable AGENT                     enable them again\n\n"
	             "Run 'seutudeskctl agent COMMAND --help' for a command's options.\n");
}

static int agent_add_cmd(int argc, char **argv, const char *config_path)
{
	const struct subcommand *s = &agent_subs[0];
	char *error = NULL;
	long long id;
	struct args a;
	PGconn *conn;
	int rc = parse_args(s, argc, argv, ALLOW_SPEC, 0, 1, &a);

	if (rc >= 0)
		return rc;
	if (a.npos == 1 && a.spec.login != NULL) {
		fprintf(stderr, "seutudeskctl %s: give LOGIN or --login, not both\n", s->name);
		return 2;
	}
	if (a.npos == 1)
		a.spec.login = a.pos[0];
	if (a.spec.login == NULL || a.spec.name == NULL || a.spec.email == NULL) {
		fprintf(stderr, "seutudeskctl %s: LOGIN, --name and --email are required\n",
		        s->name);
		sub_usage(s, stderr);
		return 2;
	}
	conn = open_db(s->name, config_path, a.database);
	if (conn == NULL)
		return 1;
	if (agent_add(conn, &a.spec, &id, &error)) {
		printf("added agent %s (id %lld)\n", a.spec.login, id);
		rc = 0;
	} else {
		print_error(s->name, error);
		rc = 1;
	}
	PQfinish(conn);
	return rc;
}

static int agent_modify_cmd(int argc, char **argv, const char *config_path)
{
	const struct subcommand *s = &agent_subs[3];
	char *error = NULL;
	struct args a;
	PGconn *conn;
	int rc = parse_args(s, argc, argv, ALLOW_SPEC, 1, 1, &a);

	if (rc >= 0)
		return rc;
	if (!a.spec_given) {
		fprintf(stderr, "seutudeskctl %s: nothing to change: give an option\n", s->name);
		sub_usage(s, stderr);
		return 2;
	}
	conn = open_db(s->name, config_path, a.database);
	if (conn == NULL)
		return 1;
	if (agent_modify(conn, a.pos[0], &a.spec, &error)) {
		printf("modified agent %s\n", a.spec.login ? a.spec.login : a.pos[0]);
		rc = 0;
	} else {
		print_error(s->name, error);
		rc = 1;
	}
	PQfinish(conn);
	return rc;
}

static int agent_list_cmd(int argc, char **argv, const char *config_path)
{
	const struct subcommand *s = &agent_subs[1];
	struct agent *v = NULL;
	char *error = NULL;
	struct args a;
	size_t n = 0;
	PGconn *conn;
	int rc = parse_args(s, argc, argv, ALLOW(OPT_JSON), 0, 0, &a);

	if (rc >= 0)
		return rc;
	conn = open_db(s->name, config_path, a.database);
	if (conn == NULL)
		return 1;
	if (!agent_list(conn, &v, &n, &error)) {
		print_error(s->name, error);
		PQfinish(conn);
		return 1;
	}
	PQfinish(conn);
	if (a.json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, agent_json(&v[i]));
		print_json(arr);
	} else if (n == 0) {
		printf("(no agents)\n");
	} else {
		static const char *const head[] = {"ID",   "LOGIN", "NAME",  "ROLE",   "ORG",
		                                   "SOTE", "MAX",   "STATE", "TOKENS", "QUEUES"};
		static const int width[] = {4, 16, 24, 7, 12, 4, 4, 8, 6};

		for (size_t i = 0; i < sizeof(width) / sizeof(width[0]); i++)
			cell(head[i], width[i]);
		printf("%s\n", head[9]);
		for (size_t i = 0; i < n; i++) {
			char id[24], max[16], tokens[16], *queues = ids_text(&v[i].queues);

			snprintf(id, sizeof(id), "%lld", v[i].id);
			snprintf(max, sizeof(max), "%d", v[i].max_open);
			snprintf(tokens, sizeof(tokens), "%u", v[i].tokens);
			cell(id, width[0]);
			cell(v[i].login, width[1]);
			cell(v[i].name, width[2]);
			cell(agent_role_name(v[i].role), width[3]);
			cell(v[i].organisation ? v[i].organisation : "-", width[4]);
			cell(v[i].sote ? "yes" : "no", width[5]);
			cell(max, width[6]);
			cell(v[i].active ? "active" : "disabled", width[7]);
			cell(tokens, width[8]);
			printf("%s\n", queues ? queues : "?");
			free(queues);
		}
	}
	agent_array_free(&v, n);
	return 0;
}

static void show_line(const char *label, const char *value) { printf("%-16s%s\n", label, value); }

static void show_ids(const char *label, const struct agent_ids *ids)
{
	char *t = ids_text(ids);
	show_line(label, t ? t : "?");
	free(t);
}

static int agent_show_cmd(int argc, char **argv, const char *config_path)
{
	const struct subcommand *s = &agent_subs[2];
	struct agent_token *t = NULL;
	char *error = NULL, buf[32];
	struct agent ag;
	struct args a;
	size_t n = 0;
	PGconn *conn;
	int rc = parse_args(s, argc, argv, ALLOW(OPT_JSON), 1, 1, &a);

	if (rc >= 0)
		return rc;
	conn = open_db(s->name, config_path, a.database);
	if (conn == NULL)
		return 1;
	if (!agent_get(conn, a.pos[0], &ag, &error)) {
		print_error(s->name, error);
		PQfinish(conn);
		return 1;
	}
	if (!agent_token_list(conn, a.pos[0], true, &t, &n, &error)) {
		print_error(s->name, error);
		agent_clear(&ag);
		PQfinish(conn);
		return 1;
	}
	PQfinish(conn);
	if (a.json) {
		json_t *o = agent_json(&ag);
		json_object_set_new(o, "api_tokens", tokens_json(t, n));
		print_json(o);
	} else {
		snprintf(buf, sizeof(buf), "%lld", ag.id);
		show_line("id", buf);
		show_line("login", ag.login);
		show_line("name", ag.name);
		show_line("e-mail", ag.email);
		show_line("role", agent_role_name(ag.role));
		show_line("organisation", ag.organisation ? ag.organisation : "none");
		show_ids("queues", &ag.queues);
		show_ids("municipalities", &ag.municipalities);
		show_ids("sectors", &ag.sectors);
		show_line("sote", ag.sote ? "cleared" : "not cleared");
		snprintf(buf, sizeof(buf), "%d", ag.max_open);
		show_line("max open", buf);
		show_line("state", ag.active ? "active" : "disabled");
		show_line("created", ag.created_at);
		show_line("last seen", ag.last_seen_at ? ag.last_seen_at : "never");
		snprintf(buf, sizeof(buf), "%u active", ag.tokens);
		show_line("tokens", buf);
		if (n > 0) {
			printf("\n");
			print_tokens(t, n, false);
		}
	}
	agent_token_array_free(&t, n);
	agent_clear(&ag);
	return 0;
}

static int set_active(const struct subcommand *s, bool active, int argc, char **argv,
                      const char *config_path)
{
	char *error = NULL;
	bool changed;
	struct args a;
	PGconn *conn;
	int rc = parse_args(s, argc, argv, 0, 1, 1, &a);

	if (rc >= 0)
		return rc;
	conn = open_db(s->name, config_path, a.database);
	if (conn == NULL)
		return 1;
	if (agent_set_active(conn, a.pos[0], active, &changed, &error)) {
		printf("agent %s %s%s\n", a.pos[0], changed ? "" : "was ",
		       active ? (changed ? "enabled" : "active already")
		              : (changed ? "disabled" : "disabled already"));
		rc = 0;
	} else {
		print_error(s->name, error);
		rc = 1;
	}
	PQfinish(conn);
	return rc;
}

static int agent_disable_cmd(int argc, char **argv, const char *config_path)
{
	return set_active(&agent_subs[4], false, argc, argv, config_path);
}

static int agent_enable_cmd(int argc, char **argv, const char *config_path)
{
	return set_active(&agent_subs[5], true, argc, argv, config_path);
}

/* Finds argv[1] in subs and runs it with argv shifted to start at it. */
static int dispatch(const char *cmd, const struct subcommand *subs, size_t nsubs,
                    void (*usage)(FILE *), int argc, char **argv, const char *config_path)
{
	size_t len = strlen(cmd);

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; argc >= 2 && i < nsubs; i++)
		if (strcmp(subs[i].name + len + 1, argv[1]) == 0)
			return subs[i].run(argc - 1, argv + 1, config_path);
	if (argc >= 2)
		fprintf(stderr, "seutudeskctl %s: unknown subcommand '%.64s'\n", cmd, argv[1]);
	usage(stderr);
	return 2;
}

int ctl_agent(int argc, char **argv, const char *config_path)
{
	return dispatch("agent", agent_subs, sizeof(agent_subs) / sizeof(agent_subs[0]),
	                agent_usage, argc, argv, config_path);
}

/* ---- token --------------------------------------------------------------- */

static int token_issue_cmd(int argc, char **argv, const char *config_path);
static int token_revoke_cmd(int argc, char **argv, const char *config_path);
static int token_list_cmd(int argc, char **argv, const char *config_path);
static int token_check_cmd(int argc, char **argv, const char *config_path);

static const struct subcommand token_subs[] = {
    {"token issue", token_issue_cmd,
     "token issue AGENT | --bridge BRIDGE\n"
     "Issue an API token for an active agent and print it on standard output.  Only\n"
     "its SHA-256 and its first 12 characters are stored: it cannot be shown again.\n"
     "Hand it to the agent over a safe channel.  With --bridge, the token is a chat\n"
     "bridge's (seutudeskctl bridge): it opens only the bridge API.\n\n"
     "Options:\n"
     "  --bridge                 BRIDGE is a chat bridge's name, not an agent\n" COMMON_HELP
         EXIT_HELP},
    {"token revoke", token_revoke_cmd,
     "token revoke AGENT | --prefix PREFIX\n"
     "Revoke every active token of an agent, or the one token whose prefix (as token\n"
     "list shows it, at least 8 characters) is PREFIX.\n\n"
     "Options:\n"
     "  --prefix PREFIX          the token to revoke\n" COMMON_HELP EXIT_HELP},
    {"token list", token_list_cmd,
     "token list [AGENT] [--all] [--json]\n"
     "List the active tokens of an agent, or of every agent.\n\n"
     "Options:\n"
     "  --all                    revoked tokens too\n"
     "  --json                   a JSON array\n" COMMON_HELP EXIT_HELP},
    {"token check", token_check_cmd,
     "token check < TOKEN\n"
     "Read a token from standard input and print the login of its agent when the API\n"
     "would accept it (exit 0), or why not on standard error (exit 1).  A check\n"
     "counts as a use of the token.\n\n"
     "Options:\n" COMMON_HELP EXIT_HELP},
};

static void token_usage(FILE *out)
{
	fprintf(out, "Usage: seutudeskctl token COMMAND [ARGS]\n"
	             "Manage the agents' API tokens.  AGENT is a login or a numeric id.\n\n"
	             "Commands:\n"
	             "  issue AGENT                      issue a token and print it, once\n"
	             "  revoke AGENT | --prefix PREFIX   revoke an agent's tokens, or one token\n"
	             "  list [AGENT] [--all] [--json]    list tokens\n"
	             "  check < TOKEN                    print whose a token is, if valid\n\n"
	             "Run 'seutudeskctl token COMMAND --help' for a command's options.\n");
}

static int token_issue_cmd(int argc, char **argv, const char *config_path)
{
	const struct subcommand *s = &token_subs[0];
	char token[AGENT_TOKEN_LEN + 1], *prefix = NULL, *error = NULL;
	struct args a;
	PGconn *conn;
	int rc = parse_args(s, argc, argv, ALLOW(OPT_BRIDGE), 1, 1, &a);
	bool ok;

	if (rc >= 0)
		return rc;
	conn = open_db(s->name, config_path, a.database);
	if (conn == NULL)
		return 1;
	ok = a.bridge ? bridge_token_issue(conn, a.pos[0], token, &prefix, &error)
	              : agent_token_issue(conn, a.pos[0], token, &prefix, &error);
	if (!ok) {
		print_error(s->name, error);
		PQfinish(conn);
		return 1;
	}
	PQfinish(conn);
	printf("%s\n", token);
	explicit_bzero(token, sizeof(token));
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr,
		        "seutudeskctl %s: cannot write the token; revoke it with "
		        "'seutudeskctl token revoke --prefix %s'\n",
		        s->name, prefix);
		rc = 1;
	} else {
		fprintf(
		    stderr,
		    "seutudeskctl %s: token %s... for %s; it is stored only as a hash and cannot "
		    "be shown again\n",
		    s->name, prefix, a.pos[0]);
		rc = 0;
	}
	free(prefix);
	return rc;
}

static int token_revoke_cmd(int argc, char **argv, const char *config_path)
{
	const struct subcommand *s = &token_subs[1];
	char *error = NULL;
	unsigned n = 0;
	struct args a;
	PGconn *conn;
	bool ok;
	int rc = parse_args(s, argc, argv, ALLOW(OPT_PREFIX), 0, 1, &a);

	if (rc >= 0)
		return rc;
	if ((a.npos == 1) == (a.prefix != NULL)) {
		fprintf(stderr, "seutudeskctl %s: give AGENT or --prefix PREFIX\n", s->name);
		sub_usage(s, stderr);
		return 2;
	}
	conn = open_db(s->name, config_path, a.database);
	if (conn == NULL)
		return 1;
	ok = a.prefix ? agent_token_revoke_prefix(conn, a.prefix, &n, &error)
	              : agent_token_revoke(conn, a.pos[0], &n, &error);
	PQfinish(conn);
	if (!ok) {
		print_error(s->name, error);
		return 1;
	}
	if (a.prefix)
		printf("revoked token %s\n", a.prefix);
	else
		printf("revoked %u token%s of %s\n", n, n == 1 ? "" : "s", a.pos[0]);
	return 0;
}

static int token_list_cmd(int argc, char **argv, const char *config_path)
{
	const struct subcommand *s = &token_subs[2];
	struct agent_token *t = NULL;
	char *error = NULL;
	struct args a;
	size_t n = 0;
	PGconn *conn;
	int rc = parse_args(s, argc, argv, ALLOW(OPT_JSON) | ALLOW(OPT_ALL), 0, 1, &a);

	if (rc >= 0)
		return rc;
	conn = open_db(s->name, config_path, a.database);
	if (conn == NULL)
		return 1;
	if (!agent_token_list(conn, a.npos ? a.pos[0] : NULL, a.all, &t, &n, &error)) {
		print_error(s->name, error);
		PQfinish(conn);
		return 1;
	}
	PQfinish(conn);
	if (a.json)
		print_json(tokens_json(t, n));
	else
		print_tokens(t, n, true);
	agent_token_array_free(&t, n);
	return 0;
}

static int token_check_cmd(int argc, char **argv, const char *config_path)
{
	const struct subcommand *s = &token_subs[3];
	char buf[TOKEN_INPUT_MAX + 2], *error = NULL;
	struct agent_identity id;
	enum agent_lookup r;
	struct args a;
	PGconn *conn;
	size_t len;
	int rc = parse_args(s, argc, argv, 0, 0, 0, &a);

	if (rc >= 0)
		return rc;
	/* From standard input, so that the token is in no argument list or shell history. */
	len = fread(buf, 1, sizeof(buf) - 1, stdin);
	buf[len] = '\0';
	if (len > TOKEN_INPUT_MAX) {
		explicit_bzero(buf, sizeof(buf));
		fprintf(stderr, "seutudeskctl %s: the input is longer than a token\n", s->name);
		return 1;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	conn = open_db(s->name, config_path, a.database);
	if (conn == NULL) {
		explicit_bzero(buf, sizeof(buf));
		return 1;
	}
	r = agent_token_lookup(conn, buf, &id, &error);
	explicit_bzero(buf, sizeof(buf));
	PQfinish(conn);
	if (r != AGENT_LOOKUP_OK) {
		fprintf(stderr, "seutudeskctl %s: %s%s\n", s->name,
		        r == AGENT_LOOKUP_DENIED ? "not accepted: " : "", error ? error : "");
		free(error);
		return 1;
	}
	printf("%s\n", id.agent.login);
	agent_identity_clear(&id);
	return 0;
}

/* ---- bridge -------------------------------------------------------------- */

static int bridge_add_cmd(int argc, char **argv, const char *config_path);
static int bridge_list_cmd(int argc, char **argv, const char *config_path);
static int bridge_enable_cmd(int argc, char **argv, const char *config_path);

static const struct subcommand bridge_subs[] = {
    {"bridge add", bridge_add_cmd,
     "bridge add NAME [--kind webchat|xmpp|other]\n"
     "Add a chat bridge (doc/bridge-api.md); then issue its token with\n"
     "'seutudeskctl token issue --bridge NAME'.\n\n"
     "Options:\n"
     "  --kind KIND              webchat, xmpp or other (default: other)\n" COMMON_HELP
         EXIT_HELP},
    {"bridge list", bridge_list_cmd,
     "bridge list [--json]\n"
     "List the chat bridges: kind, state, last call, tokens, conversations and the\n"
     "agents' replies waiting for delivery.\n\n"
     "Options:\n"
     "  --json                   a JSON array\n" COMMON_HELP EXIT_HELP},
    {"bridge disable", bridge_enable_cmd,
     "bridge disable NAME\n"
     "Disable a bridge: its tokens stop working until it is enabled again.\n\n"
     "Options:\n" COMMON_HELP EXIT_HELP},
    {"bridge enable", bridge_enable_cmd,
     "bridge enable NAME\n"
     "Enable a disabled bridge again.\n\n"
     "Options:\n" COMMON_HELP EXIT_HELP},
};

static void bridge_usage(FILE *out)
{
	fprintf(out, "Usage: seutudeskctl bridge COMMAND [ARGS]\n"
	             "Manage the chat bridges that may call the bridge API.\n\n"
	             "Commands:\n"
	             "  add NAME [--kind KIND]           add a bridge\n"
	             "  list [--json]                    list the bridges\n"
	             "  disable NAME                     stop a bridge's tokens working\n"
	             "  enable NAME                      let them work again\n\n"
	             "Run 'seutudeskctl bridge COMMAND --help' for a command's options.\n");
}

static int bridge_add_cmd(int argc, char **argv, const char *config_path)
{
	const struct subcommand *s = &bridge_subs[0];
	char *error = NULL;
	struct args a;
	PGconn *conn;
	int rc = parse_args(s, argc, argv, ALLOW(OPT_KIND), 1, 1, &a);

	if (rc >= 0)
		return rc;
	conn = open_db(s->name, config_path, a.database);
	if (conn == NULL)
		return 1;
	if (!bridge_add(conn, a.pos[0], a.kind ? a.kind : "other", &error)) {
		print_error(s->name, error);
		PQfinish(conn);
		return 1;
	}
	PQfinish(conn);
	fprintf(stderr, "seutudeskctl %s: bridge %s added\n", s->name, a.pos[0]);
	return 0;
}

static int bridge_list_cmd(int argc, char **argv, const char *config_path)
{
	const struct subcommand *s = &bridge_subs[1];
	char *error = NULL;
	json_t *list = NULL, *b;
	struct args a;
	PGconn *conn;
	size_t i;
	int rc = parse_args(s, argc, argv, ALLOW(OPT_JSON), 0, 0, &a);

	if (rc >= 0)
		return rc;
	conn = open_db(s->name, config_path, a.database);
	if (conn == NULL)
		return 1;
	if (!bridge_list(conn, &list, &error)) {
		print_error(s->name, error);
		PQfinish(conn);
		return 1;
	}
	PQfinish(conn);
	if (a.json) {
		json_dumpf(list, stdout, JSON_INDENT(2));
		printf("\n");
	} else if (json_array_size(list) == 0) {
		printf("(no bridges)\n");
	} else {
		printf("%-16s %-8s %-8s %-19s %6s %13s %7s\n", "NAME", "KIND", "STATE", "LAST CALL",
		       "TOKENS", "CONVERSATIONS", "QUEUED");
		json_array_foreach(list, i, b)
		{
			const char *seen = json_string_value(json_object_get(b, "last_seen_at"));
			printf("%-16s %-8s %-8s %-19.19s %6lld %13lld %7lld\n",
			       json_string_value(json_object_get(b, "name")),
			       json_string_value(json_object_get(b, "kind")),
			       json_is_true(json_object_get(b, "active")) ? "active" : "disabled",
			       seen ? seen : "never",
			       (long long)json_integer_value(json_object_get(b, "tokens")),
			       (long long)json_integer_value(json_object_get(b, "conversations")),
			       (long long)json_integer_value(json_object_get(b, "queued")));
		}
	}
	json_decref(list);
	return 0;
}

static int bridge_enable_cmd(int argc, char **argv, const char *config_path)
{
	bool enable = strcmp(argv[0], "enable") == 0;
	const struct subcommand *s = &bridge_subs[enable ? 3 : 2];
	char *error = NULL;
	struct args a;
	PGconn *conn;
	int rc = parse_args(s, argc, argv, 0, 1, 1, &a);

	if (rc >= 0)
		return rc;
	conn = open_db(s->name, config_path, a.database);
	if (conn == NULL)
		return 1;
	if (!bridge_set_active(conn, a.pos[0], enable, &error)) {
		print_error(s->name, error);
		PQfinish(conn);
		return 1;
	}
	PQfinish(conn);
	fprintf(stderr, "seutudeskctl %s: bridge %s %s\n", s->name, a.pos[0],
	        enable ? "enabled" : "disabled");
	return 0;
}

int ctl_bridge(int argc, char **argv, const char *config_path)
{
	return dispatch("bridge", bridge_subs, sizeof(bridge_subs) / sizeof(bridge_subs[0]),
	                bridge_usage, argc, argv, config_path);
}

int ctl_token(int argc, char **argv, const char *config_path)
{
	return dispatch("token", token_subs, sizeof(token_subs) / sizeof(token_subs[0]),
	                token_usage, argc, argv, config_path);
}
