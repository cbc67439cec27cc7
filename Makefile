# shanshui — the two set-up commands are `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck fuzz bench clean assets

# setup.py compiles the HJ 212 codec's hot modules with mypyc and the AQI loop (C): rebuild when they change.
$(STAMP): pyproject.toml setup.py $(wildcard src/shanshui/hj212/*.py) src/shanshui/hj212/_scan.c src/shanshui/standards/_aqi_kernel.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# The portal's chart library: ECharts as package-lock.json pins it, from npm (not committed).
# Without npm, tools/fetch_echarts.py fetches the same tarball and checks its sha512.
ECHARTS := src/shanshui/web/static/vendor/echarts.min.js
$(ECHARTS): package.json package-lock.json
	mkdir -p $(@D)
	if command -v npm >/dev/null 2>&1 && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error; \
	then cp node_modules/echarts/dist/echarts.min.js $@ && \
	     cp node_modules/echarts/LICENSE $(@D)/ECHARTS_LICENSE.txt && \
	     cp node_modules/echarts/NOTICE $(@D)/ECHARTS_NOTICE.txt; \
	else $(PYTHON) tools/fetch_echarts.py $@; fi
	touch $@

assets: $(ECHARTS)

demo: $(STAMP) $(ECHARTS)
	$(BIN)/shanshui demo

test: $(STAMP) $(ECHARTS)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy --strict src/shanshui/hj212 src/shanshui/standards
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy --strict src/shanshui/hj212 src/shanshui/standards

fuzz: $(STAMP)
	$(BIN)/python bench/fuzz_hj212.py

clean:
	rm -rf $(VENV) node_modules $(dir $(ECHARTS)) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
