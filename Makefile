# Two commands matter: `make run` and `make test`. Both install what is missing first and are fast
# when nothing is.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export PATH := $(HOME)/.cargo/bin:$(PATH)

# What building the Tauri app needs, and what the real-window tests need on top.
BUILD_PACKAGES := libwebkit2gtk-4.1-dev build-essential curl wget file libxdo-dev libssl-dev \
                  libayatana-appindicator3-dev librsvg2-dev pkg-config
# nginx: the gateway test puts a real nginx (auth_request) in front of `keyward-cli serve`.
# postgresql: the PostgreSQL backend's tests run against a real server (scripts/with-postgres).
TEST_PACKAGES := xvfb xauth xclip webkit2gtk-driver imagemagick dbus-daemon nginx postgresql

UI_DEPS := ui/node_modules/.installed
# Unkey's official SDK, which tests/gateway.rs points at `keyward-cli serve`.
UNKEY_SDK_DEPS := tests/unkey-sdk/node_modules/.installed
XVFB := xvfb-run -a -s "-screen 0 1280x800x24 -nolisten tcp"
# The Tauri CLI comes from npm (ui/package.json): prebuilt, seconds to install.
TAURI := ui/node_modules/.bin/tauri
# What checking the installed package needs: a display, screenshots, the desktop-entry and rpm tools.
PACKAGE_SMOKE_PACKAGES := xvfb xauth imagemagick desktop-file-utils rpm

.PHONY: help run test deps test-deps ui lint unit-tests integration-tests e2e-tests \
        package package-smoke bench-startup bench-verify-server bench-server-memory bench-backends \
        bench-verify-server-nodes

help:
	@echo "make run    install what is missing, build, and open Keyward"
	@echo "make test   install what is missing, then run every check and test"
	@echo "make package        build the .deb and .rpm (target/release/bundle/)"
	@echo "make package-smoke  build them, install the .deb here, launch it under Xvfb, screenshot it"
	@echo "make bench-startup  time start-up against a bare Tauri window and measure memory"
	@echo "make bench-verify-server  wrk: the verify server against a bare axum handler"
	@echo "make bench-server-memory  the verify server's RSS and PSS with 100,000 keys, under load"
	@echo "make bench-backends  SQLite against PostgreSQL: a page, a cached verify, creating a key"
	@echo "make bench-verify-server-nodes  the verify server on PostgreSQL with 1 and 3 nodes; quota overshoot"

deps:
	@scripts/ensure-tools
	@scripts/ensure-apt $(BUILD_PACKAGES)

test-deps: deps
	@scripts/ensure-apt $(TEST_PACKAGES)
	@scripts/ensure-tools --e2e

$(UI_DEPS): ui/package.json ui/package-lock.json
	cd ui && npm ci --no-audit --no-fund
	@touch $@

$(UNKEY_SDK_DEPS): tests/unkey-sdk/package.json tests/unkey-sdk/package-lock.json
	cd tests/unkey-sdk && npm ci --no-audit --no-fund
	@touch $@

# The app embeds ui/dist at compile time, so the UI is built before any cargo build of the app.
ui: $(UI_DEPS)
	npm --prefix ui run build

run: deps ui
	cargo run --bin keyward

lint: ui
	cargo fmt --all --check
	npm --prefix ui run check
	npm --prefix ui run lint
	cargo clippy --workspace --all-targets -- -D warnings

# The PostgreSQL backend's tests need a server: scripts/with-postgres starts a throwaway one for
# the command and sets KEYWARD_TEST_PG (under `make test` one is already running, and it is reused).
unit-tests: ui
	npm --prefix ui test
	scripts/with-postgres cargo test --workspace --lib --bins
	# The storage crates' own test binaries: the store's behaviour on both backends, and each
	# backend's opening and SQL.
	scripts/with-postgres cargo test -p keyward-store -p keyward-sqlite -p keyward-postgres --test '*'
	@git diff --quiet -- ui/src/bindings || { git diff --stat -- ui/src/bindings; \
	  echo "ui/src/bindings changed when regenerated from Rust: commit the new files." >&2; exit 1; }

integration-tests: ui $(UNKEY_SDK_DEPS)
	cargo build --workspace
	scripts/with-postgres cargo test --test tests

e2e-tests: ui
	cargo build --workspace
	$(XVFB) cargo test --test e2e -- --test-threads=1

# One PostgreSQL server for the whole run, rather than one per target.
test: test-deps
	scripts/with-postgres $(MAKE) --no-print-directory lint unit-tests integration-tests e2e-tests

# `tauri build` makes a release build of the app and bundles it; its beforeBuildCommand builds the
# UI in the frontend folder. The CLI guesses that folder as the first package.json it finds, which
# would be tests/unkey-sdk/'s, so TAURI_FRONTEND_PATH names it.
# The npm registry here stops at @tauri-apps/plugin-clipboard-manager 2.3.3 while the crate is
# 2.5: the JS side only sends `write_text`, unchanged between them, so the CLI's check is waived.
# The packages ship keyward-cli (and its systemd unit) beside the app: build it first.
package: deps $(UI_DEPS)
	cargo build --release -p keyward-cli
	TAURI_FRONTEND_PATH=$(CURDIR)/ui $(TAURI) build --bundles deb,rpm --ignore-version-mismatches
	@ls -l target/release/bundle/deb/*.deb target/release/bundle/rpm/*.rpm

package-smoke: package
	@scripts/ensure-apt $(PACKAGE_SMOKE_PACKAGES)
	scripts/package-smoke

# Start-up against a bare Tauri window, and memory with 100,000 keys (BENCHMARKS.md, "Whole process").
bench-startup: deps $(UI_DEPS)
	@scripts/ensure-apt xvfb xauth dbus-daemon xdotool
	scripts/bench-startup

# SQLite against PostgreSQL side by side: a page, a cached verify, creating a key (BENCHMARKS.md,
# "Backends"). The throwaway server flushes every commit, as SQLite's synchronous=FULL does.
bench-backends: deps
	KEYWARD_PG_DURABLE=1 scripts/with-postgres cargo bench -p keyward-store --bench backends

# The verify server on SQLite, on PostgreSQL with one node and with three, and a shared quota's
# overshoot across three nodes (BENCHMARKS.md, "Teams on PostgreSQL").
bench-verify-server-nodes: deps
	KEYWARD_PG_DURABLE=1 scripts/with-postgres scripts/bench-verify-server-nodes

# The verify server against a bare axum handler with wrk on loopback (BENCHMARKS.md, "Verify server").
bench-verify-server: deps
	scripts/bench-verify-server

# The verify server's memory with 100,000 keys, at start and after wrk load (BENCHMARKS.md, "Verify server").
bench-server-memory: deps
	scripts/bench-server-memory
