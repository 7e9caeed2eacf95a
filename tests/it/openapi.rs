//! `docs/openapi.json` against the real thing: every route the code serves is in the document
//! and every documented path is served; real requests to every documented operation, successes
//! and errors, get a documented status and a body that validates against the documented schema;
//! the pushes a real receiver gets validate against the document's webhooks; the stream's
//! messages against `StreamMessage`; and a virtual handset's against `HandsetServerMessage`. A change to an answer's shape fails here until the document
//! says the same.

use std::collections::BTreeSet;
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::handset::{Handset, Heard};
use crate::helpers::*;
use crate::json_schema::Schemas;

/// The keys of a path item that are operations (others: `servers`, `parameters`, …).
const METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];

fn document() -> Value {
    serde_json::from_str(dialtone::sim::openapi::DOCUMENT).expect("docs/openapi.json is JSON")
}

/// Path templates in the document that match `path` (the query left out; `/sandbox` is the
/// platform API again, the same document paths). A last parameter marked
/// `x-dialtone-rest-of-path` (a console file, `js/main.js`) takes the rest of the path, slashes
/// and all; a template of the exact length wins over it.
fn template_for(doc: &Value, path: &str) -> Option<String> {
    let path = path.split('?').next().unwrap_or_default();
    let path = match path.strip_prefix("/sandbox") {
        Some(rest) if rest.starts_with("/rest/") || rest.starts_with("/omp/") => rest,
        _ => path,
    };
    let concrete: Vec<&str> = path.split('/').collect();
    let fits =
        |t: &&str, c: &&str| (t.starts_with('{') && t.ends_with('}') && !c.is_empty()) || t == c;
    let templates = doc["paths"].as_object()?;
    let exact = templates.keys().find(|template| {
        let parts: Vec<&str> = template.split('/').collect();
        parts.len() == concrete.len() && parts.iter().zip(&concrete).all(|(t, c)| fits(t, c))
    });
    let rest_of_path = || {
        templates.keys().find(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            let (Some(last), Some(item)) = (parts.last(), templates.get(*template)) else {
                return false;
            };
            let greedy = item.as_object().into_iter().flatten().any(|(_, op)| {
                op["parameters"].as_array().into_iter().flatten().any(|p| {
                    p["x-dialtone-rest-of-path"] == true
                        && format!("{{{}}}", p["name"].as_str().unwrap_or_default()) == *last
                })
            });
            greedy
                && concrete.len() > parts.len()
                && parts.iter().zip(&concrete).all(|(t, c)| fits(t, c))
        })
    };
    exact.or_else(rest_of_path).cloned()
}

/// An answer as it came off the wire.
struct Answer {
    status: u16,
    content_type: String,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "HTTP {} body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// A running Dialtone, the document, and which operations the test has exercised.
struct Contract {
    sim: TestSim,
    doc: Value,
    http: reqwest::Client,
    exercised: Mutex<BTreeSet<(String, String)>>,
}

impl Contract {
    async fn start() -> Contract {
        Contract {
            sim: TestSim::start().await,
            doc: document(),
            // The download API answers 301: read it, do not follow it.
            http: dialtone::tls::http_client_builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a client"),
            exercised: Mutex::new(BTreeSet::new()),
        }
    }

    fn schemas(&self) -> Schemas<'_> {
        Schemas { root: &self.doc }
    }

    /// Sends the request and checks the answer against the document: `status` must be what
    /// came back, documented for the operation, with a body of the documented schema.
    async fn expect(
        &self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: &str,
        status: u16,
    ) -> Answer {
        let method_ = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut request = self
            .http
            .request(method_, format!("{}{path}", self.sim.base))
            .body(body.to_owned());
        for (k, v) in headers {
            request = request.header(k, v);
        }
        let response = request.send().await.expect("Dialtone answers");
        let headers = response.headers().clone();
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let answer = Answer {
            status: response.status().as_u16(),
            content_type,
            headers,
            body: response.bytes().await.expect("a body").to_vec(),
        };
        assert_eq!(
            answer.status,
            status,
            "{method} {path}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        self.conforms(method, path, body, &answer);
        answer
    }

    fn conforms(&self, method: &str, path: &str, request_body: &str, answer: &Answer) {
        let what = format!("{method} {path} → {}", answer.status);
        let control = path.starts_with("/sim/v1");
        let error_schema = json!({ "$ref": format!("#/components/schemas/{}",
            if control { "SimError" } else { "PlatformError" }) });
        let Some(template) = template_for(&self.doc, path) else {
            assert_eq!(
                answer.status, 404,
                "{what}: an undocumented path must be a 404"
            );
            return self.valid(&error_schema, &answer.json(), &what);
        };
        let Some(operation) = self.doc["paths"][&template].get(method.to_lowercase()) else {
            // As `info.description` says: the console's paths are no API; another method on `/`
            // is the platform's 404, on `/console…` a bare 405.
            if template == "/" {
                assert_eq!(answer.status, 404, "{what}: another method on / is a 404");
                return self.valid(&error_schema, &answer.json(), &what);
            }
            assert_eq!(
                answer.status, 405,
                "{what}: an undocumented method must be a 405"
            );
            if template.starts_with("/console") {
                assert!(answer.body.is_empty(), "{what}: a console 405 has no body");
                assert!(answer.header("allow").is_some(), "{what}: no Allow header");
                return;
            }
            return self.valid(&error_schema, &answer.json(), &what);
        };
        self.exercised
            .lock()
            .expect("not poisoned")
            .insert((template.clone(), method.to_owned()));
        let documented = &operation["responses"][answer.status.to_string()];
        assert!(
            documented.is_object(),
            "{what}: status {} is not documented for {method} {template}",
            answer.status
        );
        match documented["content"].as_object() {
            None => assert!(
                answer.body.is_empty(),
                "{what}: documented without a body, got {}",
                String::from_utf8_lossy(&answer.body)
            ),
            Some(content) => {
                let media = content
                    .keys()
                    .find(|m| answer.content_type.starts_with(m.as_str()));
                let Some(media) = media else {
                    panic!(
                        "{what}: content type {} is none of the documented {:?}",
                        answer.content_type,
                        content.keys().collect::<Vec<_>>()
                    )
                };
                if media == "application/json" {
                    self.valid(&content[media]["schema"], &answer.json(), &what);
                }
            }
        }
        for (name, header) in documented["headers"].as_object().into_iter().flatten() {
            if header["required"] == true {
                assert!(answer.header(name).is_some(), "{what}: no {name} header");
            }
        }
        // What the test sent for a success is what the document asks for.
        let sent = operation["requestBody"]["content"]["application/json"]["schema"].clone();
        if (200..300).contains(&answer.status) && !sent.is_null() {
            let value: Value = serde_json::from_str(request_body).expect("a JSON request body");
            self.valid(&sent, &value, &format!("request body of {what}"));
        }
    }

    #[track_caller]
    fn valid(&self, schema: &Value, value: &Value, what: &str) {
        if let Err(e) = self.schemas().validate(schema, value) {
            panic!("{what}: the answer does not match docs/openapi.json: {e}\nbody: {value:#}");
        }
    }

    /// Attaches a virtual handset to `number` over a real WebSocket: the upgrade is the
    /// documented 101 and the first message a documented `attached`.
    async fn handset(&self, number: &str) -> Handset {
        let template = "/sim/v1/phones/{number}/handset";
        assert!(
            self.doc["paths"][template]["get"]["responses"]["101"].is_object(),
            "the upgrade is documented"
        );
        self.exercised
            .lock()
            .expect("not poisoned")
            .insert((template.into(), "GET".into()));
        // `connect` checks the 101.
        let mut handset = Handset::connect(&self.sim, number).await;
        let (attached, _) = self.hear(&mut handset, "attached").await;
        assert_eq!(attached["number"], number);
        handset
    }

    /// What the handset is told up to its next text message, which must be of `kind`: that
    /// message (a documented `HandsetServerMessage`) and the audio frames before it (each 160
    /// samples, as `Handset::next` checks).
    async fn hear(&self, handset: &mut Handset, kind: &str) -> (Value, usize) {
        let schema = json!({"$ref": "#/components/schemas/HandsetServerMessage"});
        let mut frames = 0;
        loop {
            match handset.next().await {
                Some(Heard::Frame(_)) => frames += 1,
                Some(Heard::Text(message)) => {
                    self.valid(&schema, &message, "a handset message");
                    assert_eq!(message["type"], kind, "{message}");
                    return (message, frames);
                }
                None => panic!("the handset closed before `{kind}`"),
            }
        }
    }

    /// The person does something, as a documented `HandsetClientMessage`.
    async fn act(&self, handset: &mut Handset, action: Value) {
        let schema = json!({"$ref": "#/components/schemas/HandsetClientMessage"});
        self.valid(&schema, &action, "a handset action");
        handset.send(action).await;
    }

    fn signed(&self) -> Vec<(String, String)> {
        signed_headers(APP_KEY, APP_SECRET, &nonce())
    }

    async fn signed_post(&self, path: &str, body: &Value, status: u16) -> Value {
        self.expect("POST", path, &self.signed(), &body.to_string(), status)
            .await
            .json()
    }

    async fn get(&self, path: &str, status: u16) -> Answer {
        self.expect("GET", path, &[], "", status).await
    }

    async fn control(&self, method: &str, path: &str, body: &str, status: u16) -> Answer {
        self.expect(method, path, &[], body, status).await
    }
}

#[test]
fn the_document_uses_only_what_the_validator_checks_and_every_ref_resolves() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let schemas = Schemas { root: &doc };
    for (name, schema) in doc["components"]["schemas"].as_object().expect("schemas") {
        schemas
            .lint(schema, &format!("#/components/schemas/{name}"))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    // Inline schemas: of parameters, request bodies and responses.
    fn walk(v: &Value, at: &str, schemas: &Schemas) {
        match v {
            Value::Object(map) => {
                for (k, sub) in map {
                    let here = format!("{at}/{k}");
                    if k == "schema" {
                        schemas.lint(sub, &here).unwrap_or_else(|e| panic!("{e}"));
                    } else {
                        walk(sub, &here, schemas);
                    }
                }
            }
            Value::Array(items) => {
                for (n, item) in items.iter().enumerate() {
                    walk(item, &format!("{at}/{n}"), schemas);
                }
            }
            _ => {}
        }
    }
    walk(&doc["paths"], "#/paths", &schemas);
    walk(&doc["webhooks"], "#/webhooks", &schemas);
    // Every operation has an id of its own and documents at least one answer.
    let mut ids = BTreeSet::new();
    let operations = ["paths", "webhooks"].into_iter().flat_map(|section| {
        doc[section]
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(path, item)| {
                item.as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(k, _)| METHODS.contains(&k.as_str()))
                    .map(move |(m, op)| (format!("{m} {path}"), op))
            })
    });
    for (name, op) in operations {
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no operationId"));
        assert!(
            ids.insert(id.to_owned()),
            "{name}: operationId {id} is used twice"
        );
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{name}: no documented response"
        );
    }
}

/// The paths of every `.route("…")` in the sources: what the router serves.
fn routes_in_the_code() -> BTreeSet<String> {
    let mut routes = BTreeSet::new();
    let mut dirs = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src"
    ))];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src is readable") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            // A route's path is a literal, or a `const NAME: &str = "…";` of the same file.
            let consts: std::collections::HashMap<&str, &str> = text
                .lines()
                .filter_map(|l| {
                    l.trim_start()
                        .strip_prefix("const ")?
                        .split_once(": &str = \"")
                })
                .filter_map(|(name, rest)| Some((name, rest.strip_suffix("\";")?)))
                .collect();
            for (at, _) in text.match_indices(".route(") {
                let rest = text[at + ".route(".len()..].trim_start();
                if let Some(quoted) = rest.strip_prefix('"') {
                    let end = quoted.find('"').expect("a closing quote");
                    routes.insert(quoted[..end].to_owned());
                } else if let Some(name) = rest.split(',').next() {
                    if let Some(path) = consts.get(name.trim()) {
                        routes.insert((*path).to_owned());
                    }
                }
            }
        }
    }
    routes
}

#[test]
fn every_route_is_documented_and_every_documented_path_is_routed() {
    // The control plane's own 404 for any other path under /sim/v1 is no endpoint.
    let catch_alls = ["/sim/v1", "/sim/v1/", "/sim/v1/{*rest}"];
    let code: BTreeSet<String> = routes_in_the_code()
        .into_iter()
        .filter(|r| !catch_alls.contains(&r.as_str()))
        // Path parameters are named for the reader in the document (`{sessionId}`), for the
        // handler in the code (`{session_id}`): compare shapes.
        .map(|r| shape(&r))
        .collect();
    let doc = document();
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .map(|p| shape(p))
        .collect();
    let undocumented: Vec<_> = code.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&code).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routes missing from docs/openapi.json: {undocumented:?}; documented but not routed: {unrouted:?}"
    );
}

fn shape(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "{}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn the_served_document_is_the_one_in_the_repository() {
    let sim = TestSim::start().await;
    let served = reqwest::get(format!("{}/openapi.json", sim.base))
        .await
        .expect("Dialtone answers");
    assert_eq!(served.status().as_u16(), 200);
    assert_eq!(
        served.headers()["content-type"].to_str().ok(),
        Some("application/json")
    );
    let text = served.text().await.expect("a body");
    let on_disk =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json"))
            .expect("docs/openapi.json");
    assert_eq!(text, on_disk);
}

#[tokio::test]
async fn every_documented_operation_answers_as_documented() {
    let c = Contract::start().await;
    let mut stream = StreamClient::connect(&c.sim, "").await;
    let mut batched = StreamClient::connect(&c.sim, "batch=ndjson").await;
    let (verify, notify, callback, call_stop) = (
        "/rest/httpsessions/callVerify/v1.0",
        "/rest/httpsessions/callnotify/v2.0",
        "/rest/httpsessions/click2Call/v2.0",
        "/rest/httpsessions/callStop/v2.0",
    );

    // The platform API: each call API, accepted and refused.
    let accepted = c.signed_post(verify, &verify_body("4815"), 200).await;
    let verify_id = accepted["sessionId"]
        .as_str()
        .expect("a sessionId")
        .to_owned();
    let sandboxed = c
        .signed_post(&format!("/sandbox{verify}"), &verify_body("4816"), 200)
        .await;
    let mut bad = verify_body("48a7");
    bad["returnIdlePort"] = json!(true);
    c.signed_post(verify, &bad, 403).await;
    c.expect("POST", verify, &[], &verify_body("4815").to_string(), 400)
        .await;
    let forged = signed_headers(APP_KEY, "not-the-secret", &nonce());
    c.expect(
        "POST",
        verify,
        &forged,
        &verify_body("4815").to_string(),
        401,
    )
    .await;

    c.control(
        "PUT",
        &format!("/sim/v1/phones/{CALLEE}"),
        r#"{"outcome":"answer","digits":["1","2"]}"#,
        200,
    )
    .await;
    let notification = json!({
        "displayNbr": DISPLAY, "calleeNbr": CALLEE, "userData": "bill-2291",
        "playInfoList": [{"templateId": "tpl_bill", "templateParas": ["张先生", "128.50"],
                          "collectInd": 1, "replayAfterCollection": "true",
                          "collectContentTriggerReplaying": "1"}],
    });
    let notify_id = c.signed_post(notify, &notification, 200).await["sessionId"]
        .as_str()
        .expect("a sessionId")
        .to_owned();
    let voice_only = json!({"displayNbr": DISPLAY, "calleeNbr": "+8613900002222",
                            "playInfoList": [{"notifyVoice": "welcome.wav"}]});
    c.signed_post("/rest/httpsessions/callnotify/v1.0", &voice_only, 200)
        .await;
    let mut unknown_template = notification.clone();
    unknown_template["playInfoList"][0]["templateId"] = json!("no_such_template");
    c.signed_post(notify, &unknown_template, 403).await;

    let click = json!({
        "displayNbr": DISPLAY, "callerNbr": "+8613900003333", "displayCalleeNbr": "+862087654322",
        "calleeNbr": "+8613700005678", "recordFlag": "true", "partyTypeRequiredInDisconnect": "true",
        "returnIdlePort": "true", "userData": "ticket-4410",
    });
    let callback_id = c.signed_post(callback, &click, 200).await["sessionId"]
        .as_str()
        .expect("a sessionId")
        .to_owned();
    let mut bad_caller = click.clone();
    bad_caller["callerNbr"] = json!("13900003333");
    c.signed_post(callback, &bad_caller, 403).await;

    // callStop ends the sandboxed call; an unknown one is 1020001.
    let sandboxed_id = sandboxed["sessionId"].as_str().expect("a sessionId");
    c.signed_post(
        call_stop,
        &json!({"sessionid": sandboxed_id, "signal": "call_stop"}),
        200,
    )
    .await;
    c.signed_post(
        call_stop,
        &json!({"sessionid": "nobody", "signal": "call_stop"}),
        403,
    )
    .await;

    // A person acts on a live call: keys on the verification call, B hangs up later.
    let keys = format!("/sim/v1/calls/{verify_id}/dtmf");
    c.control("POST", &keys, r#"{"digits":"1#"}"#, 200).await;
    c.control("POST", &keys, r#"{"digits":"x"}"#, 400).await;
    c.control(
        "POST",
        "/sim/v1/calls/nobody/dtmf",
        r#"{"digits":"1"}"#,
        404,
    )
    .await;

    // The clock, and the calls as the control plane shows them.
    c.get("/sim/v1/clock", 200).await;
    c.control("POST", "/sim/v1/clock/advance", r#"{"by":"40s"}"#, 200)
        .await;
    c.control(
        "POST",
        &format!("/sim/v1/calls/{callback_id}/hangup"),
        r#"{"party":"b"}"#,
        200,
    )
    .await;
    c.control("POST", "/sim/v1/clock/advance", r#"{"by":"soon"}"#, 400)
        .await;
    c.control("POST", "/sim/v1/clock/advance", r#"{"by":"10m"}"#, 200)
        .await;
    c.control(
        "POST",
        &format!("/sim/v1/calls/{callback_id}/hangup"),
        r#"{"party":"a"}"#,
        409,
    )
    .await;
    c.control("POST", &keys, r#"{"digits":"1"}"#, 409).await;

    c.get("/sim/v1/calls", 200).await;
    c.get(
        "/sim/v1/calls?state=released&app=k3VdT9wQx2LpR7mN4sB8cY1fHj6Z",
        200,
    )
    .await;
    c.get("/sim/v1/calls?state=ringing", 400).await;
    for id in [&verify_id, &notify_id, &callback_id] {
        c.get(&format!("/sim/v1/calls/{id}"), 200).await;
        c.get(&format!("/sim/v1/calls/{id}/announcement"), 200)
            .await;
    }
    c.get("/sim/v1/calls/nobody", 404).await;
    c.get("/sim/v1/calls/nobody/announcement", 404).await;
    c.get(
        &format!("/sim/v1/calls/{verify_id}/events?after=1&wait_for=disconnect&timeout_ms=1000"),
        200,
    )
    .await;
    c.get("/sim/v1/calls/nobody/events", 404).await;
    c.get("/sim/v1/calls/x/events?after=many", 400).await;
    c.get(&format!("/sim/v1/calls/{verify_id}/audio.wav"), 200)
        .await;
    c.get(&format!("/sim/v1/calls/{callback_id}/audio.wav"), 404)
        .await;

    // The recording: the download API points at the file.
    let cdr = c.sim.receiver.cdr(&callback_id);
    let object = cdr["recordObjectName"].as_str().expect("a recording");
    let domain = cdr["recordDomain"].as_str().expect("a record domain");
    let download = c
        .expect(
            "GET",
            &format!("/rest/provision/voice/record/v1.0?fileName={object}&recordDomain={domain}"),
            &c.signed(),
            "",
            301,
        )
        .await;
    let location = download.header("location").expect("a Location");
    let file = location.split_once("/dialtone/").expect("a Dialtone URL").1;
    c.get(&format!("/dialtone/{file}"), 200).await;
    c.get("/dialtone/recordings/bucket/nothing.wav", 404).await;
    c.expect(
        "GET",
        &format!("/rest/provision/voice/record/v1.0?fileName=nothing.wav&recordDomain={domain}"),
        &c.signed(),
        "",
        404,
    )
    .await;

    // Deliveries and reports.
    let journal = c.get("/sim/v1/deliveries", 200).await.json();
    c.get("/sim/v1/deliveries?kind=fee&outcome=delivered&limit=2", 200)
        .await;
    c.get("/sim/v1/deliveries?state=failed", 200).await;
    c.get("/sim/v1/deliveries?kind=email", 400).await;
    let delivery = journal[0]["delivery_id"].as_str().expect("a delivery");
    c.control(
        "POST",
        &format!("/sim/v1/deliveries/{delivery}/redeliver"),
        "",
        202,
    )
    .await;
    c.control("POST", "/sim/v1/deliveries/nothing/redeliver", "", 404)
        .await;
    c.get("/sim/v1/reports/reconciliation", 200).await;
    c.get(
        "/sim/v1/reports/reconciliation?from=2026-03-14%2000:00:00&to=2026-03-15%2000:00:00",
        200,
    )
    .await;
    c.get("/sim/v1/reports/reconciliation?from=yesterday", 400)
        .await;

    // Phones and faults.
    c.get("/sim/v1/phones", 200).await;
    c.control(
        "PUT",
        "/sim/v1/phones/+8613900004444",
        r#"{"outcome":"busy"}"#,
        200,
    )
    .await;
    c.control(
        "PUT",
        "/sim/v1/phones/+8613900004444",
        r#"{"outcome":"asleep"}"#,
        400,
    )
    .await;
    c.control("PUT", "/sim/v1/phones/12345", r#"{"outcome":"busy"}"#, 400)
        .await;
    c.control("DELETE", "/sim/v1/phones/+8613900004444", "", 204)
        .await;
    c.control("DELETE", "/sim/v1/phones/+8613900004444", "", 404)
        .await;
    c.get("/sim/v1/faults", 200).await;
    c.control(
        "PUT",
        "/sim/v1/faults",
        r#"[{"fault":"drop","push":"fee","times":1},{"fault":"delay","delay_ms":3000,"probability":0.5}]"#,
        200,
    )
    .await;
    c.get("/sim/v1/faults", 200).await;
    c.control(
        "PUT",
        "/sim/v1/faults",
        r#"[{"fault":"drop","probability":2}]"#,
        400,
    )
    .await;
    c.control("DELETE", "/sim/v1/faults", "", 204).await;

    // The legacy token endpoints.
    let login = format!("/rest/fastlogin/v1.0?app_key={APP_KEY}&username=dialtone_dev01");
    let pair = c
        .expect(
            "POST",
            &login,
            &[("Authorization".into(), "Dev#Pass2026".into())],
            "",
            200,
        )
        .await
        .json();
    c.expect("POST", &login, &[], "", 400).await;
    c.expect(
        "POST",
        &login,
        &[("Authorization".into(), "Dev#Pass2026".into())],
        "",
        403,
    )
    .await;
    let refresh = format!(
        "app_key={APP_KEY}&app_secret={APP_SECRET}&grant_type=refresh_token&refresh_token={}",
        pair["refresh_token"].as_str().expect("a refresh token")
    );
    let pair = c
        .expect("POST", "/omp/oauth/refresh", &[], &refresh, 200)
        .await
        .json();
    c.expect("POST", "/omp/oauth/refresh", &[], &refresh, 401)
        .await;
    c.expect("POST", "/omp/oauth/refresh", &[], "app_key=x", 403)
        .await;
    let logout = format!(
        "/rest/logout/v1.0?app_key={APP_KEY}&access_token={}",
        pair["access_token"].as_str().expect("an access token")
    );
    c.expect("POST", &logout, &[], "", 200).await;
    c.expect("POST", &logout, &[], "", 401).await;

    // Wrong methods and unknown paths, on both surfaces.
    c.get(verify, 405).await;
    c.get("/rest/nowhere/v1.0", 404).await;
    c.control("PATCH", "/sim/v1/clock", "", 405).await;
    c.get("/sim/v1/nowhere", 404).await;
    c.get("/sim/v1/stream", 400).await;

    // The browser console: its page and files, revalidated, and a file it does not have.
    let page = c.get("/", 200).await;
    let tag = page.header("etag").expect("an ETag");
    c.expect("GET", "/", &[("If-None-Match".into(), tag)], "", 304)
        .await;
    c.get("/console", 200).await;
    c.get("/console/", 200).await;
    for file in ["js/main.js", "console.css", "favicon.svg"] {
        c.get(&format!("/console/{file}"), 200).await;
    }
    let script = c.get("/console/js/phone.js", 200).await;
    let tag = script.header("etag").expect("an ETag");
    let revalidate = [("If-None-Match".to_owned(), tag)];
    c.expect("GET", "/console/js/phone.js", &revalidate, "", 304)
        .await;
    c.get("/console/js/nope.js", 404).await;
    c.control("POST", "/console/js/main.js", "", 405).await;
    c.control("POST", "/", "", 404).await;

    // A person on a virtual handset: over plain HTTP a 400; over a WebSocket the documented
    // messages both ways, and audio frames paced by the simulated clock.
    let person = "+8613900005555";
    c.get(&format!("/sim/v1/phones/{person}/handset"), 400)
        .await;
    c.get("/sim/v1/phones/5555/handset", 400).await;
    let mut handset = c.handset(person).await;
    let mut second = Handset::connect(&c.sim, person).await;
    c.hear(&mut second, "error").await;
    assert!(second.next().await.is_none(), "a second handset is closed");
    let phones = c.get("/sim/v1/phones", 200).await.json();
    assert_eq!(phones["handsets"], json!([person]));
    let mut call = verify_body("5555");
    call["calleeNbr"] = json!(person);
    let handset_call = c.signed_post(verify, &call, 200).await["sessionId"]
        .as_str()
        .expect("a sessionId")
        .to_owned();
    c.control("POST", "/sim/v1/clock/advance", r#"{"by":"2s"}"#, 200)
        .await;
    let (ringing, _) = c.hear(&mut handset, "ringing").await;
    assert_eq!(ringing["session_id"], handset_call.as_str());
    c.act(&mut handset, json!({"action": "answer"})).await;
    c.hear(&mut handset, "answered").await;
    c.control("POST", "/sim/v1/clock/advance", r#"{"by":"1s"}"#, 200)
        .await;
    let keys = json!({"action": "dtmf", "digits": "1", "session_id": handset_call});
    c.act(&mut handset, keys).await;
    let (_, frames) = c.hear(&mut handset, "digits").await;
    assert_eq!(frames, 50, "1 s of simulated time is 50 frames of 20 ms");
    let unknown = json!({"action": "pickup"});
    let client_schema = json!({"$ref": "#/components/schemas/HandsetClientMessage"});
    assert!(
        c.schemas().validate(&client_schema, &unknown).is_err(),
        "the document refuses what Dialtone refuses"
    );
    handset.send(unknown).await;
    c.hear(&mut handset, "error").await;
    c.act(&mut handset, json!({"action": "hangup"})).await;
    let (ended, _) = c.hear(&mut handset, "ended").await;
    assert_eq!(
        (&ended["state_code"], &ended["heard_ms"]),
        (&json!(8017), &json!(1000))
    );
    handset.close().await;
    c.get("/sim/v1/calls?callee=%2B8613900005555", 200).await;
    c.get(&format!("/sim/v1/calls/{handset_call}"), 200).await;

    // Readiness and this document.
    c.get("/health", 200).await;
    c.get("/sim/v1/health", 200).await;
    c.get("/openapi.json", 200).await;
    c.control("POST", "/sim/v1/reset", "", 200).await;

    // The stream: every message up to the reset matches StreamMessage.
    let messages = stream.until(|m| m["kind"] == "reset").await;
    let message_schema = json!({"$ref": "#/components/schemas/StreamMessage"});
    for m in &messages {
        c.valid(&message_schema, m, "a stream message");
    }
    // Batched, each line is one of the same messages, in the same order.
    let lines = batched.until(|m| m["kind"] == "reset").await;
    assert_eq!(lines, messages, "batch=ndjson carries the same messages");
    for m in &lines {
        c.valid(&message_schema, m, "a line of a batched stream frame");
    }
    let kinds: BTreeSet<String> = kinds(&messages).into_iter().collect();
    for kind in [
        "accepted",
        "refused",
        "callout",
        "disconnect",
        "push",
        "clock",
        "phone",
        "faults",
        "reset",
        "handset",
    ] {
        assert!(kinds.contains(kind), "no `{kind}` message among {kinds:?}");
    }
    c.exercised
        .lock()
        .expect("not poisoned")
        .insert(("/sim/v1/stream".into(), "GET".into()));

    // The pushes the receiver got: the document's webhooks.
    let status_push = &c.doc["webhooks"]["statusPush"]["post"];
    let fee_push = &c.doc["webhooks"]["feePush"]["post"];
    let mut event_types = BTreeSet::new();
    for push in c.sim.receiver.log() {
        let webhook = if push.event_type() == "fee" {
            fee_push
        } else {
            status_push
        };
        let schema = &webhook["requestBody"]["content"]["application/json"]["schema"];
        c.valid(schema, &push.body, &format!("a {} push", push.event_type()));
        for (name, header) in webhook["parameters"]
            .as_array()
            .expect("headers")
            .iter()
            .map(|h| (h["name"].as_str().unwrap_or_default(), h))
        {
            if header["required"] == true {
                assert!(
                    push.headers.contains_key(name),
                    "a {} push without {name}",
                    push.event_type()
                );
            }
        }
        event_types.insert(push.event_type().to_owned());
    }
    let all: BTreeSet<String> = [
        "callout",
        "alerting",
        "answer",
        "collectInfo",
        "disconnect",
        "fee",
    ]
    .map(String::from)
    .into();
    assert_eq!(event_types, all, "every kind of push was seen and checked");

    // Every documented operation was exercised.
    let exercised = c.exercised.lock().expect("not poisoned").clone();
    let missing: Vec<String> = c.doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .into_iter()
                .flat_map(|ops| ops.keys())
                .filter(|k| METHODS.contains(&k.as_str()))
                .map(move |m| (path.clone(), m.to_uppercase()))
        })
        .filter(|op| !exercised.contains(op))
        .map(|(p, m)| format!("{m} {p}"))
        .collect();
    assert!(
        missing.is_empty(),
        "documented operations no request exercised: {missing:?}"
    );
}
