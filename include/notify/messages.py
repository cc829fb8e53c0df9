"""What a notification says: DAG, run, task, reason codes with counts, a few counts, and the link to the
run's Report tab (plus, for an approval, the link to answer it). Never a value from a record: every field
is an id, a reason code (letters, digits, ``_.:-``) or an integer, and is cleaned again here."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from include.core import approval_texts

KINDS = {
    "task_failed": "task failed",
    "night_attention": "night needs attention",
    "approval_waiting": "approval waiting",
    "deadline_missed": "deadline missed",
}
_CODE = re.compile(r"[^A-Za-z0-9_.:\-]")
_ID = re.compile(r"[^A-Za-z0-9_.:+\-\[\]]")


def code(value: object) -> str:
    """A reason code or id as it may appear in a message (anything else is replaced by ``_``)."""
    return _CODE.sub("_", str(value))[:120]


def ident(value: object) -> str:
    return _ID.sub("_", str(value))[:250]


@dataclass(frozen=True)
class Message:
    kind: str
    dag_id: str
    run_id: str
    task_id: str | None
    reasons: Mapping[str, int]
    counts: Mapping[str, int] = field(default_factory=dict)
    report_url: str = ""
    action_url: str | None = None
    sources: tuple[str, ...] = ()

    @classmethod
    def build(cls, kind: str, dag_id: str, run_id: str, task_id: str | None, reasons: Mapping[str, int],
              counts: Mapping[str, int] | None = None, *, base_url: str = "", action_url: str | None = None,
              sources: tuple[str, ...] = ()) -> Message:
        if kind not in KINDS:
            raise ValueError(f"unknown notification kind {kind!r}; one of {sorted(KINDS)}")
        return cls(kind, ident(dag_id), ident(run_id), ident(task_id) if task_id else None,
                   {code(k): int(v) for k, v in reasons.items()},
                   {code(k): int(v) for k, v in (counts or {}).items()},
                   approval_texts.report_tab_url(dag_id, run_id, base_url), action_url,
                   tuple(code(s) for s in sources))

    @property
    def subject(self) -> str:
        where = f"{self.dag_id}.{self.task_id}" if self.task_id else self.dag_id
        top = ", ".join(f"{k} {v}" for k, v in list(self.reasons.items())[:3])
        return f"[genascope] {KINDS[self.kind]}: {where} ({self.run_id})" + (f": {top}" if top else "")

    def lines(self) -> list[tuple[str, str]]:
        out = [("what", KINDS[self.kind]), ("DAG", self.dag_id), ("run", self.run_id)]
        if self.task_id:
            out.append(("task", self.task_id))
        if self.sources:
            out.append(("sources", ", ".join(self.sources)))
        out += [(f"reason {k}", f"{v:,}") for k, v in self.reasons.items()]
        out += [(k, f"{v:,}") for k, v in self.counts.items()]
        return out

    @property
    def text(self) -> str:
        body = [f"{label}: {value}" for label, value in self.lines()]
        if self.action_url:
            body.append(f"answer it: {self.action_url}")
        body.append(f"report: {self.report_url}")
        return "\n".join(body) + "\n"

    @property
    def html(self) -> str:
        rows = "".join(f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                       for k, v in self.lines())
        links = ""
        if self.action_url:
            links += f"<p><a href=\"{html.escape(self.action_url)}\">Answer the approval</a></p>"
        links += f"<p><a href=\"{html.escape(self.report_url)}\">Report tab of the run</a> ({html.escape(self.report_url)})</p>"
        return f"<table>{rows}</table>{links}"
