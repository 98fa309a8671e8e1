"""What a Dramatiq worker process does as it boots, beside the run reaper (`reaper.py`)."""

import threading

import dramatiq
from dramatiq.brokers.stub import StubBroker


class JudgeWarmUp(dramatiq.Middleware):
    """Imports litellm (seconds of CPU) as a worker process boots, in the background, rather than in
    the first evaluation it takes: measured in the runs benchmark, the second worker process of a
    run otherwise spent its first seconds importing while its share of the work waited. Not in the
    embedded in-process worker (`manage.py serve`), whose process also serves pages."""

    def after_worker_boot(self, broker, worker) -> None:
        if isinstance(broker, StubBroker):
            return
        from evaluations import judge  # apps are loaded once a worker boots

        threading.Thread(target=judge.warm_up, daemon=True, name="judge-warm-up").start()
