"""Receivers and settings of the notification tests: the Variable genascope_notifications, the SMTP and
Apprise connections and Airflow's OpenTelemetry metrics settings, as environment variables for ``dag.test()``."""

from __future__ import annotations

import json

import pytest

from tests.imports.conftest import airflow_env  # noqa: F401 (fixture)
from tests.notify.sinks import OtlpSink, SmtpSink, WebhookSink

BASE_URL = "http://airflow.test:8080"


@pytest.fixture
def smtp_sink():
    sink = SmtpSink()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def metrics_sink():
    sink = OtlpSink()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def webhook_sink():
    sink = WebhookSink()
    try:
        yield sink
    finally:
        sink.stop()


def notification_settings(**overrides) -> dict:
    data = {
        "base_url": BASE_URL,
        "channels": {"oncall-mail": {"kind": "smtp", "conn_id": "smtp_oncall", "to": ["oncall@example.org"]},
                     "oncall-chat": {"kind": "apprise", "conn_id": "apprise_oncall", "tag": "oncall"}},
        "default": ["oncall-mail"],
        "dags": {"patient_stewardship": ["oncall-mail", "oncall-chat"]},
        "fail_night_on_attention": True,
    }
    data.update(overrides)
    return data


def notify_env(smtp: SmtpSink, metrics: OtlpSink | None = None, webhook: WebhookSink | None = None,
               **overrides) -> dict[str, str]:
    env = {"AIRFLOW_VAR_GENASCOPE_NOTIFICATIONS": json.dumps(notification_settings(**overrides)),
           "AIRFLOW_CONN_SMTP_ONCALL": smtp.connection(),
           "AIRFLOW__API__BASE_URL": BASE_URL}
    if webhook is not None:
        env["AIRFLOW_CONN_APPRISE_ONCALL"] = webhook.connection()
    if metrics is not None:  # Airflow's OpenTelemetry metrics, exported over OTLP/HTTP
        env.update({"AIRFLOW__METRICS__OTEL_ON": "True",
                    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": metrics.endpoint,
                    "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf",
                    "OTEL_METRIC_EXPORT_INTERVAL": "1000"})
    return env
