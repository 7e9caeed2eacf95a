//! The signing examples of `docs/examples/` run against a real Dialtone: each signs a callVerify,
//! receives the call's first status push and verifies its signature. One test per language; a
//! language whose toolchain is not installed is skipped, and says so, unless it is listed in
//! `DIALTONE_EXAMPLES_REQUIRED` (CI requires `python,node`).

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::helpers::*;

/// Java compiles the source first; Go builds it: minutes on a busy 2-core machine, not seconds.
const EXAMPLE_PATIENCE: Duration = Duration::from_secs(240);

fn example(file: &str) -> String {
    format!("{}/docs/examples/{file}", env!("CARGO_MANIFEST_DIR"))
}

/// Whether `program --version` (or `version`) runs; else a skip that the output shows, or a
/// failure when the language is required.
async fn available(language: &str, program: &str, version_arg: &str) -> bool {
    let found = Command::new(program)
        .arg(version_arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success());
    let required = std::env::var("DIALTONE_EXAMPLES_REQUIRED")
        .unwrap_or_default()
        .split(',')
        .any(|l| l.trim() == language);
    assert!(
        found || !required,
        "`{program}` is not installed, and DIALTONE_EXAMPLES_REQUIRED lists {language}"
    );
    if !found {
        eprintln!("SKIPPED the {language} example: `{program}` is not installed");
    }
    found
}

/// Runs `program args…` against a fresh Dialtone; asserts it succeeded and verified the push.
async fn runs_against_dialtone(program: &str, args: &[&str]) {
    let sim = TestSim::start().await;
    let scratch = std::env::temp_dir().join(format!("dialtone-examples-{}", std::process::id()));
    let mut command = Command::new(program);
    command
        .args(args)
        .env("DIALTONE_URL", &sim.base)
        // Go's build cache, wherever HOME is not writable.
        .env("GOCACHE", scratch.join("gocache"))
        .env("GOPATH", scratch.join("gopath"))
        .env("GOFLAGS", "-modcacherw")
        .kill_on_drop(true);
    let output = tokio::time::timeout(EXAMPLE_PATIENCE, command.output())
        .await
        .unwrap_or_else(|_| panic!("{program} {args:?} did not finish in {EXAMPLE_PATIENCE:?}"))
        .unwrap_or_else(|e| panic!("{program} {args:?} could not start: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{program} {args:?} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains(r#""resultcode":"0""#) || stdout.contains(r#""resultcode": "0""#),
        "callVerify accepted:\n{stdout}"
    );
    assert!(
        stdout.contains("push signature verified"),
        "the push verified:\n{stdout}"
    );
    // Dialtone saw the call the example placed.
    assert_eq!(sim.call_count().await, 1);
}

#[tokio::test]
async fn the_python_example_signs_a_call_and_verifies_its_push() {
    if available("python", "python3", "--version").await {
        runs_against_dialtone("python3", &[&example("callverify.py")]).await;
    }
}

#[tokio::test]
async fn the_node_example_signs_a_call_and_verifies_its_push() {
    if available("node", "node", "--version").await {
        runs_against_dialtone("node", &[&example("callverify.mjs")]).await;
    }
}

#[tokio::test]
async fn the_java_example_signs_a_call_and_verifies_its_push() {
    if available("java", "java", "-version").await {
        runs_against_dialtone("java", &[&example("CallVerify.java")]).await;
    }
}

#[tokio::test]
async fn the_go_example_signs_a_call_and_verifies_its_push() {
    if available("go", "go", "version").await {
        runs_against_dialtone("go", &["run", &example("callverify.go")]).await;
    }
}
