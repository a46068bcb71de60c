"""A method's final LoRA adapter as an MLflow model that loads back and answers.

MLflow's transformers flavour cannot save this image-text-to-text LLaVA, so the model is a pyfunc
wrapper. Its artifacts: the PEFT adapter (small) and base.json, which names the directory of the
model the adapter was trained on (the merged model of the round before; DVC keeps it, so it is not
copied). A file, not model_config: MLflow would log that as params of the method run, where
Compare and parallel coordinates would show a path per method."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import mlflow.pyfunc
import pandas as pd

ADAPTER, BASE = "adapter", "base"
INPUTS = ("image", "question")


class LoraAnswerer(mlflow.pyfunc.PythonModel):
    """predict(DataFrame[image, question]) -> one greedy answer per row."""

    def load_context(self, context) -> None:
        from peft import PeftModel

        from .load import load_lmm

        config = json.loads(Path(context.artifacts[BASE]).read_text())
        base = Path(config["base_model"])
        if not base.is_dir():
            raise FileNotFoundError(f"base model {base} is gone: `dvc checkout` (or `dvc exp apply`) the study "
                                    f"that logged this model, then load it again")
        model, self.processor = load_lmm(base)
        self.model = PeftModel.from_pretrained(model, context.artifacts[ADAPTER]).eval()
        self.max_new_tokens = int(config["max_new_tokens"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> list[str]:
        from .hf import HFGenerator, Sampling

        gen = HFGenerator(self.model, self.processor, batch_size=8)
        answers = gen.generate([str(p) for p in model_input["image"]], list(model_input["question"]),
                               Sampling(max_new_tokens=self.max_new_tokens), desc="predict")
        return [a[0] for a in answers]


def log_adapter_model(adapter: Path, base_model: Path, registered_name: str, max_new_tokens: int):
    """Log into the active run and register a new version; returns the ModelInfo. Requirements are
    given, not inferred: inference would load the model in a subprocess (slow, and the point is cheap)."""
    from importlib.metadata import version

    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    signature = ModelSignature(inputs=Schema([ColSpec("string", c) for c in INPUTS]),
                               outputs=Schema([ColSpec("string")]))
    with tempfile.TemporaryDirectory() as scratch:
        reference = Path(scratch) / "base.json"
        reference.write_text(json.dumps({"base_model": str(base_model.resolve()), "max_new_tokens": max_new_tokens}))
        return mlflow.pyfunc.log_model(
            name="model", python_model=LoraAnswerer(), artifacts={ADAPTER: str(adapter), BASE: str(reference)},
            signature=signature, registered_model_name=registered_name,
            pip_requirements=[f"{p}=={version(p)}" for p in ("mlflow", "torch", "transformers", "peft", "pillow")])
