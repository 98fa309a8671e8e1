"""Several reviewers, several scores (issue 12, item 1): one row per author and source on the trace
page, the queue page and the explorer's badges, a summary when there are several, history per
score, and edit/delete buttons only on one's own annotations."""

import re
from statistics import mean

import pytest

from evaluations.models import ScoreConfig, ScoreDataType, ScoreSource, TraceScore
from evaluations.selectors.score_groups import agreement, values_agree
from evaluations.services.annotations import trace_score_annotate
from evaluations.services.scores import trace_score_create, trace_score_update
from tests.factories import TraceFactory, TraceScoreFactory

from .queue_factories import access_of, signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def correctness(project) -> ScoreConfig:
    return ScoreConfig.objects.create(
        project=project, name="correctness", data_type=ScoreDataType.NUMERIC, min_value=0, max_value=5
    )


def three_scores(project, alice, bob, correctness, trace=None) -> dict[str, TraceScore]:
    """alice 4 and bob 3 by hand, the judge 3.2, all of `correctness`."""
    trace = trace or TraceFactory(project=project)
    scores = {
        user.username: trace_score_create(
            access=access_of(user, project),
            trace_id=trace.pk,
            name="correctness",
            value=value,
            config=correctness,
        )
        for user, value in ((alice, "4"), (bob, "3"))
    }
    scores["judge"] = TraceScoreFactory(
        trace=trace, name="correctness", value="3.2", source=ScoreSource.AUTOMATED, config=correctness
    )
    return scores


def rows_of(html: str) -> dict[str, str]:
    """Each score row's HTML by its author label (a row ends at the next row or its list's end)."""
    chunks = html.split('<li class="score-item" ')[1:]
    return {re.search(r'data-author="([^"]+)"', chunk).group(1): chunk.split("</ul>")[0] for chunk in chunks}


def test_trace_page_shows_one_row_per_author_and_the_judge_with_a_summary(project, alice, bob, correctness):
    scores = three_scores(project, alice, bob, correctness)
    html = (
        signed_in(alice, project)
        .get(f"/app/p/{project.pk}/traces/{scores['alice'].trace_id}/")
        .content.decode()
    )
    rows = rows_of(html)
    assert set(rows) == {"alice", "bob", "judge"}
    assert '<span class="score-value">4</span>' in rows["alice"]
    assert '<span class="score-value">3.2</span>' in rows["judge"] and "source-AUTOMATED" in rows["judge"]
    values = [4, 3, 3.2]
    tolerance = 0.1 * (5 - 0)
    pairs = [(a, b) for i, a in enumerate(values) for b in values[i + 1 :]]
    agreeing = sum(abs(a - b) <= tolerance for a, b in pairs) / len(pairs)  # only 3 and 3.2: 1/3
    assert f'<b data-summary="mean">{round(mean(values), 2):g}</b>' in html
    assert f'<span data-summary="spread">{min(values):g}–{max(values):g}</span>' in html
    assert f'<span data-summary="agreement">{round(agreeing * 100)} %</span>' in html


def test_a_single_score_has_no_summary(project, alice, correctness):
    trace = TraceFactory(project=project)
    trace_score_create(
        access=access_of(alice, project), trace_id=trace.pk, name="correctness", value="4", config=correctness
    )
    html = signed_in(alice, project).get(f"/app/p/{project.pk}/traces/{trace.pk}/").content.decode()
    assert len(rows_of(html)) == 1 and 'data-testid="score-summary"' not in html


def test_edit_and_delete_buttons_only_on_ones_own_annotations(project, alice, bob, correctness):
    scores = three_scores(project, alice, bob, correctness)
    html = (
        signed_in(alice, project)
        .get(f"/app/p/{project.pk}/traces/{scores['alice'].trace_id}/")
        .content.decode()
    )
    rows = rows_of(html)
    assert 'data-action="edit"' in rows["alice"] and 'data-action="delete"' in rows["alice"]
    assert f"score_with=config:{correctness.pk}" in rows["alice"]
    assert f"/scores/{scores['alice'].pk}/delete/" in rows["alice"]
    for other in ("bob", "judge"):
        assert "data-action" not in rows[other]


def test_an_admin_may_delete_any_annotation_but_edits_only_their_own(
    project, alice, bob, admin_user, correctness
):
    scores = three_scores(project, alice, bob, correctness)
    rows = rows_of(
        signed_in(admin_user, project)
        .get(f"/app/p/{project.pk}/traces/{scores['alice'].trace_id}/")
        .content.decode()
    )
    assert 'data-action="delete"' in rows["alice"] and 'data-action="edit"' not in rows["alice"]
    assert "data-action" not in rows["judge"]  # the judge's scores are redone by a run, not by hand


def test_another_reviewers_delete_is_403_and_ones_own_succeeds(project, alice, bob, correctness):
    scores = three_scores(project, alice, bob, correctness)
    url = f"/app/p/{project.pk}/traces/{scores['alice'].trace_id}/scores/{scores['alice'].pk}/delete/"
    assert signed_in(bob, project).post(url).status_code == 403
    assert (
        signed_in(bob, project)
        .post(url.replace(str(scores["alice"].pk), str(scores["judge"].pk)))
        .status_code
        == 403
    )
    assert TraceScore.objects.filter(pk=scores["alice"].pk).exists()
    response = signed_in(alice, project).post(url)
    assert response.status_code == 302 and response["Location"].endswith("#scores")
    assert not TraceScore.objects.filter(pk=scores["alice"].pk).exists()
    assert TraceScore.objects.filter(pk=scores["bob"].pk).exists()


def test_delete_of_another_projects_score_is_404(project, other_project, alice, correctness):
    theirs = TraceScoreFactory(trace=TraceFactory(project=other_project))
    mine = TraceScoreFactory(trace=TraceFactory(project=project), author=alice)
    client = signed_in(alice, project)
    assert (
        client.post(f"/app/p/{project.pk}/traces/{theirs.trace_id}/scores/{theirs.pk}/delete/").status_code
        == 404
    )
    other_trace = TraceFactory(project=project)  # a score under another trace's URL is not found either
    assert (
        client.post(f"/app/p/{project.pk}/traces/{other_trace.pk}/scores/{mine.pk}/delete/").status_code
        == 404
    )
    assert TraceScore.objects.filter(pk=theirs.pk).exists() and TraceScore.objects.filter(pk=mine.pk).exists()
    assert (
        client.post(f"/app/p/{project.pk}/traces/{mine.trace_id}/scores/{mine.pk}/delete/").status_code == 302
    )  # control


def test_delete_needs_post(project, alice):
    mine = TraceScoreFactory(trace=TraceFactory(project=project), author=alice)
    assert (
        signed_in(alice, project)
        .get(f"/app/p/{project.pk}/traces/{mine.trace_id}/scores/{mine.pk}/delete/")
        .status_code
        == 405
    )


def test_history_stays_per_score(project, alice, bob, correctness):
    scores = three_scores(project, alice, bob, correctness)
    trace_score_update(access=access_of(alice, project), score=scores["alice"], changes={"value": "5"})
    rows = rows_of(
        signed_in(bob, project)
        .get(f"/app/p/{project.pk}/traces/{scores['alice'].trace_id}/")
        .content.decode()
    )
    assert "History (2)" in rows["alice"] and "4 → 5" in rows["alice"]
    assert "History (1)" in rows["bob"] and "→" not in rows["bob"]


def test_saving_edits_ones_own_score_even_after_a_teammate_scored(project, alice, bob, correctness):
    scores = three_scores(project, alice, bob, correctness)
    score, created = trace_score_annotate(
        access=access_of(alice, project), trace_id=scores["alice"].trace_id, name="correctness",
        value="2", data_type=ScoreDataType.NUMERIC, config=correctness,
    )  # fmt: skip
    assert not created and score.pk == scores["alice"].pk and score.value == "2"
    assert TraceScore.objects.filter(trace_id=score.trace_id).count() == 3


def test_explorer_badge_shows_the_mean_the_count_and_the_authors(project, alice, bob, correctness):
    three_scores(project, alice, bob, correctness)
    html = signed_in(alice, project).get(f"/app/p/{project.pk}/traces/").content.decode()
    badge = re.search(
        r'<span class="badge score" data-score-name="correctness" title="([^"]+)">(.*?)</span></span>', html
    )
    assert badge is not None, html
    assert badge.group(1).split(" · ")[0].split(", ") == ["judge", "bob", "alice"]
    assert re.sub(r"<[^>]+>", "", badge.group(2)) == f"correctness {round(mean([4, 3, 3.2]), 2):g} ×3"


def test_explorer_badges_need_no_query_per_trace(
    project, alice, bob, correctness, django_assert_max_num_queries
):
    def build(count: int) -> None:
        for _ in range(count):
            three_scores(project, alice, bob, correctness)

    client = signed_in(alice, project)
    build(2)
    with django_assert_max_num_queries(12) as few:
        assert client.get(f"/app/p/{project.pk}/traces/").status_code == 200
    build(20)
    with django_assert_max_num_queries(len(few.captured_queries)) as many:
        html = client.get(f"/app/p/{project.pk}/traces/").content.decode()
    assert html.count("×3") == 22 and len(many.captured_queries) == len(few.captured_queries)


def test_queue_page_shows_everyones_scores_without_buttons(project, alice, bob, admin_user, correctness):
    from evaluations.services.queues import review_queue_create

    scores = three_scores(project, alice, bob, correctness)
    queue = review_queue_create(
        access=access_of(admin_user, project), name="Q", score_configs=[correctness], reviewers=[alice],
        trace_ids=[scores["alice"].trace_id],
    )  # fmt: skip
    response = signed_in(alice, project).get(f"/app/p/{project.pk}/queues/{queue.pk}/work/")
    assert response.status_code == 200
    rows = rows_of(response.content.decode())
    assert set(rows) == {"alice", "bob", "judge"}
    assert all("data-action" not in row for row in rows.values())


# --- the agreement rule ---------------------------------------------------------------------------


def score(value: str, data_type=ScoreDataType.NUMERIC, config=None) -> TraceScore:
    numeric = float(value) if data_type == ScoreDataType.NUMERIC else None
    return TraceScore(name="x", value=value, numeric_value=numeric, data_type=data_type, config=config)


def test_numbers_agree_within_a_tenth_of_the_configs_range():
    config = ScoreConfig(name="x", min_value=0, max_value=10)
    assert values_agree(score("5", config=config), score("6", config=config))
    assert not values_agree(score("5", config=config), score("6.5", config=config))


def test_numbers_without_a_range_agree_only_when_equal():
    assert values_agree(score("0.5"), score("0.5"))
    assert not values_agree(score("0.5"), score("0.51"))


def test_categories_and_booleans_agree_when_equal():
    polite, rude = score("polite", ScoreDataType.CATEGORICAL), score("rude", ScoreDataType.CATEGORICAL)
    assert values_agree(polite, score("polite", ScoreDataType.CATEGORICAL)) and not values_agree(polite, rude)
    yes, no = score("true", ScoreDataType.BOOLEAN), score("false", ScoreDataType.BOOLEAN)
    assert not values_agree(yes, no) and values_agree(yes, score("true", ScoreDataType.BOOLEAN))


def test_agreement_is_the_share_of_agreeing_pairs():
    cats = [score(v, ScoreDataType.CATEGORICAL) for v in ("a", "a", "b", "a")]
    assert agreement(cats) == pytest.approx(3 / 6)  # a-a three times out of six pairs
    assert agreement(cats[:1]) == 1.0


def test_session_list_badges_name_their_authors_without_a_query_per_session(
    project, alice, django_assert_max_num_queries
):
    from evaluations.services.session_scores import session_score_create

    def build(count: int) -> None:
        for _ in range(count):
            session = TraceFactory(
                project=project, session_id=f"s-{TraceFactory._meta.model.objects.count()}"
            )
            session_score_create(
                access=access_of(alice, project), session_id=session.session_id, name="helpful", value="0.5"
            )

    client = signed_in(alice, project)
    build(2)
    with django_assert_max_num_queries(12) as few:
        assert client.get(f"/app/p/{project.pk}/sessions/").status_code == 200
    build(10)
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = client.get(f"/app/p/{project.pk}/sessions/").content.decode()
    assert html.count('title="alice · numeric"') == 12
