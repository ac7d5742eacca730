"""kill -9 of the gateway during a stream of events, many times: every
acknowledged event is delivered afterwards."""
import json
import os
import random
import time

from harness import SLOW, Sender, campaign_gateway, check_all_delivered

CYCLES = int(os.environ.get("LT_CRASH_CYCLES", "10"))


def test_kill9_during_stream_loses_no_acknowledged_event(tmp, cleanup):
    rnd = random.Random(int(os.environ.get("LT_CRASH_SEED", "20261124")))
    gw, portal, registry = campaign_gateway(tmp, cleanup)
    sender = Sender(gw, 100000, seconds=300 + 3 * CYCLES)
    sender.start()
    kills = 0
    try:
        for cycle in range(CYCLES):
            time.sleep(rnd.uniform(0.2, 0.8) * SLOW)   # under valgrind a start takes seconds
            gw.kill9()
            kills += 1
            time.sleep(rnd.uniform(0.0, 0.2))
            gw.start()
    finally:
        time.sleep(0.5)
        sender.stop_flag = True
        sender.join(10)
    registry.clear()
    acked_events = {e for evs in sender.acked.values() for e in evs}
    assert kills == CYCLES and len(acked_events) > 50, (kills, len(acked_events))

    figs = check_all_delivered(gw, (portal, registry), acked_events)
    dups = sum(figs["duplicates"].values())
    print("    crash cycles=%d acknowledged=%d refused_or_cut=%d duplicates=%s" % (
        kills, len(acked_events), sender.refused, figs["duplicates"]))
    where = os.environ.get("LT_FIGURES")
    if where:
        with open(os.path.join(where, "crash.json"), "w") as f:
            json.dump(dict(figs, cycles=kills, duplicates=dups, duplicates_same_key=dups, refused_or_cut=sender.refused),
                      f, indent=1)
