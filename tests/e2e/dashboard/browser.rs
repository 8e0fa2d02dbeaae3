//! A real headless Chromium for one test, driven over WebDriver: its own
//! `chromedriver` on a free port, its own profile directory, and
//! screenshots saved under `target/dashboard-screenshots/<test>/`.
//!
//! Every wait here is bounded. chromedriver runs in a process group of
//! its own, so the browser it started goes with it when the test ends,
//! however it ends.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use mqhost_tests::plugins::TempDir;
use serde_json::json;

/// The browser Debian's `chromium` package installs.
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long chromedriver and a browser session may take to start.
const START: Duration = Duration::from_secs(30);
/// How long a page may take to show what a test waits for.
pub const WAIT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(100);

/// Why the browser tests cannot run here, if they cannot.
pub fn missing() -> Option<String> {
    if !Path::new(CHROMIUM).exists() {
        return Some(format!("{CHROMIUM} is missing (apt-get install chromium)"));
    }
    let found = Command::new("sh")
        .args(["-c", "command -v chromedriver"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        return Some("chromedriver is missing (apt-get install chromium-driver)".into());
    }
    None
}

/// A browser session, the chromedriver it runs under, and where its
/// screenshots go.
pub struct Browser {
    pub client: Client,
    driver: Child,
    shots: PathBuf,
    taken: u32,
    _profile: TempDir,
}

impl Browser {
    /// A fresh headless browser with a window of `width` × `height`, its
    /// screenshots under `target/dashboard-screenshots/<test>/`.
    pub async fn start(test: &str, width: u32, height: u32) -> Browser {
        let mut driver = Command::new("chromedriver");
        driver
            .args(["--port=0", "--log-level=WARNING"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // Its browser joins this group, which Drop ends whole.
            .process_group(0);
        let mut driver = driver.spawn().expect("start chromedriver");
        let port = read_port(&mut driver);
        let profile = TempDir::new();
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--disable-extensions",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--hide-scrollbars",
                    "--force-device-scale-factor=1",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object");
        };
        let client = tokio::time::timeout(
            START,
            ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities)
                .connect(&format!("http://127.0.0.1:{port}")),
        )
        .await
        .expect("the browser did not start in time")
        .expect("start a browser session");
        let shots = screenshot_root().join(test);
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).expect("make the screenshot directory");
        Browser {
            client,
            driver,
            shots,
            taken: 0,
            _profile: profile,
        }
    }

    /// Saves a screenshot of the window as `NN-name.png` and prints its
    /// path.
    pub async fn screenshot(&mut self, name: &str) -> PathBuf {
        self.taken += 1;
        let path = self.shots.join(format!("{:02}-{name}.png", self.taken));
        let png = self.client.screenshot().await.expect("take a screenshot");
        std::fs::write(&path, png).expect("save the screenshot");
        println!("screenshot: {}", path.display());
        path
    }

    /// The first element `css` selects, once there is one.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(WAIT)
            .every(POLL)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} on the page within {WAIT:?}: {e}"))
    }

    /// Waits until the element `css` selects shows text containing
    /// `needle`; returns its text.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        let mut last = String::new();
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                if let Ok(text) = element.text().await {
                    if text.contains(needle) {
                        return text;
                    }
                    last = text;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{css} did not show {needle:?} within {WAIT:?}; it shows {last:?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until nothing on the page matches `css`.
    pub async fn wait_gone(&self, css: &str) {
        let deadline = Instant::now() + WAIT;
        while self
            .client
            .find_all(Locator::Css(css))
            .await
            .is_ok_and(|found| !found.is_empty())
        {
            assert!(
                Instant::now() < deadline,
                "{css} still on the page after {WAIT:?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Ends the session (the browser quits) and chromedriver.
    pub async fn close(mut self) {
        let client = self.client.clone();
        let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
        self.end_driver();
    }

    fn end_driver(&mut self) {
        // The whole group: chromedriver and any browser it started.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.end_driver();
    }
}

/// `target/dashboard-screenshots`, beside the build's own directories.
fn screenshot_root() -> PathBuf {
    mqhost_tests::build_dir()
        .parent()
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
        .join("dashboard-screenshots")
}

/// The port chromedriver says it listens on: "... started successfully
/// on port N." (it takes `--port=0` and picks one).
fn read_port(driver: &mut Child) -> u16 {
    let mut stdout = driver.stdout.take().expect("chromedriver's stdout");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut byte = [0u8; 1];
        while let Ok(1) = stdout.read(&mut byte) {
            seen.push(byte[0]);
            let text = String::from_utf8_lossy(&seen);
            if let Some(port) = text
                .split("successfully on port ")
                .nth(1)
                .and_then(|rest| rest.split_once('.'))
                .and_then(|(port, _)| port.trim().parse::<u16>().ok())
            {
                let _ = sender.send(Ok(port));
                // Keep reading so chromedriver never blocks on a full pipe.
                let _ = std::io::copy(&mut stdout, &mut std::io::sink());
                return;
            }
        }
        let _ = sender.send(Err(String::from_utf8_lossy(&seen).into_owned()));
    });
    match receiver.recv_timeout(START) {
        Ok(Ok(port)) => port,
        Ok(Err(said)) => panic!("chromedriver did not say its port: {said:?}"),
        Err(_) => panic!("chromedriver did not start within {START:?}"),
    }
}
