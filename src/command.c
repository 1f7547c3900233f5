#include "config.h"
#include "command.h"
