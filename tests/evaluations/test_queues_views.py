"""Review-queue pages: who sees what, building a queue, the work page's form, escaping, 404s."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from evaluations.forms import comment_field_name, not_applicable_field_name, score_field_name
from evaluations.links import page_url
from evaluations.models import ItemReview, ReviewQueue, ScoreEvent, ScoreSource, TraceScore
from evaluations.services.queues import queue_next_item_claim
from pandaprobe.projects.models import Membership
from pandaprobe.traces.models import TraceStatus

from ..factories import MembershipFactory, SpanFactory, TraceFactory
from .queue_factories import GOOD_VALUES, build_queue, queue_create_data, queue_url, score_configs, signed_in

XSS = "<script>alert('pwn')</script>"


@pytest.fixture
def queue(project, admin_user, alice):
    return build_queue(project, admin_user, [alice])


def work_url(queue) -> str:
    return queue_url("queue-work", queue)


def post_values(queue, item, values=None, comments=None, not_applicable=()) -> dict:
    values = values if values is not None else GOOD_VALUES
    data = {"item": str(item.pk)}
    for config in queue.score_configs.all():
        if config.name in values:
            data[score_field_name(config)] = values[config.name]
        if config.name in (comments or {}):
            data[comment_field_name(config)] = comments[config.name]
        if config.name in not_applicable:
            data[not_applicable_field_name(config)] = "on"
    return data


# List and visibility -----------------------------------------------------------------------------


def test_queue_pages_need_a_signed_in_user(queue, project):
    for url in (page_url("queue-list", project), queue_url("queue-detail", queue), work_url(queue)):
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_reviewer_sees_only_assigned_queues(project, admin_user, alice, bob, django_assert_max_num_queries):
    mine = build_queue(project, admin_user, [alice], name="alice-queue")
    build_queue(project, admin_user, [bob], name="bob-queue")
    client = signed_in(alice, project)
    with django_assert_max_num_queries(5):
        page = client.get(page_url("queue-list", project)).content.decode()
    assert "alice-queue" in page and "bob-queue" not in page
    assert work_url(mine) in page and page_url("queue-create", project) not in page
    admin_page = signed_in(admin_user, project).get(page_url("queue-list", project)).content.decode()
    assert "alice-queue" in admin_page and "bob-queue" in admin_page
    assert page_url("queue-create", project) in admin_page
    assert "/work/" not in admin_page  # the admin reviews none of them: no Review button


def test_queue_list_query_count_is_flat(project, admin_user, alice, django_assert_max_num_queries):
    for i in range(6):
        build_queue(project, admin_user, [alice], name=f"q{i}", n_traces=2)
    client = signed_in(admin_user, project)
    client.get(page_url("queue-list", project))  # warm the session and the templates
    # session, user, the user's projects, their role, one query for the queues with their counts, and
    # (admins) one for the archived queues
    with django_assert_max_num_queries(6):
        response = client.get(page_url("queue-list", project))
    assert response.content.decode().count("data-queue-id=") == 6


def test_unassigned_reviewer_gets_404_on_detail_and_work(queue, project, bob, admin_user):
    client = signed_in(bob, project)
    assert client.get(queue_url("queue-detail", queue)).status_code == 404
    assert client.get(work_url(queue)).status_code == 404
    assert client.post(work_url(queue), post_values(queue, queue.items.first())).status_code == 404
    assert not TraceScore.objects.exists()
    # An admin sees the progress page but reviews only the queues they are assigned to.
    admin = signed_in(admin_user, project)
    assert admin.get(queue_url("queue-detail", queue)).status_code == 200
    assert admin.get(work_url(queue)).status_code == 404


def test_another_projects_queue_is_404(queue, other_project, outsider):
    client = signed_in(outsider, other_project)
    # Under its own project's URL (the outsider is no member), and under the outsider's project.
    for project in (queue.project_id, other_project):
        assert client.get(page_url("queue-detail", project, queue.pk)).status_code == 404
        assert client.get(page_url("queue-work", project, queue.pk)).status_code == 404
        item = queue.items.first()
        assert (
            client.get(page_url("queue-work", project, queue.pk), {"item": str(item.pk)}).status_code == 404
        )


def test_member_of_both_projects_sees_a_queue_only_in_its_project(queue, project, other_project, alice):
    MembershipFactory(project=other_project, user=alice, role=Membership.Role.REVIEWER)
    client = signed_in(alice, other_project)
    assert client.get(page_url("queue-work", other_project, queue.pk)).status_code == 404
    # The queue's own link opens it, whichever project was current.
    assert client.get(work_url(queue)).status_code == 200


def test_item_of_another_queue_is_404(project, admin_user, alice, queue):
    other_queue = build_queue(project, admin_user, [alice], name="other")
    foreign_item = other_queue.items.first()
    client = signed_in(alice, project)
    assert client.get(work_url(queue), {"item": str(foreign_item.pk)}).status_code == 404
    assert client.get(work_url(queue), {"item": "not-a-uuid"}).status_code == 404
    assert client.post(work_url(queue), post_values(queue, foreign_item)).status_code == 404
    assert not TraceScore.objects.exists()


# Building ----------------------------------------------------------------------------------------


def test_admin_builds_a_queue_from_a_filter(project, admin_user, alice, bob):
    errors = [TraceFactory(project=project, status=TraceStatus.ERROR, tags=["prod"]) for _ in range(3)]
    TraceFactory(project=project, status=TraceStatus.ERROR, tags=["dev"])
    TraceFactory(project=project, status=TraceStatus.COMPLETED, tags=["prod"])
    client = signed_in(admin_user, project)
    data = queue_create_data(
        project, [alice, bob], filter_status="ERROR", filter_tags="prod", reviewers_per_item="2"
    )
    response = client.post(page_url("queue-create", project), data)

    queue = ReviewQueue.objects.get(project=project)
    assert response.status_code == 302 and response["Location"] == queue_url("queue-detail", queue)
    assert set(queue.items.values_list("trace_id", flat=True)) == {t.pk for t in errors}
    assert (queue.reviewers_per_item, queue.hold_seconds, queue.created_by) == (2, 600, admin_user)
    assert set(queue.reviewers.all()) == {alice, bob}


def test_admin_builds_a_queue_from_a_selection(project, admin_user, alice):
    a, b = TraceFactory(project=project), TraceFactory(project=project)
    client = signed_in(admin_user, project)
    data = queue_create_data(project, [alice], source="selection", trace_ids=f"{b.pk}, {a.pk}\n{b.pk}")
    assert client.post(page_url("queue-create", project), data).status_code == 302
    queue = ReviewQueue.objects.get(project=project)
    assert list(queue.items.order_by("position").values_list("trace_id", flat=True)) == [b.pk, a.pk]


def test_create_page_prefills_a_selection_from_the_query_string(project, admin_user):
    trace = TraceFactory(project=project)
    page = signed_in(admin_user, project).get(page_url("queue-create", project), {"trace_ids": str(trace.pk)})
    assert page.status_code == 200
    assert str(trace.pk) in page.content.decode()


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ({"source": "selection", "trace_ids": "nope"}, "trace_ids", "is not a trace id"),
        ({"filter_started_after": "yesterday"}, "filter_started_after", ""),
        ({"filter_status": "BOGUS"}, "filter_status", ""),
        ({"reviewers_per_item": "2"}, "reviewers_per_item", "cannot exceed"),
        ({"name": ""}, "name", "required"),
        ({"filter_name": "matches-nothing"}, "trace_ids", "empty"),
    ],
)
def test_bad_create_input_is_422_naming_the_field(project, admin_user, alice, extra, field, message):
    TraceFactory(project=project)
    response = signed_in(admin_user, project).post(
        page_url("queue-create", project), queue_create_data(project, [alice], **extra)
    )
    assert response.status_code == 422
    page = response.content.decode()
    assert f'data-field="{field}"' in page and message in page
    assert not ReviewQueue.objects.exists()


def test_selection_with_another_projects_trace_is_422(project, other_project, admin_user, alice):
    theirs = TraceFactory(project=other_project)
    data = queue_create_data(project, [alice], source="selection", trace_ids=str(theirs.pk))
    response = signed_in(admin_user, project).post(page_url("queue-create", project), data)
    assert response.status_code == 422 and 'data-field="trace_ids"' in response.content.decode()
    assert not ReviewQueue.objects.exists()


def test_only_admins_can_create(project, reviewer, alice):
    TraceFactory(project=project)
    client = signed_in(reviewer, project)
    assert client.get(page_url("queue-create", project)).status_code == 403
    assert client.post(page_url("queue-create", project), queue_create_data(project, [alice])).status_code == 403
    assert not ReviewQueue.objects.exists()


def test_reviewers_outside_the_project_cannot_be_picked(project, admin_user, outsider):
    TraceFactory(project=project)
    response = signed_in(admin_user, project).post(
        page_url("queue-create", project), queue_create_data(project, [outsider])
    )
    assert response.status_code == 422 and 'data-field="reviewers"' in response.content.decode()


# Working -----------------------------------------------------------------------------------------


def test_work_page_holds_the_first_item_and_shows_one_control_per_config(queue, project, alice):
    response = signed_in(alice, project).get(work_url(queue))
    assert response.status_code == 200
    first = queue.items.get(position=1)
    assert response.context["item"] == first
    assert ItemReview.objects.get(item=first, reviewer=alice).status == ItemReview.Status.HELD
    page = response.content.decode()
    assert page.count('class="score-control') == 3
    assert 'data-key="1"' in page and 'name="csrfmiddlewaretoken"' in page
    assert 'id="keys-help"' in page and "js/queue.js" in page


def test_save_redirects_to_the_next_item_and_stores_annotation_scores(queue, project, alice):
    client = signed_in(alice, project)
    item = client.get(work_url(queue)).context["item"]
    comments = {"quality": "slow but right", "tone": "curt"}
    response = client.post(work_url(queue), post_values(queue, item, comments=comments))
    assert response.status_code == 302 and response["Location"] == work_url(queue)

    scores = TraceScore.objects.filter(trace_id=item.trace_id)
    assert {(s.name, s.value, s.source, s.author_id, s.reason) for s in scores} == {
        (name, value, ScoreSource.ANNOTATION, alice.pk, comments.get(name))
        for name, value in GOOD_VALUES.items()
    }
    assert ScoreEvent.objects.filter(trace_id=item.trace_id, action="create", actor_user=alice).count() == 3
    assert client.get(work_url(queue)).context["item"].position == 2


def test_validation_error_shows_the_field_and_saves_nothing(queue, project, alice):
    client = signed_in(alice, project)
    item = client.get(work_url(queue)).context["item"]
    response = client.post(work_url(queue), post_values(queue, item, {**GOOD_VALUES, "quality": "7"}))
    assert response.status_code == 422
    page = response.content.decode()
    assert "quality:" in page and "outside the allowed range" in page
    assert not TraceScore.objects.exists() and not ScoreEvent.objects.exists()
    assert ItemReview.objects.get(item=item, reviewer=alice).status == ItemReview.Status.HELD
    # A missing value is refused (this queue does not allow partial reviews), naming the score.
    response = client.post(work_url(queue), post_values(queue, item, {"correct": "true"}))
    assert response.status_code == 422
    assert "quality: a value is required (or mark it N/A)" in response.content.decode()
    assert not TraceScore.objects.exists()


def test_two_reviewers_get_different_items_and_a_held_item_cannot_be_opened(project, admin_user, alice, bob):
    queue = build_queue(project, admin_user, [alice, bob])
    a, b = signed_in(alice, project), signed_in(bob, project)
    first = a.get(work_url(queue)).context["item"]
    assert b.get(work_url(queue)).context["item"] != first
    response = b.get(work_url(queue), {"item": str(first.pk)})
    assert response.status_code == 302 and response["Location"] == work_url(queue)


def test_expired_hold_lets_another_reviewer_take_the_item(project, admin_user, alice, bob):
    queue = build_queue(project, admin_user, [alice, bob])
    first = queue_next_item_claim(queue=queue, reviewer=alice)
    ItemReview.objects.filter(item=first, reviewer=alice).update(
        held_until=timezone.now() - timedelta(seconds=1)
    )
    assert signed_in(bob, project).get(work_url(queue)).context["item"] == first


def test_navigation_links_and_reopening_a_done_item_prefills_it(queue, project, alice):
    client = signed_in(alice, project)
    item = client.get(work_url(queue)).context["item"]
    client.post(work_url(queue), post_values(queue, item, {**GOOD_VALUES, "tone": "rude"}))
    second = client.get(work_url(queue))
    assert second.context["neighbours"]["previous"] == item
    assert second.context["neighbours"]["next"].position == 3
    reopened = client.get(work_url(queue), {"item": str(item.pk)})
    assert reopened.status_code == 200
    controls = {c["config"].name: c["value"] for c in reopened.context["controls"]}
    assert controls == {**GOOD_VALUES, "tone": "rude"}
    assert "saving updates your scores" in reopened.content.decode()


def test_done_page_when_nothing_is_left(project, admin_user, alice):
    queue = build_queue(project, admin_user, [alice], n_traces=1)
    client = signed_in(alice, project)
    item = client.get(work_url(queue)).context["item"]
    client.post(work_url(queue), post_values(queue, item))
    page = client.get(work_url(queue)).content.decode()
    assert "Nothing left for you" in page and "1/1" in page


def test_progress_page_shows_queue_and_reviewer_counts(project, admin_user, alice, bob):
    queue = build_queue(project, admin_user, [alice, bob], n_traces=3)
    for user in (alice, alice, bob):
        client = signed_in(user, project)
        client.post(work_url(queue), post_values(queue, client.get(work_url(queue)).context["item"]))
    response = signed_in(admin_user, project).get(queue_url("queue-detail", queue))
    progress = response.context["progress"]
    assert (progress.done, progress.total) == (3, 3)
    assert [(r.reviewer.username, r.done) for r in progress.reviewers] == [("alice", 2), ("bob", 1)]
    page = response.content.decode()
    assert 'data-testid="queue-done">3/3<' in page
    assert 'data-testid="reviews-done">3/3<' in page and "67%" in page and "33%" in page


def test_untrusted_trace_content_is_escaped(project, admin_user, alice):
    trace = TraceFactory(
        project=project,
        name=XSS,
        tags=[XSS],
        input={"messages": [{"role": "user", "content": XSS}]},
        output={"answer": XSS},
    )
    SpanFactory(trace=trace, name=XSS, input={"q": XSS}, error=XSS)
    configs = score_configs(project)
    configs[2].description = XSS
    configs[2].save()
    queue = build_queue(project, admin_user, [alice], traces=[trace], configs=configs, description=XSS)
    client = signed_in(alice, project)
    pages = [
        client.get(work_url(queue)).content.decode(),
        signed_in(admin_user, project).get(page_url("queue-list", project)).content.decode(),
        signed_in(admin_user, project).get(queue_url("queue-detail", queue)).content.decode(),
    ]
    for page in pages:
        assert "<script>alert" not in page
    assert pages[0].count("&lt;script&gt;alert(") >= 5


def test_work_form_post_requires_csrf(queue, project, alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    item = queue.items.first()
    assert client.post(work_url(queue), post_values(queue, item)).status_code == 403
    assert not TraceScore.objects.exists()


def test_saving_an_item_someone_else_took_shows_why_and_saves_nothing(project, admin_user, alice, bob):
    queue = build_queue(project, admin_user, [alice, bob])
    a = signed_in(alice, project)
    item = a.get(work_url(queue)).context["item"]
    ItemReview.objects.filter(item=item, reviewer=alice).update(
        held_until=timezone.now() - timedelta(seconds=1)
    )
    assert signed_in(bob, project).get(work_url(queue)).context["item"] == item
    response = a.post(work_url(queue), post_values(queue, item))
    assert response.status_code == 422
    assert "taken by another reviewer" in response.content.decode()
    assert not TraceScore.objects.exists()


def test_django_admin_lists_and_shows_queues(queue, django_user_model):
    admin_client = Client()
    admin_client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "x"))
    assert admin_client.get(reverse("admin:evaluations_reviewqueue_changelist")).status_code == 200
    page = admin_client.get(reverse("admin:evaluations_reviewqueue_change", args=[queue.pk]))
    assert page.status_code == 200 and str(queue.items.first().trace_id) in page.content.decode()
    assert admin_client.get(reverse("admin:evaluations_reviewqueue_add")).status_code == 403
