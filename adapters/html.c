#include "autoconfig.h"
#include "html.h"
