"""Notification: each run sends each high court one digest of its new and
newly resolved alerts, through the notifier chosen in conf/alerts.yaml.

What was sent is kept in ops/notifications, so an alert is announced once as
new and once as resolved. A silence (court, rule, until) set by the guidance
center in ops/silences stops the message, not the recording, and so does an
inhibition (an anomaly that its court's feed outage explains, gold/alerts'
inhibited_by). When several courts of one high court breach the same rule on
overlapping days, the digest tells it once: one group listing the courts
(Alertmanager's grouping); each court keeps its own alert.

The guidance center gets a digest of its own: the follow-ups that went overdue
(gold/alert_followup, guidance.md "Time limits and escalation"), each alert once
for each limit it passed.
"""
from __future__ import annotations

import json
import logging
import os
import smtplib
import urllib.request
from dataclasses import dataclass
from datetime import date, datetime, timezone
from email.message import EmailMessage
from pathlib import Path

from pyspark.sql import SparkSession

from jobs.alerts import rules
from schemas.warehouse import table

log = logging.getLogger("courtwatch.notify")

ALERTS = table("gold.alerts")
NOTIFICATIONS = table("ops.notifications")
SILENCES = table("ops.silences")
FOLLOWUP = table("gold.alert_followup")
# The guidance center as a recipient: what the notifiers' {high_court_id} becomes for its digest
# (alerts-guidance@..., COURTWATCH_WECOM_KEY_guidance).
GUIDANCE_CENTER = "guidance"
GROUP_WITHIN_DAYS = 3  # courts whose episodes of one rule begin this close together are one group
DIGEST_FIELDS = ("alert_id", "kind", "rule_id", "court_id", "metric_id", "source", "window_start", "window_end",
                 "status", "severity", "observed", "expected", "message")


def add_silence(spark: SparkSession, warehouse: str, court_id: str, rule_id: str, until: date, reason: str) -> None:
    SILENCES.append_rows(spark, [(court_id, rule_id, until, reason, datetime.now(timezone.utc))], warehouse)


def _silenced(silences: list[dict], alert: dict, as_of: date) -> bool:
    return any(s["court_id"] == alert["court_id"] and s["rule_id"] in ("*", alert["rule_id"])
               and as_of <= s["until"] for s in silences)


def digests(alerts: list[dict], sent: set[tuple[str, str]], silences: list[dict], as_of: date,
            links: str | None = None) -> dict[str, dict]:
    """high_court_id -> {"new": [...], "resolved": [...]} of what is due and not silenced; with
    `links` (the guidance loop's address), each item's url is its page there."""
    out: dict[str, dict] = {}
    for a in sorted(alerts, key=lambda a: (a["high_court_id"] or "", a["court_id"], a["alert_id"])):
        if (a["alert_id"], a["status"]) in sent or a["high_court_id"] is None or _silenced(silences, a, as_of) \
                or a.get("inhibited_by"):
            continue
        bucket = "new" if a["status"] == "firing" else "resolved"
        out.setdefault(a["high_court_id"], {"new": [], "resolved": []})[bucket].append(_item(a, links))
    for digest in out.values():
        digest["groups"] = groups(digest["new"])
    return out


def _item(a: dict, links: str | None) -> dict:
    """An alert as a digest tells it (dates as text); with `links`, its page of the guidance loop."""
    item = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in a.items() if k in DIGEST_FIELDS}
    if links:
        item["url"] = f"{links.rstrip('/')}/alerts/{a['alert_id']}"
    return item


def overdue_digest(alerts: list[dict], followups: list[dict], sent: set[tuple[str, str]],
                   links: str | None = None) -> dict | None:
    """The guidance center's digest of follow-ups newly overdue ({"new": [], "resolved": [],
    "overdue": [...]}), or None when nothing is; an alert is told once per limit it passed
    (ops/notifications status `overdue:<reason>`)."""
    by_id = {a["alert_id"]: a for a in alerts}
    items = []
    for f in sorted(followups, key=lambda f: (f["high_court_id"] or "", f["court_id"], f["alert_id"])):
        if not f["overdue"] or (f["alert_id"], f"overdue:{f['overdue_reason']}") in sent or f["alert_id"] not in by_id:
            continue
        a = by_id[f["alert_id"]]
        items.append({**_item(a, links), "high_court_id": a["high_court_id"], "followup_state": f["state"],
                      "overdue_reason": f["overdue_reason"],
                      "due_date": f["due_date"].isoformat() if f["due_date"] else None})
    return {"new": [], "resolved": [], "groups": [], "overdue": items} if items else None


def groups(new: list[dict]) -> list[dict]:
    """New alerts of one rule (and metric or source) at two or more courts, beginning within
    GROUP_WITHIN_DAYS of each other: each group is told as one item."""
    by_rule: dict[tuple, list[dict]] = {}
    for a in sorted(new, key=lambda a: (a["rule_id"], a["metric_id"] or "", a["source"] or "", a["window_start"])):
        by_rule.setdefault((a["rule_id"], a["metric_id"], a["source"]), []).append(a)
    out = []
    for (rule_id, metric_id, source), items in by_rule.items():
        run: list[dict] = []
        for a in items + [None]:
            if a is not None and (not run or (date.fromisoformat(a["window_start"]) -
                                              date.fromisoformat(run[0]["window_start"])).days <= GROUP_WITHIN_DAYS):
                run.append(a)
                continue
            if len({r["court_id"] for r in run}) >= 2:
                out.append({"rule_id": rule_id, "metric_id": metric_id, "source": source,
                            "window_start": run[0]["window_start"],
                            "severity": "critical" if any(r["severity"] == "critical" for r in run) else "warning",
                            "courts": sorted({r["court_id"] for r in run}),
                            "alert_ids": [r["alert_id"] for r in run]})
            run = [a] if a is not None else []
    return out


def _severity(severity: str) -> str:
    return "严重" if severity == "critical" else "预警"


def _items(digest: dict) -> list[tuple[str, str, str | None]]:
    """(heading, message, url) of each line of a digest, grouped items first (heading None: a line
    of the group above)."""
    grouped = {i for g in digest.get("groups", []) for i in g["alert_ids"]}
    by_id = {a["alert_id"]: a for a in digest["new"]}
    out = []
    for g in digest.get("groups", []):
        out.append((f"[新增][{_severity(g['severity'])}]",
                    f"{len(g['courts'])} 家法院同时出现同类预警（{g['window_start']} 起）：", None))
        out += [(None, by_id[i]["message"], by_id[i].get("url")) for i in g["alert_ids"]]
    out += [(f"[新增][{_severity(a['severity'])}]", a["message"], a.get("url"))
            for a in digest["new"] if a["alert_id"] not in grouped]
    out += [("[解除]", a["message"], a.get("url")) for a in digest["resolved"]]
    out += [(f"[逾期][{a['overdue_reason']}]", f"{a['high_court_id']}：{a['message']}", a.get("url"))
            for a in digest.get("overdue", [])]
    return out


def _title(high_court_id: str, as_of: date) -> str:
    if high_court_id == GUIDANCE_CENTER:
        return f"诉讼服务指导中心 督办逾期摘要（截至 {as_of}）"
    return f"{high_court_id} 预警摘要（截至 {as_of}）"


def _counts(digest: dict) -> str:
    if digest.get("overdue"):
        return f"督办逾期 {len(digest['overdue'])} 条"
    return f"新增 {len(digest['new'])} 条，已解除 {len(digest['resolved'])} 条"


def _text(high_court_id: str, as_of: date, digest: dict) -> str:
    lines = [_title(high_court_id, as_of), _counts(digest), ""]
    for heading, message, url in _items(digest):
        lines.append(f"{heading} {message}" if heading else f"    {message}")
        if url:
            lines.append(f"    详情 {url}")
    return "\n".join(lines)


def _html(high_court_id: str, as_of: date, digest: dict) -> str:
    from html import escape

    rows = []
    for heading, message, url in _items(digest):
        text = escape(message) + (f' <a href="{escape(url)}">办理</a>' if url else "")
        rows.append(f"<li>{escape(heading)} {text}</li>" if heading else f"<li style=\"margin-left:2em\">{text}</li>")
    return (f"<html><body><h3>{escape(_title(high_court_id, as_of))}</h3><p>{escape(_counts(digest))}</p>"
            f"<ul>{''.join(rows)}</ul></body></html>")


def _markdown(high_court_id: str, as_of: date, digest: dict, limit: int) -> str:
    """The digest as robot markdown within `limit` bytes (UTF-8): what does not fit is counted."""
    head = f"### {_title(high_court_id, as_of)}\n{_counts(digest)}\n"
    lines, items = [], _items(digest)
    for k, (heading, message, url) in enumerate(items):
        link = f" [办理]({url})" if url else ""
        line = f"- **{heading}** {message}{link}" if heading else f"  - {message}{link}"
        rest = f"\n…另有 {len(items) - k} 条，见督办跟踪"
        if len((head + "\n".join(lines + [line]) + rest).encode()) > limit:
            return head + "\n".join(lines) + rest
        lines.append(line)
    return head + "\n".join(lines)


class Outbox:
    name = "outbox"

    def __init__(self, cfg: rules.Notify):
        self.root = Path(cfg.outbox_dir)

    def send(self, high_court_id: str, as_of: date, digest: dict) -> None:
        folder = self.root / as_of.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        payload = {"high_court_id": high_court_id, "as_of": as_of.isoformat(), **digest,
                   "text": _text(high_court_id, as_of, digest)}
        (folder / f"{high_court_id}.json").write_text(json.dumps(payload, ensure_ascii=False, indent=1))

    def notice(self, recipient: str, n: "Notice") -> None:
        folder = self.root / "notices" / datetime.now(timezone.utc).strftime("%Y-%m-%d")
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{recipient}-{datetime.now(timezone.utc).strftime('%H%M%S%f')}.json"
        (folder / name).write_text(json.dumps({"recipient": recipient, "title": n.title, "lines": n.lines,
                                               "url": n.url, "text": n.text()}, ensure_ascii=False, indent=1))


class Smtp:
    name = "smtp"

    def __init__(self, cfg: rules.Smtp):
        self.cfg = cfg

    def send(self, high_court_id: str, as_of: date, digest: dict) -> None:
        c = self.cfg
        msg = EmailMessage()
        msg["From"] = c.sender
        msg["To"] = c.recipient.format(high_court_id=high_court_id)
        msg["Subject"] = f"[courtwatch] {_title(high_court_id, as_of)}：{_counts(digest)}"
        msg.set_content(_text(high_court_id, as_of, digest))
        msg.add_alternative(_html(high_court_id, as_of, digest), subtype="html")
        self._deliver(msg)

    def notice(self, recipient: str, n: "Notice") -> None:
        c = self.cfg
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = c.sender, c.recipient.format(high_court_id=recipient), n.title
        msg.set_content(n.text())
        self._deliver(msg)

    def _deliver(self, msg: EmailMessage) -> None:
        c = self.cfg
        with smtplib.SMTP(c.host, c.port, timeout=30) as smtp:
            if c.starttls:
                smtp.starttls()
            user, password = os.environ.get(c.user_env or ""), os.environ.get(c.password_env or "")
            if user and password:
                smtp.login(user, password)
            smtp.send_message(msg)


class Webhook:
    name = "webhook"

    def __init__(self, cfg: rules.Webhook):
        self.cfg = cfg

    def send(self, high_court_id: str, as_of: date, digest: dict) -> None:
        self._post({"high_court_id": high_court_id, "as_of": as_of.isoformat(), **digest})

    def notice(self, recipient: str, n: "Notice") -> None:
        self._post({"recipient": recipient, "title": n.title, "lines": n.lines, "url": n.url})

    def _post(self, payload: dict) -> None:
        token = os.environ.get(self.cfg.token_env or "")
        _post_json(self.cfg.url, payload, self.cfg.timeout_seconds,
                   {"Authorization": f"Bearer {token}"} if token else {})


def _post_json(url: str, payload: dict, timeout: float, headers: dict | None = None) -> bytes:
    """POST `payload` as JSON; the answer's body (a status of 300 or more is an error)."""
    req = urllib.request.Request(url, data=json.dumps(payload, ensure_ascii=False).encode("utf-8"), method="POST",
                                 headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        if resp.status >= 300:
            raise RuntimeError(f"{url.split('?')[0]} answered {resp.status}")
        return resp.read()


def _robot_post(url: str, payload: dict, timeout: float) -> None:
    """Both robots answer 200 with {"errcode", "errmsg"}: anything but errcode 0 is a refusal."""
    body = _post_json(url, payload, timeout)
    try:
        answer = json.loads(body or b"{}")
    except ValueError:
        raise RuntimeError(f"robot answered something else than JSON: {body[:200]!r}") from None
    if answer.get("errcode", 0) != 0:
        raise RuntimeError(f"robot refused the message: {answer.get('errcode')} {answer.get('errmsg')}")


def _secret(template: str, high_court_id: str) -> str:
    var = template.format(high_court_id=high_court_id)
    if not os.environ.get(var):
        raise RuntimeError(f"{var} is not set: the robot of {high_court_id}'s group")
    return os.environ[var]


class Wecom:
    """企业微信 group robot: {"msgtype": "markdown", "markdown": {"content"}}, content at most 4096 bytes."""
    name = "wecom"
    LIMIT = 4096

    def __init__(self, cfg: rules.Wecom):
        self.cfg = cfg

    def send(self, high_court_id: str, as_of: date, digest: dict) -> None:
        self._post(high_court_id, _markdown(high_court_id, as_of, digest, self.LIMIT))

    def notice(self, recipient: str, n: "Notice") -> None:
        self._post(recipient, n.markdown()[:self.LIMIT // 3])  # a notice is short; 3 bytes a character at most

    def _post(self, recipient: str, content: str) -> None:
        from urllib.parse import urlencode

        key = _secret(self.cfg.key_env, recipient)
        _robot_post(f"{self.cfg.url}?{urlencode({'key': key})}",
                   {"msgtype": "markdown", "markdown": {"content": content}}, self.cfg.timeout_seconds)


class Dingtalk:
    """钉钉 custom robot: {"msgtype": "markdown", "markdown": {"title", "text"}}; with a signing secret,
    timestamp and sign = base64(HMAC-SHA256(secret, "timestamp\\nsecret")) in the query."""
    name = "dingtalk"
    LIMIT = 5000

    def __init__(self, cfg: rules.Dingtalk):
        self.cfg = cfg

    def send(self, high_court_id: str, as_of: date, digest: dict) -> None:
        self._post(high_court_id, _title(high_court_id, as_of),
                   _markdown(high_court_id, as_of, digest, self.LIMIT))

    def notice(self, recipient: str, n: "Notice") -> None:
        self._post(recipient, n.title, n.markdown()[:self.LIMIT // 3])

    def _post(self, recipient: str, title: str, text: str) -> None:
        import base64
        import hashlib
        import hmac
        import time
        from urllib.parse import urlencode

        query = {"access_token": _secret(self.cfg.token_env, recipient)}
        secret_var = self.cfg.secret_env.format(high_court_id=recipient) if self.cfg.secret_env else None
        if secret_var and os.environ.get(secret_var):
            stamp = str(round(time.time() * 1000))
            secret = os.environ[secret_var]
            digest_bytes = hmac.new(secret.encode(), f"{stamp}\n{secret}".encode(), hashlib.sha256).digest()
            query.update(timestamp=stamp, sign=base64.b64encode(digest_bytes).decode())
        _robot_post(f"{self.cfg.url}?{urlencode(query)}",
                   {"msgtype": "markdown", "markdown": {"title": title, "text": text}}, self.cfg.timeout_seconds)


@dataclass(frozen=True)
class Notice:
    """One event told to one recipient (a court, a high court): an assignment, a reply."""
    title: str
    lines: list[str]
    url: str | None = None

    def text(self) -> str:
        return "\n".join([self.title, "", *self.lines] + ([f"办理 {self.url}"] if self.url else []))

    def markdown(self) -> str:
        link = f"\n[办理]({self.url})" if self.url else ""
        return f"### {self.title}\n" + "\n".join(f"- {line}" for line in self.lines) + link


def notifier(cfg: rules.Notify):
    """The chosen notifier (the settings loader has checked it is configured)."""
    if cfg.notifier == "outbox":
        return Outbox(cfg)
    return {"smtp": Smtp, "webhook": Webhook, "wecom": Wecom, "dingtalk": Dingtalk}[cfg.notifier](
        getattr(cfg, cfg.notifier))


def notify(spark: SparkSession, warehouse: str, as_of: date, cfg: rules.Notify,
           links: str | None = None) -> dict[str, dict]:
    """Send what is due (each item linked to its page of the guidance loop at `links`): each high
    court's digest, and the guidance center's of overdue follow-ups; record each once it was sent.
    Returns the digests delivered, by recipient."""
    alerts = [r.asDict() for r in ALERTS.read(spark, warehouse).collect()]
    NOTIFICATIONS.create_if_missing(spark, warehouse)
    sent = {(r["alert_id"], r["status"]) for r in NOTIFICATIONS.read(spark, warehouse).collect()}
    silences = [r.asDict() for r in SILENCES.read(spark, warehouse).collect()]
    due = digests(alerts, sent, silences, as_of, links)
    followups = [r.asDict() for r in FOLLOWUP.read(spark, warehouse).collect()] \
        if FOLLOWUP.exists(spark, warehouse) else []
    overdue = overdue_digest(alerts, followups, sent, links)
    if overdue:
        due[GUIDANCE_CENTER] = overdue
    channel = notifier(cfg)
    delivered, rows = {}, []
    try:
        for high_court_id, digest in due.items():
            try:
                channel.send(high_court_id, as_of, digest)
            except (OSError, RuntimeError, smtplib.SMTPException) as exc:
                # The data is sound; only the message failed. Not recorded as sent,
                # so the next run tries again; the run itself goes on.
                log.error("could not notify %s through %s: %s", high_court_id, channel.name, exc)
                continue
            delivered[high_court_id] = digest
            now = datetime.now(timezone.utc)
            rows += [(a["alert_id"], a["status"], high_court_id, channel.name, as_of, now)
                     for a in digest["new"] + digest["resolved"]]
            rows += [(a["alert_id"], f"overdue:{a['overdue_reason']}", high_court_id, channel.name, as_of, now)
                     for a in digest.get("overdue", [])]
    finally:
        # One commit for all the digests sent, even when a send raised something
        # unforeseen: what went out is recorded, the rest is tried again next run.
        # (One commit per high court cost ~2 s each: a minute of the daily run.)
        if rows:
            NOTIFICATIONS.append_rows(spark, rows, warehouse)
    return delivered
