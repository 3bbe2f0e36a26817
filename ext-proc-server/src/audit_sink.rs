//! The signed audit file: one writer thread, group commit, size-based rotation.
//!
//! Streams hand their record to the writer and wait for its answer. The writer takes every
//! record queued at that moment (a batch), seals them in order (chain + signature, in the
//! core), appends them with one `write` and makes them durable with one `fdatasync`, then
//! answers the whole batch. Streams that end together share one sync; each waits only for the
//! batch its record is in.
//!
//! Rotation: when the next line would take FILE past `max_bytes`, FILE is synced and renamed
//! to FILE.N (N = 1 + the highest existing suffix, so FILE.1 is the oldest) and a new FILE is
//! started; the chain simply continues in it. On start the chain is resumed from the last
//! complete record of FILE (or of the newest FILE.N); an incomplete final line (a write cut
//! short by a crash, never acknowledged) is cut away first.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Instant;

use sluice_core::AuditRecord;
use sluice_core::audit::chain::parse_line;
use sluice_core::audit::{ChainState, Sealer, SigningKey, Timings, WireRecord};
use tokio::sync::oneshot;

/// Largest number of records sealed and synced together.
const MAX_BATCH: usize = 4096;

/// How every sealed line begins.
const RECORD_START: &[u8] = b"{\"v\":";

/// Bytes read from the end of a file to find its last record.
const TAIL_BYTES: u64 = 1 << 20;

#[derive(Clone, Debug, thiserror::Error)]
pub enum SinkError {
    #[error("audit file {path}: {message}")]
    Io { path: String, message: String },
    #[error("cannot continue the audit chain from {path}: {message}")]
    Resume { path: String, message: String },
    #[error("the audit writer has stopped")]
    Stopped,
}

pub struct SinkConfig {
    pub path: PathBuf,
    pub key: SigningKey,
    pub instance: String,
    pub max_bytes: u64,
}

struct Job {
    record: WireRecord,
    unix_micros: u64,
    timings: Timings,
    done: Option<oneshot::Sender<Result<(), SinkError>>>,
}

/// Counters of the writer, for measurements and logs.
#[derive(Debug, Default)]
pub struct SinkStats {
    pub batches: AtomicU64,
    pub records: AtomicU64,
    pub largest_batch: AtomicU64,
    /// Time spent sealing (serialising + signing) records.
    pub seal_micros: AtomicU64,
    /// Time spent in `write` + `fdatasync`.
    pub sync_micros: AtomicU64,
}

/// Handle to the writer; cheap to clone. The writer stops when every handle is dropped.
#[derive(Clone, Debug)]
pub struct AuditSink {
    tx: mpsc::Sender<Job>,
    stats: Arc<SinkStats>,
}

pub type Ack = oneshot::Receiver<Result<(), SinkError>>;

impl AuditSink {
    /// Opens (or creates) the file, resumes the chain and starts the writer thread.
    pub fn open(config: SinkConfig) -> Result<(AuditSink, std::thread::JoinHandle<()>), SinkError> {
        let writer = Writer::open(config)?;
        let stats = writer.stats.clone();
        let (tx, rx) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("sluice-audit".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| SinkError::Io {
                path: String::new(),
                message: format!("starting the writer thread: {e}"),
            })?;
        Ok((AuditSink { tx, stats }, handle))
    }

    #[cfg_attr(not(test), allow(dead_code))]
    pub fn stats(&self) -> &SinkStats {
        &self.stats
    }

    /// Queues a record; the receiver answers once it is durable (or could not be written).
    pub fn submit(&self, record: AuditRecord, unix_micros: u64, timings: Timings) -> Ack {
        self.submit_wire(WireRecord::from(&record), unix_micros, timings)
    }

    /// [`AuditSink::submit`] for a record another adapter sent (`--audit-sink-listen`).
    pub fn submit_wire(&self, record: WireRecord, unix_micros: u64, timings: Timings) -> Ack {
        let (done, ack) = oneshot::channel();
        let job = Job {
            record,
            unix_micros,
            timings,
            done: Some(done),
        };
        if let Err(mpsc::SendError(job)) = self.tx.send(job)
            && let Some(done) = job.done
        {
            let _ = done.send(Err(SinkError::Stopped));
        }
        ack
    }

    /// Queues a record nobody waits for (an exchange that ended without a response to hold).
    pub fn submit_detached(&self, record: AuditRecord, unix_micros: u64, timings: Timings) {
        let job = Job {
            record: WireRecord::from(&record),
            unix_micros,
            timings,
            done: None,
        };
        if self.tx.send(job).is_err() {
            tracing::error!(target: "sluice::audit", "audit writer stopped; record lost");
        }
    }
}

/// Adds the time since its start to `sync_micros` when dropped (on success and on error).
struct SyncTimer<'a>(&'a SinkStats, Instant);

impl Drop for SyncTimer<'_> {
    fn drop(&mut self) {
        self.0
            .sync_micros
            .fetch_add(self.1.elapsed().as_micros() as u64, Ordering::Relaxed);
    }
}

struct Writer {
    path: PathBuf,
    file: File,
    /// Bytes of FILE known durable.
    size: u64,
    max_bytes: u64,
    regular: bool,
    sealer: Sealer,
    /// Chain state matching `size`: where to rewind after a failed write.
    durable: ChainState,
    /// A failure that could not be undone: the writer refuses every later record.
    broken: Option<String>,
    next_suffix: u64,
    stats: Arc<SinkStats>,
}

fn io_error(path: &Path, what: &str, e: std::io::Error) -> SinkError {
    SinkError::Io {
        path: path.display().to_string(),
        message: format!("{what}: {e}"),
    }
}

/// `FILE.N` names next to FILE: the suffixes in use.
fn rotated_suffixes(path: &Path) -> Vec<u64> {
    let (Some(dir), Some(name)) = (parent(path), path.file_name()) else {
        return Vec::new();
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<u64> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.strip_prefix(&prefix)?.parse().ok()
        })
        .collect();
    out.sort_unstable();
    out
}

fn parent(path: &Path) -> Option<&Path> {
    match path.parent() {
        Some(p) if p.as_os_str().is_empty() => Some(Path::new(".")),
        other => other,
    }
}

fn with_suffix(path: &Path, n: u64) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

fn sync_dir(path: &Path) -> std::io::Result<()> {
    match parent(path) {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// The last complete line of `file` (of at most `TAIL_BYTES`), and the length of the file up
/// to the end of that line (anything after it is an incomplete line).
fn last_line(file: &mut File) -> std::io::Result<(Option<Vec<u8>>, u64)> {
    let len = file.metadata()?.len();
    let start = len.saturating_sub(TAIL_BYTES);
    file.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail)?;
    let Some(end) = tail.iter().rposition(|&b| b == b'\n') else {
        return Ok((None, if start == 0 { 0 } else { len }));
    };
    let complete = start + end as u64 + 1;
    let begin = tail[..end]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    if begin == 0 && start > 0 {
        // A line longer than the tail read: not one of ours.
        return Ok((Some(Vec::new()), complete));
    }
    Ok((Some(tail[begin..=end].to_vec()), complete))
}

impl Writer {
    fn open(config: SinkConfig) -> Result<Writer, SinkError> {
        let path = config.path;
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)
            .map_err(|e| io_error(&path, "opening", e))?;
        let meta = file
            .metadata()
            .map_err(|e| io_error(&path, "inspecting", e))?;
        let regular = meta.is_file();
        let mut state = ChainState::new(&config.instance);
        let mut size = 0;
        if regular {
            let (line, complete) =
                last_line(&mut file).map_err(|e| io_error(&path, "reading", e))?;
            if complete < meta.len() {
                // Only a cut-short record is cut away; any other unterminated text means this
                // is not (only) an audit trail, and nothing of it is destroyed.
                let mut partial = Vec::new();
                file.seek(SeekFrom::Start(complete))
                    .and_then(|_| {
                        Read::by_ref(&mut file)
                            .take(RECORD_START.len() as u64)
                            .read_to_end(&mut partial)
                    })
                    .map_err(|e| io_error(&path, "reading", e))?;
                if !RECORD_START.starts_with(&partial) && !partial.starts_with(RECORD_START) {
                    return Err(SinkError::Resume {
                        path: path.display().to_string(),
                        message: "the file ends with text that is not an audit record".into(),
                    });
                }
                tracing::warn!(
                    target: "sluice::audit",
                    file = %path.display(),
                    bytes = meta.len() - complete,
                    "cutting away an incomplete final line (a write interrupted by a crash)"
                );
                file.set_len(complete)
                    .and_then(|()| file.sync_all())
                    .map_err(|e| io_error(&path, "truncating", e))?;
            }
            size = complete;
            let mut from = line.map(|l| (path.clone(), l));
            if from.is_none()
                && let Some(&n) = rotated_suffixes(&path).last()
            {
                let older = with_suffix(&path, n);
                let mut f = File::open(&older).map_err(|e| io_error(&older, "opening", e))?;
                let (line, _) = last_line(&mut f).map_err(|e| io_error(&older, "reading", e))?;
                from = line.map(|l| (older, l));
            }
            if let Some((source, line)) = from {
                let parsed = parse_line(&line).map_err(|e| SinkError::Resume {
                    path: source.display().to_string(),
                    message: e.to_string(),
                })?;
                if parsed.instance == config.instance {
                    state = ChainState::after(&parsed);
                }
            }
        }
        tracing::info!(
            target: "sluice::audit",
            file = %path.display(),
            instance = %state.instance,
            next_seq = state.next_seq,
            "signed audit trail open"
        );
        let next_suffix = rotated_suffixes(&path).last().map_or(1, |n| n + 1);
        Ok(Writer {
            path,
            file,
            size,
            max_bytes: config.max_bytes.max(1),
            regular,
            durable: state.clone(),
            sealer: Sealer::new(state, config.key),
            broken: None,
            next_suffix,
            stats: Arc::default(),
        })
    }

    fn run(mut self, rx: mpsc::Receiver<Job>) {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            let result = self.commit(&batch);
            if let Err(e) = &result {
                tracing::error!(target: "sluice::audit", error = %e, records = batch.len(), "audit write failed");
            }
            for job in batch {
                if let Some(done) = job.done {
                    let _ = done.send(result.clone());
                }
            }
        }
    }

    fn commit(&mut self, batch: &[Job]) -> Result<(), SinkError> {
        if let Some(message) = &self.broken {
            return Err(SinkError::Io {
                path: self.path.display().to_string(),
                message: message.clone(),
            });
        }
        let started = Instant::now();
        let result = self.write_batch(batch);
        if let Err(e) = &result {
            self.rewind(e);
        }
        let micros = started.elapsed().as_micros() as u64;
        let n = batch.len() as u64;
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        self.stats.records.fetch_add(n, Ordering::Relaxed);
        self.stats.largest_batch.fetch_max(n, Ordering::Relaxed);
        tracing::debug!(
            target: "sluice::audit_batch",
            records = n,
            micros,
            "batch committed"
        );
        result
    }

    fn write_batch(&mut self, batch: &[Job]) -> Result<(), SinkError> {
        let mut buf = Vec::with_capacity(batch.len() * 1024);
        for job in batch {
            let sealing = Instant::now();
            let line = self
                .sealer
                .seal_wire(&job.record, job.unix_micros, job.timings);
            self.stats
                .seal_micros
                .fetch_add(sealing.elapsed().as_micros() as u64, Ordering::Relaxed);
            let pending = self.size + buf.len() as u64;
            if self.regular && pending > 0 && pending + line.len() as u64 > self.max_bytes {
                self.append(&buf)?;
                buf.clear();
                self.rotate()?;
            }
            buf.extend_from_slice(&line);
        }
        self.append(&buf)
    }

    /// Writes and syncs `bytes`; on success they (and the chain up to them) are durable.
    fn append(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        if bytes.is_empty() {
            return Ok(());
        }
        let syncing = Instant::now();
        let _count = SyncTimer(&self.stats, syncing);
        self.file
            .write_all(bytes)
            .map_err(|e| io_error(&self.path, "writing", e))?;
        self.file
            .sync_data()
            .map_err(|e| io_error(&self.path, "syncing", e))?;
        self.size += bytes.len() as u64;
        self.durable = self.sealer.state().clone();
        Ok(())
    }

    fn rotate(&mut self) -> Result<(), SinkError> {
        let target = with_suffix(&self.path, self.next_suffix);
        std::fs::rename(&self.path, &target).map_err(|e| io_error(&self.path, "rotating", e))?;
        self.next_suffix += 1;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&self.path)
            .map_err(|e| io_error(&self.path, "opening after rotation", e))?;
        sync_dir(&self.path).map_err(|e| io_error(&self.path, "syncing the directory", e))?;
        self.file = file;
        self.size = 0;
        tracing::info!(target: "sluice::audit", rotated = %target.display(), "audit file rotated");
        Ok(())
    }

    /// Undoes a failed write: the file back to its durable length, the chain back to match.
    fn rewind(&mut self, cause: &SinkError) {
        self.sealer.restore(self.durable.clone());
        if !self.regular {
            return;
        }
        if let Err(e) = self
            .file
            .set_len(self.size)
            .and_then(|()| self.file.sync_data())
        {
            let message = format!("{cause}; then could not cut the partial write away: {e}");
            tracing::error!(target: "sluice::audit", "{message}; refusing further records");
            self.broken = Some(message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::audit::Verifier;
    use sluice_core::{Engine, ExchangeContext, Policy};

    fn record() -> AuditRecord {
        Engine::new(Policy::default())
            .unwrap()
            .exchange(ExchangeContext::default())
            .finish()
    }

    fn config(path: &Path, max_bytes: u64) -> SinkConfig {
        SinkConfig {
            path: path.to_owned(),
            key: SigningKey::from_seed([5; 32]),
            instance: "test-1".into(),
            max_bytes,
        }
    }

    fn verify(files: &[PathBuf]) -> sluice_core::audit::Report {
        let mut v = Verifier::new(vec![SigningKey::from_seed([5; 32]).verifying_key()]);
        for f in files {
            v.add_file(&f.display().to_string(), &std::fs::read(f).unwrap());
        }
        v.finish()
    }

    fn write_n(path: &Path, max_bytes: u64, n: usize) {
        let (sink, thread) = AuditSink::open(config(path, max_bytes)).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let acks: Vec<Ack> = (0..n)
            .map(|i| sink.submit(record(), i as u64, Timings::default()))
            .collect();
        rt.block_on(async {
            for a in acks {
                a.await.unwrap().unwrap();
            }
        });
        drop(sink);
        thread.join().unwrap();
    }

    #[test]
    fn rotation_and_restart_keep_one_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        write_n(&path, 2000, 10);
        // Restart: the chain continues; an interrupted write is cut away first.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"v\":1,\"instance\":\"test-1\",\"se")
            .unwrap();
        drop(f);
        write_n(&path, 2000, 5);
        let mut files: Vec<PathBuf> = rotated_suffixes(&path)
            .into_iter()
            .map(|n| with_suffix(&path, n))
            .collect();
        assert!(files.len() >= 2, "rotated: {files:?}");
        files.push(path.clone());
        let report = verify(&files);
        assert!(report.intact(), "{report:?}");
        assert_eq!(report.chains[0].records, 15);
        assert_eq!(report.chains[0].last_seq, 14);
        for f in &files {
            assert!(std::fs::metadata(f).unwrap().len() <= 2000);
        }
    }

    /// Audit cost under concurrency: `cargo test --release -p sluice-ext-proc --bin sluice
    /// measure_group_commit -- --ignored --nocapture` (figures in docs/performance.md).
    #[test]
    #[ignore = "measurement; run on purpose"]
    fn measure_group_commit() {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sample = record();
        for streams in [1usize, 8, 64, 256] {
            let path = dir.path().join(format!("audit-{streams}.jsonl"));
            let (sink, thread) = AuditSink::open(config(&path, 1 << 30)).unwrap();
            let per_stream = if streams == 1 { 300 } else { 3000 / streams };
            let started = Instant::now();
            let waits = rt.block_on(async {
                let mut tasks = Vec::new();
                for _ in 0..streams {
                    let sink = sink.clone();
                    let sample = sample.clone();
                    tasks.push(tokio::spawn(async move {
                        let mut waits = Vec::new();
                        for _ in 0..per_stream {
                            let t = Instant::now();
                            sink.submit(sample.clone(), 0, Timings::default())
                                .await
                                .unwrap()
                                .unwrap();
                            waits.push(t.elapsed().as_micros() as u64);
                        }
                        waits
                    }));
                }
                let mut all = Vec::new();
                for t in tasks {
                    all.extend(t.await.unwrap());
                }
                all
            });
            let elapsed = started.elapsed();
            let s = sink.stats();
            let records = s.records.load(Ordering::Relaxed);
            let batches = s.batches.load(Ordering::Relaxed);
            let mut waits = waits;
            waits.sort_unstable();
            let pct = |p: f64| waits[((waits.len() - 1) as f64 * p) as usize];
            println!(
                "streams={streams} records={records} batches={batches} mean_batch={:.1} largest_batch={} \
                 seal_us_per_record={:.1} write+fdatasync_ms_per_batch={:.2} \
                 wait_us p50={} p99={} throughput={:.0} records/s",
                records as f64 / batches as f64,
                s.largest_batch.load(Ordering::Relaxed),
                s.seal_micros.load(Ordering::Relaxed) as f64 / records as f64,
                s.sync_micros.load(Ordering::Relaxed) as f64 / batches as f64 / 1000.0,
                pct(0.5),
                pct(0.99),
                records as f64 / elapsed.as_secs_f64(),
            );
            drop(sink);
            thread.join().unwrap();
            let report = verify(&[path]);
            assert!(report.intact());
        }
    }

    #[test]
    fn a_file_that_is_not_a_trail_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        std::fs::write(&path, "some notes without a newline").unwrap();
        assert!(matches!(
            AuditSink::open(config(&path, 1 << 20)),
            Err(SinkError::Resume { .. })
        ));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "some notes without a newline"
        );
        std::fs::write(&path, "a complete line\n").unwrap();
        assert!(matches!(
            AuditSink::open(config(&path, 1 << 20)),
            Err(SinkError::Resume { .. })
        ));
    }

    #[test]
    fn a_failing_file_answers_every_waiter_with_an_error() {
        let (sink, _thread) = AuditSink::open(config(Path::new("/dev/full"), 1 << 20)).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let ack = sink.submit(record(), 0, Timings::default());
        let result = rt.block_on(ack).unwrap();
        assert!(matches!(result, Err(SinkError::Io { .. })), "{result:?}");
    }
}
