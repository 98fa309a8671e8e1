"""What a session run does with a session: per-trace signals, then the session metrics.

Each trace of the session (in `started_at` order) gets its signals, each stored as a trace score of
the run: the judge's `confidence` and `tool_correctness`, `coherence` (embeddings) and
`loop_detection` (its output against the three before it). A signal is taken, in this order, from
this run (a redelivered session), from the newest SUCCESS score of that name on the trace when the
same model and prompt versions made it (copied into the run, no judge call), or computed. Then
`agent_reliability` and `agent_consistency` aggregate them with plain arithmetic
(`evaluations/metrics/session.py`) into session scores. The lifecycle is `runs.py`'s.
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings

from evaluations import judge
from evaluations.metrics import TRACE_METRICS, Outcome, TraceView, build_trace_view, unknown_session_metrics
from evaluations.metrics.session import (
    JUDGE_SIGNALS,
    LOOP_WINDOW,
    SESSION_METRICS,
    TraceSignals,
    loop_detection,
    signal_weight_problems,
    signal_weights,
)
from pandaprobe.errors import RuleViolation
from pandaprobe.projects.access import ProjectAccess
from pandaprobe.traces.selectors import sessions_found

from ..models import EvalRun, EvalTarget, EvalTargetType, ScoreStatus, TraceScore
from ..selectors import runs as selectors
from .judging import MetricResult, evaluate_trace, metric_versions
from .scores import trace_score_create
from .session_scores import session_score_create
from .trace_runs import (
    ESTIMATE_SAMPLE,
    check_names,
    database_idle,
    ids_matching,
    judged_score_store,
    metric_result_store,
    prompt_tokens_per_call,
    trace_view_chars,
)

LOOP = "loop_detection"
JUDGE_METRICS = [TRACE_METRICS[name] for name in JUDGE_SIGNALS]


@dataclass
class SessionTrace:
    """One trace of the session being evaluated and what is known of its signals so far."""

    trace_id: object
    trace: dict
    spans: list[dict]
    window: list[str]  # ids of the traces before it that loop detection compares it with
    values: dict[str, float | None] = field(default_factory=dict)
    view: TraceView | None = None

    def view_of(self) -> TraceView:
        if self.view is None:
            self.view = build_trace_view(self.trace, self.spans, token_budget=settings.PANDAPROBE_JUDGE_TRACE_TOKENS)
        return self.view


def _value(score: TraceScore) -> float | None:
    return score.numeric_value if score.status == ScoreStatus.SUCCESS else None


def _reusable(score: TraceScore | None, model: str, versions: dict) -> bool:
    if score is None:
        return False
    return score.metadata.get("model") == model and score.metadata.get("prompt_versions", {}) == versions


class SessionRuns:
    """Runs whose targets are sessions, scored with the session metrics."""

    target_type = EvalTargetType.SESSION
    key = "session_id"
    noun = "session"
    metrics = SESSION_METRICS

    def check_metrics(self, names: list[str]) -> list[str]:
        return check_names(names, SESSION_METRICS, unknown_session_metrics(names), "GET /evaluations/session-metrics")

    def check_options(self, options: dict) -> dict:
        weights = options.get("signal_weights")
        problems = signal_weight_problems(weights)
        if problems:
            raise RuleViolation("; ".join(problems))
        return {"signal_weights": weights} if weights else {}

    def matching(self, access: ProjectAccess, filters: dict) -> list:
        return ids_matching(selectors.session_ids_matching, access, filters)

    def found(self, access: ProjectAccess, ids: list) -> set:
        return sessions_found(project=access.project, session_ids=ids)

    def estimate(self, access: ProjectAccess, ids: list, metric_names: list[str]) -> tuple[int, int]:
        """At most: every signal computed (none reused), one embedding call per trace and one per session."""
        traces = [trace_id for session_id in ids[:ESTIMATE_SAMPLE]
                  for trace_id, _, _ in selectors.session_for_judging(project_id=access.project.pk, session_id=session_id)]  # fmt: skip
        traces_per_session = len(traces) / max(1, min(len(ids), ESTIMATE_SAMPLE))
        chat_calls = sum(1 for metric in JUDGE_METRICS if not metric.embedding) + 1  # + the task extraction
        per_trace_calls = chat_calls + 1  # + coherence's embedding
        calls = round(len(ids) * (traces_per_session * per_trace_calls + 1))
        per_call = prompt_tokens_per_call(trace_view_chars(access.project.pk, traces[:ESTIMATE_SAMPLE]))
        return calls, round(per_call * len(ids) * traces_per_session * chat_calls)

    def evaluate(self, run: EvalRun, target: EvalTarget) -> judge.Usage:
        """Compute (or reuse) the session's signals, then score the session metrics still to score."""
        done = selectors.metrics_scored(run=run, target=target)
        metrics = [SESSION_METRICS[name] for name in (target.metric_names or run.metric_names) if name not in done]
        if not metrics:
            return judge.Usage()
        loaded = selectors.session_for_judging(project_id=run.project_id, session_id=target.session_id)
        traces = [SessionTrace(trace_id, trace, spans, [str(t) for t, _, _ in loaded[max(0, i - LOOP_WINDOW) : i]])
                  for i, (trace_id, trace, spans) in enumerate(loaded)]  # fmt: skip
        access, config = ProjectAccess.system(run.project), judge.JudgeConfig.from_settings(run.model)
        collected = _Signals(run, access, config, target.session_id)
        usage = collected.gather(traces)
        signals = [TraceSignals(trace_id=str(t.trace_id), signals=dict(t.values)) for t in traces]
        weights = signal_weights(run.options.get("signal_weights"))
        for metric in metrics:
            _store_session_score(access, run, target.session_id, metric, signals, weights, collected, usage)
        return usage


def _store_session_score(access, run, session_id, metric, signals, weights, collected, usage) -> None:
    # A judge outage is not a perfect session: with no judge signal on any trace (loop detection alone
    # is vacuous on a first trace), the session scores FAILED and a retry scores it again.
    all_failed = bool(signals) and all(t.signals.get(name) is None for t in signals for name in JUDGE_SIGNALS)
    outcome = None if all_failed else metric.score(signals, weights)
    metadata = {
        "model": run.model, "metric_version": metric.version, "threshold": metric.default_threshold,
        "signals_computed": collected.computed, "signals_reused": collected.reused,
        "signals_failed": collected.failed, "session_judge_calls": usage.calls,
        "session_prompt_tokens": usage.prompt_tokens, "session_completion_tokens": usage.completion_tokens,
        "session_cost": usage.cost, **({"details": outcome.details} if outcome else {}),
    }  # fmt: skip
    error = f"No judge signal could be computed on any trace ({collected.first_error})" if all_failed else None
    judged_score_store(session_score_create, access=access, run=run, name=metric.name, outcome=outcome,
                       error=error, metadata=metadata, session_id=session_id)  # fmt: skip


class _Signals:
    """Fills each trace's `values` with its four signals: from this run, reused, or computed."""

    def __init__(self, run: EvalRun, access: ProjectAccess, config: judge.JudgeConfig, session_id: str):
        self.run, self.access, self.config, self.session_id = run, access, config, session_id
        self.computed = self.reused = self.failed = 0
        self.first_error: str | None = None

    def gather(self, traces: list[SessionTrace]) -> judge.Usage:
        ids = [t.trace_id for t in traces]
        own = selectors.run_trace_scores(run=self.run, trace_ids=ids)
        newest = selectors.judge_scores_of(project_id=self.run.project_id, trace_ids=ids, names=[*JUDGE_SIGNALS, LOOP])
        to_judge = {t.trace_id: [] for t in traces}
        loops = []
        for t in traces:
            for metric in JUDGE_METRICS:
                if not self._known(t, metric.name, own, newest, metric_versions(metric), {}):
                    to_judge[t.trace_id].append(metric)
            if not self._known(t, LOOP, own, newest, {}, {"window": t.window}):
                loops.append(t)
        database_idle()
        usage = self._judge(traces, to_judge)
        if loops:
            usage.add(self._loops(traces, loops))
        self.failed = sum(1 for t in traces for value in t.values.values() if value is None)
        return usage

    def _known(self, t: SessionTrace, name: str, own: dict, newest: dict, versions: dict, match: dict) -> bool:
        score = own.get((t.trace_id, name))
        if score is not None:
            t.values[name] = _value(score)
            return True
        score = newest.get((t.trace_id, name))
        if not _reusable(score, self.config.model, versions) or any(
            score.metadata.get(key) != value for key, value in match.items()
        ):
            return False
        t.values[name] = score.numeric_value
        self.reused += 1
        self._store(t, name, score.numeric_value, score.reason, {**score.metadata, "judge_calls": 0,
                    "prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0, "reused_from": str(score.pk)})  # fmt: skip
        return True

    def _store(self, t: SessionTrace, name: str, value: float | None, reason: str | None, metadata: dict) -> None:
        outcome = Outcome(value, reason or "")
        judged_score_store(trace_score_create, access=self.access, run=self.run, name=name, outcome=outcome,
                           error=reason, metadata={**metadata, "session_id": self.session_id},
                           trace_id=t.trace_id)  # fmt: skip

    def _judge(self, traces: list[SessionTrace], to_judge: dict) -> judge.Usage:
        pending = [t for t in traces if to_judge[t.trace_id]]
        usage = judge.Usage()
        with ThreadPoolExecutor(max_workers=max(1, len(pending))) as pool:
            evaluations = list(pool.map(lambda t: evaluate_trace(self.config, t.view_of(), to_judge[t.trace_id]), pending))
        for t, evaluation in zip(pending, evaluations, strict=True):
            usage.add(evaluation.usage)
            for result in evaluation.results:
                self._keep(t, result)
        return usage

    def _keep(self, t: SessionTrace, result: MetricResult) -> None:
        t.values[result.metric.name] = None if result.failed else result.outcome.value
        self.computed += 1
        if result.failed and self.first_error is None:
            self.first_error = f"{result.metric.name}: {result.error}"
        metric_result_store(self.access, self.run, t.trace_id, result, session_id=self.session_id)

    def _loops(self, traces: list[SessionTrace], loops: list[SessionTrace]) -> judge.Usage:
        """One embedding call for every output of the session, then each loop signal that is missing."""
        outputs = [t.view_of().final_output for t in traces]
        try:
            # An empty output has no embedding to ask for; loop detection reads its text alone.
            vectors, usage = judge.embed(self.config, [text or " " for text in outputs])
        except judge.JudgeError as error:
            vectors, usage = [None] * len(traces), judge.Usage()
            self.first_error = self.first_error or f"{LOOP}: {error}"
        values = loop_detection(list(zip(outputs, vectors, strict=True)))
        by_id = {t.trace_id: value for t, value in zip(traces, values, strict=True)}
        metadata = {"model": self.config.model, "prompt_version": None, "prompt_versions": {}, "judge_calls": 0,
                    "embedding": {"shared_by_session": True, **usage.as_dict()}}  # fmt: skip
        for t in loops:
            value = by_id[t.trace_id]
            t.values[LOOP] = value
            self.computed += 1
            reason = (f"Similarity to the previous {len(t.window)} outputs: {1 - value:.3f}" if value is not None
                      else self.first_error or "The output could not be embedded")  # fmt: skip
            self._store(t, LOOP, value, reason, {**metadata, "window": t.window})
        return usage


SESSION_RUNS = SessionRuns()
