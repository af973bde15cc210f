//! `GET /v3/openapi.json`: a valid OpenAPI 3.1 document of every route the server answers,
//! public, whose links lead from a send to its check.
mod common;
mod openapi_support;

use common::Server;
use openapi_support::{fuzzable_server, tools};
use serde_json::{json, Value};
use std::collections::BTreeSet;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

fn document(s: &Server) -> Value {
    let (status, doc) = s.request("GET", "/v3/openapi.json", None, None);
    assert_eq!(status, 200, "the document is public: {doc}");
    doc
}

/// Every resource template the API registers, read from `src/api` (actix keeps its route table
/// private): `resource("/v3/...")`, `web::resource("/...")` and the document's own path.
fn registered_templates() -> BTreeSet<String> {
    let pattern = regex::Regex::new(r#"resource\(\s*"([^"]+)""#).unwrap();
    let mut templates = BTreeSet::new();
    let mut dirs = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/api"
    ))];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                templates.extend(pattern.captures_iter(&text).map(|c| c[1].to_owned()));
            }
        }
    }
    templates.insert("/v3/openapi.json".to_owned());
    templates
}

/// The methods the server answers on `template` (parameters filled with their own names): not
/// 405, and not the catch-all "no endpoint" 404.
fn served_methods(s: &Server, template: &str) -> Vec<&'static str> {
    let param = regex::Regex::new(r"\{([^}]+)\}").unwrap();
    let path = param.replace_all(template, "$1").into_owned();
    METHODS
        .into_iter()
        .filter(|method| {
            let body = (*method != "GET" && *method != "DELETE").then_some("{}");
            let (status, answer) = s.request(method, &path, Some(&s.key), body);
            let catch_all = status == 404 && answer["detail"].as_str().is_some_and(|d| d.starts_with("no endpoint"));
            status != 405 && !catch_all
        })
        .collect()
}

#[test]
fn every_route_the_server_answers_is_in_the_document_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let s = fuzzable_server(dir.path());
    let doc = document(&s);
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| METHODS.iter().any(|m| m.eq_ignore_ascii_case(k)))
                .map(move |m| (path.clone(), m.to_ascii_uppercase()))
        })
        .collect();
    let templates = registered_templates();
    assert!(templates.len() >= 20, "route templates found: {templates:?}");
    let mut served = BTreeSet::new();
    for template in &templates {
        for method in served_methods(&s, template) {
            served.insert((template.clone(), method.to_owned()));
        }
    }
    let missing: Vec<_> = served.difference(&documented).collect();
    assert!(missing.is_empty(), "served but not in /v3/openapi.json: {missing:?}");
    let phantom: Vec<_> = documented.difference(&served).collect();
    assert!(phantom.is_empty(), "in the document but not served: {phantom:?}");
    assert!(served.len() >= 29, "{served:?}");
}

#[test]
fn the_document_is_valid_openapi_3_1() {
    let dir = tempfile::tempdir().unwrap();
    let s = fuzzable_server(dir.path());
    let doc = document(&s);
    assert_eq!(doc["openapi"], "3.1.0");
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let Some(bin) = tools() else {
        eprintln!("SKIPPED the validator: python3 is not installed");
        return;
    };
    let out = std::process::Command::new(bin.join("openapi-spec-validator"))
        .args(["--schema", "3.1", "--validation-errors", "all"])
        .arg(&file)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "openapi-spec-validator:\n{report}");
}

#[test]
fn the_document_names_the_contract_enums_errors_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let s = fuzzable_server(dir.path());
    let doc = document(&s);
    let schemas = &doc["components"]["schemas"];
    let values = |name: &str| -> Vec<String> {
        schemas[name]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} is not an enum: {}", schemas[name]))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(values("SendStatus"), ["Success", "Retry", "Blocked", "Undeliverable"]);
    assert_eq!(
        values("BlockReason"),
        ["repeated_attempts", "suspicious", "spam", "in_block_list"]
    );
    assert_eq!(
        values("CheckStatus"),
        ["Approved", "Failed", "Declined", "In Review", "Expired or Not Found"]
    );
    assert_eq!(
        values("ReportStatus"),
        ["Approved", "Declined", "In Review", "Not Finished"]
    );
    assert_eq!(
        values("ChannelInput"),
        ["SMS", "WHATSAPP", "TELEGRAM", "RCS", "VIBER", "CALL"]
    );
    assert_eq!(
        values("Channel"),
        ["sms", "whatsapp", "telegram", "rcs", "viber", "call"]
    );
    assert_eq!(
        values("SessionStatus"),
        [
            "Not Started",
            "In Progress",
            "In Review",
            "Approved",
            "Declined",
            "Abandoned",
            "Expired"
        ]
    );
    assert_eq!(values("RiskAction"), ["Decline", "Review", "Approve"]);
    assert_eq!(values("CheckRiskAction"), ["NO_ACTION", "DECLINE"]);
    assert_eq!(values("LineType"), ["mobile", "landline", "voip", "unknown"]);
    assert_eq!(values("Feature"), ["PHONE"]);
    assert_eq!(schemas["Error"]["required"], json!(["detail", "code"]));
    assert_eq!(
        doc["components"]["securitySchemes"]["x-api-key"],
        json!({ "type": "apiKey", "in": "header", "name": "x-api-key",
                "description": "The application's API key (`[[applications]] api_key`)" })
    );
    let webhook = &doc["webhooks"]["status.updated"]["post"];
    let headers: Vec<_> = webhook["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        headers,
        ["X-Timestamp", "X-Signature-V2", "X-Signature-Simple", "X-Signature"]
    );
    let event = &schemas["StatusUpdated"];
    for key in [
        "webhook_type",
        "session_id",
        "status",
        "workflow_id",
        "created_at",
        "timestamp",
    ] {
        assert!(
            event["required"].as_array().unwrap().contains(&json!(key)),
            "{key}: {event}"
        );
    }
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.contains_key("429"),
                "{method} {path}: every route has request limits"
            );
            let keyed = op.get("security").is_some();
            let public = path == "/v3/openapi.json" || path.starts_with("/v3/channels/");
            assert_eq!(keyed, path.starts_with("/v3/") && !public, "{method} {path}: security");
            if keyed {
                assert!(responses.contains_key("401"), "{method} {path}");
                assert_eq!(
                    responses["401"]["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/Error"
                );
            }
        }
    }
}

/// Evaluates a link's runtime expression (`$request.body#/…`, `$response.body#/…`).
fn evaluate(expression: &Value, request: &Value, response: &Value) -> Value {
    match expression {
        Value::String(e) => {
            if let Some(pointer) = e.strip_prefix("$request.body#") {
                request.pointer(pointer).cloned().unwrap_or(Value::Null)
            } else if let Some(pointer) = e.strip_prefix("$response.body#") {
                response.pointer(pointer).cloned().unwrap_or(Value::Null)
            } else {
                expression.clone()
            }
        }
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), evaluate(v, request, response)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        other => other.clone(),
    }
}

#[test]
fn following_the_links_from_a_send_approves_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = fuzzable_server(dir.path());
    let doc = document(&s);
    let send_links = &doc["paths"]["/v3/phone/send/"]["post"]["responses"]["200"]["links"];
    let inbox_links = &doc["paths"]["/v3/sandbox/messages/"]["get"]["responses"]["200"]["links"];

    let send_body = json!({ "phone_number": "+12025550142" });
    let (status, sent) = s.post("/v3/phone/send/", &send_body);
    assert_eq!((status, &sent["status"]), (200, &json!("Success")), "{sent}");

    let to_inbox = &send_links["SandboxInbox"];
    assert_eq!(to_inbox["operationId"], "sandbox_messages");
    let number = evaluate(&to_inbox["parameters"]["phone_number"], &send_body, &sent);
    let path = format!(
        "/v3/sandbox/messages/?phone_number={}",
        number.as_str().unwrap().replace('+', "%2B")
    );
    let (status, inbox) = s.request("GET", &path, Some(&s.key), None);
    assert_eq!(status, 200, "{inbox}");

    let to_check = &inbox_links["CheckSandboxCode"];
    assert_eq!(to_check["operationId"], "phone_check");
    let check_body = evaluate(&to_check["requestBody"], &Value::Null, &inbox);
    let (status, checked) = s.post("/v3/phone/check/", &check_body);
    assert_eq!(status, 200, "{checked}");
    assert_eq!(checked["status"], "Approved", "{check_body} → {checked}");
    assert_eq!(checked["request_id"], sent["request_id"]);

    // The direct link carries the number; the code is the caller's.
    let direct = evaluate(&send_links["CheckCode"]["requestBody"], &send_body, &sent);
    assert_eq!(direct, json!({ "phone_number": "+12025550142" }));
    assert_eq!(send_links["CheckCode"]["operationId"], "phone_check");
}

/// Paths (`$.phone.lifecycle[0].details`) of keys in `value` that `schema` does not name, and
/// of keys it requires that `value` lacks.
/// Free-form objects (no `properties`) take anything; `$ref`, `allOf`, `oneOf` are followed.
fn undocumented(doc: &Value, schema: &Value, value: &Value, at: &str, found: &mut Vec<String>) {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return undocumented(doc, &doc["components"]["schemas"][name], value, at, found);
    }
    if let Some(variants) = schema["oneOf"].as_array().or(schema["anyOf"].as_array()) {
        if value.is_null() {
            return;
        }
        // The variant that documents the most of the value (a nullable ref is [null, ref]).
        let best = variants
            .iter()
            .filter(|v| v["type"] != "null")
            .map(|v| {
                let mut missing = Vec::new();
                undocumented(doc, v, value, at, &mut missing);
                missing
            })
            .min_by_key(Vec::len)
            .unwrap_or_default();
        found.extend(best);
        return;
    }
    match value {
        Value::Object(map) => {
            let mut properties = serde_json::Map::new();
            let mut required = Vec::new();
            let mut parts = vec![schema.clone()];
            while let Some(part) = parts.pop() {
                if let Some(r) = part["$ref"].as_str() {
                    parts.push(doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")].clone());
                }
                if let Some(all) = part["allOf"].as_array() {
                    parts.extend(all.iter().cloned());
                }
                if let Some(props) = part["properties"].as_object() {
                    properties.extend(props.clone());
                }
                if let Some(names) = part["required"].as_array() {
                    required.extend(names.iter().filter_map(|n| n.as_str().map(str::to_owned)));
                }
            }
            for name in required.iter().filter(|n| !map.contains_key(*n)) {
                found.push(format!("{at}.{name} (required, absent)"));
            }
            if properties.is_empty() {
                return; // free-form (metadata, details)
            }
            for (key, item) in map {
                match properties.get(key) {
                    Some(s) => undocumented(doc, s, item, &format!("{at}.{key}"), found),
                    None => found.push(format!("{at}.{key}")),
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                undocumented(doc, &schema["items"], item, &format!("{at}[{i}]"), found);
            }
        }
        _ => {}
    }
}

/// Every key of real answers (a report with warnings and lifecycle included) is in the document,
/// and every key it requires is there: the schemas mirrored in `api/openapi/schemas.rs` match
/// what the server says.
#[test]
fn every_key_the_server_answers_is_documented() {
    let dir = tempfile::tempdir().unwrap();
    let s = fuzzable_server(dir.path());
    let doc = document(&s);
    let schema_of = |path: &str, method: &str, status: &str| {
        doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"].clone()
    };
    let mut found = Vec::new();
    let mut answer = |path: &str, method: &str, status: u16, body: &Value| {
        let schema = schema_of(path, method, &status.to_string());
        assert!(!schema.is_null(), "{method} {path} {status} is not documented: {body}");
        undocumented(&doc, &schema, body, &format!("{method} {path} {status} $"), &mut found);
    };

    // A VoIP sandbox number: the report carries a warning as well as its lifecycle.
    let number = "+12025550198";
    let (status, sent) = s.post(
        "/v3/phone/send/",
        &json!({ "phone_number": number, "vendor_data": "u1", "metadata": { "a": 1 } }),
    );
    answer("/v3/phone/send/", "post", status, &sent);
    let inbox_path = format!("/v3/sandbox/messages/?phone_number={}", number.replace('+', "%2B"));
    let (status, inbox) = s.request("GET", &inbox_path, Some(&s.key), None);
    answer("/v3/sandbox/messages/", "get", status, &inbox);
    let code = inbox["results"][0]["code"].as_str().unwrap().to_owned();
    let (status, checked) = s.post("/v3/phone/check/", &json!({ "phone_number": number, "code": code }));
    assert!(
        checked["phone"]["warnings"].as_array().is_some_and(|w| !w.is_empty()),
        "{checked}"
    );
    answer("/v3/phone/check/", "post", status, &checked);

    let (status, workflow) = s.post(
        "/v3/workflows/",
        &json!({ "features": [{ "feature": "PHONE", "config": { "risk_actions": { "VOIP_NUMBER_DETECTED": "Review" } } }] }),
    );
    answer("/v3/workflows/", "post", status, &workflow);
    let (status, session) = s.post(
        "/v3/session/",
        &json!({ "workflow_id": workflow["workflow_id"], "contact_details": { "phone": number } }),
    );
    answer("/v3/session/", "post", status, &session);
    let decision_path = format!("/v3/session/{}/decision/", session["session_id"].as_str().unwrap());
    let (status, decision) = s.request("GET", &decision_path, Some(&s.key), None);
    answer("/v3/session/{id}/decision/", "get", status, &decision);

    let (status, entry) = s.post("/v3/blocklist/phone/", &json!({ "prefix": "+88213" }));
    answer("/v3/blocklist/phone/", "post", status, &entry);
    let (status, entries) = s.request("GET", "/v3/blocklist/phone/", Some(&s.key), None);
    answer("/v3/blocklist/phone/", "get", status, &entries);
    let (status, usage) = s.request("GET", "/v3/billing/usage/", Some(&s.key), None);
    // (The sandbox bills nothing, so by_channel and by_country stay empty here.)
    answer("/v3/billing/usage/", "get", status, &usage);
    let (status, destination) = s.post(
        "/v3/webhook/destinations/",
        &json!({ "url": "http://127.0.0.1:9/hook" }),
    );
    answer("/v3/webhook/destinations/", "post", status, &destination);
    let (status, destinations) = s.request("GET", "/v3/webhook/destinations/", Some(&s.key), None);
    answer("/v3/webhook/destinations/", "get", status, &destinations);
    let (status, error) = s.post("/v3/phone/send/", &json!({}));
    answer("/v3/phone/send/", "post", status, &error);
    let (status, health) = s.request("GET", "/readyz", None, None);
    answer("/readyz", "get", status, &health);

    assert!(found.is_empty(), "answered but not in the document: {found:#?}");

    // The webhook the engine sends, as `webhooks.status.updated` describes it.
    let receiver = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", receiver.local_addr().unwrap());
    let (events_tx, events) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::{BufRead, BufReader, Read, Write};
        for stream in receiver.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
            let _ = events_tx.send(body);
        }
    });
    let (status, _) = s.post("/v3/webhook/destinations/", &json!({ "url": url }));
    assert_eq!(status, 201);
    let (status, session) = s.post("/v3/session/", &json!({ "workflow_id": workflow["workflow_id"] }));
    assert_eq!(status, 201, "{session}");
    // session_url is on `public_url` (here the default); the page's path is what matters.
    let url = session["session_url"].as_str().unwrap();
    let page = &url[url.find("/session/").unwrap()..];
    let (status, _) = s.request("GET", page, None, None);
    assert_eq!(status, 200, "opening the page starts the session");
    let event = events
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("a status.updated webhook");
    let event: Value = serde_json::from_slice(&event).unwrap();
    assert_eq!(event["webhook_type"], "status.updated", "{event}");
    let schema = json!({ "$ref": "#/components/schemas/StatusUpdated" });
    undocumented(&doc, &schema, &event, "webhook $", &mut found);
    assert!(found.is_empty(), "sent but not in the document: {found:#?}");

    // The checker itself sees a key the document lacks, however deep.
    let mut tampered = checked.clone();
    tampered["phone"]["warnings"][0]["secret_sauce"] = json!(1);
    let mut caught = Vec::new();
    let schema = schema_of("/v3/phone/check/", "post", "200");
    undocumented(&doc, &schema, &tampered, "$", &mut caught);
    assert_eq!(caught, ["$.phone.warnings[0].secret_sauce"]);
}
