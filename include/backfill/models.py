"""Options, results and errors of the backfill (docs/contracts/data-model.md §4). No I/O here."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from include.core import settings
from include.core.errors import GenascopeError


class BackfillError(GenascopeError, RuntimeError):
    """Base class of the backfill's own errors."""


class PlanMissing(BackfillError):
    """A phase ran without a ready plan for its run id."""


class PlanLost(BackfillError):
    """The plan's working tables no longer hold the rows the plan header counted (server crash)."""


@dataclass(frozen=True)
class BackfillOptions:
    """How one backfill run behaves. ``run_id`` names the run in every ledger and checkpoint."""

    run_id: str
    batch_size: int = settings.DEFAULT_BATCH_SIZE
    lock_timeout_ms: int = settings.DEFAULT_LOCK_TIMEOUT_MS
    statement_timeout_ms: int = settings.DEFAULT_STATEMENT_TIMEOUT_MS
    #: Stop a phase after this many batches in one call (tests, controlled pauses); None = run to the end.
    max_batches: int | None = None
    #: How many lock-timeout retries a batch gets before LockTimeoutExhausted.
    lock_retries: int = settings.DEFAULT_LOCK_RETRIES
    #: catch_up re-plans at most this many times.
    catch_up_rounds: int = 5
    #: Key-range lanes per phase, run side by side on their own connections (1 = one connection).
    #: A phase resumed from checkpoints keeps the lane split it started with.
    lanes: int = settings.DEFAULT_BACKFILL_LANES
    #: Split a phase only when every lane gets at least this many batches.
    lane_min_batches: int = settings.DEFAULT_LANE_MIN_BATCHES
    #: 0 = off. Else pace the batches so that a durable commit (what every application write waits for)
    #: stays within this factor of its idle latency (include/backfill/throttle.py).
    throttle_factor: float = settings.DEFAULT_THROTTLE_FACTOR
    #: Connections the plan reads the invites and users heaps with, side by side, each a slice of the
    #: heap on one exported snapshot (planner.py); 1 = the whole plan in one transaction.
    plan_workers: int = settings.DEFAULT_BACKFILL_LANES

    def __post_init__(self) -> None:
        if not self.run_id or len(self.run_id) > 250:
            raise ValueError("run_id must be a non-empty string of at most 250 characters")
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if not 1 <= self.lanes <= 16:
            raise ValueError("lanes must be between 1 and 16")
        if not 1 <= self.plan_workers <= 16:
            raise ValueError("plan_workers must be between 1 and 16")
        if self.lane_min_batches < 1:
            raise ValueError("lane_min_batches must be at least 1")
        if self.throttle_factor and not 1.0 <= self.throttle_factor <= 100.0:
            raise ValueError("throttle_factor must be 0 (off) or between 1 and 100")
        if self.max_batches is not None and self.max_batches < 1:
            raise ValueError("max_batches must be at least 1 (or None for no limit)")


@dataclass(frozen=True)
class PlanSummary:
    """What the plan would do (also the dry run's answer). Ids only, never PHI."""

    persons: int
    patients_to_create: int
    patients_matched: int
    invites_to_link: int
    users_to_link: int
    chats_to_link: int
    quarantined_invite_ids: list[str]
    review_queue_invite_ids: list[str]
    unresolved_account_invites: int
    unparseable_phones: int
    plan_id: int = 0
    quarantined_user_ids: list[str] = field(default_factory=list)
    review_queue_user_ids: list[str] = field(default_factory=list)
    #: existing patients that share an identity key (key form) with the one the plan matched: an earlier
    #: version split a person on noise (reason patients_share_identity_key); never merged automatically
    review_queue_patient_ids: list[str] = field(default_factory=list)

    @property
    def nothing_to_do(self) -> bool:
        return not (self.patients_to_create or self.invites_to_link or self.users_to_link or self.chats_to_link)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class PhaseResult:
    """One call of a batched phase: rows written and batches committed by this call."""

    phase: str
    rows: int
    batches: int
    seconds: float
    rows_per_s: float
    #: The checkpoint key this call resumed after (None: started from the beginning).
    resumed_from: str | None
    #: False when max_batches stopped the phase before its end (call again to resume).
    complete: bool = True
    #: Key-range lanes the phase ran in (each its own connection and checkpoint).
    lanes: int = 1
    #: The throttle's idle and target commit latency and the pauses it made (None: throttle off).
    throttle: dict[str, float] | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class BackfillResult:
    """Everything run_all did."""

    plan: PlanSummary
    phases: list[PhaseResult]
    catch_up: dict[str, object] | None
    seconds: float
    complete: bool
