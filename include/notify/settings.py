"""Who is told what: one Airflow Variable, ``genascope_notifications`` (JSON, validated here).

Example (docs/operating-alerts.md has the full reference)::

    {
      "base_url": "https://airflow.example.org",
      "channels": {
        "oncall-mail": {"kind": "smtp", "conn_id": "smtp_default", "to": ["oncall@example.org"],
                        "from_email": "airflow@example.org"},
        "oncall-chat": {"kind": "apprise", "conn_id": "apprise_oncall"}
      },
      "default": ["oncall-mail", "oncall-chat"],
      "dags": {"patient_stewardship": ["oncall-mail"]},
      "sources": {"clinic-north-csv": {"channels": ["north-liaison"], "quarantine_ratio_max": 0.02}},
      "approvers": {"patient_first_migration": [{"id": "admin", "name": "admin"}]},
      "fail_night_on_attention": true
    }

A message about a DAG goes to the channels of ``dags[dag_id]`` (else ``default``); a night message also
to the channels of each source it names. Connection ids and addresses only: credentials stay in the
Airflow connections. No Variable (or an empty one) means nothing is sent, and says so in the task log.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from include.core.errors import GenascopeError

log = logging.getLogger(__name__)

VARIABLE = "genascope_notifications"
#: Night-level ratios above these need attention unless a source sets its own.
DEFAULT_QUARANTINE_RATIO_MAX = 0.02
DEFAULT_FIELD_ISSUE_RATIO_MAX = 0.05


class NotificationSettingsError(GenascopeError, ValueError):
    """The Variable genascope_notifications is not valid; the message names the key to fix."""


class Channel(BaseModel):
    """One destination: an SMTP connection and recipients, or an Apprise connection (Slack, Teams,
    webhooks, ... configured in the connection) and an optional Apprise tag."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["smtp", "apprise"]
    conn_id: str = Field(min_length=1)
    to: list[str] = Field(default_factory=list)
    from_email: str | None = None
    tag: str | None = None

    @model_validator(mode="after")
    def _smtp_needs_recipients(self) -> Channel:
        if self.kind == "smtp" and not self.to:
            raise ValueError("an smtp channel needs at least one address in 'to'")
        return self


class SourceAlerts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channels: list[str] = Field(default_factory=list)
    quarantine_ratio_max: float | None = Field(default=None, ge=0, le=1)
    field_issue_ratio_max: float | None = Field(default=None, ge=0, le=1)


class HitlUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str


class NotificationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str | None = None
    channels: dict[str, Channel] = Field(default_factory=dict)
    default: list[str] = Field(default_factory=list)
    dags: dict[str, list[str]] = Field(default_factory=dict)
    sources: dict[str, SourceAlerts] = Field(default_factory=dict)
    approvers: dict[str, list[HitlUser]] = Field(default_factory=dict)
    fail_night_on_attention: bool = False
    quarantine_ratio_max: float = Field(default=DEFAULT_QUARANTINE_RATIO_MAX, ge=0, le=1)
    field_issue_ratio_max: float = Field(default=DEFAULT_FIELD_ISSUE_RATIO_MAX, ge=0, le=1)

    @field_validator("base_url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/") if v else v

    @model_validator(mode="after")
    def _known_channels(self) -> NotificationSettings:
        named = [("default", c) for c in self.default]
        named += [(f"dags.{d}", c) for d, cs in self.dags.items() for c in cs]
        named += [(f"sources.{s}.channels", c) for s, a in self.sources.items() for c in a.channels]
        unknown = [(where, c) for where, c in named if c not in self.channels]
        if unknown:
            where, c = unknown[0]
            raise ValueError(f"{where} names channel {c!r}, which is not in 'channels'")
        return self

    def channels_for(self, dag_id: str, sources: tuple[str, ...] = ()) -> list[str]:
        names = list(self.dags.get(dag_id, self.default))
        for s in sources:
            names += [c for c in self.sources.get(s, SourceAlerts()).channels if c not in names]
        return names

    def quarantine_max(self, source_id: str) -> float:
        own = self.sources.get(source_id, SourceAlerts()).quarantine_ratio_max
        return self.quarantine_ratio_max if own is None else own

    def field_issue_max(self, source_id: str) -> float:
        own = self.sources.get(source_id, SourceAlerts()).field_issue_ratio_max
        return self.field_issue_ratio_max if own is None else own


def parse(raw: str | dict | None) -> NotificationSettings:
    """Validate the Variable's JSON (a string or an already decoded dict)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return NotificationSettings()
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
        return NotificationSettings.model_validate(data)
    except json.JSONDecodeError as exc:
        raise NotificationSettingsError(
            f"the Variable {VARIABLE} is not valid JSON (line {exc.lineno}, column {exc.colno})") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise NotificationSettingsError(
            f"the Variable {VARIABLE}: key {where!r}: {first['msg']} ({exc.error_count()} error(s) in all); "
            "see docs/operating-alerts.md") from None


def load() -> NotificationSettings:
    """The settings from the Variable (inside Airflow: its Variable store, environment ``AIRFLOW_VAR_…``
    included); outside a task the environment variable alone."""
    raw: str | None
    try:
        from airflow.sdk import Variable

        raw = Variable.get(VARIABLE, default=None)
    except Exception:  # noqa: BLE001 - no Airflow runtime here (a script, parse time): the environment only
        raw = os.environ.get(f"AIRFLOW_VAR_{VARIABLE.upper()}")
    return parse(raw)
