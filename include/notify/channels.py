"""Send a :class:`~include.notify.messages.Message` through Airflow's notifiers: the SMTP provider's
``SmtpNotifier`` and the Apprise provider's ``AppriseNotifier`` (Slack, Teams, webhooks ... as the Apprise
connection says). The notifiers are called with the finished text (no template is rendered from it)."""

from __future__ import annotations

import logging
from typing import Any

from include.core import metrics
from include.notify.messages import Message
from include.notify.settings import Channel, NotificationSettings

log = logging.getLogger(__name__)


def base_url(settings: NotificationSettings) -> str:
    """Where links point: the Variable's ``base_url``, else Airflow's ``[api] base_url`` (else relative)."""
    from include.core import approval_texts

    return settings.base_url or approval_texts.configured_base_url()


def notifier_for(channel: Channel, message: Message) -> Any:
    """The Airflow notifier that delivers ``message`` on ``channel``."""
    if channel.kind == "smtp":
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        return SmtpNotifier(to=list(channel.to), from_email=channel.from_email, subject=message.subject,
                            html_content=message.html, smtp_conn_id=channel.conn_id,
                            custom_headers={"X-Genascope-Kind": message.kind})
    from airflow.providers.apprise.notifications.apprise import AppriseNotifier
    from apprise import NotifyFormat, NotifyType

    kind = NotifyType.INFO if message.kind == "approval_waiting" else (
        NotifyType.WARNING if message.kind == "night_attention" else NotifyType.FAILURE)
    return AppriseNotifier(body=message.text, title=message.subject, notify_type=kind,
                           body_format=NotifyFormat.TEXT, tag=channel.tag or "all",
                           apprise_conn_id=channel.conn_id)


def send(message: Message, settings: NotificationSettings, context: Any | None = None) -> int:
    """Deliver ``message`` to every channel configured for its DAG and sources; returns how many took it.
    A channel that fails is logged (its name and the error type) and the others are still tried."""
    names = settings.channels_for(message.dag_id, message.sources)
    if not names:
        log.info("no notification channel configured for %s (Variable genascope_notifications): %s not sent",
                 message.dag_id, message.kind)
        return 0
    sent = 0
    for name in names:
        try:
            notifier_for(settings.channels[name], message).notify(context or {})
            sent += 1
        except Exception as exc:  # noqa: BLE001 - one channel down must not silence the others
            log.error("notification channel %s failed (%s); %s for %s not delivered there", name,
                      type(exc).__name__, message.kind, message.dag_id)
    if sent:
        metrics.notification_sent(message.kind)
        log.info("%s for %s/%s sent to %d channel(s)", message.kind, message.dag_id, message.run_id, sent)
    return sent
