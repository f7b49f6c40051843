/* parser.c - to be written (see parser.h) */
#include <stdlib.h>
#include "standby/parser.h"
