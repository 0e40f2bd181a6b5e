/* ctl: the subcommands of seutudeskctl.  Each takes the arguments after its
 * own name (argv[0] is the subcommand) and the config path chosen with -c,
 * SEUTUDESK_CONF or the default; it returns the process exit status. */
#ifndef SEUTUDESK_CTL_H
#define SEUTUDESK_CTL_H

int ctl_migrate(int argc, char **argv, const char *config_path);
int ctl_classify(int argc, char **argv, const char *config_path);
int ctl_rules(int argc, char **argv, const char *config_path);
int ctl_sla(int argc, char **argv, const char *config_path);
int ctl_holidays(int argc, char **argv, const char *config_path);
int ctl_agent(int argc, char **argv, const char *config_path);
int ctl_token(int argc, char **argv, const char *config_path);
int ctl_bridge(int argc, char **argv, const char *config_path);
int ctl_org(int argc, char **argv, const char *config_path);
int ctl_cost(int argc, char **argv, const char *config_path);
int ctl_retention(int argc, char **argv, const char *config_path);
int ctl_privacy(int argc, char **argv, const char *config_path);
int ctl_ticket(int argc, char **argv, const char *config_path);
int ctl_status(int argc, char **argv, const char *config_path);
int ctl_check(int argc, char **argv, const char *config_path);

#endif
