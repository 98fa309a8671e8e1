"""`manage.py serve`: the web server, plus an in-process Dramatiq worker when there is no Redis.

With REDIS_URL set, workers are separate processes (`manage.py rundramatiq`) and this only serves.
"""

import dramatiq
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.utils.module_loading import autodiscover_modules
from dramatiq.brokers.stub import StubBroker


def start_inprocess_worker(threads: int) -> dramatiq.Worker | None:
    """Consume the in-memory broker from threads of this process; None when a real broker is used."""
    broker = dramatiq.get_broker()
    if not isinstance(broker, StubBroker):
        return None
    # Declare every actor (and so its queue) before the worker starts consuming.
    autodiscover_modules(*settings.DRAMATIQ_AUTODISCOVER_MODULES)
    worker = dramatiq.Worker(broker, worker_threads=threads)
    worker.start()
    return worker


class Command(BaseCommand):
    help = (
        "Serve HTTP on ADDRPORT (default 127.0.0.1:8000) with an in-process worker when REDIS_URL is unset."
    )

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args, addrport: str, **options):
        worker = start_inprocess_worker(settings.INPROCESS_WORKER_THREADS)
        if worker is None:
            self.stdout.write("Using the Redis broker: start workers with `python manage.py rundramatiq`.")
        else:
            self.stdout.write(
                f"In-process Dramatiq worker started ({settings.INPROCESS_WORKER_THREADS} threads)."
            )
        try:
            call_command("runserver", addrport, use_reloader=False)
        finally:
            if worker is not None:
                worker.stop()
