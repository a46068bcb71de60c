"""params.yaml through one typed schema: a wrong key stops the stage with its dotted name."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from .errors import InputError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


DatasetName = Literal["aviary", "cub200", "aircraft", "dogs", "ham10000", "pld", "chest_xray", "folder"]


class DatasetParams(Strict):
    """The embedded aviary, or a real dataset read in place from `root` (selfsynth/data/sources).
    The root is a param, not a DVC dependency: hashing a 10 GB image folder on every `dvc status`
    costs more than it protects, so a downloaded dataset is treated as immutable."""
    name: DatasetName
    root: str
    # prepare stops on one file's bytes in both train and test (a test image the model trained on);
    # true runs a published split that has such copies as it is (the copies are counted in
    # metrics/dataset.json), since the download is read in place and never edited
    allow_split_duplicates: bool = False

    @field_validator("root")
    @classmethod
    def _root_fits_name(cls, root: str, info: ValidationInfo) -> str:
        name = info.data.get("name")
        if name == "aviary":
            if root:
                raise ValueError("must be \"\" for the aviary (it is generated, not read from disk)")
        elif name is not None:
            if not root:
                raise ValueError(f"dataset {name!r} needs the folder it was downloaded to")
            if not Path(root).expanduser().is_dir():
                raise ValueError(f"{root}: no such directory (dataset {name!r})")
        return root


class ConceptLLMParams(Strict):
    """An OpenAI-compatible endpoint that lists each class's visual features (the paper: GPT-4o)."""
    base_url: str
    model: str
    api_key_env: str  # the environment variable holding the key; the key itself never sits in params
    domain: str  # appended to each class name in the prompt ("bird", "aircraft"); "" = the authors' prompt


class ConceptsParams(Strict):
    """Where the label-level concepts Z come from (step 0)."""
    source: Literal["world", "json", "cub_attributes", "llm"]
    path: str  # json: a file in the authors' {id: {name, visual_features}} format
    threshold: float = Field(ge=0, le=100)  # cub_attributes: percent of a class's images showing the attribute
    max_per_class: int = Field(ge=1)  # cub_attributes: strongest attributes kept per class
    llm: ConceptLLMParams


class WorldSize(Strict):
    n_genera: int = Field(ge=1)
    species_per_genus: int = Field(ge=1)
    train_per_class: int = Field(ge=1)
    test_per_class: int = Field(ge=1)
    generic_train: int = Field(ge=1)
    generic_test: int = Field(ge=1)


WORLD_SIZES = {
    "micro": WorldSize(n_genera=2, species_per_genus=2, train_per_class=4, test_per_class=3,
                       generic_train=96, generic_test=24),
    "default": WorldSize(n_genera=4, species_per_genus=4, train_per_class=30, test_per_class=10,
                         generic_train=4000, generic_test=200),
    # CUB-200's shape (200 classes, 5,994 train / 5,794 test images) and about a quarter of it, for the
    # scale benchmark (benchmarks/scale.py): the same attributes, siblings still 2-3 attributes apart
    "cub_quarter": WorldSize(n_genera=12, species_per_genus=4, train_per_class=30, test_per_class=29,
                             generic_train=4000, generic_test=200),
    "cub": WorldSize(n_genera=50, species_per_genus=4, train_per_class=30, test_per_class=29,
                     generic_train=4000, generic_test=200),
}


class WorldParams(Strict):
    seed: int  # the world and its pretrained base model: fixed inputs, like a downloaded dataset and checkpoint
    size: Literal["micro", "default", "cub_quarter", "cub"]
    image_size: int = Field(ge=32, le=336)
    hide_prob: float = Field(ge=0.0, lt=1.0)
    noise: float = Field(ge=0.0, le=0.5)
    # test images per class; None = the size's count (10 default, 3 micro). Each image has its own
    # draw, so more test images leave every training image, the base model and the pairs unchanged:
    # only the verdict's confidence intervals narrow
    test_per_class: int | None = Field(default=None, ge=1)

    @property
    def counts(self) -> WorldSize:
        size = WORLD_SIZES[self.size]
        if self.test_per_class is None:
            return size
        return size.model_copy(update={"test_per_class": self.test_per_class})


class VisionParams(Strict):
    hidden_size: int = Field(ge=8)
    layers: int = Field(ge=1)
    heads: int = Field(ge=1)
    patch_size: int = Field(ge=2)


class TextParams(Strict):
    hidden_size: int = Field(ge=8)
    intermediate_size: int = Field(ge=8)
    layers: int = Field(ge=1)
    heads: int = Field(ge=1)
    vocab_size: int = Field(ge=300)


class TrainParams(Strict):
    epochs: float = Field(gt=0)
    batch_size: int = Field(ge=1)
    lr: float = Field(gt=0)
    warmup_steps: float = Field(ge=0, lt=1)  # transformers' key: below 1, a fraction of the optimizer steps
    weight_decay: float = Field(ge=0)


class VisionPretrainParams(Strict):
    epochs: int = Field(ge=0)
    batch_size: int = Field(ge=1)
    lr: float = Field(gt=0)
    shift: int = Field(ge=0)  # each batch mirrored at random and moved by up to this many pixels; 0: as drawn


class BaseParams(Strict):
    model_dir: str  # a local HF LLaVA directory; empty: pretrain the tiny world model
    vision: VisionParams
    text: TextParams
    vision_pretrain: VisionPretrainParams  # stage A: the CLIP tower learns to see parts
    train: TrainParams  # stage B: projector + decoder learn to describe (tower frozen, as in LLaVA)


class GenerationParams(Strict):
    batch_size: int = Field(ge=1)
    max_new_tokens: int = Field(ge=1)


class EvalBaseParams(Strict):
    max_images: int = Field(ge=1)
    generation: GenerationParams


Backend = Literal["hf", "vllm"]


class DescribeParams(Strict):
    prompts: int = Field(ge=1)  # the first N describe prompts of prompts/<dataset>.yaml
    samples: int = Field(ge=1)
    temperature: float = Field(ge=0)
    top_p: float = Field(gt=0, le=1)
    max_new_tokens: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    backend: Backend


class SelectSweepParams(Strict):
    """Selection-only ablations, computed by the select stage on the same descriptions."""
    betas: list[float]
    encoders: list[str]  # besides select.encoder
    per_image: list[Annotated[int, Field(ge=1)]]  # descriptions per image (the paper's Figure 5)


class SelectParams(Strict):
    encoder: str = Field(min_length=1)  # minilm | tfidf | a local sentence-transformers directory
    beta: float
    tau: float = Field(gt=0)
    min_concepts: int = Field(ge=1)
    sweep: SelectSweepParams


class MixParams(Strict):
    """Share of simple / explain / chain-of-thought questions (the authors' code: about 40/20/40)."""
    simple: float = Field(ge=0)
    explain: float = Field(ge=0)
    cot: float = Field(ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> "MixParams":
        if self.simple + self.explain + self.cot <= 0:
            raise ValueError("simple, explain and cot are all 0: at least one kind of question needs a weight")
        return self

    def kinds(self, n: int, rng) -> list[str]:
        return rng.choices(("simple", "explain", "cot"), weights=(self.simple, self.explain, self.cot), k=n)


class SynthesizeParams(Strict):
    pairs_per_image: int = Field(ge=1)
    mix: MixParams
    writer: Literal["template", "lmm"]
    temperature: float = Field(ge=0)
    max_new_tokens: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    backend: Backend


class LoraParams(Strict):
    r: int = Field(ge=1)
    alpha: int = Field(ge=1)
    dropout: float = Field(ge=0, lt=1)
    targets: list[str] = Field(min_length=1)
    train_new_tokens: bool  # also train the embedding rows of the answers' tokens the base LM's corpus never used


class ConvergenceParams(Strict):
    """Train every method to convergence instead of a fixed epoch count: a held-out share of the
    training images (seeded by `seed` alone, so the same images every round: never trained on in
    any round) is evaluated each epoch with all their pairs; training stops when its loss has
    not improved for `patience` epochs, at most `max_epochs`, and the best epoch's weights are kept
    (HF Trainer: load_best_model_at_end + EarlyStoppingCallback). Off: the fixed `epochs` /
    `later_epochs`, every pair trained on (the earlier study, which starved the explaining methods)."""
    enabled: bool
    val_share: float = Field(gt=0, lt=1)  # of the round's images, held out with all their pairs
    patience: int = Field(ge=1)  # epochs without a lower validation loss before stopping
    # transformers' EarlyStoppingCallback key: an epoch must lower the best validation loss by more than this
    early_stopping_threshold: float = Field(ge=0)
    max_epochs: int = Field(ge=1)


class RoundTrainParams(TrainParams):
    """Base pretraining's keys, plus what a LoRA round adds."""
    lora: LoraParams
    # transformers' lr_scheduler_type; cosine anneals to zero at the epoch cap, which then decides the
    # "converged" epoch (the loss flattens because the rate does): constant_with_warmup does not
    lr_scheduler_type: Literal["constant_with_warmup", "cosine", "linear"]
    augment: bool
    general_mix: float = Field(ge=0)  # generic examples per task pair (paper: LLaVA-Instruct 1:1), keeps general ability
    later_epochs: float = Field(gt=0)  # epochs of rounds 2..K (the paper: 2 every round)
    convergence: ConvergenceParams


class RejectionParams(Strict):
    """Steps 2.5 / 2.6: candidates from the previous round's model, one kept per question."""
    questions: int = Field(ge=1)  # explain / chain-of-thought questions per training image (paper: 8)
    samples: int = Field(ge=1)  # candidates per question (paper: 3)
    temperature: float = Field(gt=0)
    top_p: float = Field(gt=0, le=1)
    max_new_tokens: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    backend: Backend
    label_check: Literal["after_score", "before_score"]  # paper: top score first, then the label check
    # what "names the label" means: anywhere = the label string occurs (lenient, several species may
    # be named); first = the first species named is the label (the headline accuracy's strict rule)
    label_match: Literal["anywhere", "first"]
    # w/o filtering: gated = a random candidate, then ours' label gate and fallback (the paper's Table 12:
    # no concept selection, no score); label_checked = a random label-naming candidate (gate before choosing);
    # random = a random candidate, no label check
    nofilter: Literal["gated", "label_checked", "random"]
    # share of explain (vs chain-of-thought) questions sampled in rounds 2..K; None = the synthesize
    # mix's explain:cot proportion (0.2:0.4 = 1:2); the authors' code uses 1:1 (0.5)
    explain_share: float | None = Field(ge=0, le=1)


class RoundSpec(Strict):
    round: int = Field(ge=1)
    after: int = Field(ge=0)


class OfflineJudgeParams(Strict):
    """EE / CS on real data without an LLM: answer clauses matched to concepts by text embedding."""
    encoder: str = Field(min_length=1)  # minilm | tfidf | a local sentence-transformers directory
    threshold: float = Field(ge=-1, le=1)  # cosine above which a clause cites a concept


class JudgeLLMParams(Strict):
    base_url: str
    model: str
    api_key_env: str


class EvaluateParams(Strict):
    max_images: int = Field(ge=1)
    max_new_tokens: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    backend: Backend
    judge: Literal["offline", "llm"]  # who scores EE / CS (the aviary's exact judge is always offline)
    offline_judge: OfflineJudgeParams
    llm_judge: JudgeLLMParams

    @field_validator("llm_judge")
    @classmethod
    def _llm_judge_set(cls, llm: JudgeLLMParams, info: ValidationInfo) -> JudgeLLMParams:
        if info.data.get("judge") == "llm" and not (llm.base_url and llm.model):
            raise ValueError("judge is 'llm': set llm_judge.base_url and llm_judge.model")
        return llm


class ReportParams(Strict):
    """Uncertainty of the verdict: bootstrap over test images (a claim holds only if its interval says so)."""
    bootstrap: int = Field(default=2000, ge=100)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)


class ResumeParams(Strict):
    """How much work a killed long stage can lose: it resumes from its last finished unit
    (selfsynth/process/resume.py). Neither changes a result, so no stage depends on them in dvc.yaml."""
    shard_batches: int = Field(ge=1)  # describe / generate: batches per shard
    save_steps: int = Field(ge=1)  # base and round training: optimizer steps between checkpoints


class TrackingParams(Strict):
    uri: str  # MLFLOW_TRACKING_URI overrides
    experiment: str  # empty: the dataset name


class Params(Strict):
    seed: int
    workers: int = Field(2, ge=1)  # processes for a stage's independent methods (1 on CUDA); never "per core"
    threads: int = Field(1, ge=1)  # torch threads in every computing process: one seed, one set of bytes on any machine
    dataset: DatasetParams
    concepts: ConceptsParams
    world: WorldParams
    base: BaseParams
    eval_base: EvalBaseParams
    describe: DescribeParams
    select: SelectParams
    synthesize: SynthesizeParams
    train: RoundTrainParams
    rejection: RejectionParams
    rounds: dict[str, RoundSpec]  # rounds 1..K; DVC runs one train / evaluate per entry
    resample: dict[str, RoundSpec]  # rounds 2..K; DVC runs one generate / rejection per entry
    evaluate: EvaluateParams
    report: ReportParams = ReportParams()
    resume: ResumeParams
    tracking: TrackingParams

    @field_validator("concepts")
    @classmethod
    def _concepts_fit_dataset(cls, c: ConceptsParams, info: ValidationInfo) -> ConceptsParams:
        """A source that cannot serve the dataset stops here, not after the base model is trained."""
        dataset = info.data.get("dataset")
        name = dataset.name if dataset is not None else None
        if c.source == "world" and name not in (None, "aviary"):
            raise ValueError(f"source 'world' is the aviary's own field guide; dataset {name!r} needs "
                             "json, cub_attributes or llm")
        if c.source == "cub_attributes" and name not in (None, "cub200"):
            raise ValueError(f"source 'cub_attributes' reads CUB-200-2011's annotations; dataset is {name!r}")
        if c.source == "json":
            if not c.path:
                raise ValueError("source 'json' needs concepts.path")
            if not Path(c.path).expanduser().is_file():
                raise ValueError(f"path: {c.path}: no such file")
        if c.source == "llm" and not (c.llm.base_url and c.llm.model):
            raise ValueError("source 'llm' needs concepts.llm.base_url and concepts.llm.model")
        return c

    @field_validator("rounds", "resample")
    @classmethod
    def _rounds_chain(cls, rounds: dict[str, RoundSpec], info: ValidationInfo) -> dict[str, RoundSpec]:
        """Round r must be named round-r and continue from round r-1: a typo here would silently
        train a round on the wrong model. `resample` holds the rounds of `rounds` but the first."""
        first = 1 if info.field_name == "rounds" else 2
        for i, (name, spec) in enumerate(rounds.items(), start=first):
            if name != f"round-{spec.round}" or spec.round != i or spec.after != i - 1:
                raise ValueError(f"entry {name!r} must read 'round-{i}: {{round: {i}, after: {i - 1}}}' "
                                 f"(rounds run {first}, {first + 1}, ... in order, each after the one before)")
        if info.field_name == "rounds" and not rounds:
            raise ValueError("at least round-1")
        if info.field_name == "resample" and "rounds" in info.data and len(rounds) != len(info.data["rounds"]) - 1:
            raise ValueError(f"must hold the rounds of `rounds` but the first: round-2 .. round-{len(info.data['rounds'])}")
        return rounds

    @property
    def last_round(self) -> int:
        return len(self.rounds)

    @property
    def experiment(self) -> str:
        """The study's MLflow experiment: tracking.experiment, else the dataset's name."""
        return self.tracking.experiment or self.dataset.name


class ParamsError(ValueError, InputError):
    pass


def parse_params(raw: dict, source: str = "params.yaml") -> Params:
    try:
        return Params.model_validate(raw or {})
    except ValidationError as e:
        lines = []
        for err in e.errors():
            key = ".".join(str(p) for p in err["loc"]) or "<root>"
            msg = {"extra_forbidden": "unknown key", "missing": "missing key"}.get(err["type"], err["msg"])
            lines.append(f"{source}: {key}: {msg}")
        raise ParamsError("\n".join(lines)) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: no such params file")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ParamsError(f"{path}: not valid YAML: {e}") from None
    if raw is not None and not isinstance(raw, dict):
        raise ParamsError(f"{path}: the top level must be a mapping of keys")
    return parse_params(raw, str(path))
