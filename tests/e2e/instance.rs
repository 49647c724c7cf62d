//! One window per user: a second launch hands over to the first; the window's size is remembered.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::driver::{binary, App};

/// A private D-Bus session bus, as a desktop session has, for the single-instance handshake.
struct SessionBus {
    daemon: Child,
    address: String,
}

impl SessionBus {
    fn start() -> Self {
        let mut daemon = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon (Debian package dbus-daemon; make test installs it)");
        let mut address = String::new();
        BufReader::new(daemon.stdout.take().expect("stdout"))
            .read_line(&mut address)
            .expect("bus address");
        Self {
            daemon,
            address: address.trim().to_owned(),
        }
    }
}

impl Drop for SessionBus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

#[tokio::test]
async fn a_second_launch_focuses_the_first_window_instead_of_opening_another() {
    let bus = SessionBus::start();
    let app = App::launch(&[("DBUS_SESSION_BUS_ADDRESS", &bus.address)]).await;
    app.find("#empty-create-key-btn").await;

    let mut second = Command::new(binary("keyward"))
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .env("KEYWARD_DB", &app.db)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("second launch");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = second.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = second.kill();
            panic!("the second launch kept running: it opened a window of its own");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.success(),
        "the second launch handed over and exited: {status}"
    );
    // The first window is still there and working.
    app.click("#create-key-btn").await;
    app.find("#key-name-input").await;
    app.close().await;
}

#[tokio::test]
async fn the_window_size_is_remembered_across_launches() {
    let config = tempfile::tempdir().expect("config dir");
    let config_home = config.path().to_str().expect("utf-8").to_owned();
    let env = [("XDG_CONFIG_HOME", config_home.as_str())];

    let first = App::launch(&env).await;
    first.find("#empty-create-key-btn").await;
    first
        .client
        .set_window_size(900, 640)
        .await
        .expect("resize the window");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, _, width, height) = first.client.get_window_rect().await.expect("rect");
    assert_eq!((width, height), (900, 640), "the resize took effect");
    // Saved shortly after the change, so it survives however the app ends (here: the driver
    // ends the session, which kills it).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    first.close().await;
    let saved = config.path().join("io.keyward.desktop");
    assert!(
        saved.exists(),
        "nothing was saved under {}",
        saved.display()
    );

    let second = App::launch(&env).await;
    second.find("#empty-create-key-btn").await;
    let (_, _, width, height) = second.client.get_window_rect().await.expect("rect");
    assert_eq!(
        (width, height),
        (900, 640),
        "the window opened at its remembered size"
    );
    second.close().await;
}
