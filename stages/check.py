"""Step -1: params checked before DVC touches any other stage's outputs.

DVC deletes a stage's outputs before it runs the stage's cmd, so a stage that validates its own
params can only fail after its outputs are gone, and a param DVC interpolates into dvc.yaml (a
`dataset.name` typo) fails in DVC, naming a missing prompt file. Every stage depends on this
one's stamp: DVC runs it first whenever params.yaml changes, and a bad key stops the pipeline,
named, while every output is still in place. The stamp's bytes never change, so a passing check
re-runs nothing downstream. (Each stage still validates its own params when run by hand.)
"""
from pathlib import Path

from selfsynth.checks import check_encoders, check_prompts
from selfsynth.core.io import write_json
from selfsynth.core.params import load_params

OUT = Path("data/params-checked.json")


def main() -> None:
    params = load_params()
    check_prompts(params)
    check_encoders(params)
    write_json(OUT, {"checked": "params.yaml"})


if __name__ == "__main__":
    main()
