.PHONY: setup demo test up lint
setup: ; scripts/setup
demo:  ; scripts/demo
test:  ; scripts/test
up: setup ; .venv/bin/semsearch up
lint: ; .venv/bin/ruff check . && .venv/bin/mypy && .venv/bin/lint-imports
