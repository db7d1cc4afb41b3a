"""Digests per high court through the outbox, real SMTP and a real HTTP webhook; silences."""
from __future__ import annotations

import json
import threading
from datetime import date
from email import message_from_bytes
from email.policy import default
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from jobs.alerts import notify
from jobs.alerts.rules import Notify
from tests.conftest import free_port

AS_OF = date(2026, 3, 10)


def alert(alert_id, court="B1", high="H1", status="firing", rule="feed_silence"):
    return {"alert_id": alert_id, "kind": "feed", "rule_id": rule, "court_id": court, "high_court_id": high,
            "metric_id": None, "source": "cases", "window_start": date(2026, 3, 8), "window_end": AS_OF,
            "status": status, "severity": "warning", "observed": 3.0, "expected": 0.0,
            "message": f"{court} 案件数据中断"}


@pytest.mark.unit
def test_digest_per_high_court_new_and_resolved_once():
    alerts = [alert("a1"), alert("a2", court="B2", high="H2"), alert("a3", status="resolved"), alert("a4")]
    sent = {("a4", "firing")}
    due = notify.digests(alerts, sent, [], AS_OF)
    assert sorted(due) == ["H1", "H2"]
    assert [a["alert_id"] for a in due["H1"]["new"]] == ["a1"]
    assert [a["alert_id"] for a in due["H1"]["resolved"]] == ["a3"]


@pytest.mark.unit
def test_silence_stops_notification_until_its_date():
    alerts = [alert("a1"), alert("a2", rule="threshold:efile_sync_rate")]
    silences = [{"court_id": "B1", "rule_id": "feed_silence", "until": date(2026, 3, 10)}]
    due = notify.digests(alerts, set(), silences, AS_OF)
    assert [a["alert_id"] for a in due["H1"]["new"]] == ["a2"]
    assert notify.digests(alerts, set(), silences, date(2026, 3, 11))["H1"]["new"][0]["alert_id"] == "a1"
    everything = [{"court_id": "B1", "rule_id": "*", "until": date(2026, 12, 31)}]
    assert notify.digests(alerts, set(), everything, AS_OF) == {}


@pytest.mark.unit
def test_inhibited_alerts_are_recorded_not_notified():
    alerts = [alert("f1"), {**alert("a1", rule="anomaly:collapse"), "kind": "anomaly", "metric_id": "case_filed",
                            "source": None, "inhibited_by": "f1"}]
    due = notify.digests(alerts, set(), [], AS_OF)
    assert [a["alert_id"] for a in due["H1"]["new"]] == ["f1"]


@pytest.mark.unit
def test_courts_of_one_province_breaching_one_rule_together_are_told_once(tmp_path):
    def anomaly(alert_id, court, start):
        return {**alert(alert_id, court=court, rule="anomaly:surge"), "kind": "anomaly", "source": None,
                "metric_id": "hotline_complaint_share", "window_start": start,
                "message": f"{court} 投诉占比骤升"}

    alerts = [anomaly("a1", "B1", date(2026, 3, 8)), anomaly("a2", "B2", date(2026, 3, 9)),
              anomaly("a3", "B3", date(2026, 3, 10)), anomaly("a4", "B4", date(2026, 3, 1)),  # a week earlier
              alert("f1", court="B5")]
    digest = notify.digests(alerts, set(), [], AS_OF)["H1"]
    assert [(g["courts"], g["alert_ids"]) for g in digest["groups"]] == [(["B1", "B2", "B3"], ["a1", "a2", "a3"])]
    assert len(digest["new"]) == 5  # each court keeps its own alert
    notify.notifier(Notify(notifier="outbox", outbox_dir=str(tmp_path))).send("H1", AS_OF, digest)
    text = json.loads((tmp_path / "2026-03-10" / "H1.json").read_text())["text"]
    assert text.count("3 家法院同时出现同类预警") == 1 and text.count("[新增]") == 3  # the group, a4 and f1


LOOP = "http://127.0.0.1:8090"  # the guidance loop's address: each item links to its page


def followup(alert_id, overdue=True, reason="未按期反馈", state="assigned", court="B1", high="H1"):
    return {"alert_id": alert_id, "court_id": court, "high_court_id": high, "state": state, "overdue": overdue,
            "overdue_reason": reason if overdue else None, "due_date": date(2026, 3, 6)}


@pytest.mark.unit
def test_overdue_follow_ups_go_to_the_guidance_center_once_per_limit_passed(tmp_path):
    alerts = [alert("a1"), alert("a2", court="B2", high="H2"), alert("a3"), alert("a4")]
    followups = [followup("a1"), followup("a2", reason="未按时签收", state="new", court="B2", high="H2"),
                 followup("a3", overdue=False, state="closed"), followup("a4")]
    sent = {("a4", "overdue:未按期反馈")}  # told at an earlier run
    digest = notify.overdue_digest(alerts, followups, sent, LOOP)
    assert [(a["alert_id"], a["overdue_reason"], a["high_court_id"]) for a in digest["overdue"]] == [
        ("a1", "未按期反馈", "H1"), ("a2", "未按时签收", "H2")]
    assert digest["overdue"][0]["url"] == f"{LOOP}/alerts/a1" and not digest["new"]
    # the same alert overdue again for another limit (replied, then not closed in time) is told again
    again = notify.overdue_digest(alerts, [followup("a4", reason="未按时办结", state="replied")], sent)
    assert [a["alert_id"] for a in again["overdue"]] == ["a4"]
    assert notify.overdue_digest(alerts, [followup("a3", overdue=False)], sent) is None
    notify.notifier(Notify(notifier="outbox", outbox_dir=str(tmp_path))).send(notify.GUIDANCE_CENTER, AS_OF, digest)
    text = json.loads((tmp_path / "2026-03-10" / "guidance.json").read_text())["text"]
    assert text.startswith("诉讼服务指导中心 督办逾期摘要") and "督办逾期 2 条" in text
    assert "[逾期][未按期反馈] H1：B1 案件数据中断" in text and f"{LOOP}/alerts/a1" in text


def _digest():
    return notify.digests([alert("a1")], set(), [], AS_OF, LOOP)["H1"]


@pytest.mark.unit
def test_outbox(tmp_path):
    notify.notifier(Notify(notifier="outbox", outbox_dir=str(tmp_path))).send("H1", AS_OF, _digest())
    payload = json.loads((tmp_path / "2026-03-10" / "H1.json").read_text())
    assert payload["new"][0]["alert_id"] == "a1" and "新增 1 条" in payload["text"]


@pytest.mark.system
def test_email_over_a_real_smtp_server():
    from aiosmtpd.controller import Controller

    class Keep:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(envelope)
            return "250 OK"

    handler = Keep()
    port = free_port()
    server = Controller(handler, hostname="127.0.0.1", port=port)
    server.start()
    try:
        cfg = Notify(notifier="smtp", smtp={"host": "127.0.0.1", "port": port, "sender": "cw@example.org",
                                            "recipient": "alerts-{high_court_id}@example.org"})
        notify.notifier(cfg).send("H1", AS_OF, _digest())
    finally:
        server.stop()
    [envelope] = handler.messages
    assert envelope.rcpt_tos == ["alerts-H1@example.org"]
    msg = message_from_bytes(envelope.content, policy=default)
    plain, html = msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()
    assert "H1" in msg["Subject"] and "B1 案件数据中断" in plain and f"{LOOP}/alerts/a1" in plain
    assert f'<a href="{LOOP}/alerts/a1">办理</a>' in html


@pytest.fixture
def webhook():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers.get("Authorization"), json.loads(body)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts", received
    server.shutdown()


@pytest.mark.system
def test_webhook_over_real_http(webhook, monkeypatch):
    url, received = webhook
    monkeypatch.setenv("CW_TEST_TOKEN", "t0ken")
    notify.notifier(Notify(notifier="webhook", webhook={"url": url, "token_env": "CW_TEST_TOKEN"})).send(
        "H1", AS_OF, _digest())
    [(auth, body)] = received
    assert auth == "Bearer t0ken" and body["high_court_id"] == "H1" and body["new"][0]["alert_id"] == "a1"
    notify.notifier(Notify(notifier="webhook", webhook={"url": url, "token_env": "CW_TEST_TOKEN"})).notice(
        "B1", notify.Notice("整改反馈：B1", ["已整改"], f"{LOOP}/alerts/a1"))
    assert received[-1][1] == {"recipient": "B1", "title": "整改反馈：B1", "lines": ["已整改"],
                               "url": f"{LOOP}/alerts/a1"}


@pytest.mark.unit
def test_unknown_notifier_is_a_clear_error():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="'outbox', 'smtp', 'webhook', 'wecom' or 'dingtalk'"):
        Notify(notifier="pager")
    with pytest.raises(ValidationError, match="notifier 'smtp' is chosen but has no smtp: section"):
        Notify(notifier="smtp")


@pytest.mark.integration
def test_a_failing_notifier_does_not_fail_the_run_and_is_retried(spark, tmp_path):
    """Nothing listens on the webhook's port: the digest stays unsent, for the next run. Then an overdue
    follow-up reaches the guidance center's digest."""
    wh = str(tmp_path / "wh")
    row = {**alert("a1"), "first_detected_at": None, "updated_at": None}
    notify.ALERTS.append(spark.createDataFrame([row], notify.ALERTS.schema), wh)
    cfg = Notify(notifier="webhook", webhook={"url": f"http://127.0.0.1:{free_port()}/x", "timeout_seconds": 2})
    assert notify.notify(spark, wh, AS_OF, cfg) == {}
    assert notify.NOTIFICATIONS.read(spark, wh).count() == 0
    out = Notify(notifier="outbox", outbox_dir=str(tmp_path / "outbox"))
    assert list(notify.notify(spark, wh, AS_OF, out)) == ["H1"]
    assert list(notify.notify(spark, wh, AS_OF, out)) == []
    # its follow-up goes overdue: the guidance center is told, once
    late = {**{c.name: None for c in notify.FOLLOWUP.columns}, **followup("a1")}
    notify.FOLLOWUP.append(spark.createDataFrame([late], notify.FOLLOWUP.schema), wh)
    assert list(notify.notify(spark, wh, AS_OF, out)) == [notify.GUIDANCE_CENTER]
    told = notify.NOTIFICATIONS.read(spark, wh).where("high_court_id = 'guidance'").collect()
    assert [(r["alert_id"], r["status"]) for r in told] == [("a1", "overdue:未按期反馈")]
    assert list(notify.notify(spark, wh, AS_OF, out)) == []


@pytest.fixture
def robot():
    """A local HTTP server standing in for a robot's endpoint: keeps each request, answers as the
    robots do (200 with errcode 0, or the errcode it is told to)."""
    received, answer = [], {"errcode": 0, "errmsg": "ok"}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers.get("Content-Type"), json.loads(body)))
            out = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/send", received, answer
    server.shutdown()


def _many(n):
    alerts = [alert(f"a{k}", court=f"B{k}", rule=f"r{k}") for k in range(n)]
    return notify.digests(alerts, set(), [], AS_OF, LOOP)["H1"]


@pytest.mark.system
def test_wecom_group_robot_markdown(robot, monkeypatch):
    from urllib.parse import parse_qs, urlparse

    url, received, answer = robot
    monkeypatch.setenv("CW_WECOM_H1", "k3y")
    channel = notify.notifier(Notify(notifier="wecom", wecom={"url": url, "key_env": "CW_WECOM_{high_court_id}"}))
    channel.send("H1", AS_OF, _digest())
    [(path, content_type, body)] = received
    assert parse_qs(urlparse(path).query) == {"key": ["k3y"]} and content_type.startswith("application/json")
    assert body["msgtype"] == "markdown" and set(body["markdown"]) == {"content"}
    assert f"[办理]({LOOP}/alerts/a1)" in body["markdown"]["content"] and "B1 案件数据中断" in body["markdown"]["content"]
    channel.send("H1", AS_OF, _many(200))  # more than 4096 bytes: cut, and what was left out is counted
    content = received[-1][2]["markdown"]["content"]
    assert len(content.encode()) <= 4096 and "…另有" in content
    monkeypatch.setenv("CW_WECOM_B1", "court-k3y")  # a court's own group hears of its assignment
    channel.notice("B1", notify.Notice("督办通知：B1 报送中断", ["请核查", "反馈期限：2026-03-13"], f"{LOOP}/alerts/a1"))
    path, _, body = received[-1]
    assert "key=court-k3y" in path and body["markdown"]["content"].startswith("### 督办通知")
    assert f"[办理]({LOOP}/alerts/a1)" in body["markdown"]["content"]
    answer.update(errcode=93000, errmsg="invalid webhook url")
    with pytest.raises(RuntimeError, match="93000"):
        channel.send("H1", AS_OF, _digest())
    monkeypatch.delenv("CW_WECOM_H1")
    with pytest.raises(RuntimeError, match="CW_WECOM_H1 is not set"):
        channel.send("H1", AS_OF, _digest())


@pytest.mark.system
def test_dingtalk_robot_markdown_signed(robot, monkeypatch):
    import base64
    import hashlib
    import hmac
    from urllib.parse import parse_qs, urlparse

    url, received, _ = robot
    monkeypatch.setenv("CW_DT_H1", "t0ken")
    monkeypatch.setenv("CW_DT_SECRET_H1", "SECabc")
    cfg = Notify(notifier="dingtalk", dingtalk={"url": url, "token_env": "CW_DT_{high_court_id}",
                                                "secret_env": "CW_DT_SECRET_{high_court_id}"})
    notify.notifier(cfg).send("H1", AS_OF, _digest())
    [(path, _, body)] = received
    query = {k: v[0] for k, v in parse_qs(urlparse(path).query).items()}
    expected = base64.b64encode(hmac.new(b"SECabc", f"{query['timestamp']}\nSECabc".encode(),
                                         hashlib.sha256).digest()).decode()
    assert query["access_token"] == "t0ken" and query["sign"] == expected
    assert body["msgtype"] == "markdown" and body["markdown"]["title"].startswith("H1 预警摘要")
    assert f"[办理]({LOOP}/alerts/a1)" in body["markdown"]["text"]
