#include "autoconfig.h"
#include "migrate.h"
