#include "autoconfig.h"
#include "mime.h"
