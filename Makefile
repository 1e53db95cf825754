# Two commands on a fresh machine: `make demo` (the main job on embedded defaults) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,fast,dask,web,imaging]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/rptici dose examples/lu177_dotatate_patient.yaml --out out/dosimetry
	rm -rf out/prince
	$(BIN)/rptici trial run examples/trials/prince_like.yaml --patients 300 --seed 1 --out out/prince
	$(BIN)/rptici report out/prince --out out/prince_summary.html

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) out .pytest_cache
