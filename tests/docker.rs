//! docker/ (issue 16): the compose file validated by `docker-compose config` (Debian's
//! docker-compose, installed by tests/run.sh) with every file it references present, its engine
//! config and simulator rules accepted by the programs that read them, and the Dockerfile's
//! stages consistent. With a running container engine the image is built; without one (CI, this
//! machine) the test says so and checks the build stage's command is the one tests/run.sh runs on
//! the host before the tests, and that every binary the runtime stage copies is built and runs.
mod common;

use common::smsc::Smsc;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run(program: &str, args: &[&str]) -> (bool, String) {
    match Command::new(program).args(args).current_dir(repo()).output() {
        Ok(out) => (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ),
        Err(e) => (false, format!("{program}: {e}")),
    }
}

/// `docker compose config` (the v2 plugin) when it exists, else Debian's `docker-compose`.
fn compose_config() -> String {
    let file = "docker/docker-compose.yml";
    let (ok, out) = run("docker", &["compose", "-f", file, "config"]);
    if ok {
        return out;
    }
    let (ok, out) = run("docker-compose", &["-f", file, "config"]);
    assert!(
        ok,
        "docker-compose config failed (run `bash tests/run.sh`, which installs docker-compose):\n{out}"
    );
    out
}

#[test]
fn the_compose_file_is_valid_and_every_file_it_references_exists() {
    let resolved = compose_config();
    for service in [
        "postgres:",
        "otpgate:",
        "otpgate-2:",
        "smsc-sim:",
        "prometheus:",
        "grafana:",
    ] {
        assert!(
            resolved.lines().any(|l| l.trim() == service),
            "no service {service}\n{resolved}"
        );
    }
    // Prometheus scrapes every engine node.
    let scrape = std::fs::read_to_string(repo().join("docker/prometheus/prometheus.yml")).unwrap();
    for node in ["\"otpgate:8080\"", "\"otpgate-2:8080\""] {
        assert!(scrape.contains(node), "prometheus.yml does not scrape {node}");
    }
    // The resolved file names host paths absolutely: bind mounts and the build context.
    let docker = repo().join("docker");
    let mut referenced: Vec<PathBuf> = Vec::new();
    for line in resolved.lines() {
        let value = line.trim().trim_start_matches("- ").trim_start_matches("context: ");
        if value.starts_with(repo().to_str().unwrap()) {
            referenced.push(PathBuf::from(value.split(':').next().unwrap()));
        }
    }
    assert!(referenced.len() >= 7, "{referenced:?}\n{resolved}");
    for path in &referenced {
        assert!(
            path.exists(),
            "the compose file references {}, which is missing",
            path.display()
        );
    }
    let dockerfile = resolved
        .lines()
        .filter_map(|l| l.trim().strip_prefix("dockerfile: "))
        .map(|d| repo().join(d))
        .collect::<Vec<_>>();
    assert!(
        !dockerfile.is_empty() && dockerfile.iter().all(|d| d.exists()),
        "{dockerfile:?}"
    );

    // Files read inside the containers are valid for the programs that read them.
    let (ok, out) = run(
        common::BIN,
        &[
            "check-config",
            "--config",
            docker.join("otpgate.toml").to_str().unwrap(),
        ],
    );
    assert!(ok, "docker/otpgate.toml: {out}");
    let dir = tempfile::tempdir().unwrap();
    let rules = docker.join("smsc-rules.toml");
    let smsc = Smsc::start(dir.path(), &["--rules", rules.to_str().unwrap()]);
    assert!(smsc.smpp.starts_with("127.0.0.1:"), "{}", smsc.smpp);
    // Grafana's data source is the one the dashboard names.
    let datasource = std::fs::read_to_string(docker.join("grafana/provisioning/datasources/prometheus.yml")).unwrap();
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(docker.join("grafana/dashboards/otpgate.json")).unwrap())
            .unwrap();
    let uid = dashboard["panels"][1]["datasource"]["uid"].as_str().unwrap();
    assert!(
        datasource.lines().any(|l| l.trim() == format!("uid: {uid}")),
        "{datasource}"
    );
}

/// The Dockerfile's stages: (name, instructions), continuation lines joined.
fn stages(text: &str) -> Vec<(String, Vec<String>)> {
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in text.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
        if let Some(part) = line.strip_suffix('\\') {
            current.push_str(part);
            continue;
        }
        current.push_str(line);
        if !current.is_empty() {
            joined.push(std::mem::take(&mut current));
        }
    }
    let mut stages: Vec<(String, Vec<String>)> = Vec::new();
    for instruction in joined {
        if let Some(from) = instruction.strip_prefix("FROM ") {
            let name = from.rsplit(" AS ").next().unwrap().to_owned();
            stages.push((name, Vec::new()));
        } else {
            stages
                .last_mut()
                .expect("an instruction before FROM")
                .1
                .push(instruction);
        }
    }
    stages
}

#[test]
fn the_dockerfile_builds_what_its_runtime_stage_copies_and_runs_as_non_root() {
    let text = std::fs::read_to_string(repo().join("docker/Dockerfile")).unwrap();
    let stages = stages(&text);
    let names: Vec<&str> = stages.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["build", "runtime"]);
    let (build, runtime) = (&stages[0].1, &stages[1].1);
    let user = runtime
        .iter()
        .filter_map(|i| i.strip_prefix("USER "))
        .next_back()
        .expect("the runtime stage sets USER");
    assert!(!["root", "0"].contains(&user.trim()), "runs as {user}");
    let copied: Vec<String> = runtime
        .iter()
        .filter_map(|i| i.strip_prefix("COPY --from=build "))
        .flat_map(|i| {
            let words: Vec<&str> = i.split_whitespace().collect();
            words[..words.len() - 1]
                .iter()
                .map(|w| {
                    w.strip_prefix("/src/target/release/")
                        .expect("copies a release binary")
                        .to_owned()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        copied.contains(&"otpgate".into()) && copied.contains(&"otpgate-smsc-sim".into()),
        "{copied:?}"
    );
    // The context is the repository root: without this the build would send target/ (gigabytes).
    let ignored = std::fs::read_to_string(repo().join(".dockerignore")).expect(".dockerignore at the root");
    assert!(ignored.lines().any(|l| l.trim() == "target"), "{ignored}");
    let cargo = build
        .iter()
        .filter_map(|i| i.strip_prefix("RUN "))
        .find(|r| r.starts_with("cargo build"))
        .expect("the build stage runs cargo build");

    if run("docker", &["info"]).0 {
        let (ok, out) = run(
            "docker",
            &["build", "-f", "docker/Dockerfile", "-t", "otpgate:test", "."],
        );
        assert!(ok, "docker build failed:\n{out}");
        for binary in &copied {
            let (ok, out) = run(
                "docker",
                &["run", "--rm", "--entrypoint", binary, "otpgate:test", "--version"],
            );
            assert!(ok, "{binary} in the image: {out}");
        }
        return;
    }
    // Running cargo from inside `cargo test` would rebuild with another feature set and relink
    // the binaries other tests are running; tests/run.sh runs the same command before the tests.
    eprintln!(
        "no container engine is running (`docker info` failed): checking the build stage's command \
         is the one tests/run.sh ran on the host (dev profile) and that its binaries run"
    );
    let words = |command: &str| {
        let mut words: Vec<String> = command
            .split_whitespace()
            .filter(|w| *w != "--release")
            .map(str::to_owned)
            .collect();
        words.sort();
        words
    };
    let script = std::fs::read_to_string(repo().join("tests/run.sh")).unwrap();
    assert!(
        script
            .lines()
            .any(|l| l.starts_with("cargo build") && words(l) == words(cargo)),
        "tests/run.sh does not run the build stage's `{cargo}`"
    );
    let bin_dir = Path::new(common::BIN).parent().unwrap();
    for binary in &copied {
        let path = bin_dir.join(binary);
        assert!(
            path.exists(),
            "the build stage does not build {binary}: {}",
            path.display()
        );
        let (ok, out) = run(path.to_str().unwrap(), &["--help"]);
        assert!(ok, "{binary} --help: {out}");
    }
}
