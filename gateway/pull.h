/* pull.h — pollers for peers that cannot push (inbound = pull): each polls
 * its peer from a stored cursor and stores the events it finds together with
 * the new cursor, in one commit, so a crash neither loses nor repeats a
 * change. */
#ifndef LT_PULL_H
#define LT_PULL_H

#include "gateway.h"

int lt_pull_start(struct lt_gateway *gw, struct lt_err *err);
/* A reload swapped in gw->cfg: pollers follow their peer's new settings, a new pull
 * peer gets one, a removed one stops polling (its cursor stays in the store). Loop thread. */
void lt_pull_reconfigure(struct lt_gateway *gw);
/* Polls waiting for an answer or a commit. */
int lt_pull_busy(struct lt_gateway *gw);
void lt_pull_free(struct lt_gateway *gw);

#endif
