"""The run reaper: a Dramatiq worker middleware that hands out again the run work no live worker holds.

At boot of the in-process worker (`manage.py serve` without Redis) every pending item of an unfinished
run is orphaned, since its queue lived in memory: they are all sent again, so a restart of `make run`
resumes the runs. Then, in every worker, a thread looks every `PANDAPROBE_REAPER_SECONDS` for items
whose worker was killed (lease run out) or that waited a whole lease unsent, and sends them again. A
message sent twice is harmless: items are claimed with a conditional update.
"""

import logging
import threading

import dramatiq
from django.conf import settings
from django.db import connections
from dramatiq.brokers.stub import StubBroker

logger = logging.getLogger(__name__)


def _resume(after_restart: bool) -> None:
    from evaluations.services.runs import eval_runs_resume  # apps are loaded once a worker boots

    try:
        sent = eval_runs_resume(after_restart=after_restart)
        if sent:
            logger.info("Run reaper sent %d evaluation items again", sent)
    except Exception:  # the next round tries again; a reaper must not kill its worker
        logger.exception("Run reaper failed")
    finally:
        connections.close_all()


class RunReaper(dramatiq.Middleware):
    def __init__(self):
        self.stopping = threading.Event()

    def after_worker_boot(self, broker, worker) -> None:
        interval = settings.PANDAPROBE_REAPER_SECONDS
        if interval <= 0:
            return
        in_process = isinstance(broker, StubBroker)
        threading.Thread(target=self._loop, args=(interval, in_process), daemon=True, name="run-reaper").start()

    def before_worker_shutdown(self, broker, worker) -> None:
        self.stopping.set()

    def _loop(self, interval: int, in_process: bool) -> None:
        if in_process:
            _resume(after_restart=True)
        while not self.stopping.wait(interval):
            _resume(after_restart=False)
