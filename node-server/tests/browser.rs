//! The Origin rule in a real browser (headless Chromium): a page from another origin cannot
//! write to the ledger, read it, or watch the races; one the user allows (`--allow-origin`)
//! can; and the dashboard served by any node works with every node of the process, by
//! 127.0.0.1 or localhost.

mod util;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use util::*;

/// Loads `url` in headless Chromium, runs its scripts (timers run in virtual time, for up to
/// 10 s of it) and returns the page's DOM.
fn chromium_dom(profile: &Path, url: &str) -> String {
    let out = Command::new("chromium")
        .args([
            "--headless",
            // Root (as in CI containers) needs it; the pages are ours.
            "--no-sandbox",
            "--disable-gpu",
            &format!("--user-data-dir={}", profile.display()),
            "--virtual-time-budget=10000",
            "--dump-dom",
            url,
        ])
        .output()
        .expect("this test needs Chromium: apt-get install chromium (or run .ci/run)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
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

fn outcome(dom: &str) -> Vec<String> {
    let start = dom.find(r#"<pre id="out">"#).expect("the page's log") + 14;
    let end = start + dom[start..].find("</pre>").unwrap();
    dom[start..end].lines().map(str::to_owned).collect()
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
    let profile = tempfile::tempdir().unwrap();

    let dom = chromium_dom(profile.path(), &format!("http://127.0.0.1:{hostile}/"));
    assert_eq!(
        outcome(&dom),
        ["post failed", "ledger failed", "events failed", "done"],
        "{dom}"
    );
    assert!(
        !server.ledger_path().exists(),
        "the hostile page wrote nothing"
    );

    let dom = chromium_dom(profile.path(), &format!("http://127.0.0.1:{allowed}/"));
    assert_eq!(
        outcome(&dom),
        ["post 200", "ledger 200", "events hello", "done"],
        "{dom}"
    );
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
    let dom = chromium_dom(
        profile.path(),
        &format!("http://localhost:{}/?nodes={nodes}", ports[1]),
    );
    assert!(
        dom.contains(r#"data-all="true">3/3 nodes live<"#),
        "the dashboard did not reach every node:\n{dom}"
    );
    for node in ["Node1", "Node2", "Node3"] {
        assert!(
            dom.contains(&format!(r#"data-node="{node}""#)),
            "{node}:\n{dom}"
        );
    }
    assert!(
        dom.contains("written by an allowed page"),
        "the ledger was read:\n{dom}"
    );
}
