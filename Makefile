# qsmstudy: `make run` serves the app with a local worker, `make test` runs the suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: install run test test-slow bench chromium clean

install: $(STAMP) $(NODE_STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Browser packages (Niivue) from package.json, served as static files.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

# An install cut short (a killed session) leaves dpkg half-configured: finish it first.
chromium:
	@command -v chromium >/dev/null || { DEBIAN_FRONTEND=noninteractive dpkg --configure -a; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core; }

# Local use: DEBUG on (development key, static files from the app), embedded SQLite and broker.
run: export DEBUG ?= 1
run: install
	$(BIN)/python manage.py migrate --noinput --verbosity 0
	$(BIN)/python manage.py runlocal

# The phantom-family accuracy sweeps and the first-run test take minutes: `make test` leaves them out, CI runs both.
test: install chromium
	$(BIN)/pytest -m "not slow"

test-slow: install
	$(BIN)/pytest -m slow

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var
