//! The `dialtone call` client, run as the real binary against a spawned sim.

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
    let mut rx = forward_lines(child.stdout.take().expect("stdout"));
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
    assert!(
        err.contains("\n  hint: preTone `nope.wav` is not an approved tone of app"),
        "the client passes Dialtone's hint on: {err}"
    );
    // What cannot be a verification code at all is refused before anything is sent.
    let out = run(args(&["--code", "48a7"])).await.unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--code") && err.contains("2 to 8 digits"),
        "{err}"
    );
}

/// Runs the built binary to completion with `args`.
async fn dialtone(args: &[&str]) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_dialtone"))
            .args(args)
            .output()
            .expect("the dialtone binary runs")
    })
    .await
    .expect("joined")
}

/// Runs `dialtone args…` and returns its stdout, asserting success.
async fn dialtone_ok(args: &[&str]) -> String {
    let out = dialtone(args).await;
    assert!(
        out.status.success(),
        "dialtone {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// Spawns the binary and forwards each line of its stdout and stderr to a channel.
pub(crate) fn spawn_lines(
    args: &[&str],
) -> (
    std::process::Child,
    tokio::sync::mpsc::UnboundedReceiver<String>,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    spawn_lines_with(args, &[])
}

/// As [`spawn_lines`], with these environment variables set.
pub(crate) fn spawn_lines_with(
    args: &[&str],
    env: &[(&str, &str)],
) -> (
    std::process::Child,
    tokio::sync::mpsc::UnboundedReceiver<String>,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dialtone"))
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the dialtone binary runs");
    let out = forward_lines(child.stdout.take().expect("stdout"));
    let err = forward_lines(child.stderr.take().expect("stderr"));
    (child, out, err)
}

/// The URL a starting server prints in its banner, read from its stdout `rx`.
async fn banner_url(rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> String {
    let banner = lines_until(rx, "Dialtone listening on ").await;
    banner
        .last()
        .and_then(|l| l.split_whitespace().find(|w| w.starts_with("http://")))
        .expect("the banner names the URL")
        .to_owned()
}

/// Lines from `rx` up to and including the first containing `needle`.
pub(crate) async fn lines_until(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    needle: &str,
) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let line = tokio::time::timeout(PATIENCE, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no line with {needle:?} in time; so far: {lines:#?}"))
            .unwrap_or_else(|| panic!("output ended before {needle:?}; so far: {lines:#?}"));
        let done = line.contains(needle);
        lines.push(line);
        if done {
            return lines;
        }
    }
}

#[tokio::test]
async fn dialtone_call_on_a_quiet_manual_clock_says_how_to_advance_it() {
    let sim = spawn_sim().await;
    let (mut child, mut out, mut err) = spawn_lines(&[
        "call",
        CALLEE,
        "--code",
        "4815",
        "--url",
        &sim.base,
        "--times",
        "1",
        "--idle-hint-s",
        "0.2",
    ]);
    lines_until(&mut out, "sessionId: ").await;
    let hint = lines_until(&mut err, "manual").await;
    let hint = hint.last().expect("a line");
    assert!(
        hint.contains(&format!("dialtone advance 30s --url {}", sim.base)),
        "{hint}"
    );
    // Advanced with the CLI's own verb, the call goes on to its end.
    let advanced = dialtone_ok(&["advance", "30s", "--url", &sim.base]).await;
    assert_eq!(
        advanced.trim(),
        "advanced 30000 ms: 2026-03-14T10:15:31.000Z → 2026-03-14T10:16:01.000Z"
    );
    // A bare number is milliseconds, and the output says so.
    let bare = dialtone_ok(&["advance", "10", "--url", &sim.base]).await;
    assert_eq!(
        bare.trim(),
        "advanced 10 ms: 2026-03-14T10:16:01.000Z → 2026-03-14T10:16:01.010Z"
    );
    let followed = lines_until(&mut out, "disconnect").await;
    assert!(followed.join("\n").contains("stateCode 0"), "{followed:#?}");
    let status = child.wait().expect("exit");
    assert!(status.success());
}

#[tokio::test]
async fn dialtone_tail_prints_a_line_per_event_and_json_on_request() {
    let sim = spawn_sim().await;
    let session = sim.place_call(&verify_body("4815")).await;
    sim.advance("30s").await;
    // `--since 0` replays from the first event, so nothing depends on when tail connects.
    let (mut tail, mut out, _) = spawn_lines(&["tail", "--url", &sim.base, "--since", "0"]);
    let lines = lines_until(&mut out, "fee fee").await;
    tail.kill().expect("tail stops");
    let _ = tail.wait();
    assert!(
        lines[0].starts_with("     1 10:15:31.000 accepted"),
        "{lines:#?}"
    );
    assert!(lines[0].contains(&session), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" disconnect ") && l.contains("stateCode 0")),
        "{lines:#?}"
    );
    assert!(!lines.join("").contains('\x1b'), "no colours into a pipe");

    let (mut tail, mut out, _) = spawn_lines(&[
        "tail",
        "--url",
        &sim.base,
        "--since",
        "0",
        "--json",
        "--kinds",
        "accepted,disconnect",
    ]);
    let lines = lines_until(&mut out, "disconnect").await;
    tail.kill().expect("tail stops");
    let _ = tail.wait();
    let messages: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("NDJSON"))
        .collect();
    assert_sequence(
        &["accepted", "disconnect"],
        &crate::helpers::kinds(&messages),
    );
    assert_eq!(messages[1]["state_code"], 0);
}

#[tokio::test]
async fn dialtone_tail_with_an_unknown_kind_says_which_kinds_there_are() {
    let sim = spawn_sim().await;
    let out = dialtone(&["tail", "--url", &sim.base, "--kinds", "ringing"]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("HTTP 400: unknown kind `ringing`"), "{err}");
}

#[tokio::test]
async fn control_verbs_set_phones_list_calls_and_deliveries_and_reset() {
    let sim = spawn_sim().await;
    let url = sim.base.as_str();
    let set = dialtone_ok(&["phone", "set", CALLEE, "busy,answer", "--url", url]).await;
    assert!(set.starts_with(&format!("{CALLEE}: ")), "{set}");
    assert!(set.contains(r#"{"outcome":"busy"}"#), "{set}");
    let single = dialtone_ok(&["phone", "set", "+8613900005555", "busy", "--url", url]).await;
    assert_eq!(
        single.trim(),
        r#"+8613900005555: {"steps":[{"outcome":"busy"}]}"#
    );
    let listed = dialtone_ok(&["phone", "list", "--url", url]).await;
    assert!(
        listed.contains(CALLEE) && listed.contains("+8613900005555"),
        "{listed}"
    );
    // One line per rule, like calls and deliveries; --json for the whole view.
    assert!(
        !listed.contains('{') || listed.lines().all(|l| !l.trim().starts_with('"')),
        "{listed}"
    );
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("api ") && l.contains(CALLEE) && l.contains("calls ")),
        "{listed}"
    );
    assert!(
        listed.lines().any(|l| l.starts_with("magic    *")),
        "{listed}"
    );
    let json = dialtone_ok(&["phone", "list", "--json", "--url", url]).await;
    let view: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert!(
        view["api"].as_array().is_some_and(|a| !a.is_empty()),
        "{json}"
    );
    let bad = dialtone(&["phone", "set", CALLEE, "ringing", "--url", url]).await;
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("HTTP 400"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );

    let session = sim.place_call(&verify_body("4815")).await;
    dialtone_ok(&["advance", "1m", "--url", url]).await;
    let calls = dialtone_ok(&["calls", "--url", url]).await;
    assert_eq!(calls.lines().count(), 1, "{calls}");
    assert!(
        calls.starts_with(&format!("{session}  released  stateCode 8102 ")),
        "{calls}"
    );
    let deliveries = dialtone_ok(&["deliveries", "--url", url, "--session-id", &session]).await;
    let lines: Vec<&str> = deliveries.lines().collect();
    assert_eq!(lines.len(), 3, "callout, disconnect, fee: {deliveries}");
    assert!(
        lines[2].starts_with("f1#1     2026-03-14 10:")
            && lines[2].contains("fee        HTTP 200 delivered"),
        "{deliveries}"
    );
    let json = dialtone_ok(&["calls", "--url", url, "--json", "--state", "released"]).await;
    let listed: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(listed[0]["session_id"], session.as_str());

    let removed = dialtone_ok(&["phone", "rm", CALLEE, "--url", url]).await;
    assert_eq!(removed.trim(), format!("{CALLEE}: rule removed"));
    let again = dialtone(&["phone", "rm", CALLEE, "--url", url]).await;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr)
        .contains(&format!("HTTP 404: no rule for `{CALLEE}`")));

    let reset = dialtone_ok(&["reset", "--url", url]).await;
    assert_eq!(reset.trim(), "reset; clock: 2026-03-14T10:15:31.000Z");
    assert_eq!(
        dialtone_ok(&["calls", "--url", url]).await.trim(),
        "no calls"
    );
}

/// Runs the binary to completion with `args` and returns (success, stdout, stderr).
async fn run_cli(args: Vec<String>) -> (bool, String, String) {
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_dialtone"))
            .args(args)
            .output()
            .expect("runs")
    })
    .await
    .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The sessionId a placing command printed first.
fn session_of(out: &str) -> String {
    out.lines()
        .next()
        .and_then(|l| l.strip_prefix("sessionId: "))
        .unwrap_or_else(|| panic!("no sessionId in {out}"))
        .to_owned()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn dialtone_notify_callback_and_stop_place_and_end_calls() {
    let sim = spawn_sim().await;
    sim.set_phone(CALLEE, r#"{"outcome":"answer","digits":["2"]}"#)
        .await;
    let (ok, out, err) = run_cli(args(&[
        "notify",
        CALLEE,
        "--template",
        "tpl_bill",
        "--param",
        "张先生",
        "--param",
        "128.50",
        "--collect",
        "1",
        "--replay-on",
        "1",
        "--no-follow",
        "--url",
        &sim.base,
    ]))
    .await;
    assert!(ok, "{out}{err}");
    let session = session_of(&out);
    sim.advance("1m").await;
    assert_sequence(
        &[
            "callout",
            "alerting",
            "answer",
            "collectInfo",
            "disconnect",
            "fee",
        ],
        &sim.receiver.events_of(&session).await,
    );

    let (ok, out, err) = run_cli(args(&[
        "callback",
        CALLEE,
        "+8613700005678",
        "--party-type",
        "--no-follow",
        "--url",
        &sim.base,
    ]))
    .await;
    assert!(ok, "{out}{err}");
    let session = session_of(&out);
    sim.advance("20s").await; // talking
    let (ok, out, err) = run_cli(args(&["stop", &session, "--url", &sim.base])).await;
    assert!(ok && out.contains("stopped"), "{out}{err}");
    sim.advance("1m").await;
    let pushes = sim.receiver.pushes_of(&session).await;
    let disconnect = pushes
        .iter()
        .find(|p| p.event_type() == "disconnect")
        .unwrap();
    assert_eq!(
        (disconnect.info("stateCode"), disconnect.info("partyType")),
        (&serde_json::json!(0), &serde_json::json!(2))
    );
    // A second stop is the platform's refusal, reported with its code.
    let (ok, _, err) = run_cli(args(&["stop", &session, "--url", &sim.base])).await;
    assert!(!ok && err.contains("1020001"), "{err}");
}

#[tokio::test]
async fn dialtone_call_takes_a_voice_by_tag_or_by_language_type() {
    let sim = spawn_sim().await;
    for (lang, expected) in [("zh", 1), ("2", 2)] {
        let (ok, out, err) = run_cli(args(&[
            "call",
            CALLEE,
            "--code",
            "48",
            "--lang",
            lang,
            "--no-follow",
            "--url",
            &sim.base,
        ]))
        .await;
        assert!(ok, "{out}{err}");
        let session = session_of(&out);
        assert_eq!(
            sim.call(&session).await["language_type"],
            expected,
            "{lang}"
        );
    }
    let (ok, _, err) = run_cli(args(&["call", CALLEE, "--code", "48", "--lang", "xx"])).await;
    assert!(!ok && err.contains("--lang `xx`"), "{err}");
}

#[tokio::test]
async fn serve_refuses_a_speed_or_start_out_of_bounds() {
    for (flag, value, says) in [
        (
            "--speed",
            "1e300",
            "--speed must be a number from 0.001 to 1000000",
        ),
        (
            "--speed",
            "0.0000001",
            "--speed must be a number from 0.001",
        ),
        (
            "--start",
            "9990-01-01T00:00:00Z",
            "--start must be from 1970",
        ),
    ] {
        let args = [
            "serve",
            "--ephemeral",
            "--listen",
            "127.0.0.1:0",
            flag,
            value,
        ];
        let out = tokio::time::timeout(PATIENCE, dialtone(&args))
            .await
            .unwrap_or_else(|_| panic!("{flag} {value}: still serving"));
        assert!(!out.status.success(), "{flag} {value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{flag} {value}: {err}");
    }
}

/// A `dialtone` server process, killed when dropped.
struct Served {
    child: std::process::Child,
    url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `dialtone args…` in `dir` on a free port, as a user would from that folder, and waits
/// for its banner.
async fn serve_in(dir: &std::path::Path, args: &[&str]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dialtone"))
        .args(args)
        .current_dir(dir)
        .env("DIALTONE_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the dialtone binary runs");
    let mut rx = forward_lines(child.stdout.take().expect("stdout"));
    let url = banner_url(&mut rx).await;
    // Keep draining, so the server never blocks on a full pipe.
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
    Served { child, url }
}

/// The README's testing recipe, as written: a manual clock and a seed on the default data
/// directory; a busy callee, then an answered one; what the app received.
async fn testing_recipe(
    dir: &std::path::Path,
    receiver: &PushReceiver,
) -> (Vec<String>, Vec<String>) {
    let served = serve_in(dir, &["--clock", "manual", "--seed", "7"]).await;
    let url = served.url.as_str();
    dialtone_ok(&["phone", "set", CALLEE, "busy,answer", "--url", url]).await;
    let status = receiver.url("/status");
    let fee = receiver.url("/fee");
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let placed = dialtone_ok(&[
            "call",
            CALLEE,
            "--code",
            "4815",
            "--no-follow",
            "--url",
            url,
            "--status-url",
            &status,
            "--fee-url",
            &fee,
        ])
        .await;
        sessions.push(session_of(&placed));
        dialtone_ok(&["advance", "10m", "--url", url]).await;
    }
    // busy: callout, disconnect, fee; answered: callout, alerting, answer, disconnect, fee.
    let pushes = receiver.take(8).await.into_iter().map(|p| p.raw).collect();
    (sessions, pushes)
}

#[tokio::test]
async fn the_readme_testing_recipe_gives_the_same_ids_and_pushes_on_every_run() {
    let dir = std::env::temp_dir().join(format!("dialtone-recipe-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let receiver = PushReceiver::start().await;
    let first = testing_recipe(&dir, &receiver).await;
    let second = testing_recipe(&dir, &receiver).await;
    assert!(first.0[0].starts_with("1200_1_"), "{:?}", first.0);
    assert_eq!(first.0, second.0, "the same sessionIds");
    assert_eq!(first.1, second.1, "the same pushes, byte for byte");
    assert!(
        !dir.join(".dialtone").exists(),
        "a seeded run leaves no database behind"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn completions_are_printed_for_bash_zsh_and_fish() {
    for (shell, marker) in [
        ("bash", "complete -F _dialtone"),
        ("zsh", "#compdef dialtone"),
        ("fish", "complete -c dialtone"),
    ] {
        let script = dialtone_ok(&["completions", shell]).await;
        assert!(script.contains(marker), "{shell}: {script}");
        for verb in ["call", "advance", "deliveries", "completions"] {
            assert!(script.contains(verb), "{shell} completes {verb}");
        }
        assert!(
            script.contains("log-format"),
            "{shell} completes --log-format"
        );
    }
    let (ok, _, err) = run_cli(args(&["completions", "tcsh"])).await;
    assert!(!ok && err.contains("invalid value 'tcsh'"), "{err}");
}

#[tokio::test]
async fn help_shows_each_flags_environment_variable_and_the_variables_work() {
    let help = dialtone_ok(&["call", "--help"]).await;
    for var in [
        "[env: DIALTONE_URL=",
        "[env: DIALTONE_APP_KEY=",
        "[env: DIALTONE_CALL_CODE=",
    ] {
        assert!(help.contains(var), "{var} in {help}");
    }
    // --clock manual --speed 5, said through the environment, is refused like the flags.
    let out = tokio::task::spawn_blocking(|| {
        Command::new(env!("CARGO_BIN_EXE_dialtone"))
            .env("DIALTONE_CLOCK", "manual")
            .env("DIALTONE_SPEED", "5")
            .env("DIALTONE_EPHEMERAL", "true")
            .env("DIALTONE_LISTEN", "127.0.0.1:0")
            .output()
            .expect("runs")
    });
    let out = tokio::time::timeout(PATIENCE, out)
        .await
        .expect("refused at once, not served")
        .expect("joined");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--speed 5 applies to the scaled clock only, and --clock is manual"),
        "{err}"
    );
}

#[tokio::test]
async fn a_toml_error_points_at_the_line_and_column_with_a_caret() {
    let file = std::env::temp_dir().join(format!("dialtone-bad-{}.toml", std::process::id()));
    std::fs::write(&file, "[server]\nlisten = \n").expect("writable");
    let path = file.display().to_string();
    let out = tokio::time::timeout(
        PATIENCE,
        dialtone(&["--config", &path, "--listen", "127.0.0.1:0"]),
    )
    .await
    .expect("refused at once");
    let _ = std::fs::remove_file(&file);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("TOML parse error at line 2, column 10\n"),
        "{err}"
    );
    assert!(err.contains("2 | listen = \n  |          ^"), "{err}");
}

#[tokio::test]
async fn the_server_logs_each_request_and_call_event_by_default_and_as_json_on_request() {
    for format in ["human", "json"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dialtone"))
            .args(["--clock", "manual", "--seed", "7", "--log-format", format])
            .env("DIALTONE_LISTEN", "127.0.0.1:0")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the dialtone binary runs");
        let mut out = forward_lines(child.stdout.take().expect("stdout"));
        let mut err = forward_lines(child.stderr.take().expect("stderr"));
        let url = banner_url(&mut out).await;
        let placed = dialtone_ok(&[
            "call",
            CALLEE,
            "--code",
            "4815",
            "--no-follow",
            "--url",
            &url,
        ])
        .await;
        let session = session_of(&placed);
        let logged = lines_until(&mut err, "resultcode").await;
        let _ = child.kill();
        let _ = child.wait();
        let request = logged.last().expect("a request line");
        match format {
            "json" => {
                let line: serde_json::Value =
                    serde_json::from_str(request).unwrap_or_else(|e| panic!("{e}: {request}"));
                assert_eq!(line["level"], "INFO", "{line}");
                assert_eq!(line["target"], "dialtone::request", "{line}");
                assert_eq!(line["message"], "accepted", "{line}");
                assert_eq!(line["resultcode"], "0", "{line}");
                assert_eq!(line["path"], "/rest/httpsessions/callVerify/v1.0", "{line}");
                assert_eq!(line["session_id"], session.as_str(), "{line}");
            }
            _ => {
                // As tracing writes it: the wall time, the level padded to five, the target.
                let (time, rest) = request.split_once(' ').unwrap_or_default();
                assert!(
                    chrono::DateTime::parse_from_rfc3339(time).is_ok(),
                    "{request}"
                );
                assert!(
                    rest.starts_with(" INFO dialtone::request: accepted app_key="),
                    "{request}"
                );
                assert!(
                    request.contains(&format!("session_id={session}")),
                    "{request}"
                );
                assert!(
                    !request.contains('\u{1b}'),
                    "no colours off a terminal: {request:?}"
                );
            }
        }
        assert!(
            logged
                .iter()
                .any(|l| l.contains("dialtone::call") && l.contains("callout")),
            "{logged:#?}"
        );
    }
}

#[tokio::test]
async fn dialtone_call_released_by_a_frequency_rule_prints_the_hint() {
    let sim = spawn_sim_with(|c, _| {
        c.frequency.rules = vec![dialtone::frequency::FrequencyRule {
            scope: dialtone::call::FrequencyScope::Callee,
            max_calls: 1,
            window_s: 86_400,
        }]
    })
    .await;
    let call = [
        "call",
        CALLEE,
        "--code",
        "4815",
        "--url",
        &sim.base,
        "--no-follow",
    ];
    let first = dialtone_ok(&call).await;
    assert!(!first.contains("hint:"), "{first}");
    // The second call to the same callee is accepted, then released: the user is told why.
    let second = dialtone_ok(&call).await;
    assert!(second.starts_with("sessionId: "), "{second}");
    assert!(
        second.contains("\nhint:      accepted, then released with stateCode 7001"),
        "{second}"
    );
    assert!(second.contains("frequency rule `callee`"), "{second}");
}

#[tokio::test]
async fn cli_errors_are_one_readable_line_even_with_rust_backtrace_set() {
    let run = || {
        tokio::task::spawn_blocking(|| {
            Command::new(env!("CARGO_BIN_EXE_dialtone"))
                .args(["call", CALLEE, "--code", "1", "--url", "http://127.0.0.1:9"])
                .env("RUST_BACKTRACE", "1")
                .output()
                .expect("runs")
        })
    };
    let out = run().await.expect("joined");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.to_lowercase().contains("stack backtrace"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("Error: --code: `1` is not a verification code"),
        "{err}"
    );
    // A cause our message already quotes is not repeated.
    let out = dialtone(&["calls", "--url", "http://127.0.0.1:9"]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("Error: cannot reach Dialtone at http://127.0.0.1:9: "),
        "{err}"
    );
    assert_eq!(err.matches("error sending request").count(), 1, "{err}");
}
