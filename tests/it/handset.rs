//! The virtual handset: a person attached to a callee number over a WebSocket answers, rejects,
//! keys and hangs up, and hears the call as 20 ms PCM frames that are `audio.wav`, sample for
//! sample.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::helpers::*;

/// A person holding the handset of a number (the contract test holds one too).
pub(crate) struct Handset {
    ws: WebSocketStream<TcpStream>,
}

/// What the server said: a JSON message, or one audio frame's samples.
#[derive(Debug)]
pub(crate) enum Heard {
    Text(Value),
    Frame(Vec<i16>),
}

impl Handset {
    /// Connects to `/sim/v1/phones/{path_number}/handset` (the number as it goes in the path).
    pub(crate) async fn connect(sim: &TestSim, path_number: &str) -> Handset {
        let addr = sim.base.trim_start_matches("http://");
        let tcp = TcpStream::connect(addr).await.expect("Dialtone listens");
        let url = format!(
            "{}/sim/v1/phones/{path_number}/handset",
            sim.base.replace("http://", "ws://")
        );
        let (ws, response) = tokio_tungstenite::client_async(url.as_str(), tcp)
            .await
            .unwrap_or_else(|e| panic!("GET {url} upgrades: {e}"));
        assert_eq!(response.status().as_u16(), 101);
        Handset { ws }
    }

    /// Connects and expects `attached`.
    async fn attach(sim: &TestSim, number: &str) -> Handset {
        let mut handset = Handset::connect(sim, number).await;
        let attached = handset.text().await;
        let number = number.replace("%2B", "+");
        assert_eq!(attached, json!({"type": "attached", "number": number}));
        handset
    }

    /// The next message within [`PATIENCE`]; `None` once the server closed the socket.
    pub(crate) async fn next(&mut self) -> Option<Heard> {
        loop {
            let msg = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("a handset message within the patience bound");
            match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return None,
                Some(Ok(Message::Text(t))) => {
                    return Some(Heard::Text(serde_json::from_str(&t).expect("JSON")))
                }
                Some(Ok(Message::Binary(b))) => {
                    assert_eq!(b.len(), 320, "a frame is 160 samples of 16 bits");
                    let samples = b
                        .chunks(2)
                        .map(|c| i16::from_le_bytes([c[0], c[1]]))
                        .collect();
                    return Some(Heard::Frame(samples));
                }
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next message, which must be text.
    async fn text(&mut self) -> Value {
        match self.next().await {
            Some(Heard::Text(v)) => v,
            other => panic!("expected a text message, got {other:?}"),
        }
    }

    /// `n` audio frames, joined.
    async fn frames(&mut self, n: usize) -> Vec<i16> {
        let mut samples = Vec::new();
        for i in 0..n {
            match self.next().await {
                Some(Heard::Frame(f)) => samples.extend(f),
                other => panic!("expected frame {i} of {n}, got {other:?}"),
            }
        }
        samples
    }

    pub(crate) async fn send(&mut self, msg: Value) {
        self.ws
            .send(Message::Text(msg.to_string().into()))
            .await
            .expect("the handset socket is open");
    }

    pub(crate) async fn close(mut self) {
        let _ = self.ws.close(None).await;
        // Drain until the server's close arrives: the detach has happened by then.
        while self.ws.next().await.is_some_and(|m| m.is_ok()) {}
    }
}

/// Places a verification call to [`CALLEE`] and lets it ring the handset (2 s to alerting).
async fn ring(sim: &TestSim, handset: &mut Handset) -> String {
    let session = sim.place_call(&verify_body("4815")).await;
    sim.advance("2s").await;
    let ringing = handset.text().await;
    assert_eq!(
        ringing,
        json!({"type": "ringing", "session_id": session, "caller": DISPLAY,
               "app_key": APP_KEY, "kind": "verify"})
    );
    session
}

async fn disconnect_code(sim: &TestSim, session: &str) -> Value {
    sim.advance("0s").await;
    let pushes = sim.receiver.pushes_of(session).await;
    let disconnect = pushes
        .iter()
        .find(|p| p.event_type() == "disconnect")
        .expect("a disconnect push");
    disconnect.info("stateCode").clone()
}

#[tokio::test]
async fn a_person_who_answers_and_hangs_up_at_4_s_heard_exactly_the_first_4_s_of_the_call() {
    let sim = spawn_sim().await;
    let mut handset = Handset::attach(&sim, "%2B8613900001234").await;
    let session = ring(&sim, &mut handset).await;
    sim.advance("1500ms").await;
    handset.send(json!({"action": "answer"})).await;
    assert_eq!(
        handset.text().await,
        json!({"type": "answered", "session_id": session})
    );
    sim.advance("4s").await;
    let heard = handset.frames(200).await;
    handset.send(json!({"action": "hangup"})).await;
    let ended = handset.text().await;
    assert_eq!(
        ended,
        json!({"type": "ended", "session_id": session, "state_code": 8017,
               "heard_ms": 4000, "reason": "The user hung up."})
    );

    let wav = audio_wav(&sim, &session).await.1;
    assert_eq!(wav.len(), 4000 * 8);
    assert!(heard == wav, "the frames differ from audio.wav");
    assert!(
        heard.iter().any(|s| *s != 0),
        "4 s into a call is not all silence"
    );
    assert_eq!(disconnect_code(&sim, &session).await, 8017);
    let call = sim.call(&session).await;
    assert_eq!(call["behaviour_from"], json!({"from": "handset"}));
}

#[tokio::test]
async fn a_person_who_rejects_gives_8105() {
    let sim = spawn_sim().await;
    let mut handset = Handset::attach(&sim, "+8613900001234").await;
    let session = ring(&sim, &mut handset).await;
    handset.send(json!({"action": "reject"})).await;
    let ended = handset.text().await;
    assert_eq!(ended["state_code"], 8105);
    assert_eq!(ended["heard_ms"], Value::Null);
    assert_eq!(disconnect_code(&sim, &session).await, 8105);
    let events = sim.receiver.events_of(&session).await;
    assert_sequence(&["callout", "alerting", "disconnect"], &events);
}

#[tokio::test]
async fn a_handset_left_ringing_times_out_with_8003() {
    let sim = spawn_sim().await;
    let mut handset = Handset::attach(&sim, "+8613900001234").await;
    let session = ring(&sim, &mut handset).await;
    sim.advance("59s").await;
    assert_eq!(sim.call(&session).await["state"], "alerting");
    sim.advance("1s").await;
    let ended = handset.text().await;
    assert_eq!(ended["state_code"], 8003);
    assert_eq!(disconnect_code(&sim, &session).await, 8003);
}

#[tokio::test]
async fn keys_on_the_handset_go_into_a_notification_digit_collection() {
    let sim = spawn_sim().await;
    let mut handset = Handset::attach(&sim, "+8613900001234").await;
    let body = json!({
        "displayNbr": DISPLAY,
        "calleeNbr": CALLEE,
        "playInfoList": [
            {"notifyVoice": "welcome.wav", "collectInd": 1}
        ]
    });
    let session = place_notify(&sim, &body).await;
    sim.advance("2s").await;
    assert_eq!(handset.text().await["kind"], "notify");
    handset.send(json!({"action": "dtmf", "digits": "7"})).await;
    let early = handset.text().await;
    assert_eq!(early["type"], "error");
    assert_eq!(
        early["error"],
        "the call has not been answered: answer first"
    );
    handset.send(json!({"action": "answer"})).await;
    assert_eq!(handset.text().await["type"], "answered");
    // Welcome plays from 0.5 s; the collection starts after it.
    sim.advance("5s").await;
    sim.wait_for(&session, "collecting").await;
    handset
        .send(json!({"action": "dtmf", "digits": "7", "session_id": session}))
        .await;
    let mut echoed = false;
    while let Some(heard) = handset.next().await {
        if let Heard::Text(v) = heard {
            assert_eq!(
                v,
                json!({"type": "digits", "session_id": session, "digits": "7"})
            );
            echoed = true;
            break;
        }
    }
    assert!(echoed);
    sim.advance("1s").await;
    let pushes = sim.receiver.pushes_of(&session).await;
    let collected = collected_digits(&pushes);
    assert_eq!(collected, [&json!("7")]);
}

#[tokio::test]
async fn a_second_handset_on_the_same_number_is_refused_and_closed() {
    let sim = spawn_sim().await;
    let _first = Handset::attach(&sim, "+8613900001234").await;
    let mut second = Handset::connect(&sim, "%2B8613900001234").await;
    assert_eq!(
        second.text().await,
        json!({"type": "error",
               "error": "a handset is already attached to +8613900001234: one at a time"})
    );
    assert!(second.next().await.is_none(), "the refused socket closes");
}

#[tokio::test]
async fn detaching_returns_the_number_to_its_rules() {
    let sim = spawn_sim().await;
    sim.set_phone(CALLEE, r#"{"outcome":"busy"}"#).await;
    let mut handset = Handset::attach(&sim, "+8613900001234").await;
    // Attached: the rule waits; the person's call rings.
    let session = ring(&sim, &mut handset).await;
    handset.send(json!({"action": "answer"})).await;
    assert_eq!(handset.text().await["type"], "answered");
    // A second call while the handset is in a call: busy.
    let second = sim.place_call(&verify_body("1111")).await;
    sim.advance("2s").await;
    assert_eq!(disconnect_code(&sim, &second).await, 8102);
    // Leaving mid-call is the callee's hang-up, at that instant.
    handset.close().await;
    sim.wait_for(&session, "disconnect").await;
    let call = sim.call(&session).await;
    assert_eq!(call["state_code"], 8017, "{call}");
    assert_eq!(sim.get("/sim/v1/phones").await.body["handsets"], json!([]));
    // Back to its rule: busy.
    let after = sim.place_call(&verify_body("2222")).await;
    sim.advance("2s").await;
    assert_eq!(disconnect_code(&sim, &after).await, 8102);
    assert_ne!(
        sim.call(&after).await["behaviour_from"],
        json!({"from": "handset"})
    );
}

#[tokio::test]
async fn bad_messages_get_an_error_and_the_handset_stays_attached() {
    let sim = spawn_sim().await;
    let mut handset = Handset::attach(&sim, "+8613900001234").await;
    handset.send(json!({"action": "answer"})).await;
    assert_eq!(
        handset.text().await,
        json!({"type": "error", "error": "no call is on this handset"})
    );
    handset.send(json!({"action": "dial"})).await;
    let unknown = handset.text().await;
    assert!(
        unknown["error"]
            .as_str()
            .unwrap()
            .starts_with("unknown action `dial`"),
        "{unknown}"
    );
    // Over plain HTTP: a bad number, then not a WebSocket request. Both 400, in JSON.
    let bad = sim.get("/sim/v1/phones/13900001234/handset").await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.body["error"],
        "`13900001234` is not `+` followed by 7-15 digits"
    );
    let plain = sim.get("/sim/v1/phones/%2B8613900001234/handset").await;
    assert_eq!(plain.status, 400);
    assert!(
        plain.body["error"]
            .as_str()
            .unwrap()
            .contains("this is a WebSocket endpoint"),
        "{}",
        plain.body
    );
    assert_eq!(
        sim.get("/sim/v1/phones").await.body["handsets"],
        json!([CALLEE])
    );
    let session = ring(&sim, &mut handset).await;
    handset.send(json!({"action": "hangup"})).await;
    assert_eq!(handset.text().await["state_code"], 8105);
    handset
        .send(json!({"action": "answer", "session_id": session}))
        .await;
    assert_eq!(handset.text().await["error"], "the call has ended");
}

/// `dialtone phone ARGS…` (the real binary), its stdout as lines.
struct PhoneCli {
    child: std::process::Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl PhoneCli {
    fn start(sim: &TestSim, args: &[&str]) -> PhoneCli {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dialtone"))
            .arg("phone")
            .args(args)
            .args(["--url", &sim.base])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the dialtone binary runs");
        let lines = forward_lines(child.stdout.take().expect("stdout"));
        PhoneCli { child, lines }
    }

    /// The next line, within [`PATIENCE`].
    async fn line(&mut self) -> String {
        tokio::time::timeout(PATIENCE, self.lines.recv())
            .await
            .expect("a line in time")
            .expect("the handset is still running")
    }

    /// Waits for the exit; whether it succeeded, and stderr.
    async fn exit(mut self) -> (bool, String) {
        let mut child = self.child;
        let waited = tokio::task::spawn_blocking(move || {
            use std::io::Read;
            let status = child.wait().expect("exit");
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            (status.success(), err)
        });
        self.lines.close();
        tokio::time::timeout(PATIENCE, waited)
            .await
            .expect("the handset exits in time")
            .expect("joined")
    }
}

#[tokio::test]
async fn dialtone_phone_answers_hangs_up_after_4_s_and_writes_what_it_heard() {
    let sim = spawn_sim().await;
    let wav = std::env::temp_dir().join(format!("dialtone-phone-{}.wav", std::process::id()));
    let wav_arg = wav.to_string_lossy().into_owned();
    let mut phone = PhoneCli::start(
        &sim,
        &[
            CALLEE,
            "--answer-after",
            "0",
            "--hangup-after",
            "4s",
            "--wav",
            &wav_arg,
        ],
    );
    assert!(phone.line().await.starts_with("attached as +8613900001234"));
    let session = sim.place_call(&verify_body("4815")).await;
    sim.advance("2s").await;
    assert_eq!(
        phone.line().await,
        format!("ringing: verify call {session} from {DISPLAY}")
    );
    assert_eq!(phone.line().await, format!("answered {session}"));
    sim.advance("4s").await;
    assert_eq!(
        phone.line().await,
        "ended: stateCode 8017 (The user hung up.), heard 4000 ms"
    );
    assert_eq!(phone.line().await, format!("wrote {wav_arg}"));
    let (ok, err) = phone.exit().await;
    assert!(ok, "{err}");

    let written: Vec<i16> = hound::WavReader::open(&wav)
        .expect("a WAV")
        .into_samples::<i16>()
        .map(Result::unwrap)
        .collect();
    let _ = std::fs::remove_file(&wav);
    let served = audio_wav(&sim, &session).await.1;
    assert_eq!(served.len(), 4000 * 8);
    assert!(written == served, "the CLI's WAV differs from audio.wav");
}

#[tokio::test]
async fn dialtone_phone_rejects_and_a_second_one_on_the_number_is_refused() {
    let sim = spawn_sim().await;
    let mut phone = PhoneCli::start(&sim, &[CALLEE, "--reject"]);
    assert!(phone.line().await.starts_with("attached as"));
    let refused = PhoneCli::start(&sim, &[CALLEE, "--reject"]);
    let (ok, err) = refused.exit().await;
    assert!(!ok);
    assert!(
        err.contains("the handset failed: a handset is already attached to +8613900001234"),
        "{err}"
    );
    let session = sim.place_call(&verify_body("4815")).await;
    sim.advance("2s").await;
    assert!(phone.line().await.starts_with("ringing: verify call"));
    assert_eq!(
        phone.line().await,
        "ended: stateCode 8105 (The callee rejected the call or the line is suspended.), heard nothing"
    );
    let (ok, err) = phone.exit().await;
    assert!(ok, "{err}");
    assert_eq!(disconnect_code(&sim, &session).await, 8105);
}

/// Every message until `ended` (included): the frames joined, and the `ended` message.
async fn listen_to_the_end(handset: &mut Handset) -> (Vec<i16>, Value) {
    let mut samples = Vec::new();
    loop {
        match handset.next().await {
            Some(Heard::Frame(f)) => samples.extend(f),
            Some(Heard::Text(v)) if v["type"] == "ended" => return (samples, v),
            Some(Heard::Text(_)) => {}
            None => panic!("the handset closed before the call ended"),
        }
    }
}

#[tokio::test]
async fn on_a_running_clock_frames_come_in_simulated_time_and_are_audio_wav() {
    let sim = spawn_sim_with(|c, _| {
        c.clock.mode = dialtone::clock::ClockMode::Scaled;
        // Fast enough for a short test, slow enough that the hang-up comes long before the
        // announcement ends (17 s of simulated time after the answer) on a busy machine.
        c.clock.speed = 5.0;
    })
    .await;
    let mut handset = Handset::attach(&sim, "+8613900001234").await;
    let session = sim.place_call(&verify_body("4815")).await;
    assert_eq!(handset.text().await["type"], "ringing");
    handset.send(json!({"action": "answer"})).await;
    assert_eq!(handset.text().await["type"], "answered");
    let answered_ms = sim.call(&session).await["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "answer")
        .expect("answered")["at_ms"]
        .as_u64()
        .unwrap();
    let mut heard = handset.frames(100).await;
    // 100 frames are 2 s of the call: the simulated clock is there already, not behind.
    let now_ms = sim.get("/sim/v1/clock").await.body["now_ms"]
        .as_u64()
        .unwrap();
    assert!(
        now_ms >= answered_ms + 2000,
        "{now_ms} < {answered_ms} + 2000"
    );
    handset.send(json!({"action": "hangup"})).await;
    let (rest, ended) = listen_to_the_end(&mut handset).await;
    heard.extend(rest);
    assert_eq!(ended["state_code"], 8017);
    let heard_ms = ended["heard_ms"].as_u64().unwrap();
    assert!(heard_ms >= 2000, "{ended}");
    let wav = audio_wav(&sim, &session).await.1;
    assert_eq!(wav.len() as u64, heard_ms * 8);
    // Whole frames: the last one padded with silence.
    assert_eq!(heard.len(), wav.len().div_ceil(160) * 160);
    assert!(
        heard[..wav.len()] == wav[..],
        "the frames differ from audio.wav"
    );
    assert!(heard[wav.len()..].iter().all(|s| *s == 0));
}

#[tokio::test]
async fn a_notification_heard_to_its_end_with_a_replay_is_audio_wav_frame_for_frame() {
    let sim = spawn_sim().await;
    let mut handset = Handset::attach(&sim, "+8613900001234").await;
    let body = json!({
        "displayNbr": DISPLAY,
        "calleeNbr": CALLEE,
        "playInfoList": [
            {"notifyVoice": "welcome.wav"},
            {"notifyVoice": "bye.wav", "collectInd": 1,
             "replayAfterCollection": "true", "collectContentTriggerReplaying": "1"}
        ]
    });
    let session = place_notify(&sim, &body).await;
    sim.advance("2s").await;
    assert_eq!(handset.text().await["type"], "ringing");
    handset.send(json!({"action": "answer"})).await;
    assert_eq!(handset.text().await["type"], "answered");
    // As a scripted callee would: 6 s after the answer, the collection after bye.wav waits.
    sim.advance("6s").await;
    sim.wait_for(&session, "collecting").await;
    handset.send(json!({"action": "dtmf", "digits": "1"})).await;
    // bye.wav again, then its collection again: 2 ends it.
    sim.advance("4s").await;
    let timeline = sim.call(&session).await["timeline"].clone();
    let collections = timeline
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "collecting")
        .count();
    assert_eq!(collections, 2, "{timeline}");
    handset.send(json!({"action": "dtmf", "digits": "2"})).await;
    sim.advance("60s").await;
    let (heard, ended) = listen_to_the_end(&mut handset).await;
    assert_eq!(ended["state_code"], 0, "{ended}");
    let wav = audio_wav(&sim, &session).await.1;
    assert_eq!(wav.len() as u64, ended["heard_ms"].as_u64().unwrap() * 8);
    assert!(heard.len() >= wav.len() && heard.len() - wav.len() < 160);
    assert!(
        heard[..wav.len()] == wav[..],
        "the frames differ from audio.wav"
    );
    let timeline = sim.call(&session).await["timeline"].to_string();
    assert!(
        timeline.contains("segment 2 again"),
        "the key replayed: {timeline}"
    );
}

#[tokio::test]
async fn a_reset_forgets_the_call_on_the_handset_but_not_the_handset() {
    let sim = spawn_sim().await;
    let mut handset = Handset::attach(&sim, "+8613900001234").await;
    let _forgotten = ring(&sim, &mut handset).await;
    sim.reset().await;
    // Still attached, and free: the next call rings it, not busy.
    let session = ring(&sim, &mut handset).await;
    handset.send(json!({"action": "reject"})).await;
    assert_eq!(handset.text().await["state_code"], 8105);
    assert_eq!(disconnect_code(&sim, &session).await, 8105);
}

#[tokio::test]
async fn two_people_on_a_click_to_call_answer_talk_and_b_hangs_up() {
    const B: &str = "+8613700005678";
    const B_DISPLAY: &str = "+862087654322";
    let sim = spawn_sim().await;
    let mut a = Handset::attach(&sim, CALLEE).await;
    let mut b = Handset::attach(&sim, B).await;
    let body = json!({
        "displayNbr": DISPLAY, "callerNbr": CALLEE,
        "displayCalleeNbr": B_DISPLAY, "calleeNbr": B,
        "partyTypeRequiredInDisconnect": "true"
    });
    let session = place_click_to_call(&sim, &body).await;
    sim.advance("2s").await;
    assert_eq!(
        a.text().await,
        json!({"type": "ringing", "session_id": session, "caller": DISPLAY,
               "app_key": APP_KEY, "kind": "callback"})
    );
    a.send(json!({"action": "answer"})).await;
    assert_eq!(a.text().await["type"], "answered");
    // B is called half a second after A answers, and rings 2 s later.
    sim.advance("2500ms").await;
    assert_eq!(
        b.text().await,
        json!({"type": "ringing", "session_id": session, "caller": B_DISPLAY,
               "app_key": APP_KEY, "kind": "callback"})
    );
    b.send(json!({"action": "answer"})).await;
    assert_eq!(b.text().await["type"], "answered");
    sim.advance("10s").await;
    b.send(json!({"action": "hangup"})).await;
    let b_ended = b.text().await;
    assert_eq!(
        (&b_ended["state_code"], &b_ended["heard_ms"]),
        (&json!(0), &json!(10_000))
    );
    let a_ended = a.text().await;
    assert_eq!(
        (&a_ended["state_code"], &a_ended["heard_ms"]),
        (&json!(0), &json!(12_500))
    );
    sim.advance("0s").await;
    let disconnect = sim
        .receiver
        .pushes_of(&session)
        .await
        .into_iter()
        .find(|p| p.event_type() == "disconnect")
        .expect("a disconnect push");
    assert_eq!(disconnect.info("partyType"), 1);
}

#[tokio::test]
async fn b_rejecting_a_click_to_call_on_its_handset_is_8105() {
    let sim = spawn_sim().await;
    let mut b = Handset::attach(&sim, "+8613700005678").await;
    let body = json!({
        "displayNbr": DISPLAY, "callerNbr": CALLEE,
        "displayCalleeNbr": "+862087654322", "calleeNbr": "+8613700005678"
    });
    place_click_to_call(&sim, &body).await;
    // A (scripted) answers at 6 s; B is called at 6.5 s and rings at 8.5 s.
    sim.advance("9s").await;
    assert_eq!(b.text().await["type"], "ringing");
    b.send(json!({"action": "reject"})).await;
    assert_eq!(b.text().await["state_code"], 8105);
}

#[tokio::test]
async fn dialtone_phone_keys_its_digits_into_a_notification_once_it_has_heard_6_s() {
    let sim = spawn_sim().await;
    let mut phone = PhoneCli::start(
        &sim,
        &[
            CALLEE,
            "--answer-after",
            "0",
            "--digits",
            "7",
            "--digits-after",
            "6s",
        ],
    );
    assert!(phone.line().await.starts_with("attached as"));
    let body = json!({
        "displayNbr": DISPLAY,
        "calleeNbr": CALLEE,
        "playInfoList": [{"notifyVoice": "welcome.wav", "collectInd": 1}]
    });
    let session = place_notify(&sim, &body).await;
    sim.advance("2s").await;
    assert!(phone.line().await.starts_with("ringing: notify call"));
    assert_eq!(phone.line().await, format!("answered {session}"));
    sim.advance("6s").await;
    assert_eq!(phone.line().await, "keyed 7");
    sim.advance("30s").await;
    assert!(
        phone.line().await.starts_with("ended: stateCode 0 "),
        "the collection took the key and the call ended normally"
    );
    let (ok, err) = phone.exit().await;
    assert!(ok, "{err}");
    let pushes = sim.receiver.pushes_of(&session).await;
    assert_eq!(collected_digits(&pushes), [&json!("7")]);
}
