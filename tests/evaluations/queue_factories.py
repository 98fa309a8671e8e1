"""Helpers for the review-queue tests: configs, accesses and queues built through the services."""

from django.test import Client

from evaluations.links import page_url
from evaluations.models import ScoreConfig, ScoreDataType
from evaluations.services.queues import review_queue_create
from pandaprobe.projects.access import SESSION_PROJECT_KEY, ProjectAccess
from pandaprobe.projects.models import Membership

from ..factories import MembershipFactory, TraceFactory


def access_of(user, project) -> ProjectAccess:
    role = Membership.objects.get(user=user, project=project).role
    return ProjectAccess(project=project, user=user, role=role)


def signed_in(user, project) -> Client:
    """A browser session of `user` with `project` as its current project."""
    client = Client()
    client.force_login(user)
    session = client.session
    session[SESSION_PROJECT_KEY] = str(project.pk)
    session.save()
    return client


def queue_url(name: str, queue) -> str:
    """The path of a queue's page (`queue-detail`, `queue-work`...), in the queue's project."""
    return page_url(name, queue.project_id, queue.pk)


def member(project, username: str, role: str = Membership.Role.REVIEWER):
    return MembershipFactory(project=project, role=role, user__username=username).user


def score_configs(project) -> list[ScoreConfig]:
    """One config of each data type: correct (BOOLEAN), quality (NUMERIC 0..1), tone (CATEGORICAL)."""
    specs = [
        ("correct", ScoreDataType.BOOLEAN, []),
        ("quality", ScoreDataType.NUMERIC, []),
        ("tone", ScoreDataType.CATEGORICAL, ["polite", "neutral", "rude"]),
    ]
    return [
        ScoreConfig.objects.get_or_create(
            project=project, name=name, defaults={"data_type": data_type, "categories": categories}
        )[0]
        for name, data_type, categories in specs
    ]


def build_queue(project, admin, reviewers, *, configs=None, traces=None, n_traces=3, **options):
    """A queue over `traces` (or n fresh traces) built by `admin` with the real service."""
    traces = traces if traces is not None else [TraceFactory(project=project) for _ in range(n_traces)]
    return review_queue_create(
        access=access_of(admin, project),
        name=options.pop("name", "Weekly review"),
        score_configs=configs if configs is not None else score_configs(project),
        reviewers=list(reviewers),
        trace_ids=[t.pk for t in traces],
        **options,
    )


GOOD_VALUES = {"correct": "true", "quality": "0.7", "tone": "polite"}


def queue_create_data(project, reviewers, **extra) -> dict:
    """The queue builder's form, filled in: a queue from the (empty) filter for `reviewers`."""
    data = {
        "name": "Errors this week",
        "description": "",
        "score_configs": [str(c.pk) for c in score_configs(project)],
        "reviewers": [str(u.pk) for u in reviewers],
        "reviewers_per_item": "1",
        "hold_minutes": "10",
        "source": "filter",
        "limit": "100",
        "trace_ids": "",
    }
    return {**data, **extra}
