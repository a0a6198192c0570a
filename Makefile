# Entry points for a fresh machine. Each target creates or reuses the virtual environment in
# $(VENV) and installs the package (editable) with torch as TORCH_SPEC says: quickstart its
# run-time dependencies only, the other targets the test and benchmark tools as well.
#   make quickstart   simulate, train, reconstruct, evaluate; prints the report folder last
#   make test         lint, import contracts, type check, the whole pytest suite (what CI runs)
#   make bench        the CPU benchmark suite (table + JSON in benchmarks/results/)
# Override TORCH_SPEC to pick a CUDA build, e.g. make TORCH_SPEC='torch>=2.1' test.
# I3_BUILD=/path/to/icetray/build makes that icetray build importable in the venv (a .pth file),
# so the tests marked `icetray` run instead of skipping: make test I3_BUILD=$HOME/icetray/build
# FORMAT_CHECK=0 leaves `ruff format --check` out of the lint target (e.g. on an unformatted tree).

VENV ?= .venv
PYTHON ?= python3
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
RUNTIME_STAMP := $(VENV)/.llp_gap_reco-runtime
STAMP := $(VENV)/.llp_gap_reco-installed

I3_BUILD ?=
FORMAT_CHECK ?= 1

.PHONY: venv icetray-link quickstart test lint typecheck bench clean-venv

# the package and its run-time dependencies (what quickstart needs) ...
$(RUNTIME_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e .
	touch $(RUNTIME_STAMP)

# ... and the test and benchmark tools on top
$(STAMP): $(RUNTIME_STAMP)
	$(PY) -m pip install -q -e ".[test,bench]"
	touch $(STAMP)

venv: $(STAMP)

icetray-link: $(RUNTIME_STAMP)
	@if [ -n "$(I3_BUILD)" ]; then \
	  site=$$($(PY) -c "import sysconfig; print(sysconfig.get_paths()['purelib'])"); \
	  ls -d $(I3_BUILD)/lib/python3*/site-packages > $$site/icetray_build.pth && \
	  $(PY) -c "import icecube.icetray" && echo "icetray from $(I3_BUILD) is importable"; \
	fi

quickstart: icetray-link
	$(VENV)/bin/llp-gap-reco quickstart

lint: $(STAMP)
	$(VENV)/bin/ruff check python tests benchmarks resources
	@if [ "$(FORMAT_CHECK)" != 0 ]; then \
	  $(VENV)/bin/ruff format --check python tests benchmarks resources; \
	else echo "ruff format --check left out (FORMAT_CHECK=0)"; fi
	$(VENV)/bin/lint-imports

# mypy over the package: python/ is the package llp_gap_reco, seen through a link so that mypy
# names its modules as users import them
typecheck: $(STAMP)
	mkdir -p build/typecheck && ln -sfn ../../python build/typecheck/llp_gap_reco
	MYPYPATH=build/typecheck $(VENV)/bin/mypy -p llp_gap_reco

test: lint typecheck icetray-link
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean-venv:
	rm -rf $(VENV)
