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
