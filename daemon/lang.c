#include "autoconfig.h"
#include "lang.h"
