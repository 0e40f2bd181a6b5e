#include "autoconfig.h"
#include "classify.h"
