"""What every judge metric is made of: versioned prompt files, an output schema, and scoring.

A metric never touches the database or litellm. It turns a `TraceView` (and the results of shared
extraction steps) into chat messages for the judge, and the judge's JSON answer into an `Outcome`.
The run machinery (services/runs.py) does the calling, once per trace for shared steps.
"""

import string
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from .trace_view import TraceView

PROMPTS_DIR = Path(__file__).parent / "prompts"
USER_MARKER = "\n=== user ===\n"

# The five-level rubric most metrics answer with, and the score of each level.
RATINGS = {"excellent": 1.0, "good": 0.75, "fair": 0.5, "poor": 0.25, "failed": 0.0}


@dataclass(frozen=True)
class PromptTemplate:
    """A prompt file `prompts/<name>.<version>.txt`: the system text, a `=== user ===` line, the user
    text. Placeholders are `$name` (string.Template), so JSON braces in the text need no escaping."""

    name: str
    version: str
    system: str
    user: str

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}"

    def render(self, **values: str) -> list[dict]:
        return [
            {"role": "system", "content": self.system},
            {"role": "user", "content": string.Template(self.user).substitute(values)},
        ]


@cache
def load_prompt(name: str, version: str = "v1") -> PromptTemplate:
    text = (PROMPTS_DIR / f"{name}.{version}.txt").read_text(encoding="utf-8")
    system, _, user = text.partition(USER_MARKER)
    if not user:
        raise ValueError(f"prompt {name}.{version} has no '=== user ===' line")
    return PromptTemplate(name=name, version=version, system=system.strip(), user=user.strip())


@dataclass(frozen=True)
class Outcome:
    """A metric's conclusion: a value in [0, 1] (None when it could not be evaluated) and why."""

    value: float | None
    reason: str
    details: dict = field(default_factory=dict)


def rubric_schema(**properties: dict) -> dict:
    """An output schema: the metric's own fields, then a `reason` and the five-level `rating`."""
    return {
        "type": "object",
        "properties": {
            **properties,
            "reason": {"type": "string", "description": "Two or three sentences a reviewer can check."},
            "rating": {"type": "string", "enum": list(RATINGS)},
        },
        "required": [*properties, "reason", "rating"],
        "additionalProperties": False,
    }


STRING_LIST = {"type": "array", "items": {"type": "string"}}


class Step:
    """One judge call: a prompt file and the JSON schema its answer must follow."""

    prompt_name: str = ""
    prompt_version: str = "v1"
    output_schema: dict = {}

    @property
    def prompt(self) -> PromptTemplate:
        return load_prompt(self.prompt_name, self.prompt_version)

    def variables(self, view: TraceView, shared: dict) -> dict[str, str]:
        return {"trace": view.text}

    def messages(self, view: TraceView, shared: dict) -> list[dict]:
        return self.prompt.render(**self.variables(view, shared))


class Extraction(Step):
    """Work several metrics share (the user's task, the agent's plan): done once per trace per run."""

    name: str = ""


class Metric(Step):
    """A trace metric. `requires` names the extractions it reads from `shared`; `embedding` metrics
    compare embeddings instead of asking the chat model."""

    name: str = ""
    description: str = ""
    category: str = "trace"
    default_threshold: float = 0.5
    requires: tuple[str, ...] = ()
    embedding: bool = False

    def shortcut(self, view: TraceView, shared: dict) -> Outcome | None:
        """An outcome decided without the judge (no tool calls, no plan), or None to ask it."""
        return None

    def score(self, output: dict, view: TraceView, shared: dict) -> Outcome:
        """The outcome of the judge's validated answer. Rubric metrics map the rating."""
        details = {k: v for k, v in output.items() if k not in ("reason", "rating")}
        return Outcome(RATINGS[output["rating"]], output["reason"], {"rating": output["rating"], **details})

    def embedding_texts(self, view: TraceView) -> tuple[str, str]:
        raise NotImplementedError

    def score_embeddings(self, first: list[float], second: list[float], view: TraceView) -> Outcome:
        raise NotImplementedError
