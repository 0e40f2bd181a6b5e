#include "autoconfig.h"
#include "config.h"
#include <stdlib.h>
const char *config_default_path(void)
{
	const char *env = getenv("SEUTUDESK_CONF");
	return env && *env ? env : SYSCONFDIR "/seutudesk/seutudesk.conf";
}
