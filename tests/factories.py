"""Factories for the test suite: real rows in a real database."""

import uuid
from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from pandaprobe.projects.models import Membership, Project
from pandaprobe.traces.models import Span, SpanKind, Trace
from pandaprobe.traces.rollup import (
    Contribution,
    model_totals,
    rollup_change,
    span_values,
    trace_contribution,
    trace_key,
)


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"project-{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "pw-correct-horse")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    project = factory.SubFactory(ProjectFactory)
    role = Membership.Role.REVIEWER


class TraceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Trace

    trace_id = factory.LazyFunction(uuid.uuid4)
    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"agent-run-{n}")
    started_at = factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=5))
    ended_at = factory.LazyAttribute(lambda t: t.started_at + timedelta(seconds=2))
    latency_ms = factory.LazyAttribute(lambda t: (t.ended_at - t.started_at).total_seconds() * 1000)
    input = factory.LazyFunction(lambda: {"messages": [{"role": "user", "content": "hello"}]})
    output = factory.LazyFunction(lambda: {"messages": [{"role": "assistant", "content": "hi"}]})

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        trace = super()._create(model_class, *args, **kwargs)
        # Counted in the hourly rollup as ingestion counts a trace: the analytics read it.
        rollup_change(project_id=trace.project_id, before=None, after=trace_contribution(trace))
        return trace


class SpanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Span

    trace = factory.SubFactory(TraceFactory)
    span_id = factory.LazyFunction(uuid.uuid4)
    name = factory.Sequence(lambda n: f"step-{n}")
    kind = SpanKind.LLM
    started_at = factory.LazyAttribute(lambda s: s.trace.started_at)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        span = super()._create(model_class, *args, **kwargs)
        trace = span.trace  # its totals are the test's to set: only the span's model row is counted
        added = Contribution(trace_key(trace), None, model_totals([span_values(span)]))
        rollup_change(project_id=trace.project_id, before=None, after=added)
        return span


class RolledUpScoreFactory(factory.django.DjangoModelFactory):
    """A score stored directly (no history event) but counted in the hourly rollups the analytics
    read, as the score services count theirs."""

    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        from evaluations.services.rollups import score_rollups_add

        score = super()._create(model_class, *args, **kwargs)
        score_rollups_add([score])
        return score


class TraceScoreFactory(RolledUpScoreFactory):
    """A SUCCESS NUMERIC score on a trace of the same project (pass `trace=`; project follows it)."""

    class Meta:
        model = "evaluations.TraceScore"

    trace = factory.SubFactory(TraceFactory)
    project = factory.LazyAttribute(lambda s: s.trace.project)
    name = "accuracy"
    value = "0.5"
    numeric_value = factory.LazyAttribute(
        lambda s: float(s.value) if s.data_type == "NUMERIC" and s.value else None
    )
    data_type = "NUMERIC"
    source = "ANNOTATION"
    status = "SUCCESS"
    environment = factory.LazyAttribute(lambda s: s.trace.environment)


class SessionScoreFactory(RolledUpScoreFactory):
    """A SUCCESS NUMERIC score of a session (pass `project=` and `session_id=`)."""

    class Meta:
        model = "evaluations.SessionScore"

    name = "reliability"
    value = "0.5"
    numeric_value = factory.LazyAttribute(
        lambda s: float(s.value) if s.data_type == "NUMERIC" and s.value else None
    )
    data_type = "NUMERIC"
    source = "ANNOTATION"
    status = "SUCCESS"


def eval_run(project, **fields):
    """A bare evaluation run of `project` (what scores with an `eval_run_id` point at)."""
    from evaluations.models import EvalRun

    return EvalRun.objects.create(project=project, **fields).pk
