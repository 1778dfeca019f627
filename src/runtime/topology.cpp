// Placeholder until the topology module lands.
#include "runtime/topology.h"
