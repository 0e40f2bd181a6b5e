#include "autoconfig.h"
#include "db.h"
