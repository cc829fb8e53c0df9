"""The shared rate limit hands out small leases of the database's bucket (include/api/limits.py): busy keys
ask the database about once per lease, and all processes together never admit more than the bucket holds."""

from __future__ import annotations

import time

import sqlalchemy as sa

from include.api.limits import SharedRateLimiter


class CountingLimiter(SharedRateLimiter):
    """A real limiter on the real database that counts its statements (one per lease)."""

    statements = 0

    def _lease(self, key: str, want: int, give_back: int) -> tuple[int, float]:
        self.statements += 1
        return super()._lease(key, want, give_back)


def fast_engine(api_env) -> sa.Engine:
    return sa.create_engine(api_env.engine.url, isolation_level="AUTOCOMMIT")


def test_two_processes_leasing_one_bucket_admit_at_most_the_bucket_and_ask_once_per_lease(api_env):
    engine = fast_engine(api_env)
    try:
        # one token a minute: the bucket of 200 is all there is while the test runs
        a, b = (CountingLimiter(1, 200, lambda: engine) for _ in range(2))
        admitted = {"a": 0, "b": 0}
        waits = 0
        for _ in range(300):
            for name, limiter in (("a", a), ("b", b)):
                wait = limiter.take("lease-test-key")
                if wait == 0:
                    admitted[name] += 1
                else:
                    waits += 1
                    assert wait > 1  # the next token is about a minute away
        total = admitted["a"] + admitted["b"]
        assert 190 <= total <= 201, admitted  # never more than the bucket (+ a token refilled meanwhile)
        assert admitted["a"] > 50 and admitted["b"] > 50, admitted  # both processes were served
        assert waits == 600 - total
        # a refused call asks the database each time; while tokens were there, leases grew to 16 tokens:
        # far fewer statements than calls admitted
        assert a.statements + b.statements - waits < total / 4, (a.statements, b.statements, waits, total)
    finally:
        engine.dispose()


def test_a_slow_caller_takes_one_token_per_call(api_env):
    engine = fast_engine(api_env)
    try:
        limiter = CountingLimiter(600, 120, lambda: engine, lease_seconds=0.0)  # every lease expires at once
        for _ in range(5):
            assert limiter.take("slow-key") == 0
        assert limiter.statements == 5
        with engine.connect() as conn:
            tokens = conn.execute(sa.text("SELECT tokens FROM patient_pipeline.api_rate_bucket WHERE key_id = 'slow-key'"
                                          )).scalar_one()
        assert 114.9 <= tokens <= 116, tokens  # five tokens taken from 120 (plus a little refill), none hoarded
    finally:
        engine.dispose()


def test_leftover_tokens_go_back_to_the_bucket_with_the_next_lease(api_env):
    engine = fast_engine(api_env)
    try:
        limiter = CountingLimiter(1, 160, lambda: engine, lease_seconds=0.3)
        for _ in range(40):  # leases grow 1, 2, 4, 8, 16 while they are used up
            assert limiter.take("giveback-key") == 0
        time.sleep(0.35)  # the lease expires with tokens left
        assert limiter.take("giveback-key") == 0  # gives the leftovers back, takes one
        with engine.connect() as conn:
            tokens = conn.execute(sa.text(
                "SELECT tokens FROM patient_pipeline.api_rate_bucket WHERE key_id = 'giveback-key'")).scalar_one()
        assert 118.9 <= tokens <= 119.2, tokens  # 160 - 41 calls: nothing lost to the expired lease
    finally:
        engine.dispose()
