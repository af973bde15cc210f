//! The JSON API: request bodies through the real actix handlers (routing, authentication,
//! body reading, field validation, the actors and an embedded store in a temporary directory),
//! as a client on the internet sends them.
use actix_web::http::Method;
use actix_web::{test, web, App};
use otpgate::config::RawConfig;
use otpgate::engine::Engine;
use otpgate::sessions::service::Hosting;
use serde_json::Value;
use std::sync::Arc;

const API_KEY: &str = "fuzz-api-key-0123456789";
/// Replaced in a body by the id of a workflow that exists.
const WORKFLOW_PLACEHOLDER: &str = "$WORKFLOW";

/// `data[0] % 8` picks the endpoint: send, check, workflow create, workflow update, session
/// create, session status update, blocklist add, webhook destination add. The rest is the
/// body, with `$WORKFLOW` standing for an existing workflow's id. Whatever the body, the answer
/// is never a 5xx, and an error answer is a JSON object naming a `code`.
pub fn api_json(data: &[u8]) {
    let Some((&endpoint, body)) = data.split_first() else {
        return;
    };
    SERVER.with(|server| {
        let body = String::from_utf8_lossy(body).replace(WORKFLOW_PLACEHOLDER, &server.workflow);
        let (method, path) = match endpoint % 8 {
            0 => (Method::POST, "/v3/phone/send/".to_owned()),
            1 => (Method::POST, "/v3/phone/check/".to_owned()),
            2 => (Method::POST, "/v3/workflows/".to_owned()),
            3 => (Method::PATCH, format!("/v3/workflows/{}/", server.workflow)),
            4 => (Method::POST, "/v3/session/".to_owned()),
            5 => (Method::PATCH, format!("/v3/session/{}/update-status/", server.session)),
            6 => (Method::POST, "/v3/blocklist/phone/".to_owned()),
            _ => (Method::POST, "/v3/webhook/destinations/".to_owned()),
        };
        let (status, answer) = server.call(method, &path, body.into_bytes());
        assert!(status < 500, "{path} answered {status}: {answer}");
        if status >= 400 {
            assert!(
                answer["code"].is_string(),
                "{path} answered {status} without an error code: {answer}"
            );
        }
    });
}

thread_local! {
    static SERVER: Server = Server::start();
}

/// One engine for the whole run, with one workflow and one session to update.
struct Server {
    runner: actix_rt::SystemRunner,
    engine: Arc<Engine>,
    hosting: Arc<Hosting>,
    workflow: String,
    session: String,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        // tmpfs when there is one: the store's fsyncs would otherwise dominate.
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .expect("temporary directory");
        let text = format!(
            "[server]\npublic_url = \"http://127.0.0.1:9\"\n\
             [store]\nurl = \"sqlite://{}/otpgate.db\"\n\
             [[applications]]\nname = \"fuzz\"\napi_key = \"{API_KEY}\"\n\
             [sandbox]\nenabled = true\n",
            dir.path().display()
        );
        let config = RawConfig::parse(&text)
            .and_then(RawConfig::build_and_validate)
            .unwrap_or_else(|e| panic!("harness config: {:?}", e.0));
        let runner = actix_rt::System::new();
        let (engine, _) = runner
            .block_on(otpgate::serve::build_engine(&config))
            .expect("engine starts");
        let hosting = Arc::new(Hosting::new(config.sessions, &config.public_url));
        let mut server = Server {
            runner,
            engine,
            hosting,
            workflow: String::new(),
            session: String::new(),
            _dir: dir,
        };
        let (status, workflow) = server.call(
            Method::POST,
            "/v3/workflows/",
            br#"{"workflow_label":"fuzz","features":[{"feature":"PHONE"}]}"#.to_vec(),
        );
        assert_eq!(status, 201, "{workflow}");
        server.workflow = workflow["workflow_id"].as_str().expect("workflow_id").to_owned();
        let body = format!(r#"{{"workflow_id":"{}"}}"#, server.workflow);
        let (status, session) = server.call(Method::POST, "/v3/session/", body.into_bytes());
        assert_eq!(status, 201, "{session}");
        server.session = session["session_id"].as_str().expect("session_id").to_owned();
        server
    }

    /// One request with the application's key; the status and the body as JSON (`Null` when
    /// it is not JSON).
    fn call(&self, method: Method, path: &str, body: Vec<u8>) -> (u16, Value) {
        self.runner.block_on(async {
            let app = test::init_service(
                App::new()
                    .app_data(web::Data::from(self.engine.clone()))
                    .app_data(web::Data::from(self.hosting.clone()))
                    .configure(otpgate::api::routes),
            )
            .await;
            let request = test::TestRequest::default()
                .method(method)
                .uri(path)
                .insert_header(("x-api-key", API_KEY))
                .insert_header(("content-type", "application/json"))
                .set_payload(body)
                .to_request();
            let response = test::call_service(&app, request).await;
            let status = response.status().as_u16();
            let bytes = test::read_body(response).await;
            (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
        })
    }
}
