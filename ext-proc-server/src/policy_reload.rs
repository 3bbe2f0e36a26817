//! Hot reload of `sluice serve --policy FILE`.
//!
//! The running engine sits behind an atomically swapped pointer ([`LiveEngine`]). An exchange
//! takes the engine current when its request headers arrive and keeps that clone to its end,
//! so a reload never changes the policy under an open stream; the next exchange sees the new
//! one. A file that does not load leaves the running engine in place.
//!
//! Triggers: SIGHUP, and changes in the directory holding the file. The directory is watched,
//! not the file, because editors and Kubernetes ConfigMap volumes replace a file by renaming
//! another over it (or by swapping a `..data` symlink), which a watch on the old inode would
//! never report. Events come in bursts (truncate, write, close; rename, chmod), so a reload
//! waits for a short quiet spell, and contents identical to the last attempt are skipped:
//! one edit gives one reload (or one counted failure), however many events it made.
//!
//! Some settings are fixed when the server starts and cannot follow a reload: the gRPC
//! message limit is sized from `limits.request_body_bytes` and `limits.response_buffer_bytes`,
//! and the audit hook takes `on_audit_error`. A new policy that raises either limit or changes
//! `on_audit_error` is refused (logged and counted) rather than applied halfway; lowering a
//! limit is applied, since the engine enforces its own limits.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use sluice_core::audit::FingerprintKey;
use sluice_core::policy::OnAuditError;
use sluice_core::{Engine, Exchange, ExchangeContext};
use tokio::sync::mpsc;

use crate::policy_file::PolicyFileError;
use crate::session::ExchangeSource;

/// How long the directory must stay quiet after an event before the file is read.
const QUIET: Duration = Duration::from_millis(150);
/// A steady stream of events (a log file written in the same directory) still gets a reload
/// this long after the first event.
const MAX_DELAY: Duration = Duration::from_secs(2);

/// The engine new exchanges start with; replaced whole by a reload.
#[derive(Clone, Debug)]
pub struct LiveEngine(Arc<ArcSwap<Engine>>);

impl LiveEngine {
    pub fn new(engine: Engine) -> Self {
        LiveEngine(Arc::new(ArcSwap::from_pointee(engine)))
    }

    /// The engine current now.
    pub fn current(&self) -> Arc<Engine> {
        self.0.load_full()
    }

    fn replace(&self, engine: Engine) {
        self.0.store(Arc::new(engine));
    }
}

impl ExchangeSource for LiveEngine {
    type Exchange = Exchange;
    /// The exchange holds its own clone of the engine: later swaps do not reach it.
    fn exchange(&self, ctx: ExchangeContext) -> Exchange {
        self.0.load().exchange(ctx)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// `FILE:LINE:COL: message` for a document that does not parse or validate.
    #[error(transparent)]
    File(#[from] PolicyFileError),
    #[error("{path}: policy: {source}")]
    Engine {
        path: String,
        source: sluice_core::exchange::EngineError,
    },
    #[error(
        "{path}: {setting} cannot change without a restart ({reason}); restart sluice serve to apply it"
    )]
    NeedsRestart {
        path: String,
        setting: String,
        reason: &'static str,
    },
}

/// Reads, validates and compiles the policy file into an engine, as at startup.
pub fn load_engine(path: &Path, fingerprint: Option<&FingerprintKey>) -> Result<Engine, LoadError> {
    let (policy, document) = crate::policy_file::load_document(path)?;
    let mut engine = Engine::new(policy).map_err(|source| LoadError::Engine {
        path: path.display().to_string(),
        source,
    })?;
    engine = engine.with_policy_document(&document);
    if let Some(key) = fingerprint {
        engine = engine.with_fingerprint_key(key.clone());
    }
    Ok(engine)
}

/// Reload outcomes since start: the numbers operators alert on.
#[derive(Debug, Default)]
pub struct ReloadStats {
    reloads: AtomicU64,
    failures: AtomicU64,
}

impl ReloadStats {
    /// Policies swapped in by a reload.
    pub fn reloads(&self) -> u64 {
        self.reloads.load(Ordering::Relaxed)
    }

    /// Reloads refused (the running policy stayed).
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}

/// What asked for a reload; shown in the log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// A change in the watched directory: skipped when the contents did not change.
    FileChange,
    /// SIGHUP: always reads and rebuilds.
    Signal,
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Trigger::FileChange => "file change",
            Trigger::Signal => "SIGHUP",
        })
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Reloaded,
    Unchanged,
    Failed,
}

/// Startup values a reload must not change.
#[derive(Debug, Clone, Copy)]
struct Fixed {
    request_body_bytes: usize,
    response_buffer_bytes: usize,
    on_audit_error: OnAuditError,
}

/// Loads the policy file into the live engine when asked.
#[derive(Debug)]
pub struct Reloader {
    path: PathBuf,
    live: LiveEngine,
    fingerprint: Option<FingerprintKey>,
    fixed: Fixed,
    stats: Arc<ReloadStats>,
    /// SHA-256 of the bytes last tried, loaded or not: repeated events for the same contents
    /// neither reload nor count again.
    last_attempt: Option<String>,
}

impl Reloader {
    /// `live` holds the engine loaded from `path` at startup.
    pub fn new(path: PathBuf, live: LiveEngine, fingerprint: Option<FingerprintKey>) -> Self {
        let current = live.current();
        let limits = &current.policy().limits;
        let fixed = Fixed {
            request_body_bytes: limits.request_body_bytes,
            response_buffer_bytes: limits.response_buffer_bytes,
            on_audit_error: current.policy().on_audit_error,
        };
        let last_attempt = Some(current.policy_sha256().to_owned());
        Reloader {
            path,
            live,
            fingerprint,
            fixed,
            stats: Arc::default(),
            last_attempt,
        }
    }

    pub fn stats(&self) -> Arc<ReloadStats> {
        Arc::clone(&self.stats)
    }

    /// One reload attempt, logged: the new engine replaces the running one, or the running
    /// one stays and the failure is counted.
    pub fn reload(&mut self, trigger: Trigger) -> Outcome {
        let result = match crate::policy_file::read(&self.path) {
            // An in-place write truncates first: a blank file is most likely one caught half
            // written, and loading it would swap in the built-in default policy unasked.
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => {
                tracing::warn!(
                    target: "sluice::policy",
                    path = %self.path.display(),
                    "policy file is empty; the running policy stays (write `{{}}` for the built-in default)"
                );
                return Outcome::Unchanged;
            }
            Ok(bytes) => {
                let sha = sluice_core::audit::sha256_hex(&bytes);
                if trigger == Trigger::FileChange && self.last_attempt.as_deref() == Some(&sha) {
                    tracing::debug!(path = %self.path.display(), "policy file unchanged");
                    return Outcome::Unchanged;
                }
                self.last_attempt = Some(sha);
                load_engine(&self.path, self.fingerprint.as_ref())
                    .and_then(|engine| self.check_fixed(engine))
            }
            // Gone for a moment while a file is swapped (or removed for good): neither is a
            // policy to judge, and the event that brings a file back triggers a reload.
            Err(PolicyFileError::Read { source, .. })
                if trigger == Trigger::FileChange
                    && source.kind() == std::io::ErrorKind::NotFound =>
            {
                tracing::warn!(
                    target: "sluice::policy",
                    path = %self.path.display(),
                    "policy file absent; the running policy stays"
                );
                return Outcome::Unchanged;
            }
            Err(e) => Err(e.into()),
        };
        let running = self.live.current();
        match result {
            Ok(engine) => {
                // The engine hashed what it was built from: newer than the bytes hashed above
                // if the file changed in between.
                self.last_attempt = Some(engine.policy_sha256().to_owned());
                let id = engine.policy().policy_id.clone().unwrap_or_default();
                let sha = engine.policy_sha256().to_owned();
                let version = engine.policy().version;
                self.live.replace(engine);
                let reloads = self.stats.reloads.fetch_add(1, Ordering::Relaxed) + 1;
                let failures = self.stats.failures();
                tracing::info!(
                    target: "sluice::policy",
                    %trigger,
                    policy_id = %id,
                    policy_sha256 = %sha,
                    policy_reloads = reloads,
                    policy_reload_failures = failures,
                    "policy reloaded: id={id}, version={version}, sha256={sha} ({trigger}; reloads: {reloads}, failures: {failures})"
                );
                Outcome::Reloaded
            }
            Err(error) => {
                let failures = self.stats.failures.fetch_add(1, Ordering::Relaxed) + 1;
                let reloads = self.stats.reloads();
                let id = running.policy().policy_id.clone().unwrap_or_default();
                let sha = running.policy_sha256();
                tracing::error!(
                    target: "sluice::policy",
                    %trigger,
                    policy_id = %id,
                    policy_sha256 = %sha,
                    policy_reloads = reloads,
                    policy_reload_failures = failures,
                    "policy reload failed, still serving id={id}, sha256={sha} ({trigger}; reloads: {reloads}, failures: {failures}): {error}"
                );
                Outcome::Failed
            }
        }
    }

    fn check_fixed(&self, engine: Engine) -> Result<Engine, LoadError> {
        let new = engine.policy();
        let refuse = |setting: String, reason: &'static str| LoadError::NeedsRestart {
            path: self.path.display().to_string(),
            setting,
            reason,
        };
        const SIZES: &str = "the gRPC message limit is sized from it at startup";
        if new.limits.request_body_bytes > self.fixed.request_body_bytes {
            return Err(refuse(
                format!(
                    "raising limits.request_body_bytes from {} to {}",
                    self.fixed.request_body_bytes, new.limits.request_body_bytes
                ),
                SIZES,
            ));
        }
        if new.limits.response_buffer_bytes > self.fixed.response_buffer_bytes {
            return Err(refuse(
                format!(
                    "raising limits.response_buffer_bytes from {} to {}",
                    self.fixed.response_buffer_bytes, new.limits.response_buffer_bytes
                ),
                SIZES,
            ));
        }
        if new.on_audit_error != self.fixed.on_audit_error {
            return Err(refuse(
                "on_audit_error".to_owned(),
                "the audit writer takes it at startup",
            ));
        }
        Ok(engine)
    }
}

/// Reloads on SIGHUP and, when `watch` is set, on changes in the file's directory, until the
/// process ends. Errors setting up a trigger are returned before anything runs, so `serve`
/// refuses to start rather than run without the reloads it was asked for.
pub fn spawn(mut reloader: Reloader, watch: bool) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    use anyhow::Context;
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    let (tx, mut rx) = mpsc::channel::<()>(1);
    let watcher = if watch {
        Some(watch_directory(&reloader.path, tx)?)
    } else {
        drop(tx);
        None
    };
    Ok(tokio::spawn(async move {
        // Dropping the watcher stops it: it lives as long as this task.
        let _watcher = watcher;
        let mut watching = watch;
        loop {
            tokio::select! {
                got = hup.recv() => {
                    if got.is_none() {
                        return;
                    }
                    reloader.reload(Trigger::Signal);
                }
                got = rx.recv(), if watching => {
                    if got.is_none() {
                        watching = false;
                        continue;
                    }
                    settle(&mut rx).await;
                    reloader.reload(Trigger::FileChange);
                }
            }
        }
    }))
}

/// Without a policy file, SIGHUP (which would otherwise end the process) only says so.
pub fn spawn_without_policy() -> anyhow::Result<tokio::task::JoinHandle<()>> {
    use anyhow::Context;
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    Ok(tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::warn!(
                target: "sluice::policy",
                "SIGHUP: serving the built-in default policy (no --policy file); nothing to reload"
            );
        }
    }))
}

/// Waits until no event came for [`QUIET`] (or [`MAX_DELAY`] passed), swallowing the burst.
async fn settle(rx: &mut mpsc::Receiver<()>) {
    let deadline = tokio::time::Instant::now() + MAX_DELAY;
    loop {
        let quiet_until = (tokio::time::Instant::now() + QUIET).min(deadline);
        match tokio::time::timeout_at(quiet_until, rx.recv()).await {
            Ok(Some(())) if tokio::time::Instant::now() < deadline => continue,
            _ => return,
        }
    }
}

/// Watches the directory of `path` and signals `tx` for events that may have changed what
/// `path` resolves to: the file's own name, or a Kubernetes-style `..data` entry.
fn watch_directory(
    path: &Path,
    tx: mpsc::Sender<()>,
) -> anyhow::Result<notify::RecommendedWatcher> {
    use anyhow::Context;
    use notify::{EventKind, RecursiveMode, Watcher, event::AccessKind, event::AccessMode};
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().map(std::ffi::OsStr::to_os_string);
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else {
            // The backend lost events (queue overflow): check the file anyway.
            let _ = tx.try_send(());
            return;
        };
        // Reads (our own included) are not changes; a writer closing the file is.
        if let EventKind::Access(kind) = event.kind
            && kind != AccessKind::Close(AccessMode::Write)
        {
            return;
        }
        let relevant = event.paths.iter().any(|p| {
            p.file_name().is_some_and(|n| {
                Some(n) == name.as_deref() || n.to_string_lossy().starts_with("..")
            })
        });
        if relevant || event.need_rescan() {
            // A full channel already holds a pending check: nothing is lost.
            let _ = tx.try_send(());
        }
    })
    .context("starting the policy file watcher")?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .with_context(|| format!("watching {} for policy changes", dir.display()))?;
    Ok(watcher)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK_X: &str = "version: 2\npolicy_id: a\nrules:\n  - id: r\n    when: 'model == \"x\"'\n    action: block\n";
    const BLOCK_Y: &str = "version: 2\npolicy_id: b\nrules:\n  - id: r\n    when: 'model == \"y\"'\n    action: block\n";

    fn setup(text: &str) -> (tempfile::TempDir, PathBuf, LiveEngine, Reloader) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.yaml");
        std::fs::write(&path, text).unwrap();
        let live = LiveEngine::new(load_engine(&path, None).unwrap());
        let reloader = Reloader::new(path.clone(), live.clone(), None);
        (dir, path, live, reloader)
    }

    fn id(live: &LiveEngine) -> String {
        live.current()
            .policy()
            .policy_id
            .clone()
            .unwrap_or_default()
    }

    /// Writes by rename, as editors and ConfigMaps do.
    fn replace(path: &Path, text: &str) {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, path).unwrap();
    }

    #[test]
    fn a_valid_file_replaces_the_engine() {
        let (_dir, path, live, mut reloader) = setup(BLOCK_X);
        std::fs::write(&path, BLOCK_Y).unwrap();
        assert_eq!(reloader.reload(Trigger::FileChange), Outcome::Reloaded);
        assert_eq!(id(&live), "b");
        assert_eq!(
            live.current().policy_sha256(),
            sluice_core::audit::sha256_hex(BLOCK_Y.as_bytes())
        );
        assert_eq!(
            (reloader.stats().reloads(), reloader.stats().failures()),
            (1, 0)
        );
    }

    #[test]
    fn an_exchange_keeps_the_engine_it_started_with() {
        let (_dir, path, live, mut reloader) = setup(BLOCK_X);
        let mut before = live.exchange(ExchangeContext::default());
        std::fs::write(&path, BLOCK_Y).unwrap();
        assert_eq!(reloader.reload(Trigger::FileChange), Outcome::Reloaded);
        let mut after = live.exchange(ExchangeContext::default());
        assert_eq!(before.finish().policy_id.as_deref(), Some("a"));
        assert_eq!(after.finish().policy_id.as_deref(), Some("b"));
    }

    #[test]
    fn an_invalid_file_keeps_the_engine_and_counts() {
        let (_dir, path, live, mut reloader) = setup(BLOCK_X);
        let running_sha = live.current().policy_sha256().to_owned();
        // YAML syntax error, then a CEL error, then a value the engine refuses.
        for bad in [
            "version: 2\nrules: [\n",
            &BLOCK_Y.replace("model == \"y\"", "model =="),
            "version: 1\nlimits:\n  holdback_bytes: 0\n",
        ] {
            std::fs::write(&path, bad).unwrap();
            assert_eq!(reloader.reload(Trigger::FileChange), Outcome::Failed);
            assert_eq!(id(&live), "a");
            assert_eq!(live.current().policy_sha256(), running_sha);
        }
        assert_eq!(
            (reloader.stats().reloads(), reloader.stats().failures()),
            (0, 3)
        );
        // The same bad contents again: no second failure for one edit.
        assert_eq!(reloader.reload(Trigger::FileChange), Outcome::Unchanged);
        assert_eq!(reloader.stats().failures(), 3);
        // SIGHUP always tries, and counts.
        assert_eq!(reloader.reload(Trigger::Signal), Outcome::Failed);
        assert_eq!(reloader.stats().failures(), 4);
        // And a good file afterwards loads.
        replace(&path, BLOCK_Y);
        assert_eq!(reloader.reload(Trigger::FileChange), Outcome::Reloaded);
        assert_eq!(id(&live), "b");
    }

    #[test]
    fn diagnostics_name_file_line_and_column() {
        let (_dir, path, _live, _reloader) = setup(BLOCK_X);
        std::fs::write(&path, BLOCK_Y.replace("model == \"y\"", "model ==")).unwrap();
        let err = load_engine(&path, None).unwrap_err().to_string();
        let expected = format!("{}:5:5: ", path.display());
        assert!(err.starts_with(&expected), "{err}");
    }

    #[test]
    fn an_empty_file_is_not_the_default_policy() {
        let (_dir, path, live, mut reloader) = setup(BLOCK_X);
        std::fs::write(&path, "").unwrap();
        assert_eq!(reloader.reload(Trigger::FileChange), Outcome::Unchanged);
        assert_eq!(reloader.reload(Trigger::Signal), Outcome::Unchanged);
        assert_eq!(id(&live), "a");
        assert_eq!(
            (reloader.stats().reloads(), reloader.stats().failures()),
            (0, 0)
        );
        std::fs::write(&path, "{}").unwrap();
        assert_eq!(reloader.reload(Trigger::FileChange), Outcome::Reloaded);
        assert_eq!(live.current().policy(), &sluice_core::Policy::default());
    }

    #[test]
    fn unchanged_contents_are_skipped_but_sighup_reloads() {
        let (_dir, _path, live, mut reloader) = setup(BLOCK_X);
        assert_eq!(reloader.reload(Trigger::FileChange), Outcome::Unchanged);
        assert_eq!(reloader.reload(Trigger::Signal), Outcome::Reloaded);
        assert_eq!(id(&live), "a");
        assert_eq!(reloader.stats().reloads(), 1);
    }

    #[test]
    fn startup_only_settings_are_refused() {
        let (_dir, path, live, mut reloader) =
            setup("version: 1\nlimits:\n  request_body_bytes: 1024\n");
        for bad in [
            "version: 1\nlimits:\n  request_body_bytes: 2048\n",
            "version: 1\nlimits:\n  request_body_bytes: 1024\n  response_buffer_bytes: 99999999\n",
            "version: 1\nlimits:\n  request_body_bytes: 1024\non_audit_error: allow\n",
        ] {
            std::fs::write(&path, bad).unwrap();
            assert_eq!(
                reloader.reload(Trigger::FileChange),
                Outcome::Failed,
                "{bad}"
            );
            assert_eq!(live.current().policy().limits.request_body_bytes, 1024);
        }
        // Lowering a limit is applied.
        std::fs::write(&path, "version: 1\nlimits:\n  request_body_bytes: 512\n").unwrap();
        assert_eq!(reloader.reload(Trigger::FileChange), Outcome::Reloaded);
        assert_eq!(live.current().policy().limits.request_body_bytes, 512);
    }

    #[test]
    fn the_fingerprint_key_survives_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.yaml");
        std::fs::write(&path, BLOCK_X).unwrap();
        let key = FingerprintKey::new(&[7u8; 32]).unwrap();
        let live = LiveEngine::new(load_engine(&path, Some(&key)).unwrap());
        let mut reloader = Reloader::new(path.clone(), live.clone(), Some(key));
        std::fs::write(&path, BLOCK_Y).unwrap();
        assert_eq!(reloader.reload(Trigger::FileChange), Outcome::Reloaded);
        let mut ex = live.exchange(ExchangeContext::default());
        let planted = b"{\"model\":\"z\",\"messages\":[{\"role\":\"user\",\"content\":\"key AKIAIX6EA6QOM66ZJOJY\"}]}";
        let headers: Vec<(String, String)> = vec![
            (":method".into(), "POST".into()),
            (":path".into(), "/v1/chat/completions".into()),
            ("content-type".into(), "application/json".into()),
        ];
        let _ = ex.request_headers(&headers);
        let _ = ex.request_body(planted, true);
        let record = ex.finish();
        assert!(
            record.findings.iter().any(|f| !f.fingerprints.is_empty()),
            "no fingerprints after the reload: {:?}",
            record.findings
        );
    }

    /// The watcher and the SIGHUP task, running: a rename into place swaps the engine, a bad
    /// file is counted and changes nothing.
    #[tokio::test]
    async fn watched_file_reloads() {
        let (_dir, path, live, reloader) = setup(BLOCK_X);
        let stats = reloader.stats();
        let task = spawn(reloader, true).unwrap();
        let wait = |want: &'static str, reloads: u64, failures: u64| {
            let live = live.clone();
            let stats = Arc::clone(&stats);
            async move {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
                loop {
                    if id(&live) == want
                        && stats.reloads() == reloads
                        && stats.failures() == failures
                    {
                        return;
                    }
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "policy {} (reloads {}, failures {}), expected {want} ({reloads}, {failures})",
                        id(&live),
                        stats.reloads(),
                        stats.failures()
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        replace(&path, BLOCK_Y);
        wait("b", 1, 0).await;
        replace(&path, "version: 2\nrules: [\n");
        wait("b", 1, 1).await;
        replace(&path, BLOCK_X);
        wait("a", 2, 1).await;
        task.abort();
    }
}
