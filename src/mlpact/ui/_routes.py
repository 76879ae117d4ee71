"""The UI's routes: one GET per page (its state in the URL) and one POST per write."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from mlpact.errors import MlpactError, NotFoundError
from mlpact.store import check_name
from mlpact.ui import _catalog as catalog
from mlpact.ui import _pages
from mlpact.ui import _security as sec
from mlpact.ui._app import HERE, STATIC, State


def add_routes(app: FastAPI, state: State) -> None:
    """Every page and form of the UI, on `app`."""
    pages = state.pages

    def error_page(request: Request, status: int, message: str, hint: str | None) -> Response:
        context = state.context(request, title="Error", status=status, message=message, hint=hint)
        return HTMLResponse(pages.render("error.html", context), status)

    @app.exception_handler(MlpactError)
    async def mlpact_error(request: Request, exc: MlpactError) -> Response:
        status = 404 if isinstance(exc, NotFoundError) else 409
        return error_page(request, status, exc.message, exc.hint)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        message = f"Unexpected error: {type(exc).__name__}. This is a bug in mlpact or an unhandled case."
        return error_page(request, 500, message, None)

    @app.get("/health")
    def health() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:
            raise NotFoundError(f"No static file {name!r}.")
        body = (HERE / "static" / name).read_bytes()
        return Response(body, media_type=STATIC[name], headers={"cache-control": "max-age=3600"})

    @app.get("/")
    def home() -> RedirectResponse:
        return RedirectResponse("/models", 303)

    @app.get("/models", response_class=HTMLResponse)
    def models_page(request: Request, q: str = "", sort: str = "name", order: str = "asc") -> str:
        rows = _pages.sort_models(catalog.models(state.store), q, sort, order)
        return pages.render("models.html", state.context(request, rows=rows, q=q, sort=sort, order=order,
                                                         title="Models"))  # fmt: skip

    @app.get("/models/{name}", response_class=HTMLResponse)
    def model_page(request: Request, name: str, archived: bool = False) -> str:
        name, _ = catalog.version_ref(name, 1)
        records = catalog.versions_of(state.store, name, include_archived=archived)
        return pages.render("model.html", state.context(
            request, name=name, records=records, archived=archived, aliases=state.store.aliases(name),
            timeline=state.store.alias_history(name), title=name))  # fmt: skip

    @app.get("/models/{name}/{number}", response_class=HTMLResponse)
    def version_page(request: Request, name: str, number: str) -> str:
        name, version = catalog.version_ref(name, number)
        info = catalog.version(state.store, name, version)
        return pages.render("version.html", state.context(request, v=info, title=info["version"]["ref"]))

    @app.get("/models/{name}/{number}/report", response_class=HTMLResponse)
    def report_page(name: str, number: str) -> str:
        name, version = catalog.version_ref(name, number)
        return _pages.report_html(state.store, name, version)

    @app.get("/models/{name}/{number}/reports/{file}")
    def report_file(name: str, number: str, file: str) -> Response:
        name, version = catalog.version_ref(name, number)
        body = _pages.report_image(state.store, name, version, file)
        return Response(body, media_type="image/png")

    @app.get("/runs", response_class=HTMLResponse)
    def runs_page(request: Request) -> str:
        query = _pages.run_query(request.query_params)
        everything = catalog.all_runs(state.store)
        rows, total = catalog.query_runs(state.store, query, state.configs)
        params, metrics = catalog.columns_of(everything)
        columns = query.columns or catalog.default_columns(everything)
        return pages.render("runs.html", state.context(
            request, rows=rows, total=total, q=query, columns=columns, params=params, metrics=metrics,
            kinds=catalog.RUN_KINDS, models=sorted({r["name"] for r in everything}), title="Runs",
            link=_pages.Links(request)))  # fmt: skip

    @app.get("/runs/{rid}", response_class=HTMLResponse)
    def run_page(request: Request, rid: str) -> str:
        run = _pages.one_run(state.store, catalog.run_id(rid))
        return pages.render("run.html", state.context(request, run=run, title=f"Run {run['id']}"))

    @app.get("/compare", response_class=HTMLResponse)
    def compare_page(request: Request) -> str:
        data = _pages.comparison(state.store, request.query_params)
        return pages.render("compare.html", state.context(request, c=data, title="Compare"))

    @app.get("/studies", response_class=HTMLResponse)
    def studies_page(request: Request) -> str:
        from mlpact.ui._studies import studies

        return pages.render("studies.html", state.context(request, studies=studies(state.store),
                                                          title="Tuning studies"))  # fmt: skip

    @app.get("/studies/{study}", response_class=HTMLResponse)
    def study_page(request: Request, study: str) -> str:
        from mlpact.ui._studies import folder

        data = state.studies.get(folder(state.store, study))
        runs = [r for r in state.store.runs() if r["kind"] == "tune" and r["params"].get("study") == study]
        return pages.render("study.html", state.context(request, s=data, runs=runs, title=study))

    # ----------------------------------------------------------------------- sign in
    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/") -> str:
        return pages.render("login.html", state.context(request, next=sec.safe_next(next), failed=False,
                                                        title="Sign in"))  # fmt: skip

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        target = sec.safe_next(str(form.get("next") or "/"))
        if not sec.same_origin(request.headers.get("origin"), request.headers.get("host")):
            return PlainTextResponse("Cross-site request refused.", 403)
        user = str(form.get("user") or "").strip()[:64] or "anonymous"
        made = state.sessions.create(str(form.get("token") or ""), user) if state.sessions else None
        if made is None:
            html = pages.render(
                "login.html", state.context(request, next=target, failed=True, title="Sign in")
            )
            return HTMLResponse(html, 401)
        response = RedirectResponse(target, 303)
        response.set_cookie(sec.COOKIE, made[0], httponly=True, samesite="strict", max_age=sec.SESSION_TTL_S)
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        form = await request.form()
        if state.sessions is not None and sec.csrf_ok(state.session(request), _field(form, "csrf")):
            state.sessions.drop(request.cookies.get(sec.COOKIE))
        response = RedirectResponse("/", 303)
        response.delete_cookie(sec.COOKIE)
        return response

    # ----------------------------------------------------------------------- writes
    async def authorised(request: Request) -> tuple[dict[str, str], str]:
        """The form and who writes; raises WriteRefused unless writes are on and the request is
        signed (bearer header, or session + CSRF token) and same-origin."""
        if not state.allow_writes:
            raise _pages.WriteRefused(
                405, "This UI is read-only: start it with --allow-writes (and a token)."
            )
        if not sec.same_origin(request.headers.get("origin"), request.headers.get("host")):
            raise _pages.WriteRefused(403, "Cross-site request refused.")
        form = {k: str(v) for k, v in (await request.form()).items()}
        token = state.bearer(request)
        if token is not None:
            return form, sec.who(form.get("user") or "api", token)
        session = state.session(request)
        if not sec.csrf_ok(session, form.get("csrf")):
            raise _pages.WriteRefused(403, "Missing or wrong CSRF token: reload the page and try again.")
        assert session is not None
        return form, session.who

    @app.exception_handler(_pages.WriteRefused)
    async def refused(request: Request, exc: _pages.WriteRefused) -> Response:
        return error_page(request, exc.status, exc.message, None)

    @app.post("/models/{name}/{number}/promote")
    async def promote(request: Request, name: str, number: str) -> Response:
        from mlpact import registry

        name, version = catalog.version_ref(name, number)
        form, user = await authorised(request)
        alias = check_name(form.get("alias", "").strip(), what="alias")
        reason = _pages.reason(form)
        registry.promote(f"{name}:{version}", alias, reason=reason, user=user, store=state.store)
        return RedirectResponse(f"/models/{name}/{version}#aliases", 303)

    @app.post("/models/{name}/aliases/{alias}/rollback")
    async def rollback(request: Request, name: str, alias: str) -> Response:
        from mlpact import registry

        name, _ = catalog.version_ref(name, 1)
        check_name(alias, what="alias")
        form, user = await authorised(request)
        moved = registry.rollback(name, alias, reason=_pages.reason(form), user=user, store=state.store)
        return RedirectResponse(f"/models/{name}/{moved.version}#aliases", 303)

    @app.post("/models/{name}/{number}/archive")
    async def archive(request: Request, name: str, number: str) -> Response:
        name, version = catalog.version_ref(name, number)
        form, user = await authorised(request)
        _pages.archive(state.store, name, version, reason=_pages.reason(form), user=user)
        return RedirectResponse(f"/models/{name}?archived=true", 303)


def _field(form: Any, key: str) -> str | None:
    value = form.get(key)
    return None if value is None else str(value)
