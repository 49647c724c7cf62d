//! What the commands share: the store (or why it could not be opened), the clipboard watch and
//! the verify server the app started.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keyward_core::servers::{CodeCounts, VerifyServer};
use keyward_core::{fingerprint, Clock, DbLocation, Fingerprint, Store, SystemClock};
use keyward_server::check::Code;
use keyward_server::{Config, Metrics, ServerState, DEFAULT_LISTEN};

use crate::error::{ErrorKind, IpcError, IpcResult};

pub struct AppState {
    /// `Err` holds why the database could not be opened, with its kind; the UI shows it.
    store: Result<Store, IpcError>,
    pub location: DbLocation,
    pub clipboard: ClipboardWatch,
    /// The verify server started from the Server screen, if one runs.
    pub server: AppServer,
    /// A new key's secret is on screen (the UI says so): closing the window asks first.
    secret_on_screen: AtomicBool,
    /// Closing was already refused once for the key on screen: the next close goes through.
    close_refused: AtomicBool,
}

impl AppState {
    /// `clear_after_override` replaces the clipboard delay from Settings (the tests shorten it).
    pub fn new(
        store: Result<Store, IpcError>,
        location: DbLocation,
        clear_after_override: Option<u64>,
    ) -> Self {
        Self {
            store,
            location,
            clipboard: ClipboardWatch::new(clear_after_override),
            server: AppServer::default(),
            secret_on_screen: AtomicBool::new(false),
            close_refused: AtomicBool::new(false),
        }
    }

    pub fn set_secret_on_screen(&self, shown: bool) {
        self.secret_on_screen.store(shown, Ordering::Relaxed);
        self.close_refused.store(false, Ordering::Relaxed);
    }

    /// Whether closing the window now should be refused so the UI can ask about the key on
    /// screen. Only the first time: closing again is the answer, and a page that cannot ask
    /// (hung, or broken) must never make the window impossible to close.
    pub fn refuse_close_for_secret(&self) -> bool {
        self.secret_on_screen.load(Ordering::Relaxed)
            && !self.close_refused.swap(true, Ordering::Relaxed)
    }

    /// Seconds before a copied key is cleared from the clipboard: Settings, unless overridden.
    pub async fn clipboard_clear_secs(&self) -> u64 {
        if let Some(secs) = self.clipboard.clear_after_override {
            return secs;
        }
        match self.store() {
            Ok(store) => store.settings().await.map_or(
                u64::from(keyward_core::DEFAULT_CLIPBOARD_CLEAR_SECONDS),
                |s| u64::from(s.clipboard_clear_seconds),
            ),
            Err(_) => u64::from(keyward_core::DEFAULT_CLIPBOARD_CLEAR_SECONDS),
        }
    }

    pub fn store(&self) -> IpcResult<&Store> {
        self.store.as_ref().map_err(Clone::clone)
    }

    pub fn database_error(&self) -> Option<String> {
        self.store.as_ref().err().map(|e| e.message.clone())
    }
}

/// Remembers SHA-256 fingerprints of the secrets this session has shown, so the clipboard can be
/// cleared later only if it still holds one of them, without keeping any secret in memory.
pub struct ClipboardWatch {
    fingerprints: Mutex<Vec<Fingerprint>>,
    clear_after_override: Option<u64>,
}

impl ClipboardWatch {
    fn new(clear_after_override: Option<u64>) -> Self {
        Self {
            fingerprints: Mutex::new(Vec::new()),
            clear_after_override,
        }
    }

    pub fn remember(&self, secret: &str) {
        let print = fingerprint(secret);
        self.fingerprints
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(print);
    }

    pub fn holds_secret(&self, clipboard_text: &str) -> bool {
        let print = fingerprint(clipboard_text);
        self.fingerprints
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains(&print)
    }
}

/// How often the app's server samples its counters, for "the last minute".
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
const MINUTE: Duration = Duration::from_secs(60);
/// How long stopping waits for requests in flight (and the usage counts being saved) before the
/// server is dropped anyway: quitting must never hang on it.
const STOP_WAIT: Duration = Duration::from_secs(5);

type Counts = [u64; Code::ALL.len()];

fn counts(metrics: &Metrics) -> Counts {
    Code::ALL.map(|code| metrics.count(code))
}

fn by_code(counts: &Counts) -> CodeCounts {
    Code::ALL
        .iter()
        .zip(counts)
        .map(|(code, n)| (code.as_str().to_owned(), *n))
        .collect()
}

/// Where a server should listen, as a person types it: nothing for the default
/// (127.0.0.1:8787), a port alone or `localhost:PORT` for this machine only, or an IP address and
/// a port (`0.0.0.0:8787`, `[::1]:8787`). `Err` holds the plain words for the field.
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    let localhost = |port: &str| {
        port.parse::<u16>()
            .ok()
            .map(|port| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
    };
    if text.is_empty() {
        return Ok(DEFAULT_LISTEN);
    }
    if let Some(address) = localhost(text)
        .or_else(|| text.strip_prefix("localhost:").and_then(localhost))
        .or_else(|| text.parse().ok())
    {
        return Ok(address);
    }
    let shown = if text.chars().count() <= 60 {
        format!("“{text}” is not")
    } else {
        "That is not".to_owned()
    };
    Err(format!(
        "{shown} an address to listen on. Write an IP address and a port, such as 127.0.0.1:8787 \
         (this machine only)."
    ))
}

/// The warning to show before listening on `address`: `None` on loopback (this machine only).
pub fn exposure_warning(address: SocketAddr) -> Option<String> {
    Config {
        listen: address,
        ..Config::default()
    }
    .exposure_warning()
}

/// Why `address` cannot be listened on, in plain words (as `keyward-cli serve` says it).
fn bind_error(address: SocketAddr, error: &std::io::Error) -> String {
    use std::io::ErrorKind as Io;
    let why = match error.kind() {
        Io::AddrInUse => format!(
            "port {} is already in use there (another Keyward server, or another program). Stop \
             it, or choose another port",
            address.port()
        ),
        Io::AddrNotAvailable => "that address is not one of this machine's. Use 127.0.0.1 (this \
                                 machine only) or an address this machine has"
            .to_owned(),
        Io::PermissionDenied => "ports below 1024 need administrator rights. Choose a port from \
                                 1024 up, such as 8787"
            .to_owned(),
        _ => {
            let text = error.to_string();
            text.split(" (os error").next().unwrap_or(&text).to_owned()
        }
    };
    format!("Could not listen on {address}: {why}.")
}

fn invalid(message: impl Into<String>) -> IpcError {
    IpcError::new(ErrorKind::InvalidInput, message)
}

/// The verify server this app started (from the Server screen), in process on the app's store.
/// At most one; it is stopped gracefully when the app quits or its window closes.
#[derive(Default)]
pub struct AppServer {
    running: tokio::sync::Mutex<Option<Running>>,
}

struct Running {
    /// Where, which process, since when; the counts are filled in when asked.
    info: VerifyServer,
    metrics: Arc<Metrics>,
    /// Counter samples every 5 s, the first one the newest at least a minute old.
    samples: Arc<Mutex<VecDeque<(Instant, Counts)>>>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tauri::async_runtime::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Verifications by code over the last minute (60 to 65 s) and since the start.
    fn report(&self) -> VerifyServer {
        let now = counts(&self.metrics);
        let baseline = self
            .samples
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .front()
            .map_or([0; Code::ALL.len()], |(_, counts)| *counts);
        let mut minute = now;
        for (n, before) in minute.iter_mut().zip(baseline) {
            *n = n.saturating_sub(before);
        }
        VerifyServer {
            last_seen: SystemClock.now(),
            last_minute: by_code(&minute),
            since_start: by_code(&now),
            ..self.info.clone()
        }
    }
}

/// Samples `metrics` every 5 s until the server stops, keeping a minute of samples.
async fn sample_counts(
    metrics: Arc<Metrics>,
    samples: Arc<Mutex<VecDeque<(Instant, Counts)>>>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut every = tokio::time::interval(SAMPLE_EVERY);
    every.tick().await;
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        let now = Instant::now();
        let mut samples = samples
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        samples.push_back((now, counts(&metrics)));
        while samples
            .get(1)
            .is_some_and(|(at, _)| now.duration_since(*at) >= MINUTE)
        {
            samples.pop_front();
        }
    }
}

impl AppServer {
    /// Starts a verify server on `store` at `listen` as typed ([`parse_listen`]). An address
    /// other machines can reach is refused unless `allow_exposed`: the UI shows the exposure
    /// warning before asking for it.
    pub async fn start(
        &self,
        store: &Store,
        listen: &str,
        allow_exposed: bool,
    ) -> IpcResult<VerifyServer> {
        let listen = parse_listen(listen).map_err(invalid)?;
        let mut running = self.running.lock().await;
        if let Some(server) = running.as_ref().filter(|s| !s.task.inner().is_finished()) {
            return Err(invalid(format!(
                "A server is already running at http://{}. Stop it first.",
                server.info.address
            )));
        }
        if let Some(warning) = exposure_warning(listen).filter(|_| !allow_exposed) {
            return Err(invalid(format!("Not started: {warning}.")));
        }
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| invalid(bind_error(listen, &e)))?;
        let address = listener
            .local_addr()
            .map_err(|e| invalid(bind_error(listen, &e)))?;
        let state = ServerState::new(
            store.clone(),
            Config {
                listen: address,
                ..Config::default()
            },
        );
        let metrics = Arc::clone(state.metrics());
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut until_stopped = stop.subscribe();
        let shutdown = async move {
            let _ = until_stopped.wait_for(|stop| *stop).await;
        };
        let task =
            tauri::async_runtime::spawn(keyward_server::serve_with(state, listener, shutdown));
        let samples = Arc::new(Mutex::new(VecDeque::from([(
            Instant::now(),
            counts(&metrics),
        )])));
        tauri::async_runtime::spawn(sample_counts(
            Arc::clone(&metrics),
            Arc::clone(&samples),
            stopped,
        ));
        let now = SystemClock.now();
        let server = Running {
            info: VerifyServer {
                id: "app".to_owned(),
                address: address.to_string(),
                pid: std::process::id(),
                started_at: now,
                last_seen: now,
                last_minute: CodeCounts::new(),
                since_start: CodeCounts::new(),
            },
            metrics,
            samples,
            stop,
            task,
        };
        let report = server.report();
        *running = Some(server);
        Ok(report)
    }

    /// The app's server with its counts, `None` when it is not running.
    pub async fn status(&self) -> Option<VerifyServer> {
        let running = self.running.lock().await;
        running
            .as_ref()
            .filter(|server| !server.task.inner().is_finished())
            .map(Running::report)
    }

    /// Stops the app's server: it accepts nothing new, requests in flight finish and the usage
    /// counts are saved (for at most 5 s). Returns whether one was running.
    pub async fn stop(&self) -> bool {
        let mut running = self.running.lock().await;
        let Some(server) = running.take() else {
            return false;
        };
        let _ = server.stop.send(true);
        let mut task = server.task;
        match tokio::time::timeout(STOP_WAIT, &mut task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => crate::log(format_args!("the verify server stopped with: {e}")),
            Ok(Err(e)) => crate::log(format_args!("the verify server ended abruptly: {e}")),
            Err(_) => {
                crate::log("the verify server did not stop within 5 s; closed anyway");
                task.abort();
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> AppState {
        let location = DbLocation {
            path: "unused.db".into(),
            is_default: false,
        };
        AppState::new(
            Err(IpcError::new(ErrorKind::DatabaseUnavailable, "not opened")),
            location,
            None,
        )
    }

    #[test]
    fn listen_addresses_read_as_typed() {
        let at = |text: &str| parse_listen(text).map(|a| a.to_string());
        assert_eq!(at("  ").as_deref(), Ok("127.0.0.1:8787"));
        assert_eq!(at("9000").as_deref(), Ok("127.0.0.1:9000"));
        assert_eq!(at("localhost:9001").as_deref(), Ok("127.0.0.1:9001"));
        assert_eq!(at(" 0.0.0.0:80 ").as_deref(), Ok("0.0.0.0:80"));
        assert_eq!(at("[::1]:8787").as_deref(), Ok("[::1]:8787"));
        for bad in [
            "my laptop",
            "127.0.0.1",
            "127.0.0.1:99999",
            "example.com:80",
        ] {
            let problem = parse_listen(bad).expect_err(bad);
            assert!(problem.contains(&format!("“{bad}”")), "{problem}");
        }
        let long = parse_listen(&"x".repeat(5000)).expect_err("long");
        assert!(long.len() < 200, "a long text is not repeated back: {long}");
        assert!(exposure_warning(DEFAULT_LISTEN).is_none());
        let open = "0.0.0.0:8787".parse().expect("address");
        assert!(exposure_warning(open).is_some_and(|w| w.contains("TLS")));
    }

    #[test]
    fn closing_is_refused_once_per_key_on_screen_and_never_without_one() {
        let state = state();
        assert!(!state.refuse_close_for_secret(), "no key on screen");
        state.set_secret_on_screen(true);
        assert!(state.refuse_close_for_secret(), "the first close asks");
        assert!(!state.refuse_close_for_secret(), "closing again closes");
        state.set_secret_on_screen(false);
        assert!(!state.refuse_close_for_secret(), "the key was put away");
        state.set_secret_on_screen(true);
        assert!(state.refuse_close_for_secret(), "a new key asks again");
    }
}
