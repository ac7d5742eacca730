/* watchdog.h — the SLA watchdog that emits dossier.overdue events. */
#ifndef LT_WATCHDOG_H
#define LT_WATCHDOG_H

#include "gateway.h"

int lt_watchdog_start(struct lt_gateway *gw);
int lt_watchdog_busy(struct lt_gateway *gw);
void lt_watchdog_free(struct lt_gateway *gw);

#endif
