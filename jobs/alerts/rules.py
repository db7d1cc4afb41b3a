"""The alert rules and detector settings the alert jobs take (conf/alerts.yaml).

Declared here, beside the jobs that read them, as typed models: the
application validates the file once at start-up (courtwatch/settings.py) and
passes the result in, so a typo fails there, naming the key, not while Spark
plans a query.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator

from schemas.metric_catalog import catalog

Share = Field(gt=0, le=1)


class _Rules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _known_metric(metric_id: str) -> str:
    ids = [m.id for m in catalog().metrics]
    if metric_id not in ids:
        raise ValueError(f"{metric_id!r} is not a metric of schemas/metrics.yaml")
    return metric_id


class FeedRule(_Rules):
    rule_id: str = "feed_silence"
    history_days: PositiveInt = 7  # a court that delivered on each of these days before ...
    silent_days: PositiveInt = 2  # ... and then on none of this many consecutive business dates
    critical_after_days: PositiveInt = 5


class ThresholdRule(_Rules):
    metric_id: str
    warning_below: float = Share
    critical_below: float = Share

    _metric = field_validator("metric_id")(_known_metric)

    @model_validator(mode="after")
    def _critical_is_worse(self):
        if self.critical_below > self.warning_below:
            raise ValueError(f"critical_below {self.critical_below} is above warning_below {self.warning_below}")
        return self


class Threshold(_Rules):
    min_denominator: int = Field(30, ge=0)  # checked only where the month's denominator reaches this
    # (jobs/alerts/threshold.py) opened when the month's rate is below the standard with this confidence ...
    confidence: float = Field(0.9, ge=0.5, lt=1)
    # ... and held until the value is back this far above it for this many days
    recover_margin: float = Field(0.02, ge=0, lt=1)
    normal_days_to_resolve: PositiveInt = 2
    rules: tuple[ThresholdRule, ...] = ()


class Anomaly(_Rules):
    method: Literal["pooled_gtest", "nb_cusum", "robust_z"] = "nb_cusum"
    metrics: list[str]
    baseline_days: PositiveInt = 56
    min_baseline_days: PositiveInt = 14
    window_days: PositiveInt = 3
    g_threshold: float = Field(20, gt=0)
    min_expected_count: float = Field(15, ge=0)
    min_trials: int = Field(20, ge=0)
    count_ratio: float = Field(0.5, gt=0, lt=1)
    rate_change: float = Share
    rate_ratio: float = Field(2.0, gt=1)
    critical_count_ratio: float = Field(0.25, gt=0, lt=1)
    critical_rate_change: float = Share
    z_threshold: float = Field(5, gt=0)
    # nb_cusum (jobs/alerts/cusum.py)
    cusum_threshold: float = Field(8, gt=0)  # evidence (log-likelihood ratio) that opens an episode
    guard_days: int = Field(7, ge=0)  # the baseline ends this many days before the day judged
    weekday_prior_days: float = Field(4, ge=0)  # a court's weekday profile is shrunk to flat by this
    prior_dispersion: float = Field(0.05, ge=0)  # a count's over-dispersion before the court's own is known ...
    dispersion_prior_days: float = Field(7, ge=0)  # ... weighing this many days
    normal_days_to_resolve: PositiveInt = 2  # days back in the normal range that end an episode
    # a court's normal range reaches this share of the way from its expected level to the smallest
    # change worth an alert (counts 0.8-1.4x expected, rates +-0.03 at the defaults): a court whose
    # level moves that much for good (a trend, a new tribunal) is no incident
    count_normal_share: float = Field(0.4, ge=0, lt=1)
    rate_normal_share: float = Field(0.2, ge=0, lt=1)
    max_day_share: float = Field(0.75, gt=0, le=1)  # no single day adds more of cusum_threshold than this
    skip_counts_in_festivals: bool = True
    peer_min_courts: PositiveInt = 8  # nb_cusum: a day's common factor needs this many courts to learn from

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, ids):
        return [_known_metric(m) for m in ids]


class Smtp(_Rules):
    host: str = "127.0.0.1"
    port: int = Field(25, gt=0, lt=65536)
    starttls: bool = False
    sender: str
    recipient: str  # {high_court_id} is filled in
    user_env: str | None = None
    password_env: str | None = None


class Webhook(_Rules):
    url: str
    token_env: str | None = None
    timeout_seconds: float = Field(10, gt=0)


class Wecom(_Rules):
    """A WeCom (企业微信) group robot per high court, its documented markdown message."""
    url: str = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
    key_env: str = "COURTWATCH_WECOM_KEY_{high_court_id}"  # the robot's key (its webhook's key=), per high court
    timeout_seconds: float = Field(10, gt=0)


class Dingtalk(_Rules):
    """A DingTalk (钉钉) custom robot per high court, its documented markdown message."""
    url: str = "https://oapi.dingtalk.com/robot/send"
    token_env: str = "COURTWATCH_DINGTALK_TOKEN_{high_court_id}"  # the robot's access_token, per high court
    secret_env: str | None = "COURTWATCH_DINGTALK_SECRET_{high_court_id}"  # its 加签 secret, if it signs
    timeout_seconds: float = Field(10, gt=0)


class Notify(_Rules):
    notifier: Literal["outbox", "smtp", "webhook", "wecom", "dingtalk"] = "outbox"
    outbox_dir: str = "data/outbox"  # made absolute by the settings loader
    smtp: Smtp | None = None
    webhook: Webhook | None = None
    wecom: Wecom | None = None
    dingtalk: Dingtalk | None = None

    @model_validator(mode="after")
    def _chosen_is_configured(self):
        if self.notifier != "outbox" and getattr(self, self.notifier) is None:
            raise ValueError(f"notifier {self.notifier!r} is chosen but has no {self.notifier}: section")
        return self


class AlertRules(_Rules):
    lookback_days: PositiveInt = 120  # episodes are re-derived over this many days each run
    # a breach this soon after an episode's last day continues it (Alertmanager's keep_firing_for);
    # 2 is alerts.md's lifecycle (two quiet days end an episode, a breach after that opens a new one)
    quiet_period_days: int = Field(2, ge=2)
    feed: FeedRule = FeedRule()
    threshold: Threshold = Threshold()
    anomaly: Anomaly
    notify: Notify = Notify()
