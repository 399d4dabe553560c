//! The Origin rule in a real browser (headless Chromium over WebDriver): a page from another
//! origin cannot write to the ledger, read it, or watch the races; one the user allows
//! (`--allow-origin`) can; and the dashboard served by any node works with every node of the
//! process, by 127.0.0.1 or localhost.

mod util;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use util::*;

/// Headless Chromium driven over W3C WebDriver (chromedriver): real time, no virtual clock,
/// so a page's WebSockets and fetches finish when they finish.
struct Browser {
    driver: Child,
    port: u16,
    session: String,
}

impl Browser {
    fn start() -> Browser {
        let port = free_ports(1)[0];
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("this test needs chromedriver: apt-get install chromium-driver (or .ci/run)");
        let mut browser = Browser {
            driver,
            port,
            session: String::new(),
        };
        let start = Instant::now();
        let session = loop {
            let capabilities = json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": "/usr/bin/chromium",
                    // Root (as in CI containers) needs --no-sandbox; the pages are ours.
                    "args": ["--headless", "--no-sandbox", "--disable-gpu"],
                },
            }}});
            match browser.call("POST", "/session", Some(capabilities)) {
                Ok(v) => break v["sessionId"].as_str().unwrap().to_owned(),
                Err(e) => assert!(start.elapsed() < PATIENCE, "no WebDriver session: {e}"),
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        browser.session = session;
        browser
    }

    /// One WebDriver command; its `value`, or the error.
    fn call(&self, method: &str, route: &str, body: Option<Value>) -> Result<Value, String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        let body = body.map_or(String::new(), |b| b.to_string());
        let request = format!(
            "{method} {route} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.port,
            body.len()
        );
        s.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
        // The head, then exactly Content-Length bytes (the driver may keep the connection).
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut byte).map_err(|e| e.to_string())?;
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(|| format!("no content-length: {head}"))?;
        let mut body = vec![0u8; length];
        s.read_exact(&mut body).map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_slice(&body).map_err(|e| format!("{e}: {head}"))?;
        match v["value"].get("error") {
            Some(error) => Err(format!("{error}: {}", v["value"]["message"])),
            None => Ok(v["value"].clone()),
        }
    }

    fn open(&self, url: &str) {
        let route = format!("/session/{}/url", self.session);
        self.call("POST", &route, Some(json!({ "url": url })))
            .unwrap();
    }

    /// Runs `script` in the page until it returns something other than null, for up to
    /// PATIENCE (real time); panics with `what` and the page otherwise.
    fn wait_for(&self, what: &str, script: &str) -> Value {
        let route = format!("/session/{}/execute/sync", self.session);
        let start = Instant::now();
        loop {
            let v = self
                .call(
                    "POST",
                    &route,
                    Some(json!({ "script": script, "args": [] })),
                )
                .unwrap();
            if !v.is_null() {
                return v;
            }
            if start.elapsed() > PATIENCE {
                let page = self.call(
                    "POST",
                    &route,
                    Some(json!({"script": "return document.body.innerText", "args": []})),
                );
                panic!("timed out waiting for {what}; the page:\n{page:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.call("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Serves `html` to every request on a free port, from another origin than the nodes'.
fn page_server(html: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let _ = s.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{html}",
                    html.len()
                )
                .as_bytes(),
            );
        }
    });
    port
}

/// A page that tries everything a hostile page would: a text/plain POST (no preflight), a
/// read of the ledger, the event stream. It writes what happened into `#out`.
fn probing_page(ports: &[u16], tx: &str) -> String {
    format!(
        r#"<!doctype html><html><body><pre id="out"></pre><script>
const log = (s) => {{ document.getElementById('out').textContent += s + '\n'; }};
(async () => {{
  try {{
    const r = await fetch('http://127.0.0.1:{p0}/tx', {{ method: 'POST', body: '{tx}' }});
    log('post ' + r.status);
  }} catch (e) {{ log('post failed'); }}
  try {{
    const r = await fetch('http://127.0.0.1:{p1}/ledger');
    log('ledger ' + r.status);
  }} catch (e) {{ log('ledger failed'); }}
  await new Promise((done) => {{
    const ws = new WebSocket('ws://127.0.0.1:{p2}/events');
    ws.onmessage = (m) => {{ log('events ' + JSON.parse(m.data).type); ws.close(); done(); }};
    ws.onerror = () => {{ log('events failed'); done(); }};
  }});
  log('done');
}})();
</script></body></html>"#,
        p0 = ports[0],
        p1 = ports[1],
        p2 = ports[2],
    )
}

/// What a probing page logged, once it is done.
fn outcome(browser: &Browser, url: &str) -> Vec<String> {
    browser.open(url);
    let log = browser.wait_for(
        "the page to finish",
        "const t = document.getElementById('out').textContent; \
         return t.includes('done') ? t : null;",
    );
    log.as_str().unwrap().lines().map(str::to_owned).collect()
}

#[test]
fn only_the_nodes_own_pages_and_allowed_origins_reach_the_nodes_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(3);
    let hostile = page_server(probing_page(&ports, "written by a hostile page"));
    let allowed = page_server(probing_page(&ports, "written by an allowed page"));
    let args: Vec<String> = [
        "serve",
        "--difficulty",
        "1",
        "--base-port",
        &ports[0].to_string(),
        "--ledger",
        &dir.path().join("ledger.json").display().to_string(),
        "--allow-origin",
        &format!("http://127.0.0.1:{allowed}"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let server = Server::spawn(dir.path(), &args, ports.clone());
    let browser = Browser::start();

    let log = outcome(&browser, &format!("http://127.0.0.1:{hostile}/"));
    assert_eq!(
        log,
        ["post failed", "ledger failed", "events failed", "done"]
    );
    assert!(
        !server.ledger_path().exists(),
        "the hostile page wrote nothing"
    );

    let log = outcome(&browser, &format!("http://127.0.0.1:{allowed}/"));
    assert_eq!(log, ["post 200", "ledger 200", "events hello", "done"]);
    let data: Vec<String> = server
        .ledger()
        .iter()
        .map(|e| e["transaction_data"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(data, ["written by an allowed page"]);

    // The dashboard from Node2, by localhost, watching all three by both names: every
    // node's events, status and ledger reach it.
    let nodes = format!(
        "127.0.0.1:{},localhost:{},127.0.0.1:{}",
        ports[0], ports[1], ports[2]
    );
    browser.open(&format!("http://localhost:{}/?nodes={nodes}", ports[1]));
    let seen = browser.wait_for(
        "every node live, named, and the ledger shown",
        r#"const names = [...document.querySelectorAll('.node-chip')].map((c) => c.dataset.node);
           const all = document.querySelector('#nodes-summary').dataset.all === 'true';
           const ledger = document.body.innerText.includes('written by an allowed page');
           return all && ledger && names.every(Boolean) ? names : null;"#,
    );
    assert_eq!(seen, json!(["Node1", "Node2", "Node3"]));
}
