"""Refusals of the webhooks domain, with their stable problem codes."""

from __future__ import annotations

from jifen.problems import Problem


class WebhookUrlRefused(Problem):
    """The URL would let the worker reach what it must not (loopback, private or other
    non-public addresses, credentials, odd ports) or does not use https."""

    code = "webhook_url_refused"
    title = "Webhooks may not be sent to this URL"
    title_zh = "不允许向该地址发送 Webhook"
    status = 422

    def __init__(self, url: str, reason: str, reason_zh: str) -> None:
        super().__init__(
            f"webhook URL refused: {reason}",
            detail_zh=f"Webhook 地址被拒绝：{reason_zh}",
            reason=reason,
        )
        self.url = url
        self.reason = reason
