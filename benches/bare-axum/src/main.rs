//! The baseline of `scripts/bench-verify-server` (BENCHMARKS.md, "Verify server"): a bare axum
//! handler answering every request to `/v1/verify` with a constant, on the same axum, the same
//! tokio runtime (one worker per core) and the same graceful shutdown as `keyward-cli serve`.
//! It reads (and drops) the request body, as the real server must.
//!
//! Usage: `bare-axum [ADDRESS:PORT]` (default 127.0.0.1:8788); stops on SIGTERM or SIGINT.

use std::io::Write;
use std::net::SocketAddr;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::any;
use axum::Router;
use tokio::signal::unix::{signal, SignalKind};

const ANSWER: &str = r#"{"valid":true,"code":"VALID"}"#;

async fn constant(_body: axum::body::Bytes) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], ANSWER)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listen: SocketAddr = match std::env::args().nth(1) {
        Some(text) => text
            .parse()
            .map_err(|_| std::io::Error::other(format!("not an address and port: {text}")))?,
        None => SocketAddr::from(([127, 0, 0, 1], 8788)),
    };
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let _ = writeln!(
        std::io::stderr(),
        "bare-axum: listening on http://{}",
        listener.local_addr()?
    );
    let app = Router::new()
        .route("/v1/verify", any(constant))
        .route("/healthz", any(|| async { "ok" }));
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
        .await
}
