# Two commands for a newcomer: `make run` and `make test`. Both need only Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint serve migrate demo clean

# Create the virtualenv and install the project with its dev extra;
# redone only when pyproject.toml changes.
$(STAMP): pyproject.toml
	@echo "→ virtualenv and dependencies"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

## Start the site with demo data at http://127.0.0.1:8000 (SQLite, Celery eager, no services).
run: $(STAMP)
	@echo "→ database migrations"
	@$(BIN)/python manage.py migrate --no-input -v 0
	@echo "→ demo data"
	@$(BIN)/python manage.py seed_demo
	@echo "→ serving http://127.0.0.1:8000 (Ctrl-C to stop)"
	@$(BIN)/python manage.py runserver 127.0.0.1:8000

## Run the whole test suite (PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set).
test: $(STAMP)
	@$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/python manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
