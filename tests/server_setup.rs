//! The setup the verify server's tests share: `tests/server.rs` (the server in process) and
//! `tests/gateway.rs` (the real `keyward-cli serve`, nginx, Unkey's SDK). Keys are created and
//! revoked with the real `keyward-cli`, as an admin does while a server runs; [`Served`] is
//! `keyward-cli serve` itself as a child process.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::util::{cli, cli_command, create_key, key_id, stderr, temp_db};

/// `keyward-cli keys revoke` the key of `token`.
pub fn revoke(db: &Path, token: &str) {
    let out = cli(db, &["keys", "revoke", key_id(token)]);
    assert!(out.status.success(), "keys revoke: {}", stderr(&out));
}

/// A fresh database with the caller's own key (`gateway`, never expiring), holding the
/// reserved scope `keyward:verify` (always in the catalogue), as an admin sets up a service.
/// Returns the folder (removed when dropped), the database and the caller's token.
pub fn database_with_caller() -> (tempfile::TempDir, PathBuf, String) {
    let (dir, db) = temp_db();
    let caller = create_key(
        &db,
        "gateway",
        &["--scope", "keyward:verify", "--expires", "never"],
    );
    (dir, db, caller)
}

/// `POST BASE/v1/verify` of `token` with the caller's own key; the answer must be 200 (a verdict).
pub async fn verify(base: &str, caller: &str, token: &str) -> Value {
    let answer = http()
        .post(format!("{base}/v1/verify"))
        .header("authorization", format!("Bearer {caller}"))
        .json(&serde_json::json!({ "key": token }))
        .send()
        .await
        .expect("request");
    let (status, body) = status_and_json(answer).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// A free loopback port (for a process that cannot be asked for port 0 and report it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// An HTTP client that never goes through a proxy (loopback only) and gives up after a minute.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("HTTP client")
}

/// A response header as text, `""` when absent.
pub fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .map_or("", |v| v.to_str().expect("a visible-ASCII header"))
}

/// The status and the body as JSON (a body that is not JSON comes back as a JSON string).
pub async fn status_and_json(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// How long a process may take to start or stop before the test gives up on it.
pub const PATIENCE: Duration = Duration::from_secs(60);

pub fn send_signal(child: &Child, signal: &str) {
    let sent = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill -{signal} {} failed", child.id());
}

/// Waits up to `limit` for `child` to exit.
pub fn wait_at_most(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `keyward-cli serve` running as a child process; SIGTERM (then SIGKILL) on drop.
pub struct Served {
    pub child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// `127.0.0.1:PORT`
    pub addr: String,
    lines: Receiver<String>,
    /// Every standard-error line read so far.
    pub log: Vec<String>,
}

impl Served {
    /// Starts `keyward-cli --db DB serve --listen LISTEN` and waits until `/healthz` answers.
    /// Port 0 lets the system pick a free port; the start line says which.
    pub async fn start(db: &Path, listen: &str) -> Self {
        let mut child = cli_command(db, &["serve", "--listen", listen])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("keyward-cli serve starts");
        let pipe = child.stderr.take().expect("stderr is piped");
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let mut served = Self {
            child,
            base: String::new(),
            addr: String::new(),
            lines,
            log: Vec::new(),
        };
        let start = served.wait_for_line("listening on http://");
        let url = start
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .expect("the start line has the URL")
            .to_owned();
        assert!(
            start.contains(&db.display().to_string()),
            "the start line names the database: {start}"
        );
        // A server on 0.0.0.0 is reached on loopback.
        served.addr = url
            .trim_start_matches("http://")
            .replace("0.0.0.0:", "127.0.0.1:");
        served.base = format!("http://{}", served.addr);
        served.wait_healthy().await;
        served
    }

    fn wait_for_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "no line with {needle:?} within {PATIENCE:?}; so far: {:?}",
                        self.log
                    )
                }
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "keyward-cli serve ended ({:?}) before saying {needle:?}: {:?}",
                    self.child.try_wait(),
                    self.log
                ),
            }
        }
    }

    async fn wait_healthy(&self) {
        let client = http();
        let deadline = Instant::now() + PATIENCE;
        loop {
            let answer = client.get(format!("{}/healthz", self.base)).send().await;
            if answer.as_ref().is_ok_and(|r| r.status() == StatusCode::OK) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "/healthz did not answer 200: {answer:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends `signal` and returns the exit status and every standard-error line.
    pub fn stop_with(mut self, signal: &str) -> (ExitStatus, Vec<String>) {
        send_signal(&self.child, signal);
        let status = wait_at_most(&mut self.child, PATIENCE)
            .unwrap_or_else(|| panic!("keyward-cli serve still runs {PATIENCE:?} after {signal}"));
        // The pipe closes when the process exits: the rest of its lines are in the channel.
        let deadline = Instant::now() + PATIENCE;
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.log.push(line);
        }
        (status, std::mem::take(&mut self.log))
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
            if wait_at_most(&mut self.child, Duration::from_secs(10)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}
