"""`courtwatch guidance serve`: the guidance loop's pages (Chinese, server-rendered) and JSON API
(../shared/spec/guidance.md), one FastAPI process; its OpenAPI description at /openapi.json.

Sign-in is the dashboards' (courtwatch/guidance/identity.py): pages keep a signed session cookie
after the sign-in form; the API takes HTTP Basic (over TLS in production) or that session. Every
form and every cookie-authenticated API write carries the session's CSRF token. Who sees and who
may do what is jobs/guidance/loop.py's: 404 for an alert one may not see, 403, 409, 422 as it says.
"""
from __future__ import annotations

import base64
import binascii
import hmac
import logging
import secrets
import smtplib
from datetime import date, datetime, timezone
from pathlib import Path

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel
from starlette.middleware.sessions import SessionMiddleware

from courtwatch import accounts
from courtwatch.guidance import alerts as alert_rows
from courtwatch.guidance import store
from courtwatch.guidance.identity import identity
from courtwatch.settings import Profile
from jobs.alerts import notify
from jobs.guidance.loop import ACTIONS, Actor, Refused, add_working_days, followup, sees, state_of
from schemas.display import labels
from schemas.metric_catalog import catalog
from schemas.workdays import CHINA

log = logging.getLogger("courtwatch.guidance")
SESSION_HOURS = 8  # a working day: then sign in again
RATIOS = {m.id for m in catalog().metrics if m.unit == "ratio"}  # shown as percentages on an alert's page


class ActionIn(BaseModel):
    action: str
    note: str | None = None
    due_date: str | None = None
    label: str | None = None


def database_url(profile: Profile) -> str:
    g = profile.guidance
    if g.database == "postgres":
        dsn = profile.secret(g.postgres_dsn_var)
        return dsn.replace("postgresql://", "postgresql+psycopg://", 1)
    return f"sqlite:///{g.home}/guidance.sqlite"


def create_app(profile: Profile, clock=lambda: datetime.now(timezone.utc)) -> FastAPI:
    """The service for a profile; `clock` is the time the loop judges limits and due dates by."""
    engine = store.engine(database_url(profile))
    people = identity(profile, accounts.registry_courts(profile))
    limits = profile.guidance.limits()
    notices = profile.alert_rules().notify
    names = labels()
    templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
    templates.env.filters["china_time"] = lambda t: t.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
    templates.env.filters["figure"] = lambda v, ratio=False: "" if v is None else f"{v:.1%}" if ratio else f"{v:,.4g}"
    templates.env.filters["percent"] = lambda v: "" if v is None else f"{v:.0%}"
    app = FastAPI(title="courtwatch 督办跟踪", version="1",
                  description="The guidance loop of ../shared/spec/guidance.md: alerts a person may see, "
                              "their follow-up state and history, and the actions their role may take.")
    app.add_middleware(SessionMiddleware, secret_key=profile.secret("COURTWATCH_GUIDANCE_SECRET"),
                       session_cookie="courtwatch_guidance", max_age=SESSION_HOURS * 3600, same_site="strict",
                       https_only=profile.guidance.tls)

    # --- who is asking ------------------------------------------------------------------------
    def basic_actor(request: Request) -> Actor | None:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return people.authenticate(user, password)

    def session_actor(request: Request) -> Actor | None:
        s = request.session.get("actor")
        return Actor(s["account"], s["role"], s.get("court_id")) if s else None

    def csrf_token(request: Request) -> str:
        if "csrf" not in request.session:
            request.session["csrf"] = secrets.token_urlsafe(32)
        return request.session["csrf"]

    def check_csrf(request: Request, given: str | None) -> None:
        if not given or not hmac.compare_digest(given, request.session.get("csrf", "")):
            raise HTTPException(403, "CSRF token missing or wrong: reload the page")

    def api_actor(request: Request, writing: bool = False) -> Actor:
        actor = basic_actor(request)
        if actor:
            return actor
        if request.headers.get("authorization"):
            raise HTTPException(401, "wrong account or password", headers={"WWW-Authenticate": 'Basic realm="courtwatch"'})
        actor = session_actor(request)
        if actor is None:
            raise HTTPException(401, "sign in", headers={"WWW-Authenticate": 'Basic realm="courtwatch"'})
        if writing:  # a cookie rides along with any site's request: the token proves it is ours
            check_csrf(request, request.headers.get("x-csrf-token"))
        return actor

    # --- what the caller sees -----------------------------------------------------------------
    def page_url(alert_id: str) -> str:
        return f"{profile.guidance.url}/alerts/{alert_id}"

    def visible(actor: Actor) -> list[tuple[dict, object]]:
        loop_alerts = ((r, alert_rows.as_loop_alert(r)) for r in alert_rows.all_alerts(profile))
        seen = [(r, a) for r, a in loop_alerts if sees(actor, a)]
        hist = store.histories(engine, [a.alert_id for _, a in seen]) if seen else {}
        now = clock()
        return [(r, followup(a, hist.get(a.alert_id, []), now, limits)) for r, a in seen]

    def visible_one(actor: Actor, alert_id: str):
        row = alert_rows.one(profile, alert_id)
        alert = alert_rows.as_loop_alert(row) if row else None
        if alert is None or not sees(actor, alert):
            raise HTTPException(404, f"no alert {alert_id}")
        return row, alert, followup(alert, store.history(engine, alert_id), clock(), limits)

    def take(actor: Actor, alert_id: str, action: str, fields: dict):
        """The action taken; the alert's row and its follow-up after it."""
        row, alert, _ = visible_one(actor, alert_id)
        try:
            done = store.take(engine, actor, alert, action, fields, clock())
        except Refused as r:
            raise HTTPException(r.status, {"detail": r.detail, **r.extra}) from None
        tell(row, done)
        return row, followup(alert, store.history(engine, alert_id), clock(), limits)

    def tell(row: dict, done) -> None:
        """An assignment is told to the court, a reply to its high court, through the alert rules'
        notifier; a notice that cannot go out is logged, and the action stands."""
        recipient = {"assign": row["court_id"], "reply": row["high_court_id"]}.get(done.action)
        if recipient is None:
            return
        subject = f"{row['court_name']} {row['kind_name']}（{row['metric_name'] or row['source_name']}）"
        lines = [row["message"], f"{names['followup_action'][done.action]}：{done.note}"]
        if done.due_date:
            lines.append(f"反馈期限：{done.due_date}")
        n = notify.Notice(f"{'督办通知' if done.action == 'assign' else '整改反馈'}：{subject}", lines,
                          page_url(row["alert_id"]))
        try:
            notify.notifier(notices).notice(recipient, n)
        except (OSError, RuntimeError, smtplib.SMTPException) as exc:
            log.error("could not tell %s of %s on %s: %s", recipient, done.action, row["alert_id"], exc)

    def as_json(row: dict, f, with_history: bool = False) -> dict:
        out = {**{k: (v.isoformat() if isinstance(v, (date, datetime)) else v) for k, v in row.items()},
               "state": f.state, "overdue": f.overdue, "overdue_reason": f.overdue_reason,
               "escalated": f.escalated, "label": f.label,
               "due_date": f.due_date.isoformat() if f.due_date else None,
               "url": page_url(row["alert_id"])}
        if with_history:
            out["history"] = [{"seq": a.seq, "account": a.account, "role": a.role, "at": a.at.isoformat(),
                               "action": a.action, "state_before": a.state_before, "state_after": a.state_after,
                               "note": a.note, "due_date": a.due_date.isoformat() if a.due_date else None,
                               "label": a.label} for a in f.history]
        return out

    # --- the API ------------------------------------------------------------------------------
    @app.get("/api/alerts", tags=["api"], summary="The alerts the caller sees, with their follow-up state")
    def list_alerts(request: Request, state: str | None = Query(None), overdue: bool | None = Query(None),
                    court_id: str | None = Query(None), high_court_id: str | None = Query(None)):
        actor = api_actor(request)
        out = [as_json(r, f) for r, f in visible(actor)
               if (state is None or f.state == state) and (overdue is None or f.overdue == overdue)
               and (court_id is None or r["court_id"] == court_id)
               and (high_court_id is None or r["high_court_id"] == high_court_id)]
        return {"alerts": out}

    @app.get("/api/alerts/{alert_id}", tags=["api"], summary="One alert with its whole history")
    def get_alert(alert_id: str, request: Request):
        row, _, f = visible_one(api_actor(request), alert_id)
        return as_json(row, f, with_history=True)

    @app.post("/api/alerts/{alert_id}/actions", tags=["api"], status_code=201,
              summary="Take an action: 201 and the new state; 403, 404, 409 or 422 as guidance.md says")
    def post_action(alert_id: str, body: ActionIn, request: Request):
        row, f = take(api_actor(request, writing=True), alert_id, body.action, body.model_dump(exclude={"action"}))
        return as_json(row, f, with_history=True)

    @app.exception_handler(HTTPException)
    async def _refusal(request: Request, exc: HTTPException):
        detail = exc.detail if isinstance(exc.detail, dict) else {"detail": exc.detail}
        if request.url.path.startswith("/api/"):
            return JSONResponse(detail, status_code=exc.status_code, headers=exc.headers)
        if exc.status_code == 401:
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return templates.TemplateResponse(request, "base.html", {
            "actor": session_actor(request), "names": names, "csrf": csrf_token(request),
            "refused": f"{exc.status_code}：{detail['detail']}"}, status_code=exc.status_code)

    # --- the pages ----------------------------------------------------------------------------
    def page_actor(request: Request) -> Actor:
        actor = session_actor(request)
        if actor is None:
            raise HTTPException(401, "sign in")
        return actor

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(request: Request, next: str = "/"):
        return templates.TemplateResponse(request, "login.html", {"csrf": csrf_token(request), "next": _local(next),
                                                                   "names": names, "actor": None})

    @app.post("/login", include_in_schema=False)
    async def login(request: Request):
        form = await request.form()
        check_csrf(request, form.get("csrf"))
        actor = people.authenticate(str(form.get("username", "")), str(form.get("password", "")))
        if actor is None:
            return templates.TemplateResponse(request, "login.html", {
                "csrf": csrf_token(request), "next": _local(str(form.get("next", "/"))), "names": names,
                "actor": None, "refused": "账号或密码错误，或该账号不参与督办"}, status_code=401)
        request.session.clear()  # a new session for the signed-in person (no fixation)
        request.session.update(actor={"account": actor.account, "role": actor.role, "court_id": actor.court_id},
                               csrf=secrets.token_urlsafe(32))
        return RedirectResponse(_local(str(form.get("next", "/"))), status_code=303)

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request):
        form = await request.form()
        check_csrf(request, form.get("csrf"))
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def inbox(request: Request):
        actor = page_actor(request)
        mine = [{"alert": r, "followup": f} for r, f in visible(actor) if _open_for(actor, f)]
        mine.sort(key=lambda i: (not i["followup"].overdue, str(i["alert"]["window_start"])), reverse=False)
        return templates.TemplateResponse(request, "inbox.html", {"actor": actor, "names": names, "items": mine,
                                                                   "csrf": csrf_token(request)})

    @app.get("/alerts/{alert_id}", response_class=HTMLResponse, include_in_schema=False)
    def alert_page(alert_id: str, request: Request):
        actor = page_actor(request)
        row, _, f = visible_one(actor, alert_id)
        state = state_of(f.history)
        allowed = [(name, rule) for name, rule in ACTIONS.items()
                   if (not rule.roles or actor.role in rule.roles) and state in rule.states]
        default_due = add_working_days(clock().astimezone(CHINA).date(), limits.reply)
        return templates.TemplateResponse(request, "alert.html", {
            "actor": actor, "names": names, "alert": row, "followup": f, "allowed": allowed,
            "csrf": csrf_token(request), "default_due": default_due,
            "recent": alert_rows.recent_days(profile, row), "causes": alert_rows.causes(profile, alert_id),
            "ratio": row["metric_id"] in RATIOS})

    @app.post("/alerts/{alert_id}/actions", include_in_schema=False)
    async def alert_form(alert_id: str, request: Request):
        actor = page_actor(request)
        form = await request.form()
        check_csrf(request, form.get("csrf"))
        fields = {k: str(form[k]) for k in ("note", "due_date", "label") if form.get(k)}
        take(actor, alert_id, str(form.get("action", "")), fields)
        return RedirectResponse(f"/alerts/{alert_id}", status_code=303)

    return app


def _open_for(actor: Actor, f) -> bool:
    """What is waiting for this person: the high court's to take up and conclude, the court's to
    answer, the guidance center's to watch (overdue or escalated)."""
    if actor.role == "high_court":
        return f.state in ("new", "acknowledged", "replied") or f.overdue
    if actor.role == "court":
        return f.state == "assigned"
    return f.overdue or (f.escalated and f.state != "closed")


def _local(path: str) -> str:
    """Only a path of this service to go on to after signing in (no open redirect)."""
    return path if path.startswith("/") and not path.startswith("//") and "\\" not in path else "/"


def serve(profile: Profile) -> None:
    import uvicorn

    g = profile.guidance
    uvicorn.run(create_app(profile), host=g.host, port=g.port, log_level="info", proxy_headers=False)


def up(profile: Profile) -> None:
    """The service in the background (log and pid file in its home), answering before this returns."""
    import os
    import sys

    from courtwatch.processes import start_background

    g = profile.guidance
    Path(g.home).mkdir(parents=True, exist_ok=True)
    courtwatch = str(Path(sys.executable).parent / "courtwatch")
    start_background("guidance", [courtwatch, "--conf", profile.source, "guidance", "serve"], dict(os.environ),
                     Path(g.home), g.host, g.port, 120)
    print(f"guidance loop: {g.url}/ (the dashboards' accounts; API {g.url}/docs)")


def down(profile: Profile) -> None:
    from courtwatch.processes import stop

    if stop(Path(profile.guidance.home), "guidance"):
        print("guidance: stopped")
