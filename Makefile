# `make run`: analyse the bundled example; `make test`: run the test suite.
# Each target creates .venv and installs ferx into it when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
OUT    ?= ferx-output

.PHONY: run test test-slow test-all bench clean browser

# The CPU build of torch is chosen by constraints/cpu.txt (see the comment there), so a change to it
# reinstalls too. The `mediapipe` extra is for the parity tests against MediaPipe's own graph.
CONSTRAINTS := constraints/cpu.txt

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,train,mediapipe,serve,ray]' -c $(CONSTRAINTS)
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/ferx analyze --demo --annotate --report --format json,csv --out $(OUT)
	@echo "Outputs: $(OUT)/astronaut.jpg.json (faces, landmarks, AUs, expression), $(OUT)/faces.csv, $(OUT)/annotated/astronaut.jpg, $(OUT)/report.html, $(OUT)/summary.json"

# The end-to-end page test drives Debian's chromium (Playwright never downloads a browser). Best
# effort: installed when missing and apt-get can run (root); otherwise that one test skips and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		(apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || \
		echo "make: chromium not installed: the browser test will be skipped"; }

test: $(STAMP) browser
	$(BIN)/python -m pytest -q -m "not slow"

# exit status 5 = no test selected (nothing marked slow): not a failure
test-slow: $(STAMP) browser
	$(BIN)/python -m pytest -q -m slow || [ $$? -eq 5 ]

test-all: $(STAMP) browser
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_speed.py
	$(BIN)/python benchmarks/bench_detection.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
