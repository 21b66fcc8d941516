"""The FastAPI app factory. Concrete services are plugged in here, nowhere else."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from governance import __version__
from governance.api import errors
from governance.api.deps import ApiAccess
from governance.api.fastlane import DecisionFastLane
from governance.api.limits import BodySizeLimit, InputGuard, RateLimiter
from governance.api.lineage_schemas import openlineage_components
from governance.api.routers import admin, audit, decisions, lineage, pii, reports, subjects
from governance.api.routing import EncodedSegments, document_problems
from governance.api.vocabulary import Vocabularies, from_bundle
from governance.config import Settings, get_settings
from governance.runtime import tune_gc
from governance.services import Services, build_all

DESCRIPTION = """
Policy decisions, PII protection and lineage for AI pipelines.

Services ask **may subject S do action A on dataset R for purpose P?** and get an answer with
obligations; every decision lands in a tamper-evident audit trail. Every endpoint except
`/health` needs `Authorization: Bearer <API key>`. Errors are RFC 9457 `application/problem+json`.
"""

ServiceFactory = Callable[[Settings], Services]


def _vocabularies(app: FastAPI) -> tuple[str, Vocabularies] | None:
    services = getattr(app.state, "services", None)
    if services is None:
        return None
    bundle = services.pdp.bundle
    words = from_bundle(bundle)
    entities = services.pii.loaded_entities() if services.pii is not None else None
    if entities is not None:
        words["pii-entities"] = {"enum": entities}
    return f"{bundle.version}:{entities is not None}", words


def create_app(
    settings: Settings | None = None, service_factory: ServiceFactory | None = None
) -> FastAPI:
    """Build the app; services are created at start-up (and the policy must load then)."""
    settings = settings or get_settings()
    factory = service_factory or build_all

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = factory(settings)
        app.state.services = services
        tune_gc(settings.gc_gen0_threshold)
        services.start()
        try:
            yield
        finally:
            services.close()

    app = FastAPI(
        title="Governance service",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.access = ApiAccess()
    app.state.rate_limiter = RateLimiter(
        settings.api.rate_limit_per_second, settings.api.rate_limit_burst
    )
    errors.install(app)
    document_problems(app, lambda: _vocabularies(app), openlineage_components)
    app.include_router(admin.router)
    app.include_router(decisions.router)
    app.include_router(audit.router)
    app.include_router(lineage.router)
    app.include_router(pii.router)
    app.include_router(subjects.router)
    app.include_router(reports.router)
    app.add_middleware(EncodedSegments)
    if settings.api.fast_lane:
        app.add_middleware(DecisionFastLane)  # innermost: after the size and input guards
    app.add_middleware(InputGuard)
    app.add_middleware(
        BodySizeLimit,
        default=settings.api.max_body_bytes,
        per_path={
            "/api/v1/lineage": settings.lineage.max_event_bytes,
            "/api/v1/lineage/batch": settings.lineage.max_batch_bytes,
        },
    )
    return app
