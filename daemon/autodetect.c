#include "autoconfig.h"
#include "autodetect.h"
