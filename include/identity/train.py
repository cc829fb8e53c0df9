"""``python -m include.identity.train``: re-train the shipped default model on the project's own generator.

u by random sampling, m from the generator's labels (which records are one person); the household levels
are neutral (model.neutralise_household_levels). Writes ``include/identity/default_model.json`` (levels,
labels and numbers only). Nothing is downloaded; the generator's data is made up.
"""

from __future__ import annotations

import argparse
import json

from include.identity import engine
from include.identity import model as model_mod
from include.identity.config import MatcherSettings
from include.identity.generator import Generator
from include.identity.synthetic import write_raw_csv


def train_default(people: int = 30_000, seed: int = 99) -> model_mod.Model:
    gen = Generator(seed).generate(people)
    n = len(gen.records)
    prior = len(gen.true_pairs) / (n * (n - 1) / 2)
    with engine.session(MatcherSettings()) as s:
        path = s.workdir / "raw.csv"
        write_raw_csv(gen.records, path)
        engine.load_raw_csv(s, path)
        engine.build_records(s)
        mdl = engine.train_from_labels(s, {r.record_id: r.person_id for r in gen.records}, prior=prior)
    data = {**mdl.splink_json, "genascope_model_name": model_mod.DEFAULT_MODEL_NAME,
            "genascope_trained_on": {"generator_seed": seed, "people": people, "records": n}}
    model_mod.DEFAULT_MODEL_PATH.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return model_mod.Model(model_mod.DEFAULT_MODEL_NAME, data)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m include.identity.train", description=__doc__)
    ap.add_argument("--people", type=int, default=30_000)
    ap.add_argument("--seed", type=int, default=99)
    a = ap.parse_args(argv)
    train_default(a.people, a.seed)
    print(f"wrote {model_mod.DEFAULT_MODEL_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
