//! A real Kafka-protocol broker for end-to-end tests: `tansu` with in-memory storage, started on a
//! free loopback port and stopped when dropped. `.ci/run` (tools/test.sh) installs it with
//! `cargo install tansu`; a test that needs it fails with a message saying how to install it.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running broker.
pub struct Broker {
    child: Child,
    port: u16,
}

/// Where the `tansu` executable is: `$TANSU`, then `$PATH`, then `~/.cargo/bin`.
fn tansu_path() -> PathBuf {
    if let Some(p) = std::env::var_os("TANSU") {
        return PathBuf::from(p);
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("tansu"))
                .find(|p| p.is_file())
        })
        .unwrap_or_default();
    if let Some(p) = on_path {
        return p;
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".cargo/bin/tansu")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

impl Broker {
    /// Starts a broker listening on 127.0.0.1 only.
    pub fn start() -> Broker {
        let tansu = tansu_path();
        assert!(
            tansu.is_file(),
            "the Kafka-protocol broker `tansu` is not installed ({}): run \
             `cargo install tansu --locked --version 0.6.0 --features dynostore` (tools/test.sh does)",
            tansu.display()
        );
        for _ in 0..5 {
            let port = free_port();
            let url = format!("tcp://127.0.0.1:{port}");
            let mut child = Command::new(&tansu)
                .args(["broker", "--storage-engine", "memory://tansu/"])
                .args(["--listener-url", &url, "--advertised-listener-url", &url])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", tansu.display()));
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Broker { child, port };
                }
                if let Ok(Some(status)) = child.try_wait() {
                    // Most likely the port was taken in between: try another.
                    eprintln!("tansu on port {port} exited ({status}); retrying");
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("tansu did not start listening on loopback");
    }

    /// `host:port` for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The broker's process id (the benchmark reads its CPU time).
    #[allow(dead_code)]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
