"""The fast tier's guard (tests/tiers.py), tested from inside the fast tier: a test that uses no `llm`,
`index` or `system` fixture and still loads a model, opens Chroma or starts a process fails at once, with
the fixture it should have requested. These tests provoke exactly that, on purpose."""

from __future__ import annotations

import subprocess
import sys

import pytest

from explorer.config import EmbedSettings, LLMSettings
from explorer.testing import scripted_settings
from tests.tiers import TierError, needs, tiers_of


def test_this_test_is_in_no_tier(request):
    assert tiers_of(request.node) == set()


def test_loading_the_embedder_or_the_llm_names_the_fixture_to_request(tmp_path):
    from explorer.llm import load_backend
    from explorer.store.embed import Embedder

    with pytest.raises(TierError, match=r"loads the embedder but uses no fixture of the `index` tier; request"):
        Embedder(EmbedSettings())
    with pytest.raises(TierError, match=r"loads the LLM but uses no fixture of the `llm` tier"):
        load_backend(LLMSettings(backend="transformers"))
    stand_in = load_backend(scripted_settings(data_dir=tmp_path).llm)  # no model: allowed
    assert stand_in.generate([{"role": "user", "content": "quiet harbour towns"}]) == "quiet harbour towns."


def test_opening_chroma_or_starting_a_process_names_the_fixture_to_request(tmp_path):
    from explorer.config import StoreSettings
    from explorer.store.items import open_client

    with pytest.raises(TierError, match=r"opens a Chroma index .* `index` tier"):
        open_client(StoreSettings(), tmp_path)
    with pytest.raises(TierError, match=r"starts a process \(python.*\) .* `system` tier.*run_process"):
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    assert subprocess.run(["true"], check=False).returncode == 0  # a plain tool is no server: allowed


def test_a_tier_must_be_one_of_the_three():
    with pytest.raises(ValueError, match="unknown test tier"):
        needs("gpu")
