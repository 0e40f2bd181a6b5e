#include "autoconfig.h"
#include "ctl.h"
#include <stdio.h>
int ctl_migrate(int argc, char **argv, const char *config_path)
{
	fprintf(stderr, "not yet built\n");
	return 1;
}
