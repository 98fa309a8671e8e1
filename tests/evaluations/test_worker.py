"""What a worker process does as it boots (`evaluations.worker`)."""

import threading

import dramatiq
from dramatiq.brokers.stub import StubBroker

from evaluations import judge
from evaluations.worker import JudgeWarmUp


def _boot(broker, monkeypatch, wait: float = 5) -> list[str]:
    warmed, done = [], threading.Event()
    monkeypatch.setattr(judge, "warm_up", lambda: (warmed.append(threading.current_thread().name), done.set()))
    JudgeWarmUp().after_worker_boot(broker, worker=None)
    done.wait(wait)
    return warmed


def test_a_worker_of_a_real_broker_imports_litellm_in_the_background_as_it_boots(monkeypatch):
    class RealBroker(dramatiq.Broker):  # any broker but the embedded one
        def __init__(self):
            pass

    assert _boot(RealBroker(), monkeypatch) == ["judge-warm-up"]


def test_the_embedded_worker_leaves_litellm_for_its_first_evaluation(monkeypatch):
    assert _boot(StubBroker(), monkeypatch, wait=0.2) == []
