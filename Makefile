# Two commands on a fresh machine: `make run` (set up, index, serve) and `make test` (set up, every test tier).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False
export ANONYMIZED_TELEMETRY := False

.PHONY: setup setup-test models browser wordnet index run chat test test-fast eval bench bench-corpus bench-full clean

setup: $(STAMP) models
	@$(MAKE) --no-print-directory wordnet || echo "WordNet could not be installed: plain-language synonyms stay off (apt-get install wordnet-base)."

# The packaged model exported to ONNX (fp32 + int8) once per weights hash into the git-ignored models
# folder (about 20 s the first time, a no-op after); the embedder would also export it at first use.
MODELS_DIR ?= data/models
models: $(STAMP)
	$(PY) -m index.onnx_export --models-dir $(MODELS_DIR)

# torch first, pinned: the CPU build lies on local disk; unpinned it would pull a multi-GB CUDA build.
$(STAMP): requirements.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -r requirements.txt
	touch $(STAMP)

# Test-only packages (a real llama.cpp server and a small model for the LLM composer's tests); `make run`
# never waits for llama.cpp's compiler.
setup-test: $(TEST_STAMP)

# llama.cpp is built for a fixed instruction set (AVX2/FMA, no AVX-512), not for the build machine's own:
# the test model's wording at temperature 0 depends on the SIMD kernels (measured: an AVX-512 build words
# "Where does Andrew Yee work?" without its citation marker, the AVX2 build with it), and the LLM tests
# are built on that wording. The wheel is kept under LLAMA_WHEELS, once per version and flags (the build
# takes 15-18 min on 2 cores; pip's own cache would hand back a wheel built with other flags).
LLAMA_VERSION := $(shell sed -n 's/^llama-cpp-python\[server\]==//p' requirements-test.txt)
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF
LLAMA_WHEELS ?= $(HOME)/.cache/assistant-wheels/llama-cpp-python-$(LLAMA_VERSION)-avx2

$(TEST_STAMP): $(STAMP) requirements-test.txt
	test -n "$$(ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl 2>/dev/null)" || \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) wheel --quiet --no-cache-dir --no-deps \
			"llama-cpp-python==$(LLAMA_VERSION)" -w $(LLAMA_WHEELS)
	$(PIP) install --quiet --no-deps $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	$(PIP) install --quiet -r requirements-test.txt
	touch $(TEST_STAMP)

# Debian's Chromium for the Playwright tests (`playwright install` cannot download here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium; \
		else sudo apt-get update -q && sudo apt-get install -y -q chromium; fi; }

# Debian's WordNet 3.0 (plain-language synonyms, assistant/pipeline/synonyms.py); optional for `make run`
# (without it the assistant says so and answers without synonyms), required by `make test`.
wordnet:
	@test -f /usr/share/wordnet/data.noun || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q wordnet-base; \
		else sudo -n apt-get update -q && sudo -n apt-get install -y -q wordnet-base; fi; }

index: setup
	$(PY) -m assistant ingest

# A fresh clone has no index: `status --build-if-missing` says so in one line and builds it.
# The port: `make run PORT=8000` (or ASSISTANT_PORT=8000 make run).
run: setup
	@$(PY) -m assistant status --build-if-missing
	$(PY) -m assistant serve $(if $(PORT),--port $(PORT))

chat: setup
	@$(PY) -m assistant status --build-if-missing
	$(PY) -m assistant chat

test: setup setup-test browser wordnet
	$(PY) -m pytest -q -p no:cacheprovider

test-fast: setup setup-test
	$(PY) -m pytest -q -p no:cacheprovider -m "not browser"

eval: setup
	$(PY) -m eval --qa eval/qa.jsonl --out eval/out --baselines

# Debian documentation packages the growth benchmark's distractor documents come from (bench/distractors.py).
BENCH_CORPUS := python3.11-doc postgresql-doc-15
bench-corpus:
	@test -d /usr/share/doc/python3.11/html -a -d /usr/share/doc/postgresql-doc-15/html || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q $(BENCH_CORPUS); \
		else sudo apt-get update -q && sudo apt-get install -y -q $(BENCH_CORPUS); fi; }

# The cheap parts (turn, /api/ask, cold start, ingest, growth at +10k distractor chunks); see bench/results.md.
bench: setup bench-corpus
	$(PY) -m bench.distractors --sizes 10000
	$(PY) -m bench
	$(PY) -m bench.embedder

# Adds the ~100k-chunk growth run: about 45 minutes on 2 cores, mostly embedding the 100k chunks.
bench-full: bench
	$(PY) -m bench.growth --sizes 0,10000,100000 --reuse-index

clean:
	rm -rf data eval/out bench/out artifacts
