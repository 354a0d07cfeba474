# Two commands (see README): `make demo` runs the main job, `make test` runs the tests.
# Both create the virtual environment on first use (Python 3.11 + Java 17 needed on the machine).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test dev bench stack-up stack-down clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/smartcity demo

test: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/pytest

# The Dagster UI and daemon (sensors run) on the project-local instance configured by dagster.yaml.
dev: $(BIN)/.installed
	mkdir -p .smartcity/dagster && ln -sf $(CURDIR)/dagster.yaml .smartcity/dagster/dagster.yaml
	DAGSTER_HOME=$(CURDIR)/.smartcity/dagster $(BIN)/dagster dev -w workspace.yaml

bench: $(BIN)/.installed
	$(BIN)/python bench/simulator_throughput.py
	$(BIN)/python bench/streaming_throughput.py
	$(BIN)/python bench/assets_benchmark.py
	$(BIN)/python bench/marts_benchmark.py
	$(BIN)/python bench/faults_benchmark.py

stack-up: $(BIN)/.installed
	$(BIN)/smartcity stack up

stack-down: $(BIN)/.installed
	$(BIN)/smartcity stack down

clean:
	-$(BIN)/smartcity stack down
	rm -rf .smartcity
