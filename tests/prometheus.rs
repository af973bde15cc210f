//! The SRE kit against a live engine (issue 16). Two SMSC simulators play two SMS carriers; the
//! engine serves sends, receipts, a receipt-driven fallback and an SMS-pumping block. Then:
//! - Debian's `prometheus` (installed by tests/run.sh) scrapes it with docker/'s alert rules;
//!   `promtool check config` / `check rules` pass, and every PromQL expression of the Grafana
//!   dashboard and of the rules file — read from those files, never listed here — returns at
//!   least one series through Prometheus's HTTP API, so a misspelt metric cannot hide;
//! - the new metrics' scrape lines are exact, every metric has its `# HELP`, and no label value
//!   is a phone number, a code or an id.
mod common;

use common::platforms::free_port;
use common::smsc::{code_in, eventually, metric, Smsc};
use common::Server;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn docker(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docker").join(path)
}

/// What [`serve_traffic`] sent, to look for in label values.
struct Traffic {
    phones: Vec<String>,
    codes: Vec<String>,
    request_ids: Vec<String>,
}

/// Both SMSC simulators (smsc-a undelivers +1415555…, the fallback's trigger) and an engine
/// that judges SMS pumping at once (5 uncompleted sends block a prefix).
fn start(dir: &Path) -> (Smsc, Smsc, Server) {
    let a = Smsc::with_rules(dir, "[[rules]]\npattern = \"1415555\"\naction = \"undeliver\"\n", &[]);
    let b_dir = dir.join("b");
    std::fs::create_dir(&b_dir).unwrap();
    let b = Smsc::start(&b_dir, &[]);
    let carrier = |name: &str, address: &str, fee: &str| {
        format!(
            "[[carriers]]\nname = \"{name}\"\nprotocol = \"smpp\"\naddress = \"{address}\"\nsystem_id = \"otpgate\"\n\
             password = \"secret\"\nfee_usd = {{ default = {fee} }}\n"
        )
    };
    let config = format!(
        "[risk.pumping]\nprefix_digits = 7\nmin_sends = 5\nmin_completion = 0.5\nblock_seconds = 60\ngrace_seconds = 0\n{}{}",
        carrier("smsc-a", &a.smpp, "0.001"),
        carrier("smsc-b", &b.smpp, "0.002")
    );
    let server = Server::with_config(dir, &config);
    let up = || {
        let text = server.metrics();
        ["smsc-a", "smsc-b"]
            .iter()
            .all(|c| metric(&text, "otpgate_carrier_up", &[("carrier", c)]) == 1.0)
    };
    assert!(eventually(Duration::from_secs(10), up), "carriers did not both bind");
    (a, b, server)
}

fn last_code(smsc: &Smsc, phone: &str) -> Option<String> {
    let sent = smsc.messages_to(phone.trim_start_matches('+'));
    sent.last().map(|m| code_in(m["text"].as_str().unwrap()))
}

/// Three verifications completed on smsc-a, one completed after a negative receipt moved it to
/// smsc-b, five uncompleted sends to +1202555… and the sixth, blocked for pumping.
fn serve_traffic(a: &Smsc, b: &Smsc, server: &Server) -> Traffic {
    let mut traffic = Traffic {
        phones: Vec::new(),
        codes: Vec::new(),
        request_ids: Vec::new(),
    };
    let complete = |phone: &str, smsc: &Smsc, traffic: &mut Traffic| {
        let code = {
            let mut code = None;
            assert!(
                eventually(Duration::from_secs(5), || {
                    code = last_code(smsc, phone);
                    code.is_some()
                }),
                "no message to {phone}"
            );
            code.unwrap()
        };
        let checked = server.check(phone, &code);
        assert_eq!(checked["status"], "Approved", "{checked}");
        traffic.codes.push(code);
    };
    for i in 0..3 {
        let phone = format!("+131255526{i:02}");
        let sent = server.send(&phone);
        assert_eq!(sent["status"], "Success", "{sent}");
        traffic
            .request_ids
            .push(sent["request_id"].as_str().unwrap().to_owned());
        complete(&phone, a, &mut traffic);
        traffic.phones.push(phone);
    }
    let fallback = "+14155552671";
    let sent = server.send(fallback);
    traffic
        .request_ids
        .push(sent["request_id"].as_str().unwrap().to_owned());
    complete(fallback, b, &mut traffic);
    traffic.phones.push(fallback.into());
    for i in 0..6 {
        let phone = format!("+120255526{i:02}");
        let sent = server.send(&phone);
        let want = if i < 5 { "Success" } else { "Blocked" };
        assert_eq!(sent["status"], want, "send {i}: {sent}");
        traffic
            .request_ids
            .push(sent["request_id"].as_str().unwrap().to_owned());
        traffic.phones.push(phone);
    }
    // Every message accepted has its receipt: 9 on smsc-a (one negative), 1 on smsc-b.
    assert!(
        eventually(Duration::from_secs(10), || {
            let text = server.metrics();
            metric(
                &text,
                "otpgate_receipt_duration_seconds_count",
                &[("carrier", "smsc-a")],
            ) == 9.0
                && metric(
                    &text,
                    "otpgate_receipt_duration_seconds_count",
                    &[("carrier", "smsc-b")],
                ) == 1.0
        }),
        "receipts missing:\n{}",
        server.metrics()
    );
    traffic
}

/// A child process killed on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tool(name: &str) -> PathBuf {
    ["/usr/bin", "/usr/local/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!("{name} is missing: run `bash tests/run.sh` (it installs Debian's prometheus) or apt-get install prometheus")
        })
}

fn promtool(args: &[&str]) {
    let out = Command::new(tool("promtool")).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The Prometheus HTTP API's `data` for GET `path`, asserting `status: success`.
fn api(base: &str, path: &str, query: &[(&str, &str)]) -> Value {
    let mut request = ureq::get(&format!("{base}{path}"));
    for (k, v) in query {
        request = request.query(k, v);
    }
    let body: Value = match request.call() {
        Ok(r) => r.into_json().unwrap(),
        Err(ureq::Error::Status(_, r)) => r.into_json().unwrap(),
        Err(e) => panic!("prometheus {path}: {e}"),
    };
    assert_eq!(body["status"], "success", "{path} {query:?}: {body}");
    body["data"].clone()
}

/// Series `expr` returns now (instant query).
fn series(base: &str, expr: &str) -> Vec<Value> {
    api(base, "/api/v1/query", &[("query", expr)])["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{expr}: not a vector"))
        .clone()
}

/// Grafana's variables in `expr` replaced the way Grafana does before querying: its interval
/// built-ins by a window, every dashboard variable by its "All" value (`.*`).
fn substitute(expr: &str, variables: &[String]) -> String {
    let mut out = expr.to_owned();
    for builtin in ["$__rate_interval", "$__interval", "$__range"] {
        out = out.replace(builtin, "1m");
    }
    for name in variables {
        out = out
            .replace(&format!("${{{name}}}"), ".*")
            .replace(&format!("${name}"), ".*");
    }
    assert!(
        !out.contains('$'),
        "{expr}: uses a variable the dashboard does not define"
    );
    out
}

/// Every `expr` of every panel (rows' nested panels included), with its panel's title.
fn panel_exprs(panels: &[Value], out: &mut Vec<(String, String)>) {
    for panel in panels {
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                out.push((panel["title"].as_str().unwrap_or("?").to_owned(), expr.to_owned()));
            }
        }
        if let Some(nested) = panel["panels"].as_array() {
            panel_exprs(nested, out);
        }
    }
}

/// The left side of an alert expression's last top-level comparison (`signal > threshold`):
/// what must have series on a healthy system, where the whole expression returns none.
fn signal(expr: &str) -> &str {
    let bytes = expr.as_bytes();
    let (mut depth, mut quoted, mut cut) = (0i32, false, None);
    for (i, &c) in bytes.iter().enumerate() {
        match c {
            b'"' => quoted = !quoted,
            b'(' | b'[' | b'{' if !quoted => depth += 1,
            b')' | b']' | b'}' if !quoted => depth -= 1,
            b'<' | b'>' | b'=' | b'!' if !quoted && depth == 0 => {
                let prev = i.checked_sub(1).map(|p| bytes[p]);
                if !matches!(prev, Some(b'<' | b'>' | b'=' | b'!')) {
                    cut = Some(i);
                }
            }
            _ => {}
        }
    }
    cut.map_or(expr, |i| expr[..i].trim())
}

#[test]
fn every_dashboard_and_alert_expression_returns_series_from_a_live_engine() {
    let dir = tempfile::tempdir().unwrap();
    let (a, mut b, server) = start(dir.path());
    serve_traffic(&a, &b, &server);

    let rules = docker("prometheus/alerts.yml");
    promtool(&["check", "rules", rules.to_str().unwrap()]);
    promtool(&["check", "config", docker("prometheus/prometheus.yml").to_str().unwrap()]);

    // The compose file's Prometheus config, pointed at this engine and scraping every second.
    let target = server.base.trim_start_matches("http://");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: otpgate\n    static_configs:\n      - targets: [\"{target}\"]\n",
            rules.display()
        ),
    )
    .unwrap();
    promtool(&["check", "config", config.to_str().unwrap()]);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _prometheus = Killed(
        Command::new(tool("prometheus"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
            .spawn()
            .expect("start prometheus"),
    );
    let log = || std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
    // A rate needs two samples in its window: wait for a few scrapes.
    let scraped = || {
        ureq::get(&format!("{base}/api/v1/query"))
            .query(
                "query",
                "count_over_time(up{job=\"otpgate\"}[1m]) >= 5 and up{job=\"otpgate\"} == 1",
            )
            .call()
            .ok()
            .and_then(|r| r.into_json::<Value>().ok())
            .is_some_and(|v| v["data"]["result"].as_array().is_some_and(|r| !r.is_empty()))
    };
    assert!(
        eventually(Duration::from_secs(30), scraped),
        "prometheus never scraped the engine:\n{}",
        log()
    );

    let mut empty = Vec::new();
    // The rules as Prometheus loaded them from docker/prometheus/alerts.yml.
    let groups = api(&base, "/api/v1/rules", &[])["groups"].as_array().unwrap().clone();
    let loaded: Vec<Value> = groups
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .collect();
    assert!(loaded.len() >= 6, "the rules file's alerts were not loaded: {groups:?}");
    for rule in &loaded {
        let (name, expr) = (rule["name"].as_str().unwrap(), rule["query"].as_str().unwrap());
        series(&base, expr); // the whole expression evaluates (no series while healthy is fine)
        if series(&base, signal(expr)).is_empty() {
            empty.push(format!("alert {name}: {}", signal(expr)));
        }
    }

    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(docker("grafana/dashboards/otpgate.json")).unwrap()).unwrap();
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    let names: Vec<String> = variables
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        names.contains(&"carrier".into()) && names.contains(&"country".into()),
        "{names:?}"
    );
    for variable in variables {
        // label_values(metric, label): the metric must have series carrying the label.
        let query = variable["query"]["query"].as_str().unwrap();
        let inner = query
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
            .unwrap_or_else(|| panic!("variable query {query}: not label_values(metric, label)"));
        let (metric_name, label) = inner.rsplit_once(',').unwrap();
        let found = series(&base, metric_name.trim());
        if !found.iter().any(|s| s["metric"][label.trim()].is_string()) {
            empty.push(format!("variable {query}"));
        }
    }
    let mut exprs = Vec::new();
    panel_exprs(dashboard["panels"].as_array().unwrap(), &mut exprs);
    assert!(exprs.len() >= 20, "{} panel queries", exprs.len());
    for (title, expr) in &exprs {
        let query = substitute(expr, &names);
        if series(&base, &query).is_empty() {
            empty.push(format!("panel {title:?}: {query}"));
        }
    }
    assert!(
        empty.is_empty(),
        "expressions with no series:\n{}\nscrape:\n{}",
        empty.join("\n"),
        server.metrics()
    );

    // An alert does its job: smsc-b goes away and OtpgateCarrierDown is pending for it (firing
    // would take its `for: 2m`).
    b.kill();
    let pending = || {
        api(&base, "/api/v1/alerts", &[])["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|alert| {
                alert["labels"]["alertname"] == "OtpgateCarrierDown"
                    && alert["labels"]["carrier"] == "smsc-b"
                    && alert["state"] == "pending"
            })
    };
    assert!(
        eventually(Duration::from_secs(20), pending),
        "OtpgateCarrierDown never went pending for smsc-b: {}",
        api(&base, "/api/v1/alerts", &[])
    );
}

/// A sample line's name and its labels (key, value).
type Sample = (String, Vec<(String, String)>);

/// The sample lines of `text` (not comments).
fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, _value) = l.rsplit_once(' ').unwrap();
            let (name, labels) = series.split_once('{').unwrap_or((series, "}"));
            let labels = labels
                .trim_end_matches('}')
                .split("\",")
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once("=\"").unwrap();
                    (k.to_owned(), v.trim_end_matches('"').to_owned())
                })
                .collect();
            (name.to_owned(), labels)
        })
        .collect()
}

#[test]
fn the_sre_metrics_scrape_exactly_with_help_and_no_number_code_or_id_in_labels() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, server) = start(dir.path());
    let traffic = serve_traffic(&a, &b, &server);
    let text = server.metrics();
    for line in [
        "otpgate_fallbacks_total{from=\"sms\",to=\"sms\"} 1",
        "otpgate_fallback_reasons_total{reason=\"negative_receipt\"} 1",
        "otpgate_verifications_completed_total{channel=\"sms\",fallback=\"false\"} 3",
        "otpgate_verifications_completed_total{channel=\"sms\",fallback=\"true\"} 1",
        "otpgate_sends_refused_total{cause=\"pumping\"} 1",
        "otpgate_receipt_duration_seconds_count{channel=\"sms\",carrier=\"smsc-a\"} 9",
        "otpgate_receipt_duration_seconds_count{channel=\"sms\",carrier=\"smsc-b\"} 1",
        "otpgate_channel_send_duration_seconds_count{channel=\"sms\",carrier=\"smsc-a\",result=\"accepted\"} 9",
        "otpgate_channel_send_duration_seconds_count{channel=\"sms\",carrier=\"smsc-b\",result=\"accepted\"} 1",
        "otpgate_smpp_binds_bound{carrier=\"smsc-a\"} 1",
        "otpgate_smpp_binds_bound{carrier=\"smsc-b\"} 1",
        "otpgate_smpp_reconnects_total{carrier=\"smsc-a\"} 0",
        "otpgate_store_queue_depth 0",
    ] {
        assert!(text.lines().any(|l| l == line), "no line {line:?} in:\n{text}");
    }
    // A receipt from a simulator on loopback comes within a second: the first buckets hold it.
    assert!(
        text.lines()
            .any(|l| l == "otpgate_receipt_duration_seconds_bucket{channel=\"sms\",carrier=\"smsc-b\",le=\"1\"} 1"),
        "{text}"
    );
    let build = text
        .lines()
        .find(|l| l.starts_with("otpgate_build_info{"))
        .unwrap_or_else(|| panic!("no build info in:\n{text}"));
    let commit = build
        .strip_prefix(&format!(
            "otpgate_build_info{{version=\"{}\",commit=\"",
            env!("CARGO_PKG_VERSION")
        ))
        .and_then(|rest| rest.strip_suffix("\"} 1"))
        .unwrap_or_else(|| panic!("{build}"));
    assert!(
        commit == "unknown" || (commit.len() == 12 && commit.bytes().all(|c| c.is_ascii_hexdigit())),
        "{build}"
    );

    // Every metric has its # HELP.
    let typed: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert!(typed.len() >= 20, "{typed:?}");
    for name in typed {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("# HELP {name} "))),
            "{name} has no # HELP"
        );
    }

    // No label value is a phone number (any form), a code or a request id.
    let forbidden: Vec<String> = traffic
        .phones
        .iter()
        .flat_map(|p| [p.clone(), p.trim_start_matches('+').to_owned(), p[2..].to_owned()])
        .chain(traffic.codes.iter().cloned())
        .chain(traffic.request_ids.iter().cloned())
        .collect();
    for (name, labels) in samples(&text) {
        for (key, value) in labels {
            assert!(
                !forbidden.iter().any(|f| value.contains(f.as_str())),
                "{name}{{{key}=\"{value}\"}} carries a number, code or id"
            );
            let digits = value.bytes().filter(u8::is_ascii_digit).count();
            assert!(
                key == "le" || key == "quantile" || key == "commit" || digits < 4,
                "{name}{{{key}=\"{value}\"}}: a label value with {digits} digits"
            );
        }
    }
}
