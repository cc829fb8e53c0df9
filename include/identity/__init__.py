"""Identity resolution (docs/contracts/identity.md §2): the probabilistic matcher that feeds the one review queue.

Modules: ``config`` (settings), ``model`` (comparisons, blocking, the shipped default model), ``engine``
(Splink 5 on an owner-only, memory-bounded DuckDB), ``extract`` (an account's patients out of PostgreSQL
with COPY), ``matcher`` (one run: extract, train or load, score, write pairs, report), ``results`` (typed
results), ``generator`` / ``synthetic`` / ``train`` (the project's own evaluation data and default model),
``evaluate`` (precision / recall on generated data and on steward decisions). See docs/identity.md.
"""
