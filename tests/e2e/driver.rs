//! Starts tauri-driver (which starts WebKitWebDriver and the app) and opens a WebDriver session on
//! the real Keyward window. Needs an X display (Xvfb), `tauri-driver` and `/usr/bin/WebKitWebDriver`.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

pub const WAIT: Duration = Duration::from_secs(15);

/// tauri-driver stops its WebKitWebDriver only on SIGTERM; SIGKILL would leave it holding its
/// port and hang the next run.
struct TermOnDrop(Child);

impl Drop for TermOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps")
        .to_owned()
}

pub fn binary(name: &str) -> PathBuf {
    let path = target_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace` first (make test does)",
        path.display()
    );
    path
}

/// Where screenshots go: `target/screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let dir = target_dir().parent().expect("target/").join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

/// One running app with its own database, driven over WebDriver.
pub struct App {
    pub client: Client,
    pub db: PathBuf,
    _dir: tempfile::TempDir,
    _driver: TermOnDrop,
}

impl App {
    /// The app on a new, empty database of its own.
    pub async fn launch(env: &[(&str, &str)]) -> App {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("e2e.db");
        Self::launch_on(dir, db, env).await
    }

    /// The app on `db` (which may be missing, damaged or read-only); `dir` is kept until drop.
    pub async fn launch_on(dir: tempfile::TempDir, db: PathBuf, env: &[(&str, &str)]) -> App {
        assert!(
            std::env::var_os("DISPLAY").is_some(),
            "no X display: run the real-window tests under Xvfb (make test does: xvfb-run)"
        );
        let app = binary("keyward");
        let port = free_port();
        let native_port = free_port();
        let mut command = Command::new("tauri-driver");
        command
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native_port.to_string(),
            ])
            .env("KEYWARD_DB", &db)
            // Keeps the remembered window size and position of each test to itself.
            .env("XDG_CONFIG_HOME", dir.path().join("config"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
        let driver = TermOnDrop(command.spawn().expect(
            "tauri-driver did not start: install it with `cargo install tauri-driver --locked` \
             (make test does)",
        ));
        assert!(
            wait_for_port(port, Duration::from_secs(20)),
            "tauri-driver did not listen"
        );

        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("wry"));
        caps.insert("tauri:options".into(), json!({ "application": app }));
        // tauri-driver listens before the WebKitWebDriver behind it is ready, and the first
        // new-session request can then be dropped (hyper IncompleteMessage). That failure is
        // immediate, so retry it a few times; a session that hangs still fails after 60 s.
        let mut attempt = 0;
        let client = loop {
            attempt += 1;
            let connected = tokio::time::timeout(
                Duration::from_secs(60),
                ClientBuilder::native()
                    .capabilities(caps.clone())
                    .connect(&format!("http://127.0.0.1:{port}")),
            )
            .await
            .expect("the WebDriver session did not open within 60 s");
            match connected {
                Ok(client) => break client,
                Err(e) if attempt < 4 => {
                    eprintln!("WebDriver session attempt {attempt} failed ({e}); retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => panic!("WebDriver session: {e}"),
            }
        };
        App {
            client,
            db,
            _dir: dir,
            _driver: driver,
        }
    }

    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} did not appear: {e}"))
    }

    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Waits until `css` is gone from the page.
    pub async fn gone(&self, css: &str) {
        let start = Instant::now();
        while start.elapsed() < WAIT {
            if self.client.find(Locator::Css(css)).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css} is still on the page");
    }

    /// Polls `css`'s text until `accept` holds, returning the text.
    pub async fn text_until(&self, css: &str, accept: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        let mut last = String::new();
        while start.elapsed() < WAIT {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                last = element.text().await.unwrap_or_default();
                if accept(&last) {
                    return last;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css} never matched; last text {last:?}");
    }

    /// Opens the create dialog, types `name` and submits, every other field left as it is.
    pub async fn submit_new_key(&self, name: &str) {
        self.click("#create-key-btn").await;
        self.find("#key-name-input")
            .await
            .send_keys(name)
            .await
            .expect("type name");
        self.click("#create-submit-btn").await;
    }

    pub async fn screenshot(&self, name: &str) {
        // Let transitions settle so the picture shows the finished screen.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let png = self.client.screenshot().await.expect("screenshot");
        let path = screenshot_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        eprintln!("screenshot: {}", path.display());
    }

    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        cli_at(&self.db, args)
    }

    /// The app's own process (a grandchild, started by WebKitWebDriver), found by the database
    /// path in its environment, which no other process shares.
    pub fn pid(&self) -> u32 {
        let marker = format!("KEYWARD_DB={}", self.db.display());
        std::fs::read_dir("/proc")
            .expect("/proc")
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .find(|pid| {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
                comm.trim() == "keyward"
                    && environ
                        .split(|&b| b == 0)
                        .any(|var| var == marker.as_bytes())
            })
            .expect("the app process")
    }

    /// Runs `script` in the page and returns what it returns.
    pub async fn js(&self, script: &str) -> serde_json::Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Runs axe-core (the `axe-core` package in `ui/node_modules`) in the window as it is now,
    /// prints one line for `screen` (and one per violation: rule, impact, elements), and
    /// returns the violations as those lines. Every rule axe runs by default is checked: WCAG 2.x
    /// A and AA, and its best practices.
    pub async fn axe_violations(&self, screen: &str) -> Vec<String> {
        // Let an opening dialog's fade and rise finish: half-faded text has too little contrast.
        tokio::time::sleep(Duration::from_millis(300)).await;
        // A reload forgets the script; injecting it again each time costs ~20 ms.
        let loaded = self.js("return typeof window.axe === 'object'").await;
        if loaded != json!(true) {
            self.js(&format!("{}\nreturn null;", axe_source())).await;
        }
        let answer = self
            .client
            .execute_async(AXE_RUN, vec![])
            .await
            .unwrap_or_else(|e| panic!("axe did not run on {screen}: {e}"));
        if let Some(error) = answer.get("error") {
            panic!("axe failed on {screen}: {error}");
        }
        let violations: Vec<String> = answer
            .as_array()
            .expect("axe's violations")
            .iter()
            .map(|v| {
                format!(
                    "{} ({}): {} — {}",
                    v["id"].as_str().unwrap_or_default(),
                    v["impact"].as_str().unwrap_or("?"),
                    v["help"].as_str().unwrap_or_default(),
                    v["nodes"]
                )
            })
            .collect();
        report(&format!("axe {screen}: {} violations", violations.len()));
        for violation in &violations {
            report(&format!("  {violation}"));
        }
        violations
    }

    /// [`App::axe_violations`], which must find none.
    pub async fn axe(&self, screen: &str) {
        let violations = self.axe_violations(screen).await;
        assert!(
            violations.is_empty(),
            "axe found {} violations on {screen}:\n{}",
            violations.len(),
            violations.join("\n")
        );
    }

    /// Presses `key` on whatever has focus.
    pub async fn press(&self, key: fantoccini::key::Key) {
        self.client
            .active_element()
            .await
            .expect("focused")
            .send_keys(&String::from(char::from(key)))
            .await
            .expect("key press");
    }

    /// Types `text` into whatever has focus, key by key, as a keyboard would.
    pub async fn type_text(&self, text: &str) {
        self.client
            .active_element()
            .await
            .expect("focused")
            .send_keys(text)
            .await
            .expect("typing");
    }

    /// What has focus, as `tag#id.class[data-action]` (or `body` when nothing does).
    pub async fn focused(&self) -> String {
        self.js(FOCUSED_FN)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Whether the focused element matches `css`.
    pub async fn focus_is(&self, css: &str) -> bool {
        self.js(&format!(
            "return document.activeElement?.matches({}) ?? false",
            json!(css)
        ))
        .await
            == json!(true)
    }

    /// Presses Tab until the focused element matches `css`, as someone looking for a control
    /// does; at most `limit` presses.
    pub async fn tab_to(&self, css: &str, limit: usize) {
        let mut passed = Vec::new();
        for _ in 0..limit {
            if self.focus_is(css).await {
                return;
            }
            passed.push(self.focused().await);
            self.press(fantoccini::key::Key::Tab).await;
        }
        assert!(
            self.focus_is(css).await,
            "{css} not reached with {limit} Tabs; passed {passed:?}"
        );
    }

    /// How the focused element shows that it has focus: its outline or its box shadow, with
    /// whether `:focus-visible` matches (`None` when it shows nothing).
    pub async fn focus_ring(&self) -> Option<String> {
        let ring = self.js(FOCUS_RING_FN).await;
        ring.as_str().map(str::to_owned)
    }

    /// Presses Ctrl+`key` wherever focus is, as a person would. (WebKitWebDriver refuses
    /// modifier keys sent to an element, so this goes through the actions API.) An error can
    /// mean the shortcut closed the window before WebDriver finished.
    pub async fn press_ctrl(&self, key: char) -> Result<(), fantoccini::error::CmdError> {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let ctrl = char::from(fantoccini::key::Key::Control);
        let keys = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: ctrl })
            .then(KeyAction::Down { value: key })
            .then(KeyAction::Up { value: key })
            .then(KeyAction::Up { value: ctrl });
        self.client.perform_actions(keys).await
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// The focused element as `tag#id.class[data-action]`.
const FOCUSED_FN: &str = "const el = document.activeElement;
  if (!el || el === document.body) return 'body';
  const id = el.id ? '#' + el.id : '';
  const cls = typeof el.className === 'string' && el.className.trim()
    ? '.' + el.className.trim().split(/\\s+/).join('.') : '';
  const action = el.dataset?.action ? `[data-action=${el.dataset.action}]` : '';
  return el.tagName.toLowerCase() + id + cls + action;";

/// The focused element's visible focus indicator: a drawn outline, or a box shadow (text fields
/// show their focus with a border and a halo), or null.
const FOCUS_RING_FN: &str = "const el = document.activeElement;
  if (!el || el === document.body) return null;
  const s = getComputedStyle(el);
  const parts = [];
  if (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) {
    parts.push(`outline ${s.outlineWidth} ${s.outlineStyle} ${s.outlineColor}`);
  }
  if (s.boxShadow && s.boxShadow !== 'none') parts.push(`box-shadow ${s.boxShadow}`);
  if (parts.length === 0) return null;
  return (el.matches(':focus-visible') ? ':focus-visible ' : ':focus ') + parts.join(', ');";

/// Writes `line` to the test run's output even when the test passes: straight to stderr, which
/// the test harness captures only from `eprintln!`. (Tests run one at a time, so the lines of
/// one test stay together.)
pub fn report(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// axe-core's script, read once from `ui/node_modules` (`make` installs it with the UI's
/// packages: `npm ci` in `ui/`).
fn axe_source() -> &'static str {
    static SOURCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SOURCE.get_or_init(|| {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/node_modules/axe-core/axe.min.js");
        std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; install the UI's packages first (`npm ci` in ui/; make does)",
                path.display()
            )
        })
    })
}

/// Runs axe on the whole page and answers its violations, each with the elements it found
/// (their CSS paths and what axe says is wrong), or `{ error }`.
const AXE_RUN: &str = "const done = arguments[arguments.length - 1];
  axe.run(document, { resultTypes: ['violations'] }).then(
    (results) => done(results.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target.join(' '), why: n.failureSummary })),
    }))),
    (error) => done({ error: String(error) }),
  );";

/// What a window manager does when the title bar's close button is clicked: a WM_DELETE_WINDOW
/// message to the app's visible top-level windows (Xvfb runs none). Returns how many got it.
pub fn click_window_close_button(pid: u32) -> usize {
    use x11rb::connection::Connection;
    use x11rb::protocol::xproto::{
        AtomEnum, ClientMessageEvent, ConnectionExt, EventMask, MapState,
    };
    let (conn, screen) = x11rb::connect(None).expect("the X display");
    let atom = |name: &[u8]| {
        conn.intern_atom(false, name)
            .expect("intern_atom")
            .reply()
            .expect("atom")
            .atom
    };
    let (protocols, delete, wm_pid) = (
        atom(b"WM_PROTOCOLS"),
        atom(b"WM_DELETE_WINDOW"),
        atom(b"_NET_WM_PID"),
    );
    let root = conn.setup().roots[screen].root;
    let children = conn
        .query_tree(root)
        .expect("query_tree")
        .reply()
        .expect("tree")
        .children;
    let mut sent = 0;
    for window in children {
        let property = |name: u32, kind: AtomEnum| {
            conn.get_property(false, window, name, kind, 0, 32)
                .expect("get_property")
                .reply()
                .ok()
                .and_then(|reply| reply.value32().map(|values| values.collect::<Vec<u32>>()))
                .unwrap_or_default()
        };
        let viewable = conn
            .get_window_attributes(window)
            .expect("attributes")
            .reply()
            .is_ok_and(|a| a.map_state == MapState::VIEWABLE);
        if !viewable
            || property(wm_pid, AtomEnum::CARDINAL) != [pid]
            || !property(protocols, AtomEnum::ATOM).contains(&delete)
        {
            continue;
        }
        let message = ClientMessageEvent::new(32, window, protocols, [delete, 0, 0, 0, 0]);
        conn.send_event(false, window, EventMask::NO_EVENT, message)
            .expect("send_event");
        sent += 1;
    }
    conn.flush().expect("flush");
    sent
}

/// Runs `keyward-cli --db <db> <args>`.
pub fn cli_at(db: &Path, args: &[&str]) -> std::process::Output {
    Command::new(binary("keyward-cli"))
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("keyward-cli runs")
}

/// What the X clipboard holds now, read the way another program would (`xclip`). `None` when it
/// is empty or nothing owns it.
pub fn x_clipboard() -> Option<String> {
    let out = Command::new("xclip")
        .args(["-o", "-selection", "clipboard"])
        .output()
        .expect("xclip is installed (make test installs it)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}
