"""The study as MLflow recorded it: every method run of one configuration, across seeds.

Seeds, ablations and reruns are separate DVC experiments; MLflow is where they all land, so
mean and spread over seeds are computed from it (the notebook reads the same function)."""
from __future__ import annotations

from collections import defaultdict

from .study import SCORES, Study


def _search(uri: str, experiment: str, query: str, newest_first: bool = True) -> list:
    """Runs of `experiment` matching `query` (none where the experiment does not exist)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    order = "attributes.start_time " + ("DESC" if newest_first else "ASC")
    return client.search_runs([exp.experiment_id], filter_string=query, max_results=10_000, order_by=[order]) if exp else []


def method_runs(uri: str, experiment: str, **tags: str) -> list:
    """Method runs (tag kind=method) of `experiment` whose tags equal `tags`, newest first."""
    runs = _search(uri, experiment, " and ".join(f"tags.{k} = '{v}'" for k, v in {"kind": "method", **tags}.items()))
    if not runs:
        raise LookupError(f"MLflow at {uri}: no method runs in {experiment!r}" + (f" with tags {tags}" if tags else "")
                          + " — run the study first")
    return runs


def study_from_mlflow(uri: str, experiment: str, config: str | None = None) -> Study:
    """Method runs of `experiment`, optionally only those of one `config` (params minus seed)."""
    return study_from_runs(uri, method_runs(uri, experiment, **({"config": config} if config else {})))


def study_from_runs(uri: str, runs: list) -> Study:
    """Per method, round and seed of these method runs, the last value logged for each score."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    cells: dict[tuple[str, int, int], dict[str, float]] = defaultdict(dict)
    for run in runs:
        method, seed = run.data.tags["method"], int(run.data.tags.get("seed", 0))
        for score in SCORES:
            for m in sorted(client.get_metric_history(run.info.run_id, score), key=lambda m: m.timestamp):
                # step 0 of every method run is the base model; the last logged value wins (a rerun)
                cells[("base" if m.step == 0 else method, m.step, seed)][score] = m.value
    rounds = max((rnd for (_, rnd, _) in cells), default=0)
    study = Study(rounds, seeds=sorted({seed for (_, _, seed) in cells}))
    for (method, rnd, _seed), values in sorted(cells.items()):
        study.add(method, rnd, values)
    return study


def instrument_figures(uri: str, experiment: str) -> dict[int, dict[str, dict[str, float]]]:
    """{seed: {config: the instrument stage's figures, its checks as check.<name> 1 / 0}}, newest run of
    a (seed, config) winning."""
    out: dict[int, dict[str, dict[str, float]]] = defaultdict(dict)
    for run in _search(uri, experiment, "tags.stage = 'instrument'", newest_first=False):
        out[int(run.data.tags.get("seed", 0))][run.data.tags.get("config", "")] = dict(run.data.metrics)
    return dict(out)


def latest_config(uri: str, experiment: str) -> str:
    """The configuration of the most recently started method run: what the notebook shows by default."""
    return method_runs(uri, experiment)[0].data.tags["config"]
