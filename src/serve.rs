//! Start-up: from a validated [`Config`] to a running server, and the drain on shutdown.
use crate::api;
use crate::applications::{generate_key, key_digest, Applications};
use crate::code::CodeSecret;
use crate::config::{Config, StoreLocation};
use crate::engine::Engine;
use crate::routing::Router;
use crate::store::postgres::PostgresStore;
use crate::store::sqlite::SqliteStore;
use crate::store::Store;
use crate::webhooks::Webhooks;
use anyhow::Context as _;
use otpgate_gateway::sandbox::{Inbox, SandboxGateway};
use otpgate_gateway::{report_channel, Gateway};
use std::sync::Arc;

const DEFAULT_APPLICATION: &str = "default";
const DEFAULT_KEY_SETTING: &str = "application.default.api_key_sha256";

/// Wires the engine and starts the carrier gateways (their binds connect in the background)
/// and the receipt dispatcher. Returns the API key generated on first start, if one was.
/// Needs a running actix system.
pub async fn build_engine(config: &Config) -> anyhow::Result<(Arc<Engine>, Option<String>)> {
    let store: Arc<dyn Store> = match &config.store {
        StoreLocation::Sqlite { path } => {
            let opened = match &config.encryption {
                Some(keys) => SqliteStore::open_with_keys(path, keys.clone()),
                None => SqliteStore::open(path),
            };
            Arc::new(opened.with_context(|| format!("opening store {}", path.display()))?)
        }
        StoreLocation::Postgres { url } => Arc::new(
            PostgresStore::connect_with_keys(url, config.encryption.clone())
                .await
                .context("opening the PostgreSQL store (store.url)")?,
        ),
    };
    // Several nodes may share a PostgreSQL store: their limits are shared through it too.
    let shared = match &config.store {
        StoreLocation::Postgres { url } => {
            Some(crate::limits::Shared::start(url, &config.risk).context("starting the shared limits (store.url)")?)
        }
        StoreLocation::Sqlite { .. } => None,
    };
    let data_dir = config.store.data_dir();
    // Beside a PostgreSQL store nothing else has made the directory of the code secret yet.
    std::fs::create_dir_all(&data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    // Nodes on one PostgreSQL store share the code secret through it (issue 14).
    let secret = match &config.store {
        StoreLocation::Postgres { .. } => CodeSecret::load_or_create_shared(store.as_ref())
            .await
            .context("loading the code secret from the store")?,
        StoreLocation::Sqlite { .. } => CodeSecret::load_or_create(&data_dir)
            .with_context(|| format!("loading the code secret in {}", data_dir.display()))?,
    };
    let (applications, generated) = applications(config, store.as_ref()).await?;
    let inbox = config.sandbox_enabled.then(Inbox::new);
    let sandbox = inbox
        .clone()
        .map(|inbox| Arc::new(SandboxGateway::new(inbox)) as Arc<dyn Gateway>);
    let (reports, receipts) = report_channel();
    let mut carriers = Vec::new();
    let mut webhooks = Webhooks::default();
    for carrier in &config.carriers {
        let (gateway, callbacks) = carrier.start(reports.clone());
        if let Some(handler) = callbacks {
            webhooks.insert(carrier.name(), handler);
        }
        if let Some(verifier) = carrier.verifier() {
            webhooks.insert_verifier(carrier.name(), verifier);
        }
        carriers.push(gateway);
    }
    drop(reports);
    let router = Router::start(config.routing.clone(), carriers, sandbox, store.clone())
        .await
        .context("loading what routing learned")?;
    let blocklist = store.blocklist_all().await.context("loading the blocklist")?;
    let intel = crate::intel::Intel::load(config.intel.carriers_file.clone(), config.intel.disposable_file.clone())
        .map_err(|e| anyhow::anyhow!("number intelligence: {e}"))?;
    let lookup = match config.intel.lookup.clone() {
        Some(c) => Some(crate::lookup::Lookup::new(c).map_err(|e| anyhow::anyhow!("number lookup: {e}"))?),
        None => None,
    };
    let engine = Engine::new(
        config.verification,
        crate::risk::Risk::with_shared(config.risk.clone(), shared.clone()),
        intel,
        lookup,
        store,
        secret,
        router,
        applications,
        inbox,
        webhooks,
    );
    for entry in blocklist {
        engine.blocklist.insert(entry);
    }
    if let Some(shared) = shared {
        let shares: Vec<_> = config
            .carriers
            .iter()
            .filter_map(|c| match c {
                crate::carriers::CarrierConfig::Smpp(smpp) => Some(smpp.tps_share.clone()),
                _ => None,
            })
            .collect();
        // Counted before the first send, so no node starts at the whole max_tps.
        shared.beat(&shares).await;
        actix::spawn(shared.keep_beating(shares));
    }
    actix::spawn(crate::receipts::dispatch(engine.clone(), receipts));
    actix::spawn(crate::scheduler::run(engine.clone()));
    let retentions = config
        .applications
        .iter()
        .filter_map(|a| {
            a.retention_days.map(|days| crate::retention::Retention {
                application: a.name.clone(),
                days,
            })
        })
        .collect();
    actix::spawn(crate::retention::run(engine.store.clone(), retentions));
    let reloading = engine.clone();
    let reload_every = std::time::Duration::from_secs(config.intel.reload_seconds);
    actix::spawn(async move {
        let mut interval = tokio::time::interval(reload_every);
        interval.tick().await;
        loop {
            interval.tick().await;
            // Errors are logged and counted inside; the data in use stays.
            let _ = reloading.intel.reload();
        }
    });
    let housekeeping = engine.clone();
    actix::spawn(async move {
        let mut every_minute = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every_minute.tick().await;
            housekeeping.risk.housekeeping(crate::engine::now_ms());
        }
    });
    Ok((engine, generated))
}

/// Applications from the config; with none configured, the `default` application whose key is
/// generated once and kept only as a digest.
async fn applications(config: &Config, store: &dyn Store) -> anyhow::Result<(Applications, Option<String>)> {
    if !config.applications.is_empty() {
        let apps = config
            .applications
            .iter()
            .map(|a| (a.name.clone(), key_digest(&a.api_key)));
        return Ok((Applications::new(apps), None));
    }
    let stored = |hex_digest: &str| -> anyhow::Result<Applications> {
        let mut digest = [0u8; 32];
        hex::decode_to_slice(hex_digest, &mut digest).context("stored default API key digest is corrupt")?;
        Ok(Applications::new([(DEFAULT_APPLICATION.to_owned(), digest)]))
    };
    if let Some(existing) = store.get_setting(DEFAULT_KEY_SETTING).await? {
        return Ok((stored(&existing)?, None));
    }
    let key = generate_key();
    let digest = hex::encode(key_digest(&key));
    if store.put_setting_if_absent(DEFAULT_KEY_SETTING, &digest).await? {
        return Ok((stored(&digest)?, Some(key)));
    }
    // Another process created it between our read and write: use theirs.
    let existing = store
        .get_setting(DEFAULT_KEY_SETTING)
        .await?
        .context("default API key vanished")?;
    Ok((stored(&existing)?, None))
}

/// Runs the engine until SIGTERM / SIGINT, then drains: stop accepting, finish in-flight
/// requests, unbind from the carriers, save what routing learned, flush the store.
pub fn run(config: Config) -> anyhow::Result<()> {
    let metrics = crate::metrics::install()?;
    // Beside opening the store and binding the carriers, on its own thread.
    let warming = std::thread::spawn(prewarm_numbers);
    actix_web::rt::System::new().block_on(async move {
        let (engine, generated) = build_engine(&config).await?;
        wait_for_carriers(&engine).await;
        // Joined before listening: the first sends must not pay for the metadata.
        if warming.join().is_err() {
            tracing::warn!("warming the phone number metadata failed; the first sends load it");
        }
        // Read before binding: a bad certificate or key stops start-up with its file named.
        let tls = config.tls.as_ref().map(api::tls::server_config).transpose()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let listener = std::net::TcpListener::bind(config.listen)
            .with_context(|| format!("binding server.listen {}", config.listen))?;
        let addr = listener.local_addr()?;
        if let Some(key) = generated {
            // Printed once, on first start, to stdout only; never logged.
            println!("otpgate: generated API key for application \"{DEFAULT_APPLICATION}\" (shown once, stored hashed): {key}");
        }
        println!("otpgate listening on {scheme}://{addr}");
        tracing::info!(%addr, scheme, sandbox = config.sandbox_enabled, "otpgate listening");
        let hosting = start_path_a(&config, &engine)?;
        let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let limits = Arc::new(api::limits::Limits::with_shared(
            config.limits,
            engine.risk.shared().cloned(),
        ));
        let forgetting = limits.clone();
        actix::spawn(async move {
            let mut every_minute = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                every_minute.tick().await;
                forgetting.housekeeping();
            }
        });
        let listening = api::Listening { workers, limits, tls };
        let server = api::server(listener, engine.clone(), metrics, hosting, listening)?;
        let handle = server.handle();
        actix::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown signal: draining in-flight requests");
            handle.stop(true).await;
        });
        server.await?;
        if let Some(shared) = engine.risk.shared() {
            shared.leave().await;
        }
        for carrier in engine.router.carriers() {
            carrier.shutdown().await;
        }
        engine.router.flush().await?;
        engine.store.flush().await?;
        tracing::info!("drained: in-flight requests finished, carriers unbound, routing saved, store flushed");
        Ok(())
    })
}

/// Loads libphonenumber's metadata (the `phonenumber` crate deserialises its whole database on
/// first use: about a second of a debug build, tens of ms of a release one, that the first
/// sends after a start would otherwise wait for) and parses one number per calling code the
/// most traffic goes to, so their patterns are compiled too. Returns how many were parsed.
pub fn prewarm_numbers() -> usize {
    let started = std::time::Instant::now();
    // One example per calling code: NANP, UK, India, Brazil, Germany, Mexico, France, Indonesia.
    const EXAMPLES: [&str; 8] = [
        "+14155552671",
        "+447400123456",
        "+919123456789",
        "+5511961234567",
        "+4915123456789",
        "+525512345678",
        "+33612345678",
        "+6281234567890",
    ];
    let parsed = EXAMPLES
        .iter()
        .filter(|n| crate::number::parse_uncached(n).is_ok())
        .count();
    tracing::info!(
        parsed,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "phone number metadata loaded"
    );
    parsed
}

/// Path A's background work: the webhook delivery worker and the sweep that expires and abandons
/// sessions. Returns what the session endpoints and the hosted page share.
fn start_path_a(config: &Config, engine: &Arc<Engine>) -> anyhow::Result<Arc<crate::sessions::service::Hosting>> {
    let hosting = Arc::new(crate::sessions::service::Hosting::new(
        config.sessions,
        &config.public_url,
    ));
    let worker = crate::outbox::worker::Worker::new(engine.store.clone(), config.webhooks, hosting.wake.clone())
        .context("building the webhook HTTP client")?;
    actix::spawn(worker.run());
    let sweep_every = std::time::Duration::from_secs(1);
    actix::spawn(crate::sessions::service::run_sweeper(
        engine.store.clone(),
        hosting.clone(),
        sweep_every,
    ));
    Ok(hosting)
}

/// Gives carrier binds a moment to come up before the first request, so a fresh start does
/// not answer 502, or plan without a fallback carrier, for its first seconds. Serving starts
/// regardless; /readyz tells the truth.
async fn wait_for_carriers(engine: &Engine) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(3);
    let all_up = || engine.router.carriers().all(|c| c.is_up());
    while !all_up() && std::time::Instant::now() < until {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    if engine.router.any_carrier_up() == Some(false) {
        tracing::warn!("no carrier is up yet; sends answer 502 until one binds (see /readyz)");
    }
}

/// SIGTERM or SIGINT (Ctrl-C).
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops the server");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
