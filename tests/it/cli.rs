//! The `dialtone call` client, run as the real binary against a spawned sim.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::helpers::*;

#[tokio::test]
async fn dialtone_call_prints_the_session_and_follows_the_call_to_its_end() {
    let sim = spawn_sim().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_dialtone"))
        .args([
            "call", CALLEE, "--code", "4815", "--url", &sim.base, "--times", "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the dialtone binary runs");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .expect("a line in time")
        .expect("output");
    assert!(first.starts_with("sessionId: 1200_1_"), "{first}");
    // The client is now following; move the simulated call along. It exits after disconnect,
    // which closes the channel.
    sim.advance("30s").await;
    let mut rx_lines = Vec::new();
    while let Some(line) = tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .expect("output in time")
    {
        rx_lines.push(line);
    }
    let status = child.wait().expect("exit");
    assert!(status.success(), "{rx_lines:?}");
    let text = rx_lines.join("\n");
    for event in ["callout", "alerting", "answer", "playing", "disconnect"] {
        assert!(text.contains(event), "{event} missing from:\n{text}");
    }
    assert!(text.contains("stateCode 0"), "{text}");
    assert!(text.contains("2026-03-14 10:15:31.000"), "{text}");
}

#[tokio::test]
async fn dialtone_call_reports_a_refusal_and_exits_non_zero() {
    let sim = spawn_sim().await;
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_dialtone"))
                .args(args)
                .output()
                .expect("runs")
        })
    };
    let args = |extra: &[&str]| {
        let mut a: Vec<String> = ["call", CALLEE, "--url", &sim.base]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    // Dialtone refuses a tone the app may not play.
    let out = run(args(&["--code", "4827", "--pre-tone", "nope.wav"]))
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1010002") && err.contains("preTone"), "{err}");
    // What cannot be a verification code at all is refused before anything is sent.
    let out = run(args(&["--code", "48a7"])).await.unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--code") && err.contains("2 to 8 digits"),
        "{err}"
    );
}
