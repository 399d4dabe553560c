//! `node-server submit`: sends one transaction to every node at once, like the lab's `tee`
//! into three `nc`s, and shows the race from the replies.

use std::time::Duration;

use anyhow::{bail, Context as _};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::limits::MAX_REPLY_LINE_BYTES;
use crate::net::protocol::{self, ErrorReply, LineError, Outcome, Reply};

/// How long `submit` waits for each node's reply.
pub const SUBMIT_TIMEOUT: Duration = Duration::from_secs(600);

/// One node's answer as `submit` saw it.
#[derive(Debug)]
pub enum Answer {
    /// A race reply.
    Race(Box<Reply>),
    /// An error reply.
    Refused(ErrorReply),
    /// No usable reply.
    Failed(String),
}

/// Why `submit` sent nothing.
#[derive(Debug, thiserror::Error)]
#[error("refusing to send this transaction, which a node would not take as one line: {0}")]
pub struct NotOneLine(#[from] pub LineError);

/// Sends `data` (one valid line: [`submit`] checks) to `addr` and reads one reply line, of at
/// most [`MAX_REPLY_LINE_BYTES`]: a peer that sends more without a newline is no node.
async fn send_line(addr: &str, data: &str) -> Answer {
    let attempt = async {
        let mut stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot connect to {addr}"))?;
        stream.write_all(format!("{data}\n").as_bytes()).await?;
        let mut line = Vec::new();
        BufReader::new(stream)
            .take(MAX_REPLY_LINE_BYTES as u64)
            .read_until(b'\n', &mut line)
            .await?;
        if line.is_empty() {
            bail!("{addr} closed the connection without a reply");
        }
        if line.len() == MAX_REPLY_LINE_BYTES && !line.ends_with(b"\n") {
            bail!(
                "{addr} sent {MAX_REPLY_LINE_BYTES} bytes without a newline, more than a node's \
                 longest reply: not a node"
            );
        }
        Ok::<_, anyhow::Error>(line)
    };
    match tokio::time::timeout(SUBMIT_TIMEOUT, attempt).await {
        Err(_) => Answer::Failed(format!("{addr}: no reply within {SUBMIT_TIMEOUT:?}")),
        Ok(Err(e)) => Answer::Failed(format!("{e:#}")),
        Ok(Ok(line)) => {
            if let Ok(r) = serde_json::from_slice::<Reply>(&line) {
                Answer::Race(Box::new(r))
            } else if let Ok(e) = serde_json::from_slice::<ErrorReply>(&line) {
                Answer::Refused(e)
            } else {
                let line = String::from_utf8_lossy(&line);
                Answer::Failed(format!("{addr}: unexpected reply {line:?}"))
            }
        }
    }
}

/// Sends `data` to every address at once and returns the answers in address order. `data`
/// must be what the line protocol takes as one transaction ([`protocol::parse_transaction`]:
/// one line, no control characters but tab, at most `MAX_LINE_BYTES`); otherwise nothing is
/// sent: a newline inside would reach the nodes as two transactions.
pub async fn submit(data: &str, to: &[String]) -> Result<Vec<(String, Answer)>, NotOneLine> {
    let data = protocol::parse_transaction(data.as_bytes())?;
    let tasks: Vec<_> = to
        .iter()
        .map(|addr| {
            let (addr, data) = (addr.clone(), data.to_owned());
            tokio::spawn(async move {
                let a = send_line(&addr, &data).await;
                (addr, a)
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("submit task"));
    }
    Ok(out)
}

/// The race as a table: each node's start, end, time taken; the winner; the margins.
pub fn table(answers: &[(String, Answer)]) -> String {
    let mut s = format!(
        "{:<6} {:<16} {:<9} {:<26} {:<26} {:>14} {:>12}\n",
        "node", "address", "outcome", "start_time", "end_time", "time_taken (s)", "margin (s)"
    );
    let mut winner = None;
    for (addr, a) in answers {
        match a {
            Answer::Race(r) => {
                let outcome = match r.outcome {
                    Outcome::Won => "won",
                    Outcome::Lost => "lost",
                    Outcome::Aborted => "aborted",
                    Outcome::Recorded => "recorded",
                };
                s += &format!(
                    "{:<6} {:<16} {:<9} {:<26} {:<26} {:>14} {:>12}\n",
                    r.node,
                    addr,
                    outcome,
                    r.start_time.as_deref().unwrap_or("-"),
                    r.end_time.as_deref().unwrap_or("-"),
                    r.time_taken.map_or("-".into(), |t| format!("{t:.9}")),
                    r.margin.map_or("-".into(), |m| format!("+{m:.6}")),
                );
                winner = Some(r);
            }
            Answer::Refused(e) => s += &format!("{:<6} {addr:<16} error     {}\n", e.node, e.error),
            Answer::Failed(e) => s += &format!("{:<6} {addr:<16} failed    {e}\n", "?"),
        }
    }
    if let Some(r) = winner {
        s += &format!(
            "winner: {} (ledger index {}), nonce {}, hash {}\n",
            r.winner, r.entry.index, r.entry.nonce, r.entry.hash
        );
    }
    s
}

/// How a batch of races (`submit --count`) ended.
#[derive(Debug, Default, serde::Serialize)]
pub struct Batch {
    /// Races sent.
    pub races: u64,
    /// Races with exactly one `won` answer.
    pub decided: u64,
    /// Wins per node.
    pub wins: std::collections::BTreeMap<String, u64>,
    /// Answers that were errors or failures.
    pub errors: u64,
    /// Seconds from the first send to the last answer.
    pub seconds: f64,
}

/// Sends `data` to every address, `stagger` apart in a random order (the first node to get a
/// transaction has a head start of `stagger`, the next of none over the last...), and returns
/// the answers in address order.
pub async fn submit_staggered(
    data: &str,
    to: &[String],
    stagger: Duration,
    seed: u64,
) -> Result<Vec<(String, Answer)>, NotOneLine> {
    let data = protocol::parse_transaction(data.as_bytes())?;
    let mut order: Vec<usize> = (0..to.len()).collect();
    // A small xorshift shuffle: which node goes first changes race to race.
    let mut x = seed | 1;
    for i in (1..order.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    let mut tasks: Vec<Option<tokio::task::JoinHandle<Answer>>> =
        (0..to.len()).map(|_| None).collect();
    for (k, &i) in order.iter().enumerate() {
        if k > 0 {
            tokio::time::sleep(stagger).await;
        }
        let (addr, data) = (to[i].clone(), data.to_owned());
        tasks[i] = Some(tokio::spawn(async move { send_line(&addr, &data).await }));
    }
    let mut out = Vec::new();
    for (addr, t) in to.iter().zip(tasks) {
        let a = t.expect("every node sent").await.expect("submit task");
        out.push((addr.clone(), a));
    }
    Ok(out)
}

/// Sends `count` numbered transactions (`{prefix} {run}-{i}`, `run` telling batches apart),
/// each to every node at once (or `stagger` apart in a random order), one race after another,
/// starting at most `rate` races per second; `each` sees every race's answers (for a
/// progress bar, or printing).
pub async fn batch(
    prefix: &str,
    count: u64,
    rate: Option<f64>,
    stagger: Option<Duration>,
    to: &[String],
    mut each: impl FnMut(u64, &[(String, Answer)]),
) -> Result<Batch, NotOneLine> {
    protocol::parse_transaction(prefix.as_bytes())?;
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let t0 = tokio::time::Instant::now();
    let mut out = Batch::default();
    for i in 0..count {
        if let Some(r) = rate.filter(|r| *r > 0.0) {
            tokio::time::sleep_until(t0 + Duration::from_secs_f64(i as f64 / r)).await;
        }
        let tx = format!("{prefix} {run}-{i}");
        let answers = match stagger {
            Some(d) => {
                submit_staggered(&tx, to, d, run ^ (i + 1).wrapping_mul(0x9e37_79b9)).await?
            }
            None => submit(&tx, to).await?,
        };
        out.races += 1;
        let mut won = 0;
        for (_, a) in &answers {
            match a {
                Answer::Race(r) if r.outcome == Outcome::Won => {
                    won += 1;
                    *out.wins.entry(r.node.clone()).or_default() += 1;
                }
                Answer::Race(_) => {}
                Answer::Refused(_) | Answer::Failed(_) => out.errors += 1,
            }
        }
        out.decided += u64::from(won == 1);
        each(i, &answers);
    }
    out.seconds = t0.elapsed().as_secs_f64();
    Ok(out)
}
