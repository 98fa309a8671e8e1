"""Evaluate one trace with a set of metrics: shared extractions once, then the metrics side by side.

No database here: the run services load the trace and store what this returns. Judge calls of one
trace run in parallel threads; `judge` bounds how many are in flight in the whole process.
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from evaluations import judge
from evaluations.metrics import Metric, Outcome, TraceView, extractions_for

# A trace's first calls (its shared extractions) wait behind other traces' metric calls, so the traces
# under way finish first (`judge._Slots`).
FIRST_CALL_URGENCY = 1


@dataclass
class MetricResult:
    """A metric's outcome on one trace, or the error that kept it from one, with what it cost."""

    metric: Metric
    outcome: Outcome | None
    error: str | None
    usage: judge.Usage
    prompt_versions: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.outcome is None or self.outcome.value is None


@dataclass
class TraceEvaluation:
    results: list[MetricResult]
    # Everything the trace cost, the shared extractions included.
    usage: judge.Usage


def _extract(config: judge.JudgeConfig, view: TraceView, extraction) -> tuple[dict | None, str | None, judge.Usage]:
    try:
        data, usage = judge.complete_json(
            config, extraction.messages(view, {}), extraction.output_schema, extraction.prompt_name,
            urgency=FIRST_CALL_URGENCY,
        )  # fmt: skip
    except judge.JudgeError as error:
        return None, f"{extraction.name} extraction failed: {error}", judge.Usage()
    return data, None, usage


def _judge_metric(config: judge.JudgeConfig, view: TraceView, metric: Metric, shared: dict) -> tuple[Outcome, judge.Usage]:
    if metric.embedding:
        vectors, usage = judge.embed(config, list(metric.embedding_texts(view)))
        return metric.score_embeddings(vectors[0], vectors[1], view), usage
    data, usage = judge.complete_json(config, metric.messages(view, shared), metric.output_schema, metric.prompt_name)
    return metric.score(data, view, shared), usage


def metric_versions(metric: Metric) -> dict[str, str]:
    versions = {} if metric.embedding else {"judge": metric.prompt.id}
    for extraction in extractions_for([metric]):
        versions[extraction.name] = extraction.prompt.id
    return versions


def _evaluate_metric(config, view: TraceView, metric: Metric, shared: dict, problems: dict) -> MetricResult:
    versions = metric_versions(metric)
    missing = [problems[name] for name in metric.requires if name in problems]
    if missing:
        return MetricResult(metric, None, "; ".join(missing), judge.Usage(), versions)
    shortcut = metric.shortcut(view, shared)
    if shortcut is not None:
        return MetricResult(metric, shortcut, None if shortcut.value is not None else shortcut.reason,
                            judge.Usage(), versions)  # fmt: skip
    try:
        outcome, usage = _judge_metric(config, view, metric, shared)
    except judge.JudgeError as error:
        return MetricResult(metric, None, str(error), judge.Usage(), versions)
    return MetricResult(metric, outcome, None, usage, versions)


def evaluate_trace(config: judge.JudgeConfig, view: TraceView, metrics: list[Metric]) -> TraceEvaluation:
    """Each metric's result on the trace. Shared extractions run once, before the metrics that need
    them; a failed extraction fails those metrics (with its reason) and no others."""
    total = judge.Usage()
    shared, problems = {}, {}
    extractions = extractions_for(metrics)
    with ThreadPoolExecutor(max_workers=max(1, len(extractions), len(metrics))) as pool:
        for extraction, (data, problem, usage) in zip(
            extractions, pool.map(lambda e: _extract(config, view, e), extractions), strict=True
        ):
            total.add(usage)
            if data is None:
                problems[extraction.name] = problem
            else:
                shared[extraction.name] = data
        results = list(pool.map(lambda m: _evaluate_metric(config, view, m, shared, problems), metrics))
    for result in results:
        total.add(result.usage)
    return TraceEvaluation(results=results, usage=total)
